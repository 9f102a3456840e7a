/* test_pool_kernels.c — max, average and global average pooling: torch's
 * output-size rule (ceil_mode), hand-computed values (padding as -inf for
 * max, count_include_pad, ceil_mode windows), the fast kernels against the
 * naive references over odd shapes, and the pooling layers' options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "kernels/pool.h"
#include "layers/layer.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

#define TEST_RNG_SEED 0x2545f4914f6cdd1dULL
#include "common/rand.h"

static void expect_close(const char *what, const char *name, const float *got, const float *want,
                         size_t n, float tol) {
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= tol * (1.0f + fabsf(want[i]))))
            fail_msg("%s: %s[%zu] = %.9g, reference %.9g (diff %.3g)", name, what, i, got[i],
                     want[i], d);
    }
}

static cnn_pool_geom geom(int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                          int dh, int dw, int ceil, int cip) {
    cnn_pool_geom g = {.c = c,
                       .h = h,
                       .w = w,
                       .kh = kh,
                       .kw = kw,
                       .sh = sh,
                       .sw = sw,
                       .ph = ph,
                       .pw = pw,
                       .dh = dh,
                       .dw = dw,
                       .ceil_mode = ceil,
                       .count_include_pad = cip};
    assert_true(cnn_pool_geom_init(&g));
    return g;
}

/* ---- output size -------------------------------------------------------- */

static void test_out_size(void **state) {
    (void)state;
    /* floor vs ceil */
    assert_int_equal(cnn_pool_out_size(8, 3, 2, 1, 1, 0), 4);
    assert_int_equal(cnn_pool_out_size(8, 3, 2, 1, 1, 1), 5);
    assert_int_equal(cnn_pool_out_size(7, 2, 3, 0, 1, 0), 2);
    assert_int_equal(cnn_pool_out_size(7, 2, 3, 0, 1, 1), 3);
    assert_int_equal(cnn_pool_out_size(4, 3, 2, 0, 1, 0), 1);
    assert_int_equal(cnn_pool_out_size(4, 3, 2, 0, 1, 1), 2);
    /* ceil would give 4, but the 4th window would start in the right padding: torch trims it */
    assert_int_equal(cnn_pool_out_size(5, 2, 2, 1, 1, 1), 3);
    assert_int_equal(cnn_pool_out_size(7, 2, 2, 1, 1, 1), 4);
    /* dilation: effective window 2*(3-1)+1 = 5 */
    assert_int_equal(cnn_pool_out_size(11, 3, 1, 0, 2, 0), 7);
    assert_int_equal(cnn_pool_out_size(11, 2, 2, 1, 2, 1), 6);
    assert_int_equal(cnn_pool_out_size(28, 2, 2, 0, 1, 0), 14);
    assert_int_equal(cnn_pool_out_size(2, 3, 1, 0, 1, 0), 0);
    assert_int_equal(cnn_pool_out_size(2, 3, 1, 0, 1, 1), 0);
}

/* ---- hand-computed values ----------------------------------------------- */

