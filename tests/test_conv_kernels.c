/* test_conv_kernels.c — the fast convolution (im2col + GEMM, threaded batch)
 * against the naive reference, forward and backward, over odd shapes; the
 * conv layer's options, shape checks, parameters and describe string, and
 * its choice between Winograd and im2col (tests/test_winograd.c tests the
 * Winograd kernel itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "kernels/conv.h"
#include "kernels/direct.h"
#include "kernels/winograd.h"
#include "layers/layer.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

#define TEST_RNG_SEED 0x9e3779b97f4a7c15ULL
#include "common/rand.h"

/* Fail with the first element where got and want differ by more than tol * (1 + |want|). */
static void expect_close(const char *what, const char *name, const float *got, const float *want,
                         size_t n, float tol) {
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= tol * (1.0f + fabsf(want[i]))))
            fail_msg("%s: %s[%zu] = %.9g, reference %.9g (diff %.3g)", name, what, i, got[i],
                     want[i], d);
    }
}

/* ---- geometry ----------------------------------------------------------- */

static void test_out_size(void **state) {
    (void)state;
    assert_int_equal(cnn_conv_out_size(5, 3, 1, 0, 1), 3);
    assert_int_equal(cnn_conv_out_size(7, 3, 2, 1, 1), 4);
    assert_int_equal(cnn_conv_out_size(28, 5, 1, 2, 1), 28);
    assert_int_equal(cnn_conv_out_size(11, 3, 1, 0, 2), 7);
    assert_int_equal(cnn_conv_out_size(4, 5, 1, 0, 1), 0);
    /* floor, not truncation, of a negative numerator: (2 - 3 - 1) / 3 -> -1 */
    assert_int_equal(cnn_conv_out_size(2, 4, 3, 0, 1), 0);
    assert_int_equal(cnn_conv_out_size(1, 3, 1, 0, 2), -3);
    cnn_conv_geom g = {.c = 4,
                       .h = 7,
                       .w = 11,
                       .k = 6,
                       .kh = 3,
                       .kw = 5,
                       .sh = 2,
                       .sw = 1,
                       .ph = 1,
                       .pw = 2,
                       .dh = 1,
                       .dw = 2,
                       .groups = 2};
    assert_true(cnn_conv_geom_init(&g));
    assert_int_equal(g.oh, 4);
    assert_int_equal(g.ow, 7);
    assert_int_equal(cnn_conv_weight_size(&g), 6 * 2 * 3 * 5);
    assert_int_equal(cnn_conv_col_size(&g), 2 * 3 * 5 * 4 * 7);
    g.h = 1;
    g.ph = 0;
    assert_false(cnn_conv_geom_init(&g));
}

/* im2col and col2im are adjoint: <im2col(x), c> == <x, col2im(c)>. */
static void test_im2col_adjoint(void **state) {
    (void)state;
    cnn_conv_geom g = {.c = 2,
                       .h = 5,
                       .w = 7,
                       .k = 1,
                       .kh = 3,
                       .kw = 2,
                       .sh = 2,
                       .sw = 3,
                       .ph = 1,
                       .pw = 2,
                       .dh = 2,
                       .dw = 1,
                       .groups = 1};
    assert_true(cnn_conv_geom_init(&g));
    size_t nx = 2 * 5 * 7, nc = cnn_conv_col_size(&g);
    float *x = rand_floats(nx), *c = rand_floats(nc), *col = filled(nc, NAN), *xt = filled(nx, 0);
    cnn_im2col(&g, 2, x, col);
    cnn_col2im(&g, 2, c, xt);
    double a = 0, b = 0;
    for (size_t i = 0; i < nc; i++)
        a += (double)col[i] * c[i];
    for (size_t i = 0; i < nx; i++)
        b += (double)x[i] * xt[i];
    assert_true(fabs(a - b) < 1e-4 * (1 + fabs(a)));
    /* col2im accumulates */
    float *xt2 = filled(nx, 1.0f);
    cnn_col2im(&g, 2, c, xt2);
    for (size_t i = 0; i < nx; i++)
        assert_true(fabsf(xt2[i] - 1.0f - xt[i]) < 1e-5f);
    free(x), free(c), free(col), free(xt), free(xt2);
}

