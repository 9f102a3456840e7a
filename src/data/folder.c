/* folder.c — an image folder as a dataset: DIR/CLASS/IMAGE.png|jpg.
 *
 * Classes are the sub-folders, sorted by name (byte order, as torchvision's
 * ImageFolder), numbered from 0; the images in each are sorted by name too,
 * so the dataset's order does not depend on the file system. Files whose
 * names do not end in .png, .jpg or .jpeg (any case) and names starting with
 * '.' are skipped. Every image is decoded by libpng/libjpeg (src/data/image.c),
 * converted to grey or RGB and resized to the requested size, and kept as
 * uint8; a file that does not decode fails the load, naming it. */
#include "data.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FOLDER_MAX_CLASSES 256 /* labels are bytes */
#define FOLDER_MAX_IMAGES (1 << 24)

typedef struct {
    char **v;
    int n, cap;
} name_list;

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The entries of dir that are directories (want_dirs) or image files, sorted. */
static cnn_status list_dir(const char *dir, int want_dirs, name_list *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return cnn_fail(CNN_ERR_IO, "%s: %s", dir, strerror(errno));
    cnn_status s = CNN_OK;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) && s == CNN_OK) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue; /* a dangling link */
        if (want_dirs ? !S_ISDIR(st.st_mode) : !(S_ISREG(st.st_mode) && is_image_name(e->d_name)))
            continue;
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 64;
            char **v = realloc(out->v, (size_t)cap * sizeof *v);
            if (!v) {
                s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory listing the folder", dir);
                break;
            }
            out->v = v;
            out->cap = cap;
        }
        if (!(out->v[out->n] = strdup(e->d_name))) {
            s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
        out->n++;
    }
    closedir(d);
    if (s != CNN_OK) {
        names_free(out);
        return s;
    }
    if (out->n) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_names);
    return CNN_OK;
}

void cnn_class_names_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

cnn_status cnn_dataset_load_folder(cnn_dataset *ds, const char *dir, int c, int h, int w,
                                   char ***class_names) {
    if (!ds || !dir) return cnn_fail(CNN_ERR_ARG, "cnn_dataset_load_folder: NULL argument");
    memset(ds, 0, sizeof *ds);
    if (class_names) *class_names = NULL;
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > 4096 || w > 4096)
        return cnn_fail(CNN_ERR_ARG,
                        "%s: images load as 1 or 3 channels of at most 4096x4096, "
                        "not %dx%dx%d",
                        dir, c, h, w);
    name_list classes;
    cnn_status s = list_dir(dir, 1, &classes);
    if (s != CNN_OK) return s;
    if (classes.n == 0) {
        names_free(&classes);
        return cnn_fail(CNN_ERR_FORMAT, "%s: no class sub-folders (expected DIR/CLASS/IMAGE.png)",
                        dir);
    }
    if (classes.n > FOLDER_MAX_CLASSES) {
        int n = classes.n;
        names_free(&classes);
        return cnn_fail(CNN_ERR_FORMAT, "%s: %d class folders, at most %d are supported", dir, n,
                        FOLDER_MAX_CLASSES);
    }
    name_list *files = calloc((size_t)classes.n, sizeof *files);
    if (!files) {
        names_free(&classes);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", dir);
    }
    long total = 0;
    char path[8192];
    for (int k = 0; k < classes.n && s == CNN_OK; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
        s = list_dir(path, 0, &files[k]);
        total += files[k].n;
        if (s == CNN_OK && total > FOLDER_MAX_IMAGES)
            s = cnn_fail(CNN_ERR_FORMAT, "%s: more than %d images", dir, FOLDER_MAX_IMAGES);
    }
    if (s == CNN_OK && total == 0)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: no .png or .jpg images in the class folders", dir);
    size_t sample = (size_t)c * h * w;
    uint8_t *images = NULL, *labels = NULL;
    if (s == CNN_OK) {
        images = malloc((size_t)total * sample);
        labels = malloc((size_t)total);
        if (!images || !labels)
            s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory for %ld images of %dx%dx%d", dir, total,
                         c, h, w);
    }
    long at = 0;
    for (int k = 0; k < classes.n && s == CNN_OK; k++)
        for (int i = 0; i < files[k].n && s == CNN_OK; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, classes.v[k], files[k].v[i]);
            s = cnn_image_load_u8(path, c, h, w, images + (size_t)at * sample);
            labels[at++] = (uint8_t)k;
        }
    for (int k = 0; k < classes.n; k++)
        names_free(&files[k]);
    free(files);
    if (s != CNN_OK) {
        free(images);
        free(labels);
        names_free(&classes);
        return s;
    }
    *ds = (cnn_dataset){(int)total, c, h, w, images, labels, classes.n, NULL};
    if (class_names) {
        *class_names = classes.v; /* handed over */
    } else {
        names_free(&classes);
    }
    return CNN_OK;
}
