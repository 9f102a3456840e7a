/* test_datasets.c — CIFAR-10/100 binary files and image folders, made here in
 * a temp dir (good files and each malformed case, which must fail naming the
 * file), the seeded validation split, augmentation (deterministic per seed,
 * and each switch doing what it says) and the metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "data/data.h"
#include <jpeglib.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tpath(const char *name) {
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* n CIFAR records; label of record i is i % classes; pixel j of record i is (i + j) & 255. */
static uint8_t *cifar_records(int n, int cifar100, size_t *len) {
    int lb = cifar100 ? 2 : 1, rec = lb + 3072;
    uint8_t *p = malloc((size_t)n * rec);
    for (int i = 0; i < n; i++) {
        uint8_t *r = p + (size_t)i * rec;
        if (cifar100) {
            r[0] = (uint8_t)(i % 20);
            r[1] = (uint8_t)(i % 100);
        } else {
            r[0] = (uint8_t)(i % 10);
        }
        for (int j = 0; j < 3072; j++)
            r[lb + j] = (uint8_t)(i + j);
    }
    *len = (size_t)n * rec;
    return p;
}

static void test_cifar10(void **state) {
    (void)state;
    size_t len;
    uint8_t *a = cifar_records(12, 0, &len);
    write_file(tpath("data_batch_1.bin"), a, len);
    write_file(tpath("data_batch_2.bin"), a, len / 2);
    const char *paths[2] = {tpath("data_batch_1.bin"), tpath("data_batch_2.bin")};
    cnn_dataset ds;
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 2, 0), CNN_OK);
    assert_int_equal(ds.n, 18);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.h, 32);
    assert_int_equal(ds.classes, 10);
    assert_int_equal(ds.labels[13], 1); /* record 1 of the second file */
    assert_int_equal(ds.images[(size_t)13 * 3072 + 5], (uint8_t)(1 + 5));
    assert_int_equal(ds.images[(size_t)3 * 3072 + 1024], (uint8_t)(3 + 1024)); /* green plane */
    cnn_dataset_free(&ds);

    /* Not a whole number of records. */
    write_file(tpath("short.bin"), a, len - 7);
    paths[0] = tpath("short.bin");
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 0), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_last_error(), "short.bin"));
    assert_non_null(strstr(cnn_last_error(), "3073-byte"));
    /* A label out of range, reported with its offset. */
    a[3073 * 4] = 10;
    write_file(tpath("badlabel.bin"), a, len);
    paths[0] = tpath("badlabel.bin");
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 0), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_last_error(), "offset 12292"));
    /* Empty, missing, a directory. */
    write_file(tpath("empty.bin"), a, 0);
    paths[0] = tpath("empty.bin");
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 0), CNN_ERR_FORMAT);
    paths[0] = tpath("missing.bin");
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 0), CNN_ERR_IO);
    assert_non_null(strstr(cnn_last_error(), "missing.bin"));
    paths[0] = tmpdir;
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 0), CNN_ERR_IO);
    free(a);
}

static void test_cifar100(void **state) {
    (void)state;
    size_t len;
    uint8_t *a = cifar_records(150, 1, &len);
    write_file(tpath("train.bin"), a, len);
    const char *paths[1] = {tpath("train.bin")};
    cnn_dataset ds;
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 1), CNN_OK);
    assert_int_equal(ds.n, 150);
    assert_int_equal(ds.classes, 100);
    assert_int_equal(ds.labels[120], 20); /* the fine label */
    assert_int_equal(ds.images[(size_t)120 * 3072], (uint8_t)120);
    cnn_dataset_free(&ds);
    a[3074 * 2] = 25; /* coarse label out of range */
    write_file(tpath("train.bin"), a, len);
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 1), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_last_error(), "coarse"));
    /* CIFAR-10 records read as CIFAR-100: the length does not divide. */
    uint8_t *b = cifar_records(7, 0, &len);
    write_file(tpath("c10.bin"), b, len);
    paths[0] = tpath("c10.bin");
    assert_int_equal(cnn_dataset_load_cifar(&ds, paths, 1, 1), CNN_ERR_FORMAT);
    free(a);
    free(b);
}