/* ---- fast vs reference -------------------------------------------------- */

typedef struct {
    const char *name;
    int n, c, h, w, k, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
} conv_case;

static const conv_case cases[] = {
    {"1x1 pointwise", 2, 3, 5, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 stride 2", 2, 3, 7, 11, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
    {"1x1 padded", 1, 3, 5, 7, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {"1x1 pointwise groups 2", 3, 4, 5, 3, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, 1},
    {"3x3 plain", 2, 3, 7, 11, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},
    {"3x3 s2 p1", 3, 3, 7, 11, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"5x5 p2 batch 3", 3, 2, 7, 11, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},
    {"7x7 s2 p3", 2, 3, 13, 11, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1, 1},
    {"3x5 kernel", 2, 3, 7, 11, 4, 3, 5, 1, 1, 0, 0, 1, 1, 1, 1},
    {"3x5 s1x2 p1x2 d2x1", 2, 3, 11, 13, 4, 3, 5, 1, 2, 1, 2, 2, 1, 1, 1},
    {"dilation 2", 2, 3, 7, 11, 4, 3, 3, 1, 1, 0, 0, 2, 2, 1, 1},
    {"dilation 2 padded stride 2", 2, 2, 11, 7, 3, 3, 3, 2, 2, 2, 1, 2, 2, 1, 0},
    {"groups 2", 2, 4, 7, 11, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
    {"groups 2 no bias s2", 3, 4, 7, 5, 4, 3, 3, 2, 1, 1, 0, 1, 1, 2, 0},
    {"depthwise", 2, 3, 7, 11, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 1},
    {"depthwise x2 s2", 2, 3, 7, 11, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3, 1},
    {"depthwise 5x5 d2 p3 no bias", 3, 5, 13, 9, 5, 5, 5, 1, 1, 3, 3, 2, 2, 5, 0},
    {"depthwise x3 s3x2 p0x2", 2, 4, 11, 17, 12, 3, 3, 3, 2, 0, 2, 1, 1, 4, 1},
    {"depthwise 3x3 s1 19x23 c17", 2, 17, 19, 23, 17, 3, 3, 1, 1, 1, 1, 1, 1, 17, 1},
    {"depthwise kernel bigger than input", 2, 2, 2, 3, 2, 5, 5, 1, 1, 2, 2, 1, 1, 2, 1},
    {"kernel bigger than input", 2, 2, 2, 3, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},
    {"kernel = input", 3, 2, 5, 7, 3, 5, 7, 1, 1, 0, 0, 1, 1, 1, 1},
    {"stride > kernel", 2, 2, 11, 13, 3, 2, 2, 3, 3, 0, 1, 1, 1, 1, 1},
    {"prime 7x11 single image", 1, 5, 7, 11, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"bigger c8 k16 batch 5", 5, 8, 9, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"k128 small plane (plain im2col forward)", 2, 8, 9, 7, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"1x1 input", 3, 4, 1, 1, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"LeNet c1: 1 channel 5x5 p2", 4, 1, 13, 12, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},
    {"3x3 p0x2 asymmetric", 2, 3, 6, 5, 4, 3, 3, 1, 1, 0, 2, 1, 1, 1, 0},
    {"2x7 p1x3", 2, 2, 5, 9, 3, 2, 7, 1, 1, 1, 3, 1, 1, 1, 1},
    {"1x3 on one row", 2, 3, 1, 8, 2, 1, 3, 1, 1, 0, 1, 1, 1, 1, 1},
    {"1 channel 3x3 p1, rows of 37 (direct)", 3, 1, 9, 37, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"2 channels 3x3 p2 k5, rows of 33, no bias", 2, 2, 5, 33, 5, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0},
    {"LeNet c3: 6 channels 5x5 k16", 2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 1},
    {"MNIST conv1: 1 channel 3x3 p1 k24 28x28", 2, 1, 28, 28, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    /* dx by the direct loops on the flipped, transposed weights (C % 4 == 0) */
    {"c8 k12 3x3 p1 14x14 (direct dx)", 3, 8, 14, 14, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"c4 k8 5x5 p2 13x15 (direct dx)", 2, 4, 13, 15, 8, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0},
    {"c4 k6 3x3 p0 14x16 (direct dx, padding 2)", 2, 4, 14, 16, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},
    {"c12 k16 3x3 p1x0 15x30 (direct dx)", 2, 12, 15, 30, 16, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1},
};

static cnn_conv_geom geom_of(const conv_case *t) {
    cnn_conv_geom g = {.c = t->c,
                       .h = t->h,
                       .w = t->w,
                       .k = t->k,
                       .kh = t->kh,
                       .kw = t->kw,
                       .sh = t->sh,
                       .sw = t->sw,
                       .ph = t->ph,
                       .pw = t->pw,
                       .dh = t->dh,
                       .dw = t->dw,
                       .groups = t->groups};
    assert_true(cnn_conv_geom_init(&g));
    return g;
}

#define CANARY 16

/* Scratch for nthreads threads, followed by a canary that must survive. */
static float *scratch_for(const cnn_conv_geom *g, int n, int nthreads, size_t *size) {
    *size = cnn_conv_scratch_size(g, n, nthreads);
    float *s = malloc((*size + CANARY) * sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < *size + CANARY; i++)
        s[i] = (float)i;
    return s;
}

static void check_canary(const char *name, const float *s, size_t size) {
    for (size_t i = size; i < size + CANARY; i++)
        if (s[i] != (float)i) fail_msg("%s: scratch overrun", name);
}

/* One case on nthreads threads: forward, then backward with dx overwritten
 * (pre-filled with NaN) and dw, db accumulated onto non-zero values. */
static void run_case(const conv_case *t, int nthreads) {
    cnn_conv_geom g = geom_of(t);
    size_t nx = (size_t)t->n * t->c * t->h * t->w, ny = (size_t)t->n * t->k * g.oh * g.ow;
    size_t nw = cnn_conv_weight_size(&g), ssz;
    float *x = rand_floats(nx), *w = rand_floats(nw), *b = rand_floats((size_t)t->k);
    float *dy = rand_floats(ny), *dw0 = rand_floats(nw), *db0 = rand_floats((size_t)t->k);
    float *y = filled(ny, NAN), *yr = filled(ny, NAN);
    float *dx = filled(nx, NAN), *dxr = filled(nx, NAN);
    float *dw = malloc(nw * sizeof *dw), *dwr = malloc(nw * sizeof *dwr);
    float *db = malloc((size_t)t->k * sizeof *db), *dbr = malloc((size_t)t->k * sizeof *dbr);
    memcpy(dw, dw0, nw * sizeof *dw), memcpy(dwr, dw0, nw * sizeof *dw);
    memcpy(db, db0, (size_t)t->k * sizeof *db), memcpy(dbr, db0, (size_t)t->k * sizeof *db);
    float *scratch = scratch_for(&g, t->n, nthreads, &ssz);
    const float *bias = t->bias ? b : NULL;

    cnn_conv_forward_batch(&g, t->n, x, w, bias, y, scratch, nthreads);
    cnn_conv_forward_ref(&g, t->n, x, w, bias, yr);
    check_canary(t->name, scratch, ssz);
    expect_close("y", t->name, y, yr, ny, 1e-5f);

    cnn_conv_backward_batch(&g, t->n, x, w, dy, dx, dw, t->bias ? db : NULL, scratch, nthreads);
    cnn_conv_backward_ref(&g, t->n, x, w, dy, dxr, dwr, t->bias ? dbr : NULL);
    check_canary(t->name, scratch, ssz);
    expect_close("dx", t->name, dx, dxr, nx, 1e-5f);
    expect_close("dw", t->name, dw, dwr, nw, 1e-5f);
    expect_close("db", t->name, db, dbr, (size_t)t->k, 1e-5f);
    if (!t->bias)
        for (int k = 0; k < t->k; k++)
            assert_true(db[k] == db0[k]);

    /* Same thread count, same bits. */
    float *dw2 = malloc(nw * sizeof *dw2), *dx2 = filled(nx, NAN);
    memcpy(dw2, dw0, nw * sizeof *dw2);
    cnn_conv_backward_batch(&g, t->n, x, w, dy, dx2, dw2, NULL, scratch, nthreads);
    assert_memory_equal(dw2, dw, nw * sizeof *dw);
    assert_memory_equal(dx2, dx, nx * sizeof *dx);

    /* Only some gradients asked for: the others are left alone. */
    memcpy(dw2, dw0, nw * sizeof *dw2);
    cnn_conv_backward_batch(&g, t->n, x, w, dy, NULL, dw2, NULL, scratch, nthreads);
    assert_memory_equal(dw2, dw, nw * sizeof *dw);
    for (size_t i = 0; i < nx; i++)
        dx2[i] = NAN;
    memcpy(dw2, dw0, nw * sizeof *dw2);
    cnn_conv_backward_batch(&g, t->n, x, w, dy, dx2, NULL, NULL, scratch, nthreads);
    assert_memory_equal(dx2, dx, nx * sizeof *dx);
    assert_memory_equal(dw2, dw0, nw * sizeof *dw);

    free(x), free(w), free(b), free(dy), free(dw0), free(db0), free(y), free(yr), free(dx);
    free(dxr), free(dw), free(dwr), free(db), free(dbr), free(scratch), free(dw2), free(dx2);
}

static void test_fast_vs_ref_1thread(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 1);
}

static void test_fast_vs_ref_2threads(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 2);
}

static void test_fast_vs_ref_3threads(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 3);
}

/* The same cases with the direct path off: im2col + GEMM everywhere. */
static void test_gemm_only_vs_ref(void **state) {
    (void)state;
    cnn_conv_direct_enabled = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 2);
    cnn_conv_direct_enabled = 1;
}

