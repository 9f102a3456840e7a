/* test_idx.c — IDX dataset loading (raw and gzip) on files made in a temp dir:
 * the good cases, every malformed case (each must fail with a message naming
 * the file), batches with the net's normalisation, the dataset/net check, and
 * real MNIST when data/mnist is there (skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "data/data.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];
static char made[64][160]; /* files to remove at the end */
static int n_made;

/* A path in the temp dir (a rotating set of buffers, so several can be live). */
static const char *tmp_path(const char *name) {
    static char buf[8][160];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 160, "%s/%s", tmpdir, name);
    return p;
}

/* Keep path for removal at the end; returns a copy that stays valid. */
static const char *remember(const char *path) {
    for (int i = 0; i < n_made; i++)
        if (strcmp(made[i], path) == 0) return made[i];
    assert_true(n_made < 64);
    snprintf(made[n_made], sizeof made[0], "%s", path);
    return made[n_made++];
}

static const char *write_raw(const char *name, const void *data, size_t len) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return remember(path);
}

/* gzip-compress data into memory (one member); returns the length. */
static size_t gzip_mem(const void *data, size_t len, unsigned char *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

static const char *write_gz(const char *name, const void *data, size_t len) {
    size_t cap = len + 1024;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n = gzip_mem(data, len, buf, cap);
    const char *p = write_raw(name, buf, n);
    free(buf);
    return p;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An image IDX file of n h x w images whose pixels are (i*7 + j*3) % 256;
 * len gets the byte count. The caller frees. */
enum { N = 5, H = 3, W = 4 };
static unsigned char *images_idx(uint32_t n, uint32_t h, uint32_t w, size_t *len) {
    size_t px = (size_t)n * h * w;
    unsigned char *b = malloc(16 + px);
    assert_non_null(b);
    put32(b, 0x803);
    put32(b + 4, n);
    put32(b + 8, h);
    put32(b + 12, w);
    for (size_t j = 0; j < px; j++)
        b[16 + j] = (unsigned char)((j * 3 + j / 7) % 256);
    *len = 16 + px;
    return b;
}

static unsigned char *labels_idx(uint32_t n, size_t *len) {
    unsigned char *b = malloc(8 + n);
    assert_non_null(b);
    put32(b, 0x801);
    put32(b + 4, n);
    for (uint32_t i = 0; i < n; i++)
        b[8 + i] = (unsigned char)((i * 3) % 7);
    *len = 8 + n;
    return b;
}

/* Expect failure with status s and a message that contains each needle
 * (up to three; NULL ends the list); ds must be left empty. */
static void expect_fail(const char *img, const char *lab, cnn_status s, const char *a,
                        const char *b, const char *c) {
    cnn_dataset ds;
    memset(&ds, 0xab, sizeof ds);
    cnn_status got = cnn_dataset_load_idx(&ds, img, lab);
    const char *msg = cnn_last_error();
    print_message("  -> %s\n", msg);
    assert_int_equal(got, s);
    assert_null(ds.images);
    assert_null(ds.labels);
    assert_int_equal(ds.n, 0);
    assert_null(strchr(msg, '\n'));
    const char *needles[3] = {a, b, c};
    for (int i = 0; i < 3 && needles[i]; i++) {
        if (!strstr(msg, needles[i])) fail_msg("message \"%s\" lacks \"%s\"", msg, needles[i]);
    }
    cnn_dataset_free(&ds);
}

static void check_good(const char *img, const char *lab) {
    cnn_dataset ds;
    assert_int_equal(cnn_dataset_load_idx(&ds, img, lab), CNN_OK);
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.h, H);
    assert_int_equal(ds.w, W);
    assert_int_equal(ds.classes, 7); /* labels (i*3)%7 for i<5: 0 3 6 2 5 */
    for (size_t j = 0; j < (size_t)N * H * W; j++)
        assert_int_equal(ds.images[j], (j * 3 + j / 7) % 256);
    for (int i = 0; i < N; i++)
        assert_int_equal(ds.labels[i], (i * 3) % 7);
    cnn_dataset_free(&ds);
    assert_null(ds.images);
    assert_int_equal(ds.n, 0);
}

static void test_raw_and_gzip(void **state) {
    (void)state;
    size_t li, ll;
    unsigned char *img = images_idx(N, H, W, &li), *lab = labels_idx(N, &ll);
    const char *ri = write_raw("img-raw", img, li), *rl = write_raw("lab-raw", lab, ll);
    const char *gi = write_gz("img.gz", img, li), *gl = write_gz("lab.gz", lab, ll);
    check_good(ri, rl);
    check_good(gi, gl);
    check_good(gi, rl);
    check_good(ri, gl);

    /* Concatenated gzip members are one valid gzip file. */
    unsigned char *cat = malloc(2 * li + 2048);
    assert_non_null(cat);
    size_t a = gzip_mem(img, 20, cat, li + 1024);
    size_t b = gzip_mem(img + 20, li - 20, cat + a, li + 1024);
    check_good(write_raw("img-cat.gz", cat, a + b), rl);
    free(cat);
    free(img);
    free(lab);

    cnn_dataset_free(NULL);
    cnn_dataset zero = {0};
    cnn_dataset_free(&zero);
}

static void test_missing_and_not_a_file(void **state) {
    (void)state;
    size_t ll;
    unsigned char *lab = labels_idx(N, &ll);
    const char *rl = write_raw("lab-raw", lab, ll);
    free(lab);
    const char *missing = tmp_path("no-such-file");
    char want[200];
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    expect_fail(missing, rl, CNN_ERR_IO, want, NULL, NULL);
    assert_string_equal(cnn_last_error(), want);
    expect_fail(rl, missing, CNN_ERR_FORMAT, "lab-raw", "wrong magic", NULL);
    expect_fail(tmpdir, rl, CNN_ERR_IO, tmpdir, "directory", NULL);
    size_t li;
    unsigned char *img = images_idx(N, H, W, &li);
    expect_fail(write_raw("img-raw", img, li), missing, CNN_ERR_IO, want, NULL, NULL);
    free(img);
}

static void test_truncated(void **state) {
    (void)state;
    size_t li, ll;
    unsigned char *img = images_idx(N, H, W, &li), *lab = labels_idx(N, &ll);
    const char *rl = write_raw("lab-raw", lab, ll);
    /* Header cut short (raw and gzip), and an empty file. */
    expect_fail(write_raw("img-hdr", img, 10), rl, CNN_ERR_FORMAT, "img-hdr", "truncated",
                "needs 16 bytes");
    expect_fail(write_gz("img-hdr.gz", img, 10), rl, CNN_ERR_FORMAT, "img-hdr.gz", "truncated",
                "decompressed");
    expect_fail(write_raw("img-empty", img, 0), rl, CNN_ERR_FORMAT, "img-empty", "truncated", NULL);
    expect_fail(write_raw("img-raw", img, li), write_raw("lab-hdr", lab, 6), CNN_ERR_FORMAT,
                "lab-hdr", "truncated", "needs 8 bytes");
    /* Pixels cut short: the message gives the declaration, offset and length. */
    expect_fail(write_raw("img-short", img, 40), rl, CNN_ERR_FORMAT, "img-short: truncated",
                "header declares 5x3x4 pixels = 60 bytes at offset 16", "file has 40 bytes");
    expect_fail(write_gz("img-short.gz", img, 40), rl, CNN_ERR_FORMAT, "img-short.gz: truncated",
                "offset 16", "decompressed file has 40 bytes");
    expect_fail(write_raw("img-raw", img, li), write_raw("lab-short", lab, ll - 1), CNN_ERR_FORMAT,
                "lab-short: truncated", "5 labels = 5 bytes at offset 8", "file has 12 bytes");
    /* Extra bytes after the data. */
    unsigned char *longer = malloc(li + 3);
    assert_non_null(longer);
    memcpy(longer, img, li);
    memset(longer + li, 0, 3);
    expect_fail(write_raw("img-long", longer, li + 3), rl, CNN_ERR_FORMAT, "img-long",
                "3 extra at offset 76", NULL);
    expect_fail(write_gz("img-long.gz", longer, li + 3), rl, CNN_ERR_FORMAT, "img-long.gz",
                "more data follows at offset 76", NULL);
    free(longer);
    free(img);
    free(lab);
}

static void test_bad_headers(void **state) {
    (void)state;
    size_t li, ll;
    unsigned char *img = images_idx(N, H, W, &li), *lab = labels_idx(N, &ll);
    const char *ri = write_raw("img-raw", img, li), *rl = write_raw("lab-raw", lab, ll);
    /* Swapped files, and a wrong type byte. */
    expect_fail(rl, ri, CNN_ERR_FORMAT, "lab-raw: wrong magic 0x00000801", "expected 0x00000803",
                "offset 0");
    expect_fail(write_gz("lab.gz", lab, ll), ri, CNN_ERR_FORMAT, "lab.gz: wrong magic", NULL, NULL);
    unsigned char bad[16];
    memcpy(bad, img, 16);
    bad[2] = 0x0d; /* float data */
    expect_fail(write_raw("img-float", bad, 16), rl, CNN_ERR_FORMAT, "img-float", "wrong magic",
                "0x00000d03");
    expect_fail(write_raw("text", "hello, world\n", 13), rl, CNN_ERR_FORMAT, "text: wrong magic",
                NULL, NULL);
    expect_fail(ri, ri, CNN_ERR_FORMAT, "img-raw: wrong magic 0x00000803", "image file",
                "expected 0x00000801");

    /* Zero sizes. */
    unsigned char *e;
    size_t le;
    e = images_idx(0, H, W, &le);
    expect_fail(write_raw("img-n0", e, le), rl, CNN_ERR_FORMAT, "img-n0", "0x3x4", NULL);
    free(e);
    e = images_idx(N, 0, W, &le);
    expect_fail(write_raw("img-h0", e, le), rl, CNN_ERR_FORMAT, "img-h0", "5x0x4", NULL);
    free(e);
    e = labels_idx(0, &le);
    expect_fail(ri, write_raw("lab-n0", e, le), CNN_ERR_FORMAT, "lab-n0", "0 labels", NULL);
    free(e);

    /* Absurd declarations are refused before any allocation. */
    unsigned char hdr[16];
    memcpy(hdr, img, 16);
    put32(hdr + 4, 0xffffffffu);
    put32(hdr + 8, 0xffffffffu);
    put32(hdr + 12, 0xffffffffu);
    expect_fail(write_raw("img-huge", hdr, 16), rl, CNN_ERR_FORMAT, "img-huge", "absurd",
                "4294967295x4294967295x4294967295");
    put32(hdr + 4, 100000000u);
    put32(hdr + 8, 28);
    put32(hdr + 12, 28);
    expect_fail(write_raw("img-big", hdr, 16), rl, CNN_ERR_FORMAT, "img-big", "absurd", NULL);
    expect_fail(write_gz("img-big.gz", hdr, 16), rl, CNN_ERR_FORMAT, "img-big.gz", "absurd", NULL);
    put32(hdr + 4, 60000);
    expect_fail(write_raw("img-lie", hdr, 16), rl, CNN_ERR_FORMAT, "img-lie: truncated",
                "60000x28x28 pixels = 47040000 bytes at offset 16", "file has 16 bytes");
    expect_fail(write_gz("img-lie.gz", hdr, 16), rl, CNN_ERR_FORMAT, "img-lie.gz: truncated",
                "decompressed file has 16 bytes", NULL);
    unsigned char lhdr[8];
    memcpy(lhdr, lab, 8);
    put32(lhdr + 4, 0xffffffffu);
    expect_fail(ri, write_raw("lab-huge", lhdr, 8), CNN_ERR_FORMAT, "lab-huge", "absurd", NULL);

    /* Image and label counts differ: both files are named. */
    unsigned char *l4 = labels_idx(N - 1, &le);
    expect_fail(ri, write_raw("lab-4", l4, le), CNN_ERR_FORMAT, "lab-4: count mismatch", "4 labels",
                "img-raw has 5 images");
    free(l4);
    free(img);
    free(lab);
}

static void test_corrupt_gzip(void **state) {
    (void)state;
    size_t li, ll;
    unsigned char *img = images_idx(200, 16, 16, &li), *lab = labels_idx(200, &ll);
    const char *rl = write_raw("lab200", lab, ll);
    unsigned char *gz = malloc(li + 1024), *bad = malloc(li + 1024);
    assert_non_null(gz);
    assert_non_null(bad);
    size_t n = gzip_mem(img, li, gz, li + 1024);
    cnn_dataset ds;
    assert_int_equal(cnn_dataset_load_idx(&ds, write_raw("img200.gz", gz, n), rl), CNN_OK);
    assert_int_equal(ds.n, 200);
    assert_int_equal(memcmp(ds.images, img + 16, li - 16), 0);
    cnn_dataset_free(&ds);

    /* Compressed data cut in half. */
    expect_fail(write_raw("gz-half.gz", gz, n / 2), rl, CNN_ERR_FORMAT, "gz-half.gz: corrupt gzip",
                "ends early", NULL);
    /* Cut just before the 8-byte trailer: all data there, CRC missing. */
    expect_fail(write_raw("gz-notrailer.gz", gz, n - 8), rl, CNN_ERR_FORMAT,
                "gz-notrailer.gz: corrupt gzip", NULL, NULL);
    /* Damaged deflate data (caught by inflate or by the CRC). */
    memcpy(bad, gz, n);
    for (size_t j = n / 3; j < n / 3 + 8; j++)
        bad[j] ^= 0x5a;
    expect_fail(write_raw("gz-flip.gz", bad, n), rl, CNN_ERR_FORMAT, "gz-flip.gz", NULL, NULL);
    /* Wrong CRC, wrong length, bad header. */
    memcpy(bad, gz, n);
    bad[n - 8] ^= 1;
    expect_fail(write_raw("gz-crc.gz", bad, n), rl, CNN_ERR_FORMAT, "gz-crc.gz: corrupt gzip",
                "incorrect data check", NULL);
    memcpy(bad, gz, n);
    bad[n - 4] ^= 1;
    expect_fail(write_raw("gz-len.gz", bad, n), rl, CNN_ERR_FORMAT, "gz-len.gz: corrupt gzip",
                "incorrect length check", NULL);
    memcpy(bad, gz, n);
    bad[2] = 7;
    expect_fail(write_raw("gz-method.gz", bad, n), rl, CNN_ERR_FORMAT, "gz-method.gz: corrupt gzip",
                "offset", NULL);
    /* Garbage after a complete stream. */
    memcpy(bad, gz, n);
    memcpy(bad + n, "junk", 4);
    expect_fail(write_raw("gz-junk.gz", bad, n + 4), rl, CNN_ERR_FORMAT, "gz-junk.gz",
                "garbage after the gzip stream", NULL);
    /* Only the two magic bytes. */
    expect_fail(write_raw("gz-magic.gz", gz, 2), rl, CNN_ERR_FORMAT, "gz-magic.gz: corrupt gzip",
                NULL, NULL);
    free(gz);
    free(bad);
    free(img);
    free(lab);
}

/* A net whose input is c x h x w with mean/std, ending in `units` outputs. */
static cnn_net *make_net(const char *input, int units) {
    char text[256];
    snprintf(text, sizeof text, "%s\nflatten\ndense units=%d\n", input, units);
    cnn_net *net = NULL;
    cnn_status s = cnn_net_parse(&net, text, "t.cnn", 1);
    if (s != CNN_OK) fail_msg("cnn_net_parse: %s", cnn_last_error());
    return net;
}

static void test_batch(void **state) {
    (void)state;
    size_t li, ll;
    unsigned char *img = images_idx(N, H, W, &li), *lab = labels_idx(N, &ll);
    cnn_dataset ds;
    assert_int_equal(
        cnn_dataset_load_idx(&ds, write_raw("img-raw", img, li), write_raw("lab-raw", lab, ll)),
        CNN_OK);
    cnn_net *net = make_net("input shape=1x3x4 mean=0.25 std=0.5", 7);
    float x[3 * H * W];
    uint8_t y[3];
    int idx[3] = {4, 0, 2};
    cnn_dataset_batch(&ds, net, idx, 0, 3, x, y);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(y[i], ds.labels[idx[i]]);
        for (int j = 0; j < H * W; j++) {
            float want = ((float)ds.images[idx[i] * H * W + j] / 255.0f - 0.25f) / 0.5f;
            assert_true(x[i * H * W + j] == want);
        }
    }
    cnn_dataset_batch(&ds, net, NULL, 2, 3, x, NULL);
    for (int j = 0; j < 3 * H * W; j++)
        assert_true(x[j] == ((float)ds.images[2 * H * W + j] / 255.0f - 0.25f) / 0.5f);
    /* Pixel 0 and 255 hit the ends of the range exactly. */
    float t[256];
    cnn_data_norm_table(net, 0, t);
    assert_true(t[0] == -0.5f);
    assert_true(t[255] == 1.5f);

    assert_int_equal(cnn_dataset_check(&ds, net, "train set"), CNN_OK);
    cnn_net_free(net);

    net = make_net("input shape=3x32x32", 10);
    assert_int_equal(cnn_dataset_check(&ds, net, "train set"), CNN_ERR_SHAPE);
    assert_string_equal(cnn_last_error(),
                        "train set: images are 1x3x4 but the model's input is 3x32x32");
    cnn_net_free(net);
    net = make_net("input shape=1x3x4", 5);
    assert_int_equal(cnn_dataset_check(&ds, net, "test set"), CNN_ERR_SHAPE);
    print_message("  -> %s\n", cnn_last_error());
    assert_non_null(strstr(cnn_last_error(), "test set: labels go up to 6"));
    assert_non_null(strstr(cnn_last_error(), "5 outputs"));
    cnn_net_free(net);
    cnn_dataset_free(&ds);
    free(img);
    free(lab);
}