static void write_png(const char *path, int w, int h, int rgb, uint8_t base) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, rgb ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    uint8_t row[64 * 3];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * (rgb ? 3 : 1); x++)
            row[x] = (uint8_t)(base + y);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void write_jpeg(const char *path, int w, int h, uint8_t v) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t row[64 * 3];
    memset(row, v, sizeof row);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static void test_folder(void **state) {
    (void)state;
    mkdir(tpath("imgs"), 0700);
    mkdir(tpath("imgs/cat"), 0700);
    mkdir(tpath("imgs/ant"), 0700);
    mkdir(tpath("imgs/.hidden"), 0700);
    write_png(tpath("imgs/cat/b.png"), 8, 8, 0, 100);
    write_png(tpath("imgs/cat/a.png"), 16, 16, 1, 10); /* resized to 8x8 */
    write_jpeg(tpath("imgs/ant/z.JPG"), 8, 8, 200);
    write_file(tpath("imgs/ant/notes.txt"), "hello", 5);
    cnn_dataset ds;
    char **names = NULL;
    assert_int_equal(cnn_dataset_load_folder(&ds, tpath("imgs"), 1, 8, 8, &names), CNN_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.classes, 2);
    assert_string_equal(names[0], "ant");
    assert_string_equal(names[1], "cat");
    assert_int_equal(ds.labels[0], 0);
    assert_int_equal(ds.labels[1], 1);
    assert_int_equal(ds.labels[2], 1);
    assert_true(abs((int)ds.images[0] - 200) <= 2); /* the JPEG's grey */
    assert_int_equal(ds.images[64 + 64], 100);      /* cat/b.png, row 0 (after cat/a.png) */
    assert_int_equal(ds.images[64 + 64 + 8], 101);  /* row 1 */
    cnn_class_names_free(names, ds.classes);
    cnn_dataset_free(&ds);
    /* RGB keeps three planes; a grey PNG is repeated. */
    assert_int_equal(cnn_dataset_load_folder(&ds, tpath("imgs"), 3, 8, 8, NULL), CNN_OK);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.images[(size_t)2 * 192 + 64], 100);
    cnn_dataset_free(&ds);
    /* A corrupt image fails naming it. */
    write_file(tpath("imgs/cat/c.png"), "\x89PNG\r\n\x1a\nbroken", 14);
    assert_int_not_equal(cnn_dataset_load_folder(&ds, tpath("imgs"), 1, 8, 8, NULL), CNN_OK);
    assert_non_null(strstr(cnn_last_error(), "c.png"));
    unlink(tpath("imgs/cat/c.png"));
    /* No class folders. */
    mkdir(tpath("flat"), 0700);
    assert_int_equal(cnn_dataset_load_folder(&ds, tpath("flat"), 1, 8, 8, NULL), CNN_ERR_FORMAT);
    assert_int_equal(cnn_dataset_load_folder(&ds, tpath("nowhere"), 1, 8, 8, NULL), CNN_ERR_IO);
}

static void make_ds(cnn_dataset *ds, int n) {
    ds->n = n;
    ds->c = 1;
    ds->h = ds->w = 6;
    ds->classes = 5;
    ds->images = malloc((size_t)n * 36);
    ds->labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        memset(ds->images + (size_t)i * 36, i, 36);
        ds->labels[i] = (uint8_t)(i % 5);
    }
}

static void test_split(void **state) {
    (void)state;
    cnn_dataset ds, tr, va, tr2, va2;
    make_ds(&ds, 100);
    assert_int_equal(cnn_dataset_split(&ds, 0.25, 9, &tr, &va), CNN_OK);
    assert_int_equal(va.n, 25);
    assert_int_equal(tr.n, 75);
    /* Disjoint, complete, each in the source's order. */
    int seen[100] = {0};
    for (int i = 0; i < va.n; i++)
        seen[va.images[(size_t)i * 36]]++;
    for (int i = 0; i < tr.n; i++)
        seen[tr.images[(size_t)i * 36]]++;
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    for (int i = 1; i < tr.n; i++)
        assert_true(tr.images[(size_t)i * 36] > tr.images[(size_t)(i - 1) * 36]);
    assert_int_equal(tr.labels[0], tr.images[0] % 5);
    /* Same seed, same split; another seed, another one. */
    assert_int_equal(cnn_dataset_split(&ds, 25, 9, &tr2, &va2), CNN_OK);
    assert_memory_equal(va.images, va2.images, 25 * 36);
    cnn_dataset_free(&tr2);
    cnn_dataset_free(&va2);
    assert_int_equal(cnn_dataset_split(&ds, 25, 10, &tr2, &va2), CNN_OK);
    assert_true(memcmp(va.images, va2.images, 25 * 36) != 0);
    cnn_dataset_free(&tr2);
    cnn_dataset_free(&va2);
    assert_int_equal(cnn_dataset_split(&ds, 100, 1, &tr2, &va2), CNN_ERR_ARG);
    cnn_dataset_free(&tr);
    cnn_dataset_free(&va);
    cnn_dataset_free(&ds);
}