/* The direct forward itself on every geometry it can run (whether or not the
 * rule picks it), one image at a time, against the reference; work is
 * followed by a canary. */
static void test_direct_vs_ref(void **state) {
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *t = &cases[i];
        cnn_conv_geom g = geom_of(t);
        if (!cnn_conv_direct_fits(&g)) continue;
        ran++;
        size_t nx = (size_t)t->c * t->h * t->w, ny = (size_t)t->k * g.oh * g.ow;
        size_t nw = cnn_conv_weight_size(&g), ws = cnn_conv_direct_work_size(&g);
        float *x = rand_floats(nx), *w = rand_floats(nw), *b = rand_floats((size_t)t->k);
        float *y = filled(ny, NAN), *yr = filled(ny, NAN);
        float *work = malloc((ws + CANARY) * sizeof *work);
        for (size_t j = 0; j < ws + CANARY; j++)
            work[j] = (float)j;
        const float *bias = t->bias ? b : NULL;
        cnn_conv_direct_forward(&g, x, w, bias, y, work);
        cnn_conv_forward_ref(&g, 1, x, w, bias, yr);
        expect_close("y", t->name, y, yr, ny, 1e-5f);
        check_canary(t->name, work, ws);
        free(x), free(w), free(b), free(y), free(yr), free(work);
    }
    assert_true(ran >= 10);
}