static void test_maxpool_values(void **state) {
    (void)state;
    /* 4x4 = 1..16 with a twist, 2x2/2 */
    const float x[16] = {1, 5, 2, 0, 3, 4, 9, 9, -1, -2, -3, -4, -8, -5, -7, -6};
    cnn_pool_geom g = geom(1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, 0, 1);
    float y[4];
    int32_t idx[4];
    cnn_maxpool_forward(&g, x, y, idx);
    const float want[4] = {5, 9, -1, -3};
    const int32_t want_idx[4] = {1, 6, 8, 10}; /* the first of the tied 9s */
    for (int i = 0; i < 4; i++) {
        assert_true(y[i] == want[i]);
        assert_int_equal(idx[i], want_idx[i]);
    }
    float dy[4] = {1, 2, 3, 4}, dx[16];
    cnn_maxpool_backward(&g, dy, idx, dx);
    for (int i = 0; i < 16; i++) {
        float w = i == 1 ? 1 : i == 6 ? 2 : i == 8 ? 3 : i == 10 ? 4 : 0;
        assert_true(dx[i] == w);
    }
    /* all negative, 3x3/2 p1: padding is -inf, not 0 */
    const float xn[9] = {-9, -8, -7, -6, -5, -4, -3, -2, -1};
    g = geom(1, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1);
    assert_int_equal(g.oh, 2);
    cnn_maxpool_forward(&g, xn, y, idx);
    const float wantn[4] = {-5, -4, -2, -1};
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == wantn[i]);
    /* overlapping windows route to the same argmax and add */
    cnn_maxpool_forward(&g, x, y, idx); /* first 3x3 of x read as 3x3 */
    float dx9[9];
    cnn_maxpool_backward(&g, dy, idx, dx9);
    float sum = 0;
    for (int i = 0; i < 9; i++)
        sum += dx9[i];
    assert_true(sum == 10);
    /* NaN wins; an all -inf window keeps its first tap */
    const float xs[4] = {1, NAN, -INFINITY, -INFINITY};
    g = geom(1, 1, 4, 1, 2, 1, 2, 0, 0, 1, 1, 0, 1);
    cnn_maxpool_forward(&g, xs, y, idx);
    assert_true(isnan(y[0]));
    assert_int_equal(idx[0], 1);
    assert_true(y[1] == -INFINITY);
    assert_int_equal(idx[1], 2);
}

static void test_avgpool_values(void **state) {
    (void)state;
    float x[16], y[9];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    /* 2x2/2 p1 ceil on 4x4: every window covers 2x2 of input + padding */
    cnn_pool_geom g = geom(1, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1);
    assert_int_equal(g.oh, 3);
    cnn_avgpool_forward(&g, x, y);
    const float cip1[9] = {0.25f, 1.25f, 1, 3.5f, 8.5f, 5, 3.25f, 7.25f, 4};
    for (int i = 0; i < 9; i++)
        assert_true(y[i] == cip1[i]);
    g.count_include_pad = 0;
    cnn_avgpool_forward(&g, x, y);
    const float cip0[9] = {1, 2.5f, 4, 7, 8.5f, 10, 13, 14.5f, 16};
    for (int i = 0; i < 9; i++)
        assert_true(y[i] == cip0[i]);
    /* ceil window past the padding: 1x3/2 p0x1 on 1..4 -> windows [-1,2) [1,4) [3,5]: the
     * last counts 2 taps (input 3 and the pad at 4), never the one past the padding */
    g = geom(1, 1, 4, 1, 3, 1, 2, 0, 1, 1, 1, 1, 1);
    assert_int_equal(g.ow, 3);
    cnn_avgpool_forward(&g, x, y);
    assert_true(y[0] == 1.0f && y[1] == 3.0f && y[2] == 2.0f);
    g.count_include_pad = 0;
    cnn_avgpool_forward(&g, x, y);
    assert_true(y[0] == 1.5f && y[1] == 3.0f && y[2] == 4.0f);
    /* no padding, ceil: the last window holds one tap of 5 */
    g = geom(1, 1, 5, 1, 2, 1, 2, 0, 0, 1, 1, 1, 1);
    cnn_avgpool_forward(&g, x, y);
    assert_true(y[0] == 1.5f && y[1] == 3.5f && y[2] == 5.0f);
    /* backward spreads dy / divisor */
    float dy[3] = {3, 6, 9}, dx[5];
    cnn_avgpool_backward(&g, dy, dx);
    const float wdx[5] = {1.5f, 1.5f, 3, 3, 9};
    for (int i = 0; i < 5; i++)
        assert_true(dx[i] == wdx[i]);
}

static void test_gap_values(void **state) {
    (void)state;
    const float x[6] = {1, 2, 3, 4, 5, 9};
    float y[2], dx[6];
    cnn_gap_forward(2, 3, x, y);
    assert_true(y[0] == 2 && y[1] == 6);
    const float dy[2] = {3, -6};
    cnn_gap_backward(2, 3, dy, dx);
    for (int i = 0; i < 6; i++)
        assert_true(dx[i] == (i < 3 ? 1 : -2));
}

/* ---- fast vs reference -------------------------------------------------- */

typedef struct {
    const char *name;
    int c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil, cip;
} pool_case;