static void test_augment(void **state) {
    (void)state;
    enum { H = 5, W = 7 };
    uint8_t src[H * W];
    for (int i = 0; i < H * W; i++)
        src[i] = (uint8_t)(10 + i);
    float table[1][256], a[H * W], b[H * W];
    for (int p = 0; p < 256; p++)
        table[0][p] = (float)p;
    cnn_train_config cfg;
    cnn_train_config_default(&cfg);
    cnn_rng r1, r2;
    /* Nothing switched on: the plain sample, no draws. */
    cnn_rng_seed(&r1, 1);
    r2 = r1;
    assert_int_equal(cnn_augment_active(&cfg), 0);
    cnn_augment_sample(&cfg, src, 1, H, W, (const float(*)[256])table, &r1, a);
    for (int i = 0; i < H * W; i++)
        assert_true(a[i] == src[i]);
    assert_memory_equal(&r1, &r2, sizeof r1);
    /* Flip: every draw gives the sample or its mirror. */
    cfg.hflip = 1;
    int flips = 0;
    for (int t = 0; t < 200; t++) {
        cnn_augment_sample(&cfg, src, 1, H, W, (const float(*)[256])table, &r1, a);
        int mirrored = a[0] == src[W - 1];
        flips += mirrored;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                assert_true(a[y * W + x] == src[y * W + (mirrored ? W - 1 - x : x)]);
    }
    assert_true(flips > 60 && flips < 140);
    /* Crop with padding: a shifted copy with zeros coming in. */
    cfg.hflip = 0;
    cfg.crop_pad = 2;
    for (int t = 0; t < 50; t++) {
        cnn_augment_sample(&cfg, src, 1, H, W, (const float(*)[256])table, &r1, a);
        int zeros = 0;
        for (int i = 0; i < H * W; i++)
            zeros += a[i] == 0;
        int found = 0;
        for (int dy = -2; dy <= 2 && !found; dy++)
            for (int dx = -2; dx <= 2 && !found; dx++) {
                int ok = 1;
                for (int y = 0; y < H && ok; y++)
                    for (int x = 0; x < W && ok; x++) {
                        int sy = y + dy, sx = x + dx;
                        float want = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[sy * W + sx] : 0;
                        ok = a[y * W + x] == want;
                    }
                found = ok;
            }
        assert_true(found);
    }
    /* Everything on: the same generator state gives the same sample. */
    cfg.hflip = 1;
    cfg.rotate = 15;
    cfg.translate = 1;
    cfg.erase = 0.5f;
    cnn_rng_seed(&r1, 77);
    r2 = r1;
    int differ = 0;
    for (int t = 0; t < 20; t++) {
        cnn_augment_sample(&cfg, src, 1, H, W, (const float(*)[256])table, &r1, a);
        cnn_augment_sample(&cfg, src, 1, H, W, (const float(*)[256])table, &r2, b);
        assert_memory_equal(a, b, sizeof a);
        for (int i = 0; i < H * W; i++)
            differ |= a[i] != src[i];
    }
    assert_true(differ);
    /* Erasing alone: a rectangle of zeros (value 0 after normalisation), rest intact. */
    cnn_train_config e;
    cnn_train_config_default(&e);
    e.erase = 1;
    cnn_augment_sample(&e, src, 1, H, W, (const float(*)[256])table, &r1, a);
    int erased = 0;
    for (int i = 0; i < H * W; i++) {
        erased += a[i] == 0;
        assert_true(a[i] == 0 || a[i] == src[i]);
    }
    assert_true(erased > 0);
}

static void test_metrics(void **state) {
    (void)state;
    cnn_metrics m;
    assert_int_equal(cnn_metrics_init(&m, 6), CNN_OK);
    /* 3 samples: hit; miss with the truth 2nd; miss with the truth last. */
    float p[3 * 6] = {0.1f, 0.5f,  0.1f,  0.1f,  0.1f,  0.1f,  /* label 1: hit */
                      0.6f, 0.0f,  0.3f,  0.0f,  0.0f,  0.1f,  /* label 2: pred 0, rank 2 */
                      0.2f, 0.19f, 0.18f, 0.17f, 0.16f, 0.1f}; /* label 5: pred 0, rank 6 */
    uint8_t y[3] = {1, 2, 5};
    int pred[3];
    cnn_metrics_add(&m, p, y, 3, pred);
    assert_int_equal(pred[0], 1);
    assert_int_equal(pred[1], 0);
    assert_int_equal(pred[2], 0);
    assert_int_equal(m.top1, 1);
    assert_int_equal(m.top5, 2);
    assert_int_equal(m.confusion[2 * 6 + 0], 1);
    assert_true(cnn_metrics_precision(&m, 0) == 0.0f);
    assert_true(cnn_metrics_precision(&m, 1) == 1.0f);
    assert_true(cnn_metrics_recall(&m, 2) == 0.0f);
    assert_true(cnn_metrics_recall(&m, 1) == 1.0f);
    assert_true(cnn_metrics_recall(&m, 3) == 0.0f); /* undefined: 0 */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cnn_metrics_print(&m, f);
    fclose(f);
    assert_non_null(strstr(text, "top-5 accuracy: 66.67%"));
    assert_non_null(strstr(text, "confusion matrix"));
    free(text);
    cnn_metrics_free(&m);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cnn_datasets_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar10), cmocka_unit_test(test_cifar100),
        cmocka_unit_test(test_folder),  cmocka_unit_test(test_split),
        cmocka_unit_test(test_augment), cmocka_unit_test(test_metrics),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) return 1;
    return failed ? 1 : 0;
}