/* The one-image kernels agree with the batch of one. */
static void test_single_image(void **state) {
    (void)state;
    const conv_case *t = &cases[9];
    cnn_conv_geom g = geom_of(t);
    size_t nx = (size_t)t->c * t->h * t->w, ny = (size_t)t->k * g.oh * g.ow;
    size_t nw = cnn_conv_weight_size(&g);
    float *x = rand_floats(nx), *w = rand_floats(nw), *b = rand_floats((size_t)t->k);
    float *dy = rand_floats(ny), *y = filled(ny, NAN), *yr = filled(ny, NAN);
    float *col = malloc((cnn_conv_work_size(&g) + 1) * sizeof *col);
    float *dx = filled(nx, NAN), *dxr = filled(nx, NAN), *dw = filled(nw, 0), *dwr = filled(nw, 0);
    float *db = filled((size_t)t->k, 0), *dbr = filled((size_t)t->k, 0);
    cnn_conv_forward(&g, x, w, b, y, col);
    cnn_conv_forward_ref(&g, 1, x, w, b, yr);
    expect_close("y", "single", y, yr, ny, 1e-5f);
    cnn_conv_backward(&g, x, w, dy, dx, dw, db, col);
    cnn_conv_backward_ref(&g, 1, x, w, dy, dxr, dwr, dbr);
    expect_close("dx", "single", dx, dxr, nx, 1e-5f);
    expect_close("dw", "single", dw, dwr, nw, 1e-5f);
    expect_close("db", "single", db, dbr, (size_t)t->k, 1e-5f);
    free(x), free(w), free(b), free(dy), free(y), free(yr), free(col), free(dx), free(dxr);
    free(dw), free(dwr), free(db), free(dbr);
}