static const pool_case cases[] = {
    {"2x2/2", 3, 7, 5, 2, 2, 2, 2, 0, 0, 1, 1, 0, 1},
    {"2x2/2 ceil", 3, 7, 5, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1},
    {"2x2/2 even", 3, 8, 10, 2, 2, 2, 2, 0, 0, 1, 1, 0, 1},
    {"2x2/2 even ceil", 2, 6, 4, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1},
    {"2x2/2 2x3", 1, 2, 3, 2, 2, 2, 2, 0, 0, 1, 1, 0, 1},
    {"3x3/2", 2, 11, 7, 3, 3, 2, 2, 0, 0, 1, 1, 0, 1},
    {"3x3/2 p1", 2, 7, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1},
    {"3x3/2 p1 cip0", 2, 7, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
    {"3x3/2 p1 ceil", 2, 8, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"3x3/2 p1 ceil cip0", 2, 8, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0},
    {"2x2/2 p1 ceil trim", 2, 7, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1},
    {"2x2/2 p1 ceil trim cip0", 2, 7, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0},
    {"3x3/1 d2", 2, 7, 11, 3, 3, 1, 1, 0, 0, 2, 2, 0, 1},
    {"2x2/2 p1 d2 ceil", 2, 11, 7, 2, 2, 2, 2, 1, 1, 2, 2, 1, 1},
    {"3x2/2x1 p1x0 d1x2", 2, 7, 11, 3, 2, 2, 1, 1, 0, 1, 2, 0, 1},
    {"2x2/3 ceil", 3, 11, 7, 2, 2, 3, 3, 0, 0, 1, 1, 1, 1},
    {"2x2/1", 2, 5, 7, 2, 2, 1, 1, 0, 0, 1, 1, 0, 1},
    {"5x5/1 p2", 1, 7, 11, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0},
    {"3x3/1 p1", 3, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1},
    {"3x3/2 ceil 14x14", 2, 14, 14, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1},
    {"3x1/1x2 p1x0", 2, 6, 9, 3, 1, 1, 2, 1, 0, 1, 1, 0, 1},
    {"3x5/2x3 p1x2 ceil", 2, 13, 17, 3, 5, 2, 3, 1, 2, 1, 1, 1, 0},
    {"1x1/2", 2, 5, 7, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
    {"window = input", 2, 5, 7, 5, 7, 1, 1, 0, 0, 1, 1, 0, 1},
    {"1x1 input", 3, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1},
};

static void run_case(const pool_case *t) {
    /* dilation only exists for max pooling */
    for (int is_max = 0; is_max < 2; is_max++) {
        if (!is_max && (t->dh != 1 || t->dw != 1)) continue;
        cnn_pool_geom g = geom(t->c, t->h, t->w, t->kh, t->kw, t->sh, t->sw, t->ph, t->pw, t->dh,
                               t->dw, t->ceil, t->cip);
        size_t nx = (size_t)t->c * t->h * t->w, ny = (size_t)t->c * g.oh * g.ow;
        float *x = rand_floats(nx), *dy = rand_floats(ny);
        float *y = filled(ny, NAN), *yr = filled(ny, NAN), *dx = filled(nx, NAN),
              *dxr = filled(nx, NAN);
        if (is_max) {
            int32_t *idx = malloc(ny * sizeof *idx);
            cnn_maxpool_forward(&g, x, y, idx);
            cnn_maxpool_forward_ref(&g, x, yr);
            expect_close("max y", t->name, y, yr, ny, 0);
            cnn_maxpool_backward(&g, dy, idx, dx);
            cnn_maxpool_backward_ref(&g, x, dy, dxr);
            expect_close("max dx", t->name, dx, dxr, nx, 1e-6f);
            cnn_maxpool_forward(&g, x, y, NULL); /* indices are optional */
            expect_close("max y (no idx)", t->name, y, yr, ny, 0);
            if (cnn_maxpool_has_codes(&g)) { /* the training path of 2x2/2 windows */
                float *dxc = filled(nx, NAN);
                uint8_t *codes = malloc(ny);
                cnn_maxpool_codes_forward(&g, x, y, codes);
                expect_close("max y (codes)", t->name, y, yr, ny, 0);
                cnn_maxpool_codes_backward(&g, codes, dy, dxc);
                expect_close("max dx (codes)", t->name, dxc, dxr, nx, 0);
                free(dxc);
                free(codes);
            }
            free(idx);
        } else {
            cnn_avgpool_forward(&g, x, y);
            cnn_avgpool_forward_ref(&g, x, yr);
            expect_close("avg y", t->name, y, yr, ny, 1e-6f);
            cnn_avgpool_backward(&g, dy, dx);
            cnn_avgpool_backward_ref(&g, dy, dxr);
            expect_close("avg dx", t->name, dx, dxr, nx, 1e-6f);
        }
        free(x), free(dy), free(y), free(yr), free(dx), free(dxr);
    }
}

/* Every case with and without the AVX-512 paths (where the CPU has them). */
static void test_fast_vs_ref(void **state) {
    (void)state;
    for (int simd = 1; simd >= 0; simd--) {
        cnn_pool_simd_enabled = simd;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            run_case(&cases[i]);
    }
    cnn_pool_simd_enabled = 1;
}

/* Ties (all values equal, every window): both take the first tap inside the input. */
static void test_maxpool_ties(void **state) {
    (void)state;
    cnn_pool_geom g = geom(2, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1);
    size_t nx = 2 * 7 * 5, ny = (size_t)2 * g.oh * g.ow;
    float *x = filled(nx, 0.5f), *dy = rand_floats(ny), *dx = filled(nx, NAN),
          *dxr = filled(nx, NAN), *y = filled(ny, 0);
    int32_t *idx = malloc(ny * sizeof *idx);
    cnn_maxpool_forward(&g, x, y, idx);
    cnn_maxpool_backward(&g, dy, idx, dx);
    cnn_maxpool_backward_ref(&g, x, dy, dxr);
    expect_close("tie dx", "ties", dx, dxr, nx, 0);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1); /* window starting at column 1 */
    free(x), free(dy), free(dx), free(dxr), free(y), free(idx);
}

/* Special values in 2x2/2 windows (the fast path): NaN, +-inf and ties in
 * every arrangement pick the same output and argmax as the reference. */
static void maxpool_2x2_special(void) {
    const float vals[5] = {NAN, -INFINITY, INFINITY, 0.5f, -1.0f};
    /* all 5^4 windows of a 2x2/2 pool, one per window of a (1, 2, 2*625) plane */
    const int W = 2 * 625;
    cnn_pool_geom g = geom(1, 2, W, 2, 2, 2, 2, 0, 0, 1, 1, 0, 1);
    size_t nx = (size_t)2 * W, ny = (size_t)g.oh * g.ow;
    float *x = filled(nx, 0), *y = filled(ny, 0), *yr = filled(ny, 0), *dy = rand_floats(ny);
    float *dx = filled(nx, NAN), *dxr = filled(nx, NAN);
    int32_t *idx = malloc(ny * sizeof *idx);
    for (int i = 0; i < 625; i++) {
        x[2 * i] = vals[i % 5];
        x[2 * i + 1] = vals[i / 5 % 5];
        x[W + 2 * i] = vals[i / 25 % 5];
        x[W + 2 * i + 1] = vals[i / 125];
    }
    cnn_maxpool_forward(&g, x, y, idx);
    cnn_maxpool_forward_ref(&g, x, yr);
    for (size_t i = 0; i < ny; i++)
        if (!(y[i] == yr[i] || (isnan(y[i]) && isnan(yr[i]))))
            fail_msg("window %zu: %g, reference %g", i, y[i], yr[i]);
    cnn_maxpool_backward(&g, dy, idx, dx);
    cnn_maxpool_backward_ref(&g, x, dy, dxr);
    expect_close("2x2 special dx", "2x2 special", dx, dxr, nx, 0);
    assert_true(cnn_maxpool_has_codes(&g));
    uint8_t *codes = malloc(ny);
    float *yc = filled(ny, 0);
    cnn_maxpool_codes_forward(&g, x, yc, codes);
    for (size_t i = 0; i < ny; i++)
        if (!(yc[i] == yr[i] || (isnan(yc[i]) && isnan(yr[i]))))
            fail_msg("window %zu (codes): %g, reference %g", i, yc[i], yr[i]);
    cnn_maxpool_codes_backward(&g, codes, dy, dx);
    expect_close("2x2 special dx (codes)", "2x2 special", dx, dxr, nx, 0);
    free(codes);
    free(yc);
    free(x), free(y), free(yr), free(dy), free(dx), free(dxr), free(idx);
}

static void test_maxpool_2x2_special(void **state) {
    (void)state;
    for (int simd = 1; simd >= 0; simd--) {
        cnn_pool_simd_enabled = simd;
        maxpool_2x2_special();
    }
    cnn_pool_simd_enabled = 1;
}

/* Special values through the separable path without indices (inference):
 * 3x3/1 p1 and 3x3/2 p1 ceil over planes salted with NaN, +-inf and ties
 * give the reference's output (NaN where the reference has NaN). */
static void test_maxpool_sep_special(void **state) {
    (void)state;
    const float vals[6] = {NAN, -INFINITY, INFINITY, 0.5f, -1.0f, 0.5f};
    const int geoms[2][4] = {{3, 1, 1, 0}, {3, 2, 1, 1}}; /* kernel, stride, pad, ceil */
    for (int t = 0; t < 2; t++) {
        const int *q = geoms[t];
        cnn_pool_geom g = geom(2, 13, 17, q[0], q[0], q[1], q[1], q[2], q[2], 1, 1, q[3], 1);
        size_t nx = (size_t)2 * 13 * 17, ny = (size_t)2 * g.oh * g.ow;
        float *x = rand_floats(nx), *y = filled(ny, 0), *yr = filled(ny, 0);
        for (size_t i = 0; i < nx; i += 1 + i % 5)
            x[i] = vals[i % 6];
        cnn_maxpool_forward(&g, x, y, NULL);
        cnn_maxpool_forward_ref(&g, x, yr);
        for (size_t i = 0; i < ny; i++)
            if (!(y[i] == yr[i] || (isnan(y[i]) && isnan(yr[i]))))
                fail_msg("geometry %d, output %zu: %g, reference %g", t, i, y[i], yr[i]);
        free(x), free(y), free(yr);
    }
}

static void test_gap_vs_ref(void **state) {
    (void)state;
    const int shapes[][2] = {{3, 35}, {4, 1}, {2, 143}, {1, 4096}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int c = shapes[s][0], hw = shapes[s][1];
        float *x = rand_floats((size_t)c * hw), *dy = rand_floats((size_t)c);
        float *y = filled((size_t)c, NAN), *yr = filled((size_t)c, NAN);
        float *dx = filled((size_t)c * hw, NAN), *dxr = filled((size_t)c * hw, NAN);
        cnn_gap_forward(c, hw, x, y);
        cnn_gap_forward_ref(c, hw, x, yr);
        expect_close("gap y", "gap", y, yr, (size_t)c, 1e-5f);
        cnn_gap_backward(c, hw, dy, dx);
        cnn_gap_backward_ref(c, hw, dy, dxr);
        expect_close("gap dx", "gap", dx, dxr, (size_t)c * hw, 1e-6f);
        free(x), free(dy), free(y), free(yr), free(dx), free(dxr);
    }
}

/* ---- the pooling layers ------------------------------------------------- */

extern const cnn_layer_ops cnn_maxpool_ops, cnn_avgpool_ops, cnn_gap_ops;

typedef struct {
    cnn_layer l;
    char opt[256];
    cnn_opts o;
    char buf[512];
} layer_fixture;

/* Configure a layer from "key=value ..." and shape it for input (c, h, w). */
static cnn_status make_layer(layer_fixture *f, const cnn_layer_ops *ops, const char *opts, int c,
                             int h, int w) {
    memset(f, 0, sizeof *f);
    assert_true(ops->opt_size <= sizeof f->opt);
    f->l.ops = ops;
    f->l.opt = f->opt;
    f->l.n_in = 1;
    f->l.in[0] = (cnn_shape){c, h, w};
    f->o.file = "t.cnn";
    f->o.line = 7;
    f->o.type = ops->type;
    snprintf(f->buf, sizeof f->buf, "%s", opts);
    for (char *save, *tok = strtok_r(f->buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        f->o.key[f->o.n] = tok;
        f->o.val[f->o.n++] = eq + 1;
    }
    cnn_status s = ops->configure ? ops->configure(&f->l, &f->o) : CNN_OK;
    if (s == CNN_OK) s = cnn_opts_check_unused(&f->o);
    if (s == CNN_OK) s = ops->shape(&f->l);
    return s;
}

static void test_layer_options(void **state) {
    (void)state;
    layer_fixture f;
    char d[64];
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops, "kernel=2", 6, 28, 28), CNN_OK);
    assert_int_equal(f.l.out.c, 6);
    assert_int_equal(f.l.out.h, 14);
    assert_int_equal(f.l.out.w, 14);
    assert_int_equal(f.l.n_params, 0);
    /* 2x2/2: one code byte per window of the batch (3 x 6 x 14 x 14 bytes, in floats) */
    assert_int_equal(cnn_maxpool_ops.state_size(&f.l, 3), (3 * 6 * 14 * 14 + 3) / 4);
    assert_int_equal(cnn_maxpool_ops.scratch_size(&f.l, 3, 2), 2 * 2 * 14 * 14);
    cnn_maxpool_ops.describe(&f.l, d, sizeof d);
    assert_string_equal(d, "2x2/2");
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops,
                                "kernel=3 stride=2 padding=1 dilation=2 ceil_mode=1", 2, 11, 7),
                     CNN_OK);
    assert_int_equal(f.l.out.h, cnn_pool_out_size(11, 3, 2, 1, 2, 1));
    assert_int_equal(f.l.out.w, cnn_pool_out_size(7, 3, 2, 1, 2, 1));
    /* other windows keep nothing: backward finds the argmax again from x */
    assert_int_equal(cnn_maxpool_ops.state_size(&f.l, 3), 0);
    cnn_maxpool_ops.describe(&f.l, d, sizeof d);
    assert_string_equal(d, "3x3/2 p1 d2 ceil");
    assert_int_equal(make_layer(&f, &cnn_avgpool_ops,
                                "kernel=3x2 stride=1x2 padding=1x0 count_include_pad=0", 2, 5, 7),
                     CNN_OK);
    assert_int_equal(f.l.out.h, 5);
    assert_int_equal(f.l.out.w, 3);
    cnn_avgpool_ops.describe(&f.l, d, sizeof d);
    assert_string_equal(d, "3x2/1x2 p1x0 nopad");
    assert_int_equal(make_layer(&f, &cnn_gap_ops, "", 5, 3, 4), CNN_OK);
    assert_int_equal(f.l.out.c, 5);
    assert_int_equal(f.l.out.h, 1);
    assert_int_equal(f.l.out.w, 1);
}

