/* cifar.c — the CIFAR-10/100 binary format into a cnn_dataset.
 *
 * A file is a sequence of records without a header:
 *   CIFAR-10   1 label byte (0..9)                          + 3072 pixel bytes
 *   CIFAR-100  1 coarse label byte (0..19), 1 fine (0..99)  + 3072 pixel bytes
 * the pixels being the 32x32 red plane, then green, then blue, row-major:
 * already the (3, 32, 32) layout the dataset keeps. Each file's length must be
 * a non-zero whole number of records, checked before anything is allocated;
 * every label is range-checked, and a bad one is reported with its offset. */
#include "../core/core.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072
#define CIFAR_MAX_RECORDS (1 << 24) /* over all files; keeps sizes within int */

/* The length of a regular file, or an error naming it. */
static cnn_status file_length(const char *path, FILE *f, long long *len) {
    struct stat st;
    if (fstat(fileno(f), &st) != 0) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(EISDIR));
    if (!S_ISREG(st.st_mode))
        return cnn_fail(CNN_ERR_IO, "%s: not a regular file (CIFAR files are read whole)", path);
    *len = (long long)st.st_size;
    return CNN_OK;
}

cnn_status cnn_dataset_load_cifar(cnn_dataset *ds, const char *const *paths, int n, int cifar100) {
    if (!ds || !paths || n <= 0) return cnn_fail(CNN_ERR_ARG, "cnn_dataset_load_cifar: no files");
    memset(ds, 0, sizeof *ds);
    const int label_bytes = cifar100 ? 2 : 1, record = label_bytes + CIFAR_PIXELS;
    const int classes = cifar100 ? 100 : 10;
    long long counts[64], total = 0;
    if (n > 64) return cnn_fail(CNN_ERR_ARG, "cnn_dataset_load_cifar: more than 64 files");
    /* First pass: every file's length, so the arrays are allocated once. */
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) return cnn_fail(CNN_ERR_IO, "%s: %s", paths[i], strerror(errno));
        long long len = 0;
        cnn_status s = file_length(paths[i], f, &len);
        fclose(f);
        if (s != CNN_OK) return s;
        if (len == 0 || len % record != 0)
            return cnn_fail(CNN_ERR_FORMAT,
                            "%s: %lld bytes is not a whole number of %d-byte CIFAR-%d records "
                            "(%lld records and %lld bytes over)",
                            paths[i], len, record, classes, len / record, len % record);
        counts[i] = len / record;
        total += counts[i];
        if (total > CIFAR_MAX_RECORDS)
            return cnn_fail(CNN_ERR_FORMAT, "%s: more than %d records in all; refused as absurd",
                            paths[i], CIFAR_MAX_RECORDS);
    }
    uint8_t *images = malloc((size_t)total * CIFAR_PIXELS), *labels = malloc((size_t)total);
    uint8_t *rec = malloc((size_t)record * 256);
    cnn_status s = CNN_OK;
    if (!images || !labels || !rec)
        s = cnn_fail(CNN_ERR_NOMEM, "out of memory for %lld CIFAR images", total);
    long long at = 0; /* record index over all files */
    for (int i = 0; i < n && s == CNN_OK; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            s = cnn_fail(CNN_ERR_IO, "%s: %s", paths[i], strerror(errno));
            break;
        }
        for (long long r = 0; r < counts[i] && s == CNN_OK;) {
            long long k = counts[i] - r < 256 ? counts[i] - r : 256;
            size_t got = fread(rec, (size_t)record, (size_t)k, f);
            if (got != (size_t)k) {
                s = cnn_fail(CNN_ERR_IO, "%s: short read at offset %lld (the file changed?)",
                             paths[i], (r + (long long)got) * record);
                break;
            }
            for (long long j = 0; j < k; j++) {
                const uint8_t *p = rec + j * record;
                long long off = (r + j) * record;
                if (cifar100 && p[0] >= 20) {
                    s = cnn_fail(CNN_ERR_FORMAT,
                                 "%s: offset %lld: coarse label %d, CIFAR-100 has 20 superclasses",
                                 paths[i], off, p[0]);
                    break;
                }
                uint8_t label = p[label_bytes - 1];
                if (label >= classes) {
                    s = cnn_fail(CNN_ERR_FORMAT,
                                 "%s: offset %lld: label %d, CIFAR-%d has %d classes", paths[i],
                                 off + label_bytes - 1, label, classes, classes);
                    break;
                }
                labels[at] = label;
                memcpy(images + (size_t)at * CIFAR_PIXELS, p + label_bytes, CIFAR_PIXELS);
                at++;
            }
            r += k;
        }
        fclose(f);
    }
    free(rec);
    if (s != CNN_OK) {
        free(images);
        free(labels);
        return s;
    }
    int max = 0;
    for (long long i = 0; i < total; i++)
        if (labels[i] > max) max = labels[i];
    *ds = (cnn_dataset){(int)total, 3, 32, 32, images, labels, max + 1, NULL};
    return CNN_OK;
}