/* A hand-computed case: 1 channel 3x3 input, 2x2 kernel, padding 1, stride 2. */
static void test_known_values(void **state) {
    (void)state;
    cnn_conv_geom g = {.c = 1,
                       .h = 3,
                       .w = 3,
                       .k = 1,
                       .kh = 2,
                       .kw = 2,
                       .sh = 2,
                       .sw = 2,
                       .ph = 1,
                       .pw = 1,
                       .dh = 1,
                       .dw = 1,
                       .groups = 1};
    assert_true(cnn_conv_geom_init(&g));
    assert_int_equal(g.oh, 2);
    assert_int_equal(g.ow, 2);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 10, 100, 1000}, b[1] = {0.5f};
    /* windows start at -1 and 1: taps (ih, iw) = (o*2-1+ki, o*2-1+kj) */
    const float want[4] = {1000 * 1 + 0.5f, 100 * 2 + 1000 * 3 + 0.5f, 10 * 4 + 1000 * 7 + 0.5f,
                           1 * 5 + 10 * 6 + 100 * 8 + 1000 * 9 + 0.5f};
    float y[4], scratch[256];
    assert_true(cnn_conv_scratch_size(&g, 1, 1) <= 256);
    cnn_conv_forward_batch(&g, 1, x, w, b, y, scratch, 1);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == want[i]);
}

/* ---- the conv layer ----------------------------------------------------- */

extern const cnn_layer_ops cnn_conv_ops;

typedef struct {
    cnn_layer l;
    char opt[256];
    cnn_opts o;
    char buf[512];
} layer_fixture;