static void test_layer_errors(void **state) {
    (void)state;
    layer_fixture f;
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops, "stride=2", 1, 8, 8), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "t.cnn:7: maxpool: missing option 'kernel'");
    assert_int_equal(make_layer(&f, &cnn_avgpool_ops, "", 1, 8, 8), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "t.cnn:7: avgpool: missing option 'kernel'");
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops, "kernel=3 padding=2", 1, 8, 8),
                     CNN_ERR_PARSE);
    assert_non_null(strstr(cnn_last_error(), "more than half the kernel"));
    assert_int_equal(make_layer(&f, &cnn_avgpool_ops, "kernel=2 padding=1x2", 1, 8, 8),
                     CNN_ERR_PARSE);
    /* avgpool has no dilation, maxpool no count_include_pad */
    assert_int_equal(make_layer(&f, &cnn_avgpool_ops, "kernel=2 dilation=2", 1, 8, 8),
                     CNN_ERR_PARSE);
    assert_non_null(strstr(cnn_last_error(), "unknown option 'dilation'"));
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops, "kernel=2 count_include_pad=0", 1, 8, 8),
                     CNN_ERR_PARSE);
    assert_int_equal(make_layer(&f, &cnn_gap_ops, "kernel=2", 1, 8, 8), CNN_ERR_PARSE);
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops, "kernel=3", 1, 2, 8), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_last_error(), "output would be 0x2"));
    assert_int_equal(make_layer(&f, &cnn_maxpool_ops, "kernel=2 dilation=4", 1, 4, 8),
                     CNN_ERR_SHAPE);
}

