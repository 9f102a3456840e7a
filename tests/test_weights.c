/* test_weights.c — the weights file (docs/weights-format.md).
 *
 * Save -> load round-trips bit-exactly, also into a net initialised with
 * another seed, and saving again gives the same bytes. Every refusal gives its
 * exact message and leaves the net's parameters as they were: a missing file,
 * a wrong magic or version, truncation at every part of the file (with a
 * stale checksum, and with a correct one so that the structural check speaks),
 * a flipped data byte, a tensor of the wrong shape, a missing, extra or
 * repeated tensor, trailing bytes, NaN and Inf values, a bad rank or kind, and
 * a header declaring 2^31 x 65536 x 65536 values, refused before allocating.
 * Saving to a path that cannot be written fails cleanly, leaving nothing.
 *
 * The crafted files are made from a real saved file, edited, with the CRC-32
 * recomputed (zlib) unless the test is about the checksum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include "graph/net.h"
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* The small model of most tests and its file layout (offsets in bytes):
 *   0 magic, 8 version, 12 count = 4
 *   16 c.weight: name length, name, kind 26, rank 27, dims 28..44, data 44..116
 *  116 c.bias:   name 118, kind 124, rank 125, dims 126..130, data 130..138
 *  138 d.weight: name 140, kind 148, rank 149, dims 150..158, data 158..3038
 * 3038 d.bias:   name 3040, kind 3046, rank 3047, dims 3048..3052, data 3052..3092
 * 3092 CRC-32; 3096 bytes in all. */
#define SMALL(units, extra)                                                                        \
    "input shape=1x8x8\nconv name=c filters=2 kernel=3\nrelu\nflatten\ndense name=d units=" units  \
    "\n" extra "softmax\n"
#define FILE_SIZE 3096
#define T3_AT 138
#define T4_AT 3038
#define CRC_AT 3092

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_weights.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static cnn_net *small_net(const char *units, const char *extra, uint64_t seed) {
    char text[512];
    snprintf(text, sizeof text, SMALL("%s", "%s"), units, extra);
    cnn_net *net;
    if (cnn_net_parse(&net, text, "small.cnn", seed) != CNN_OK) fail_msg("%s", cnn_last_error());
    return net;
}

/* ---- byte buffers ------------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t n;
} bytes;

static bytes read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    bytes b = {malloc(1 << 20), 0};
    assert_non_null(b.p);
    b.n = fread(b.p, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void write_all(const char *path, const unsigned char *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t crc_of(const unsigned char *p, size_t n) {
    return (uint32_t)crc32(crc32(0, NULL, 0), p, (uInt)n);
}

/* The CRC of a buffer whose last 4 bytes are the CRC. */
static void fix_crc(bytes *b) {
    put_u32(b->p + b->n - 4, crc_of(b->p, b->n - 4));
}

/* A copy of the first n bytes of src (n may exceed src for appending). */
static bytes prefix(bytes src, size_t n) {
    bytes b = {calloc(n + 64, 1), n};
    assert_non_null(b.p);
    memcpy(b.p, src.p, n < src.n ? n : src.n);
    return b;
}

/* ---- fixtures: a saved file and a target net --------------------------- */

static char good[256]; /* the small net, seed 1 */
static bytes good_bytes;

static int setup_group(void **state) {
    if (setup(state) != 0) return -1;
    snprintf(good, sizeof good, "%s/good.weights", dir);
    cnn_net *net = small_net("10", "", 1);
    assert_int_equal(cnn_net_save_weights(net, good), CNN_OK);
    cnn_net_free(net);
    good_bytes = read_all(good);
    assert_int_equal(good_bytes.n, FILE_SIZE);
    return 0;
}

static int teardown_group(void **state) {
    free(good_bytes.p);
    return teardown(state);
}

/* Load path into a seed-2 net and expect the refusal: status, exact message,
 * and the parameters as they were. */