/* Configure a conv layer from "key=value ..." and shape it for input (c, h, w). */
static cnn_status make_layer(layer_fixture *f, const char *opts, int c, int h, int w) {
    memset(f, 0, sizeof *f);
    assert_true(cnn_conv_ops.opt_size <= sizeof f->opt);
    f->l.ops = &cnn_conv_ops;
    f->l.opt = f->opt;
    f->l.n_in = 1;
    f->l.in[0] = (cnn_shape){c, h, w};
    f->o.file = "t.cnn";
    f->o.line = 3;
    f->o.type = "conv";
    snprintf(f->buf, sizeof f->buf, "%s", opts);
    for (char *save, *tok = strtok_r(f->buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        f->o.key[f->o.n] = tok;
        f->o.val[f->o.n++] = eq + 1;
    }
    cnn_status s = cnn_conv_ops.configure(&f->l, &f->o);
    if (s == CNN_OK) s = cnn_opts_check_unused(&f->o);
    if (s == CNN_OK) s = cnn_conv_ops.shape(&f->l);
    return s;
}

static void test_layer_options(void **state) {
    (void)state;
    layer_fixture f;
    char d[64];
    assert_int_equal(make_layer(&f, "filters=6 kernel=5 padding=2", 1, 28, 28), CNN_OK);
    assert_int_equal(f.l.out.c, 6);
    assert_int_equal(f.l.out.h, 28);
    assert_int_equal(f.l.out.w, 28);
    assert_int_equal(f.l.n_params, 6 * 25 + 6);
    assert_true(cnn_conv_ops.macs(&f.l) == 6.0 * 28 * 28 * 25);
    cnn_conv_ops.describe(&f.l, d, sizeof d);
    assert_string_equal(d, "5x5/1 p2");
    cnn_tensor_desc t[CNN_MAX_TENSORS];
    assert_int_equal(cnn_conv_ops.tensors(&f.l, t), 2);
    assert_string_equal(t[0].suffix, "weight");
    assert_int_equal(t[0].ndim, 4);
    assert_int_equal(t[0].dims[0], 6);
    assert_int_equal(t[0].dims[1], 1);
    assert_int_equal(t[0].dims[2], 5);
    assert_int_equal(t[0].dims[3], 5);
    assert_string_equal(t[1].suffix, "bias");
    assert_int_equal(t[1].offset, 150);

    assert_int_equal(make_layer(&f,
                                "filters=8 kernel=3x5 stride=2x1 padding=1x2 dilation=2 "
                                "groups=4 bias=0",
                                4, 11, 13),
                     CNN_OK);
    assert_int_equal(f.l.out.h, cnn_conv_out_size(11, 3, 2, 1, 2));
    assert_int_equal(f.l.out.w, cnn_conv_out_size(13, 5, 1, 2, 2));
    assert_int_equal(f.l.n_params, 8 * 1 * 3 * 5);
    assert_int_equal(cnn_conv_ops.tensors(&f.l, t), 1);
    cnn_conv_ops.describe(&f.l, d, sizeof d);
    assert_string_equal(d, "3x5/2x1 p1x2 d2 g4 nobias");
}

static void test_layer_errors(void **state) {
    (void)state;
    layer_fixture f;
    assert_int_equal(make_layer(&f, "kernel=5", 1, 28, 28), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "t.cnn:3: conv: missing option 'filters'");
    assert_int_equal(make_layer(&f, "filters=4", 1, 28, 28), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "t.cnn:3: conv: missing option 'kernel'");
    assert_int_equal(make_layer(&f, "filters=4 kernel=3 strides=2", 1, 28, 28), CNN_ERR_PARSE);
    assert_non_null(strstr(cnn_last_error(), "unknown option 'strides'"));
    assert_int_equal(make_layer(&f, "filters=4 kernel=0", 1, 28, 28), CNN_ERR_PARSE);
    assert_int_equal(make_layer(&f, "filters=4 kernel=3 stride=0", 1, 28, 28), CNN_ERR_PARSE);
    assert_int_equal(make_layer(&f, "filters=4 kernel=7", 1, 5, 28), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_last_error(), "output would be -1x22"));
    assert_int_equal(make_layer(&f, "filters=4 kernel=3 dilation=3", 1, 6, 6), CNN_ERR_SHAPE);
    assert_int_equal(make_layer(&f, "filters=4 kernel=3 groups=2", 3, 8, 8), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_last_error(), "3 input channels are not divisible by groups=2"));
    assert_int_equal(make_layer(&f, "filters=3 kernel=3 groups=2", 4, 8, 8), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_last_error(), "filters=3 is not divisible by groups=2"));
}