/* Real MNIST, if scripts/fetch-data.sh has been run (from the repo root). */
static void test_real_mnist(void **state) {
    (void)state;
    const char *dir = getenv("CNN_MNIST_DIR") ? getenv("CNN_MNIST_DIR") : "data/mnist";
    char ti[512], tl[512], si[512], sl[512];
    snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte", dir);
    snprintf(tl, sizeof tl, "%s/train-labels-idx1-ubyte", dir);
    snprintf(si, sizeof si, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(sl, sizeof sl, "%s/t10k-labels-idx1-ubyte", dir);
    if (access(ti, R_OK) != 0 || access(si, R_OK) != 0) {
        print_message("  %s not there (run scripts/fetch-data.sh); skipped\n", dir);
        skip();
    }
    cnn_dataset train, test;
    cnn_status s = cnn_dataset_load_idx(&train, ti, tl);
    if (s != CNN_OK) fail_msg("%s", cnn_last_error());
    s = cnn_dataset_load_idx(&test, si, sl);
    if (s != CNN_OK) fail_msg("%s", cnn_last_error());
    assert_int_equal(train.n, 60000);
    assert_int_equal(test.n, 10000);
    assert_int_equal(train.h, 28);
    assert_int_equal(train.w, 28);
    assert_int_equal(train.classes, 10);
    assert_int_equal(test.classes, 10);
    assert_int_equal(train.labels[0], 5); /* the first MNIST digit is a 5 */
    assert_int_equal(test.labels[0], 7);  /* and the first test digit a 7 */
    cnn_dataset_free(&train);
    cnn_dataset_free(&test);
}

/* Fashion-MNIST (gzipped, as scripts/fetch-data.sh links it), skipped if absent. */
static void test_real_fashion(void **state) {
    (void)state;
    const char *ti = "data/fashion-mnist/train-images-idx3-ubyte.gz",
               *tl = "data/fashion-mnist/train-labels-idx1-ubyte.gz",
               *si = "data/fashion-mnist/t10k-images-idx3-ubyte.gz",
               *sl = "data/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(ti, R_OK) != 0 || access(si, R_OK) != 0) {
        print_message("  data/fashion-mnist not there (run scripts/fetch-data.sh); skipped\n");
        skip();
    }
    cnn_dataset train, test;
    if (cnn_dataset_load_idx(&train, ti, tl) != CNN_OK) fail_msg("%s", cnn_last_error());
    if (cnn_dataset_load_idx(&test, si, sl) != CNN_OK) fail_msg("%s", cnn_last_error());
    assert_int_equal(train.n, 60000);
    assert_int_equal(test.n, 10000);
    assert_int_equal(train.h * train.w, 784);
    assert_int_equal(train.classes, 10);
    assert_int_equal(test.classes, 10);
    assert_int_equal(train.labels[0], 9); /* an ankle boot */
    cnn_dataset_free(&train);
    cnn_dataset_free(&test);
}