static void expect_refused(const char *path, cnn_status status, const char *msg, int *failures,
                           const char *what) {
    cnn_net *net = small_net("10", "", 2);
    size_t np = cnn_net_num_params(net);
    float *before = malloc(np * sizeof *before);
    assert_non_null(before);
    memcpy(before, cnn_net_params(net), np * sizeof *before);
    cnn_status s = cnn_net_load_weights(net, path);
    int same = memcmp(before, cnn_net_params(net), np * sizeof *before) == 0;
    if (s != status || strcmp(cnn_last_error(), msg) || !same) {
        print_error("%s:\n  status   %s, expected %s\n  message  %s\n  expected %s\n%s", what,
                    cnn_status_str(s), cnn_status_str(status), cnn_last_error(), msg,
                    same ? "" : "  and the net's parameters changed\n");
        (*failures)++;
    }
    free(before);
    cnn_net_free(net);
}

/* Write b to dir/name and expect it refused; frees b. */
static void refuse_bytes(const char *name, bytes b, cnn_status status, const char *fmt,
                         int *failures) {
    char path[256], msg[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_all(path, b.p, b.n);
    free(b.p);
    /* fmt has one %s (the path) before anything else it holds */
    snprintf(msg, sizeof msg, fmt, path);
    expect_refused(path, status, msg, failures, name);
}

/* ---- round trips ------------------------------------------------------- */

static void test_round_trip(void **state) {
    (void)state;
    cnn_net *a = small_net("10", "", 1), *b = small_net("10", "", 2);
    size_t np = cnn_net_num_params(a);
    assert_int_equal(np, 750);
    assert_memory_not_equal(cnn_net_params(a), cnn_net_params(b), np * sizeof(float));
    assert_int_equal(cnn_net_load_weights(b, good), CNN_OK);
    assert_memory_equal(cnn_net_params(a), cnn_net_params(b), np * sizeof(float));
    /* Saving the loaded net gives the same bytes. */
    char again[256];
    snprintf(again, sizeof again, "%s/again.weights", dir);
    assert_int_equal(cnn_net_save_weights(b, again), CNN_OK);
    bytes c = read_all(again);
    assert_int_equal(c.n, good_bytes.n);
    assert_memory_equal(c.p, good_bytes.p, c.n);
    free(c.p);
    /* The layout of docs/weights-format.md. */
    const unsigned char *p = good_bytes.p;
    assert_memory_equal(p, "CNNWEIGH", 8);
    assert_int_equal(get_u32(p + 8), 1);
    assert_int_equal(get_u32(p + 12), 4);
    assert_int_equal(p[16] | p[17] << 8, 8);
    assert_memory_equal(p + 18, "c.weight", 8);
    assert_int_equal(p[26], 0);
    assert_int_equal(p[27], 4);
    assert_int_equal(get_u32(p + 28), 2);
    assert_int_equal(get_u32(p + 32), 1);
    assert_memory_equal(p + 44, cnn_net_params(a), 18 * sizeof(float));
    assert_memory_equal(p + T3_AT + 2, "d.weight", 8);
    assert_memory_equal(p + T4_AT + 2, "d.bias", 6);
    assert_int_equal(get_u32(p + CRC_AT), crc_of(p, CRC_AT));
    /* Saving again over an existing file replaces it. */
    assert_int_equal(cnn_net_save_weights(a, again), CNN_OK);
    cnn_net_free(a);
    cnn_net_free(b);
}

/* LeNet-5 from its model file: every one of its 61,706 parameters. */
static void test_round_trip_lenet5(void **state) {
    (void)state;
    cnn_net *a, *b;
    assert_int_equal(cnn_net_load_model(&a, "models/lenet5.cnn", 11), CNN_OK);
    assert_int_equal(cnn_net_load_model(&b, "models/lenet5.cnn", 12), CNN_OK);
    size_t np = cnn_net_num_params(a);
    assert_int_equal(np, 61706);
    assert_memory_not_equal(cnn_net_params(a), cnn_net_params(b), np * sizeof(float));
    char path[256];
    snprintf(path, sizeof path, "%s/lenet5.weights", dir);
    assert_int_equal(cnn_net_save_weights(a, path), CNN_OK);
    assert_int_equal(cnn_net_load_weights(b, path), CNN_OK);
    assert_memory_equal(cnn_net_params(a), cnn_net_params(b), np * sizeof(float));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* header, 10 x (name length, kind, rank), the names (c1.weight ... output.bias),
     * the dims (2 convs of rank 4, 3 dense of rank 2, 5 biases), the values, the CRC */
    assert_int_equal(st.st_size, 16 + 10 * 4 + 88 + (2 * 4 + 3 * 2 + 5) * 4 + 61706 * 4 + 4);
    cnn_net_free(a);
    cnn_net_free(b);
}

/* Extra state (kind 2, e.g. optimizer moments) is skipped by weight loading. */
static void test_extra_state_skipped(void **state) {
    (void)state;
    static const char name[] = "opt.m";
    bytes b = prefix(good_bytes, FILE_SIZE + 2 + 5 + 2 + 4 + 8);
    unsigned char *t = b.p + CRC_AT;
    t[0] = 5;
    t[1] = 0;
    memcpy(t + 2, name, 5);
    t[7] = 2; /* kind: extra state */
    t[8] = 1;
    put_u32(t + 9, 2);
    float v[2] = {NAN, 1.0f}; /* not weights: not checked either */
    memcpy(t + 13, v, sizeof v);
    put_u32(b.p + 12, 5);
    fix_crc(&b);
    char path[256];
    snprintf(path, sizeof path, "%s/extra-state.weights", dir);
    write_all(path, b.p, b.n);
    free(b.p);
    cnn_net *a = small_net("10", "", 1), *n = small_net("10", "", 2);
    if (cnn_net_load_weights(n, path) != CNN_OK) fail_msg("%s", cnn_last_error());
    assert_memory_equal(cnn_net_params(a), cnn_net_params(n), 750 * sizeof(float));
    cnn_net_free(a);
    cnn_net_free(n);
}

/* ---- refusals ---------------------------------------------------------- */

static void test_missing_and_unbuilt(void **state) {
    (void)state;
    int failures = 0;
    char path[256], msg[512];
    snprintf(path, sizeof path, "%s/missing.weights", dir);
    snprintf(msg, sizeof msg, "%s: No such file or directory", path);
    expect_refused(path, CNN_ERR_IO, msg, &failures, "missing file");
    assert_int_equal(failures, 0);
    cnn_net *net;
    assert_int_equal(cnn_net_create(&net), CNN_OK);
    assert_int_equal(cnn_net_load_weights(net, good), CNN_ERR_ARG);
    snprintf(msg, sizeof msg, "%s: the net is not built", good);
    assert_string_equal(cnn_last_error(), msg);
    snprintf(path, sizeof path, "%s/unbuilt.weights", dir);
    assert_int_equal(cnn_net_save_weights(net, path), CNN_ERR_ARG);
    snprintf(msg, sizeof msg, "%s: the net is not built", path);
    assert_string_equal(cnn_last_error(), msg);
    assert_int_equal(access(path, F_OK), -1);
    cnn_net_free(net);
}

static void test_header_refusals(void **state) {
    (void)state;
    int failures = 0;
    bytes b = prefix(good_bytes, FILE_SIZE);
    b.p[0] = 'X';
    fix_crc(&b);
    refuse_bytes("magic.weights", b, CNN_ERR_FORMAT,
                 "%s: offset 0: not a cnn weights file (bad magic number)", &failures);
    b = prefix(good_bytes, FILE_SIZE);
    put_u32(b.p + 8, 2);
    fix_crc(&b);
    refuse_bytes("version.weights", b, CNN_ERR_FORMAT,
                 "%s: offset 8: version 2, this library reads version 1", &failures);
    /* Short files. */
    refuse_bytes("empty.weights", prefix(good_bytes, 0), CNN_ERR_FORMAT,
                 "%s: truncated at offset 0: the magic number needs 8 bytes, 0 left (file is 0 "
                 "bytes)",
                 &failures);
    refuse_bytes("cut5.weights", prefix(good_bytes, 5), CNN_ERR_FORMAT,
                 "%s: truncated at offset 0: the magic number needs 8 bytes, 5 left (file is 5 "
                 "bytes)",
                 &failures);
    refuse_bytes("cut10.weights", prefix(good_bytes, 10), CNN_ERR_FORMAT,
                 "%s: truncated at offset 8: the version needs 4 bytes, 2 left (file is 10 bytes)",
                 &failures);
    refuse_bytes("cut14.weights", prefix(good_bytes, 14), CNN_ERR_FORMAT,
                 "%s: truncated at offset 12: the tensor count needs 4 bytes, 2 left (file is 14 "
                 "bytes)",
                 &failures);
    refuse_bytes("cut16.weights", prefix(good_bytes, 16), CNN_ERR_FORMAT, "%s: truncated: 16 bytes",
                 &failures);
    refuse_bytes("cut18.weights", prefix(good_bytes, 18), CNN_ERR_FORMAT, "%s: truncated: 18 bytes",
                 &failures);
    if (failures) fail_msg("%d refusals differ", failures);
}

/* Cut anywhere after the header: the last 4 bytes are not the CRC. */
static void test_truncated_checksum(void **state) {
    (void)state;
    static const size_t cuts[] = {20,        22,   27,        30,     100,
                                  T3_AT + 1, 1000, T4_AT + 5, CRC_AT, FILE_SIZE - 1};
    int failures = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t n = cuts[i];
        char name[64], fmt[256];
        snprintf(name, sizeof name, "cut%zu.weights", n);
        snprintf(fmt, sizeof fmt,
                 "%%s: checksum mismatch (stored %08x, computed %08x): the file is corrupt or "
                 "truncated",
                 get_u32(good_bytes.p + n - 4), crc_of(good_bytes.p, n - 4));
        refuse_bytes(name, prefix(good_bytes, n), CNN_ERR_FORMAT, fmt, &failures);
    }
    /* One flipped bit in the data. */
    bytes b = prefix(good_bytes, FILE_SIZE);
    b.p[60] ^= 0x10;
    char fmt[256];
    snprintf(fmt, sizeof fmt,
             "%%s: checksum mismatch (stored %08x, computed %08x): the file is corrupt or "
             "truncated",
             get_u32(good_bytes.p + CRC_AT), crc_of(b.p, CRC_AT));
    refuse_bytes("flipped.weights", b, CNN_ERR_FORMAT, fmt, &failures);
    if (failures) fail_msg("%d refusals differ", failures);
}