/* init draws weight then bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) in stream order. */
static void test_layer_init(void **state) {
    (void)state;
    layer_fixture f;
    assert_int_equal(make_layer(&f, "filters=6 kernel=3 groups=2", 4, 8, 8), CNN_OK);
    float *p = filled(f.l.n_params, NAN), *want = filled(f.l.n_params, 0);
    f.l.params = p;
    cnn_rng r1, r2;
    cnn_rng_seed(&r1, 42);
    cnn_rng_seed(&r2, 42);
    cnn_conv_ops.init(&f.l, &r1);
    float bound = 1.0f / sqrtf(2 * 3 * 3);
    cnn_init_uniform(want, f.l.n_params, bound, &r2);
    assert_memory_equal(p, want, f.l.n_params * sizeof *p);
    free(p), free(want);
}

/* The layer's forward and backward are the kernels' (grads accumulate, dx NULL skipped). */
static void test_layer_forward_backward(void **state) {
    (void)state;
    layer_fixture f;
    assert_int_equal(make_layer(&f, "filters=4 kernel=3 stride=2 padding=1 groups=2", 2, 7, 9),
                     CNN_OK);
    int n = 3;
    size_t nx = (size_t)n * 2 * 7 * 9, ny = (size_t)n * cnn_shape_size(f.l.out);
    size_t sc = cnn_conv_ops.scratch_size(&f.l, n, 64);
    f.l.params = rand_floats(f.l.n_params);
    f.l.grads = filled(f.l.n_params, 0.25f);
    f.l.y = filled(ny, NAN);
    f.l.dy = rand_floats(ny);
    float *x = rand_floats(nx), *dx = filled(nx, NAN), *scratch = filled(sc, NAN);
    float *yr = filled(ny, NAN), *dxr = filled(nx, NAN), *gr = filled(f.l.n_params, 0.25f);
    const float *xs[1] = {x};
    float *dxs[1] = {dx};
    cnn_conv_ops.forward(&f.l, xs, n, 1, scratch);
    cnn_conv_geom g = {.c = 2,
                       .h = 7,
                       .w = 9,
                       .k = 4,
                       .kh = 3,
                       .kw = 3,
                       .sh = 2,
                       .sw = 2,
                       .ph = 1,
                       .pw = 1,
                       .dh = 1,
                       .dw = 1,
                       .groups = 2};
    assert_true(cnn_conv_geom_init(&g));
    size_t nw = cnn_conv_weight_size(&g);
    cnn_conv_forward_ref(&g, n, x, f.l.params, f.l.params + nw, yr);
    expect_close("y", "layer", f.l.y, yr, ny, 1e-5f);
    cnn_conv_ops.backward(&f.l, xs, dxs, n, scratch);
    cnn_conv_backward_ref(&g, n, x, f.l.params, f.l.dy, dxr, gr, gr + nw);
    expect_close("dx", "layer", dx, dxr, nx, 1e-5f);
    expect_close("grads", "layer", f.l.grads, gr, f.l.n_params, 1e-5f);
    dxs[0] = NULL;
    cnn_conv_ops.backward(&f.l, xs, dxs, n, scratch); /* grads twice, dx skipped */
    cnn_conv_backward_ref(&g, n, x, f.l.params, f.l.dy, NULL, gr, gr + nw);
    expect_close("grads x2", "layer", f.l.grads, gr, f.l.n_params, 1e-5f);
    free(f.l.params), free(f.l.grads), free(f.l.y), free(f.l.dy), free(x), free(dx);
    free(scratch), free(yr), free(dxr), free(gr);
}

/* The layer at inference runs Winograd where cnn_wino_preferred says so (its
 * scratch size covering it), and im2col + GEMM in a training forward and for
 * batches with too few tiles. */