/* The layers run the kernels over the batch; max pooling keeps its argmax in l->state. */
static void test_layer_forward_backward(void **state) {
    (void)state;
    const cnn_layer_ops *ops[4] = {&cnn_maxpool_ops, &cnn_avgpool_ops, &cnn_gap_ops,
                                   &cnn_maxpool_ops};
    const char *opts[4] = {"kernel=3 stride=2 padding=1 ceil_mode=1",
                           "kernel=3 stride=2 padding=1 ceil_mode=1 count_include_pad=0", "",
                           "kernel=2"}; /* the last: argmax codes in l->state */
    for (int k = 0; k < 4; k++) {
        layer_fixture f;
        int n = 3, c = 2, h = 8, w = 11;
        assert_int_equal(make_layer(&f, ops[k], opts[k], c, h, w), CNN_OK);
        size_t nx = (size_t)n * c * h * w, ny = (size_t)n * cnn_shape_size(f.l.out);
        size_t ns = ops[k]->state_size ? ops[k]->state_size(&f.l, n) : 0;
        f.l.y = filled(ny, NAN);
        f.l.dy = rand_floats(ny);
        f.l.state = filled(ns, 0);
        size_t nsc =
            ops[k]->scratch_size ? ops[k]->scratch_size(&f.l, n, omp_get_max_threads()) : 0;
        float *scratch = filled(nsc, NAN);
        float *x = rand_floats(nx), *dx = filled(nx, NAN), *yr = filled(ny, NAN),
              *dxr = filled(nx, NAN);
        const float *xs[1] = {x};
        float *dxs[1] = {dx};
        ops[k]->forward(&f.l, xs, n, 1, scratch);
        ops[k]->backward(&f.l, xs, dxs, n, scratch);
        cnn_pool_geom g = k == 3 ? geom(c, h, w, 2, 2, 2, 2, 0, 0, 1, 1, 0, 1)
                                 : geom(c, h, w, 3, 3, 2, 2, 1, 1, 1, 1, 1, k == 0);
        if (k == 3) assert_true(ns > 0);
        size_t in = (size_t)c * h * w, out = cnn_shape_size(f.l.out);
        for (int i = 0; i < n; i++) {
            const float *xi = x + in * i, *dyi = f.l.dy + out * i;
            if (k == 0 || k == 3) {
                cnn_maxpool_forward_ref(&g, xi, yr + out * i);
                cnn_maxpool_backward_ref(&g, xi, dyi, dxr + in * i);
            } else if (k == 1) {
                cnn_avgpool_forward_ref(&g, xi, yr + out * i);
                cnn_avgpool_backward_ref(&g, dyi, dxr + in * i);
            } else {
                cnn_gap_forward_ref(c, h * w, xi, yr + out * i);
                cnn_gap_backward_ref(c, h * w, dyi, dxr + in * i);
            }
        }
        expect_close("y", ops[k]->type, f.l.y, yr, ny, 1e-5f);
        expect_close("dx", ops[k]->type, dx, dxr, nx, 1e-5f);
        dxs[0] = NULL; /* nothing to do, must not crash */
        ops[k]->backward(&f.l, xs, dxs, n, scratch);
        free(scratch);
        free(f.l.y), free(f.l.dy), free(f.l.state), free(x), free(dx), free(yr), free(dxr);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_size),
        cmocka_unit_test(test_maxpool_values),
        cmocka_unit_test(test_avgpool_values),
        cmocka_unit_test(test_gap_values),
        cmocka_unit_test(test_fast_vs_ref),
        cmocka_unit_test(test_maxpool_ties),
        cmocka_unit_test(test_maxpool_2x2_special),
        cmocka_unit_test(test_maxpool_sep_special),
        cmocka_unit_test(test_gap_vs_ref),
        cmocka_unit_test(test_layer_options),
        cmocka_unit_test(test_layer_errors),
        cmocka_unit_test(test_layer_forward_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