/* Cut at offset `at`, then a correct CRC: the structure check must speak.
 * Also a tensor count and a name length larger than the file holds. Messages
 * with "(file is N bytes)" must give the file's real size. */
static void test_truncated_valid_crc(void **state) {
    (void)state;
    static const struct {
        size_t at;
        const char *fmt; /* %s path, %zu file size where present */
    } cuts[] = {
        {17, "%s: truncated at offset 16: a tensor name length needs 2 bytes, 1 left (file is %zu "
             "bytes)"},
        {22, "%s: truncated at offset 18: a tensor name needs 8 bytes, 4 left (file is %zu bytes)"},
        {26, "%s: truncated at offset 26: a tensor kind needs 1 bytes, 0 left (file is %zu bytes)"},
        {27, "%s: truncated at offset 27: a tensor rank needs 1 bytes, 0 left (file is %zu bytes)"},
        {36, "%s: truncated at offset 28: tensor dimensions needs 16 bytes, 8 left (file is %zu "
             "bytes)"},
        {100, "%s: truncated: tensor 'c.weight' needs 72 bytes at offset 44, 56 left"},
        {1000, "%s: truncated: tensor 'd.weight' needs 2880 bytes at offset 158, 842 left"},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        bytes b = prefix(good_bytes, cuts[i].at + 4);
        fix_crc(&b);
        char name[64], path[256], msg[512];
        snprintf(name, sizeof name, "cut%zu-crc.weights", cuts[i].at);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        write_all(path, b.p, b.n);
        snprintf(msg, sizeof msg, cuts[i].fmt, path, b.n);
        free(b.p);
        expect_refused(path, CNN_ERR_FORMAT, msg, &failures, name);
    }
    /* A count of 2^32-1 tensors in a file holding 4. */
    bytes b = prefix(good_bytes, FILE_SIZE);
    put_u32(b.p + 12, 0xffffffffu);
    fix_crc(&b);
    char path[256], msg[512];
    snprintf(path, sizeof path, "%s/count.weights", dir);
    write_all(path, b.p, b.n);
    free(b.p);
    snprintf(msg, sizeof msg,
             "%s: truncated at offset 3092: a tensor name length needs 2 bytes, 0 left (file is "
             "3096 bytes)",
             path);
    expect_refused(path, CNN_ERR_FORMAT, msg, &failures, "count.weights");
    if (failures) fail_msg("%d refusals differ", failures);
}