static void test_layer_winograd(void **state) {
    (void)state;
    layer_fixture f;
    assert_int_equal(make_layer(&f, "filters=64 kernel=3 padding=1", 64, 10, 13), CNN_OK);
    cnn_conv_geom g = {.c = 64,
                       .h = 10,
                       .w = 13,
                       .k = 64,
                       .kh = 3,
                       .kw = 3,
                       .sh = 1,
                       .sw = 1,
                       .ph = 1,
                       .pw = 1,
                       .dh = 1,
                       .dw = 1,
                       .groups = 1};
    assert_true(cnn_conv_geom_init(&g));
    const int nt = omp_get_max_threads();
    for (int n = 1; n <= 3; n += 2) { /* 12 tiles: im2col; 36 tiles: Winograd */
        assert_int_equal(cnn_wino_preferred(&g, n, nt), n == 3);
        size_t nx = (size_t)n * 64 * 10 * 13, ny = (size_t)n * cnn_shape_size(f.l.out);
        size_t sc = cnn_conv_ops.scratch_size(&f.l, n, nt), nw = cnn_conv_weight_size(&g);
        f.l.params = rand_floats(f.l.n_params);
        f.l.y = filled(ny, NAN);
        float *x = rand_floats(nx), *scratch = malloc((sc + 16) * sizeof *scratch);
        float *yr = filled(ny, NAN), *y2 = filled(ny, NAN), *s2 = malloc(sc * sizeof *s2);
        assert_non_null(scratch);
        assert_non_null(s2);
        for (size_t i = 0; i < sc + 16; i++)
            scratch[i] = (float)i;
        const float *xs[1] = {x};
        cnn_conv_forward_ref(&g, n, x, f.l.params, f.l.params + nw, yr);
        /* eval: the same bits as the kernel the rule picks */
        cnn_conv_ops.forward(&f.l, xs, n, 0, scratch);
        if (n == 3)
            cnn_wino_forward_batch(&g, n, x, f.l.params, f.l.params + nw, y2, s2, nt);
        else
            cnn_conv_forward_batch(&g, n, x, f.l.params, f.l.params + nw, y2, s2, nt);
        assert_memory_equal(f.l.y, y2, ny * sizeof *y2);
        double maxd = 0, maxr = 1;
        for (size_t i = 0; i < ny; i++) {
            double d = fabs((double)f.l.y[i] - yr[i]);
            maxd = d > maxd ? d : maxd;
            maxr = fabs(yr[i]) > maxr ? fabs(yr[i]) : maxr;
        }
        assert_true(maxd <= 1e-5 * maxr);
        /* training: im2col + GEMM */
        cnn_conv_ops.forward(&f.l, xs, n, 1, scratch);
        cnn_conv_forward_batch(&g, n, x, f.l.params, f.l.params + nw, y2, s2, nt);
        assert_memory_equal(f.l.y, y2, ny * sizeof *y2);
        expect_close("y", "layer train", f.l.y, yr, ny, 1e-5f);
        for (size_t i = sc; i < sc + 16; i++)
            assert_true(scratch[i] == (float)i);
        free(f.l.params), free(f.l.y), free(x), free(scratch), free(yr), free(y2), free(s2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_size),
        cmocka_unit_test(test_im2col_adjoint),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_single_image),
        cmocka_unit_test(test_fast_vs_ref_1thread),
        cmocka_unit_test(test_fast_vs_ref_2threads),
        cmocka_unit_test(test_fast_vs_ref_3threads),
        cmocka_unit_test(test_gemm_only_vs_ref),
        cmocka_unit_test(test_direct_vs_ref),
        cmocka_unit_test(test_layer_options),
        cmocka_unit_test(test_layer_errors),
        cmocka_unit_test(test_layer_init),
        cmocka_unit_test(test_layer_forward_backward),
        cmocka_unit_test(test_layer_winograd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