/* Random damage to a gzip and a raw IDX file: every variant either loads or
 * fails with a one-line message naming the file; never a crash (run under
 * ASan/valgrind to see the rest). */
static void test_mutations(void **state) {
    (void)state;
    size_t li, ll;
    unsigned char *img = images_idx(50, 8, 8, &li), *lab = labels_idx(50, &ll);
    const char *rl = write_raw("lab50", lab, ll);
    unsigned char *gz = malloc(li + 1024), *m = malloc(li + 1024);
    assert_non_null(gz);
    assert_non_null(m);
    size_t n = gzip_mem(img, li, gz, li + 1024);
    cnn_rng r;
    cnn_rng_seed(&r, 7);
    int failed = 0;
    for (int t = 0; t < 400; t++) {
        int raw = t % 2;
        const unsigned char *src = raw ? img : gz;
        size_t len = raw ? li : n;
        memcpy(m, src, len);
        int flips = 1 + (int)(cnn_rng_u64(&r) % 4);
        for (int k = 0; k < flips; k++)
            m[cnn_rng_u64(&r) % len] ^= (unsigned char)(1 + cnn_rng_u64(&r) % 255);
        if (cnn_rng_u64(&r) % 4 == 0) len = cnn_rng_u64(&r) % len;
        const char *path = write_raw(raw ? "mut-raw" : "mut.gz", m, len);
        cnn_dataset ds;
        cnn_status s = cnn_dataset_load_idx(&ds, path, rl);
        if (s == CNN_OK) {
            cnn_dataset_free(&ds);
            continue;
        }
        failed++;
        const char *msg = cnn_last_error();
        if (strncmp(msg, path, strlen(path)) != 0 && !strstr(msg, path))
            fail_msg("message \"%s\" does not name %s", msg, path);
        assert_null(strchr(msg, '\n'));
        assert_null(ds.images);
    }
    print_message("  %d of 400 damaged files refused\n", failed);
    assert_true(failed > 200);
    free(gz);
    free(m);
    free(img);
    free(lab);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cnn_test_idx_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < n_made; i++)
        remove(made[i]);
    return rmdir(tmpdir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_and_gzip), cmocka_unit_test(test_missing_and_not_a_file),
        cmocka_unit_test(test_truncated),    cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_corrupt_gzip), cmocka_unit_test(test_batch),
        cmocka_unit_test(test_real_mnist),   cmocka_unit_test(test_real_fashion),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