/* Files that are well-formed but do not fit the net. */
static void test_mismatch_refusals(void **state) {
    (void)state;
    int failures = 0;
    char path[256], msg[512];
    /* Saved from dense units=20 (another seed: the conv tensors, read first, differ too). */
    cnn_net *other = small_net("20", "", 3);
    snprintf(path, sizeof path, "%s/units20.weights", dir);
    assert_int_equal(cnn_net_save_weights(other, path), CNN_OK);
    cnn_net_free(other);
    snprintf(msg, sizeof msg,
             "%s: tensor 'd.weight' has shape 20x72, the model small.cnn expects 10x72", path);
    expect_refused(path, CNN_ERR_SHAPE, msg, &failures, "units20");
    /* A layer the net does not have. */
    other = small_net("10", "dense name=e units=10\n", 3);
    snprintf(path, sizeof path, "%s/extra-layer.weights", dir);
    assert_int_equal(cnn_net_save_weights(other, path), CNN_OK);
    cnn_net_free(other);
    snprintf(msg, sizeof msg, "%s: tensor 'e.weight' is not in the model small.cnn", path);
    expect_refused(path, CNN_ERR_SHAPE, msg, &failures, "extra layer");
    /* The last tensor left out (count 3). */
    bytes b = prefix(good_bytes, T4_AT + 4);
    put_u32(b.p + 12, 3);
    fix_crc(&b);
    refuse_bytes("missing-tensor.weights", b, CNN_ERR_SHAPE,
                 "%s: tensor 'd.bias' of the model small.cnn is missing", &failures);
    /* The last tensor twice (count 5). */
    size_t t4 = CRC_AT - T4_AT;
    b = prefix(good_bytes, FILE_SIZE + t4);
    memcpy(b.p + CRC_AT, good_bytes.p + T4_AT, t4);
    put_u32(b.p + 12, 5);
    fix_crc(&b);
    refuse_bytes("twice.weights", b, CNN_ERR_FORMAT, "%s: tensor 'd.bias' appears twice",
                 &failures);
    /* Bytes after the last tensor. */
    b = prefix(good_bytes, FILE_SIZE + 3);
    fix_crc(&b);
    refuse_bytes("trailing.weights", b, CNN_ERR_FORMAT,
                 "%s: 3 unexpected bytes after the last tensor at offset 3092", &failures);
    /* A weight saved as a buffer (kind 1). */
    b = prefix(good_bytes, FILE_SIZE);
    b.p[26] = 1;
    fix_crc(&b);
    refuse_bytes("kind1.weights", b, CNN_ERR_SHAPE,
                 "%s: tensor 'c.weight' is stored as a buffer, the model small.cnn has a parameter",
                 &failures);
    if (failures) fail_msg("%d refusals differ", failures);
}

static void test_value_refusals(void **state) {
    (void)state;
    int failures = 0;
    const float nan = NAN, inf = INFINITY;
    /* NaN in the first tensor, at index 3. */
    bytes b = prefix(good_bytes, FILE_SIZE);
    memcpy(b.p + 44 + 12, &nan, 4);
    fix_crc(&b);
    refuse_bytes("nan.weights", b, CNN_ERR_NUMERIC,
                 "%s: tensor 'c.weight' holds NaN or Inf at index 3 (offset 56)", &failures);
    /* Inf in the last value of the last tensor: everything before it was read. */
    b = prefix(good_bytes, FILE_SIZE);
    memcpy(b.p + CRC_AT - 4, &inf, 4);
    fix_crc(&b);
    refuse_bytes("inf.weights", b, CNN_ERR_NUMERIC,
                 "%s: tensor 'd.bias' holds NaN or Inf at index 9 (offset 3088)", &failures);
    if (failures) fail_msg("%d refusals differ", failures);
}

/* One tensor record at offset 16 with the given rank, kind and dims, no data. */
static bytes one_tensor(uint8_t kind, uint8_t ndim, const uint32_t *dims, int count) {
    bytes b = prefix(good_bytes, 16 + 2 + 8 + 2 + 4 * (size_t)count + 4);
    put_u32(b.p + 12, 1);
    b.p[16] = 8;
    b.p[17] = 0;
    memcpy(b.p + 18, "c.weight", 8);
    b.p[26] = kind;
    b.p[27] = ndim;
    for (int i = 0; i < count; i++)
        put_u32(b.p + 28 + 4 * i, dims[i]);
    fix_crc(&b);
    return b;
}

static void test_absurd_refusals(void **state) {
    (void)state;
    int failures = 0;
    /* 2^31 x 65536 x 65536 x 1 floats: refused from the header, nothing allocated. */
    const uint32_t huge[4] = {0x80000000u, 65536, 65536, 1};
    refuse_bytes("huge.weights", one_tensor(0, 4, huge, 4), CNN_ERR_FORMAT,
                 "%s: offset 16: tensor 'c.weight' declares more values than the file holds",
                 &failures);
    /* A product that overflows 64 bits. */
    const uint32_t wrap[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    refuse_bytes("wrap.weights", one_tensor(0, 4, wrap, 4), CNN_ERR_FORMAT,
                 "%s: offset 16: tensor 'c.weight' declares more values than the file holds",
                 &failures);
    const uint32_t dims[4] = {2, 1, 3, 3};
    refuse_bytes("rank5.weights", one_tensor(0, 5, dims, 4), CNN_ERR_FORMAT,
                 "%s: offset 16: tensor 'c.weight': bad rank 5 or kind 0", &failures);
    refuse_bytes("rank0.weights", one_tensor(0, 0, dims, 0), CNN_ERR_FORMAT,
                 "%s: offset 16: tensor 'c.weight': bad rank 0 or kind 0", &failures);
    refuse_bytes("kind3.weights", one_tensor(3, 4, dims, 4), CNN_ERR_FORMAT,
                 "%s: offset 16: tensor 'c.weight': bad rank 4 or kind 3", &failures);
    /* A name longer than any the library writes. */
    bytes b = prefix(good_bytes, FILE_SIZE);
    b.p[16] = b.p[17] = 0xff;
    fix_crc(&b);
    refuse_bytes("longname.weights", b, CNN_ERR_FORMAT,
                 "%s: offset 16: a tensor name of 65535 bytes (at most 1023)", &failures);
    if (failures) fail_msg("%d refusals differ", failures);
}

/* The reader of extra state (checkpoints, cnn_weights_read_extra) on a
 * tensor name longer than its name buffer: refused like weight loading
 * refuses it. Run in a child process, so that a stack overflow is reported
 * as this test failing rather than the whole program dying. */
static void test_extra_reader_long_name(void **state) {
    (void)state;
    enum { NLEN = 2000 };
    bytes b = {calloc(1, 16 + 2 + NLEN + 2 + 4 + 4 + 4), 16 + 2 + NLEN + 2 + 4 + 4 + 4};
    assert_non_null(b.p);
    memcpy(b.p, "CNNWEIGH", 8);
    put_u32(b.p + 8, 1);
    put_u32(b.p + 12, 1);
    b.p[16] = NLEN & 0xff;
    b.p[17] = NLEN >> 8;
    memset(b.p + 18, 'x', NLEN);
    b.p[18 + NLEN] = 2; /* kind: extra state */
    b.p[19 + NLEN] = 1; /* rank 1 */
    put_u32(b.p + 20 + NLEN, 1);
    fix_crc(&b);
    char path[256], msg[512];
    snprintf(path, sizeof path, "%s/longname.cnnw", dir);
    write_all(path, b.p, b.n);
    free(b.p);
    snprintf(msg, sizeof msg, "%s: offset 16: a tensor name of %d bytes (at most 1023)", path,
             NLEN);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would turn a crash into a test failure inside the child */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        uint32_t word = 0;
        cnn_extra_slot slot = {"step", &word, 1, 0, 0};
        cnn_status s = cnn_weights_read_extra(path, &slot, 1);
        int ok = s == CNN_ERR_FORMAT && !strcmp(cnn_last_error(), msg);
        if (!ok)
            fprintf(stderr, "  status   %s\n  message  %s\n  expected %s\n", cnn_status_str(s),
                    cnn_last_error(), msg);
        _exit(ok ? 0 : 3);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("cnn_weights_read_extra on a %d-byte tensor name died with signal %d", NLEN,
                 WTERMSIG(status));
    if (WEXITSTATUS(status) == 3) fail_msg("cnn_weights_read_extra: wrong refusal (above)");
    if (WEXITSTATUS(status) != 0)
        fail_msg("cnn_weights_read_extra on a %d-byte tensor name: the child exited with status %d "
                 "(a sanitizer report above?)",
                 NLEN, WEXITSTATUS(status));
}

/* ---- saving where it cannot ------------------------------------------- */

static int count_entries(const char *path) {
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_save_fails_cleanly(void **state) {
    (void)state;
    cnn_net *net = small_net("10", "", 1);
    char path[256], msg[512];
    /* A folder that does not exist. */
    snprintf(path, sizeof path, "%s/no/such/folder/x.weights", dir);
    assert_int_equal(cnn_net_save_weights(net, path), CNN_ERR_IO);
    snprintf(msg, sizeof msg, "%s.tmp%ld: No such file or directory", path, (long)getpid());
    assert_string_equal(cnn_last_error(), msg);
    /* The target is a directory: the temporary file is written, then removed. */
    char sub[256];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/sub/target", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(cnn_net_save_weights(net, path), CNN_ERR_IO);
    snprintf(msg, sizeof msg, "%s: cannot write: Is a directory", path);
    assert_string_equal(cnn_last_error(), msg);
    assert_int_equal(count_entries(sub), 1); /* only target: no temporary left */
    assert_int_equal(count_entries(path), 0);
    cnn_net_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_lenet5),
        cmocka_unit_test(test_extra_state_skipped),
        cmocka_unit_test(test_missing_and_unbuilt),
        cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_truncated_checksum),
        cmocka_unit_test(test_truncated_valid_crc),
        cmocka_unit_test(test_mismatch_refusals),
        cmocka_unit_test(test_value_refusals),
        cmocka_unit_test(test_absurd_refusals),
        cmocka_unit_test(test_extra_reader_long_name),
        cmocka_unit_test(test_save_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
