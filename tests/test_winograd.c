/* test_winograd.c — Winograd F(4x4, 3x3) forward convolution against the
 * naive reference (cnn_conv_forward_ref, double sums) over odd shapes: sizes
 * not multiples of 4, 1x1 and 2x2 images with padding, padding 0/1/2, 1, 3,
 * 17 and 64 channels, batch 1 and 5, prime sizes, with and without bias, on
 * 1, 2 and 3 threads (both thread plans: per-thread blocks and one shared
 * block), with every compiled version of the transforms; the scratch bound.
 *
 * Tolerance: max|diff| <= TOL * max(1, max|ref|) per output tensor. F(4x4,
 * 3x3) amplifies the GEMM's rounding through its transforms (entries up to 5
 * and 8), so its float32 error is larger than the direct conv's: on these
 * inputs (uniform in [-1, 1]) the worst measured, printed per case, is
 * 2.6e-6 (64 channels; 3e-7 to 2e-6 with fewer); TOL leaves a margin of ~4x. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "kernels/conv.h"
#include "kernels/winograd.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

#define TEST_RNG_SEED 0x2545f4914f6cdd1dULL
#include "common/rand.h"

typedef struct {
    const char *name;
    int n, c, h, w, k, ph, pw;
} wcase;

static const wcase cases[] = {
    {"1x1 image p1", 1, 3, 1, 1, 5, 1, 1},
    {"1x1 image p2", 5, 17, 1, 1, 1, 2, 2},
    {"2x2 image p1", 1, 1, 2, 2, 5, 1, 1},
    {"2x2 image p2 batch 5", 5, 3, 2, 2, 5, 2, 2},
    {"3x3 p0 (one output)", 5, 17, 3, 3, 5, 0, 0},
    {"4x4 p0", 1, 1, 4, 4, 1, 0, 0},
    {"6x6 p0 (one full tile)", 1, 3, 6, 6, 5, 0, 0},
    {"7x11 prime p1", 1, 17, 7, 11, 5, 1, 1},
    {"13x5 p2", 5, 3, 13, 5, 1, 2, 2},
    {"5x13 p0x1", 5, 1, 5, 13, 5, 0, 1},
    {"9x9 p1x0", 1, 17, 9, 9, 5, 1, 0},
    {"17x19 p1 c17", 5, 17, 17, 19, 5, 1, 1},
    {"23x29 p0 c1", 5, 1, 23, 29, 1, 0, 0},
    {"8x8 p1 c3", 1, 3, 8, 8, 5, 1, 1},
    {"14x14 p1 c64 k32 (batch-1 vgg tail)", 1, 64, 14, 14, 32, 1, 1},
    {"30x31 p1 c64 k16 batch 5 (several blocks)", 5, 64, 30, 31, 16, 1, 1},
};

#define CANARY 16

static cnn_conv_geom geom_of(const wcase *t) {
    cnn_conv_geom g = {.c = t->c,
                       .h = t->h,
                       .w = t->w,
                       .k = t->k,
                       .kh = 3,
                       .kw = 3,
                       .sh = 1,
                       .sw = 1,
                       .ph = t->ph,
                       .pw = t->pw,
                       .dh = 1,
                       .dw = 1,
                       .groups = 1};
    assert_true(cnn_conv_geom_init(&g));
    return g;
}

/* max|got - ref| / max(1, max|ref|), NaN-safe (NaN gives infinity). */
static double rel_diff(const float *got, const float *ref, size_t n) {
    double d = 0, m = 1;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= d)) d = isnan(e) ? INFINITY : e;
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
    }
    return d / m;
}

static double worst;

/* One case, bias or not, on nthreads threads (scratch from
 * cnn_wino_scratch_size, sized for n and for n + 3 images: the bound must hold
 * for smaller batches too). */
static void run_case(const wcase *t, int bias, int nthreads) {
    cnn_conv_geom g = geom_of(t);
    assert_true(cnn_wino_supported(&g));
    size_t nx = (size_t)t->n * t->c * t->h * t->w, ny = (size_t)t->n * t->k * g.oh * g.ow;
    size_t nw = cnn_conv_weight_size(&g);
    float *x = rand_floats(nx), *w = rand_floats(nw), *b = rand_floats((size_t)t->k);
    float *y = filled(ny, NAN), *yr = filled(ny, NAN), *y2 = filled(ny, NAN);
    const float *bp = bias ? b : NULL;
    cnn_conv_forward_ref(&g, t->n, x, w, bp, yr);

    for (int big = 0; big < 2; big++) {
        size_t ssz = cnn_wino_scratch_size(&g, t->n + 3 * big, nthreads);
        float *s = malloc((ssz + CANARY) * sizeof *s);
        assert_non_null(s);
        for (size_t i = 0; i < ssz + CANARY; i++)
            s[i] = (float)i;
        cnn_wino_forward_batch(&g, t->n, x, w, bp, y, s, nthreads);
        for (size_t i = ssz; i < ssz + CANARY; i++)
            if (s[i] != (float)i) fail_msg("%s: scratch overrun", t->name);
        /* Same thread count, same bits; and the same from every compiled
         * version of the transforms (no FP contraction in any). */
        for (int isa = 0; isa <= 2; isa++) {
            for (size_t i = 0; i < ny; i++)
                y2[i] = NAN;
            cnn_wino_forward_batch_isa(&g, t->n, x, w, bp, y2, s, nthreads, isa);
            if (memcmp(y, y2, ny * sizeof *y))
                fail_msg("%s: the transforms for isa %d give other bits", t->name, isa);
        }
        free(s);
    }
    double d = rel_diff(y, yr, ny);
    if (d > worst) worst = d;
    printf("  %-44s %s %d thr  rel diff %.3g\n", t->name, bias ? "bias  " : "nobias", nthreads, d);
    if (!(d <= TOL)) fail_msg("%s: max|diff| / max(1, max|ref|) = %.3g > %g", t->name, d, TOL);

    free(x), free(w), free(b), free(y), free(yr), free(y2);
}

static void run_all(int nthreads) {
    worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int bias = 0; bias < 2; bias++)
            run_case(&cases[i], bias, nthreads);
    printf("worst relative difference on %d thread(s): %.3g (tolerance %g)\n", nthreads, worst,
           TOL);
}

static void test_vs_ref_1thread(void **state) {
    (void)state;
    run_all(1);
}
static void test_vs_ref_2threads(void **state) {
    (void)state;
    run_all(2);
}
static void test_vs_ref_3threads(void **state) {
    (void)state;
    run_all(3);
}

/* Exact on small integers: with x and w in {-2..2} every product and sum is an
 * integer well inside float's exact range, and the transforms' fractions
 * (1/4, 1/6, 1/12, 1/24) cancel to within rounding; the result rounds back. */
static void test_integers(void **state) {
    (void)state;
    const wcase t = {"integers", 2, 5, 9, 10, 3, 1, 1};
    cnn_conv_geom g = geom_of(&t);
    size_t nx = (size_t)t.n * t.c * t.h * t.w, ny = (size_t)t.n * t.k * g.oh * g.ow;
    size_t nw = cnn_conv_weight_size(&g);
    float *x = rand_floats(nx), *w = rand_floats(nw), *y = filled(ny, NAN), *yr = filled(ny, NAN);
    for (size_t i = 0; i < nx; i++)
        x[i] = roundf(2 * x[i]);
    for (size_t i = 0; i < nw; i++)
        w[i] = roundf(2 * w[i]);
    float *s = malloc(cnn_wino_scratch_size(&g, t.n, 2) * sizeof *s);
    assert_non_null(s);
    cnn_wino_forward_batch(&g, t.n, x, w, NULL, y, s, 2);
    cnn_conv_forward_ref(&g, t.n, x, w, NULL, yr);
    for (size_t i = 0; i < ny; i++)
        if (!(fabsf(y[i] - yr[i]) <= 1e-3f)) fail_msg("y[%zu] = %.9g, exact %.9g", i, y[i], yr[i]);
    free(x), free(w), free(y), free(yr), free(s);
}

static void test_supported(void **state) {
    (void)state;
    wcase t = {"", 1, 4, 8, 8, 4, 1, 1};
    cnn_conv_geom g = geom_of(&t);
    assert_true(cnn_wino_supported(&g));
    cnn_conv_geom h = g;
    h.sh = 2;
    assert_false(cnn_wino_supported(&h));
    h = g;
    h.dw = 2;
    assert_false(cnn_wino_supported(&h));
    h = g;
    h.groups = 2;
    assert_false(cnn_wino_supported(&h));
    h = g;
    h.kh = 5;
    assert_false(cnn_wino_supported(&h));
    h = g;
    h.kw = 1;
    assert_false(cnn_wino_supported(&h));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supported),       cmocka_unit_test(test_integers),
        cmocka_unit_test(test_vs_ref_1thread),  cmocka_unit_test(test_vs_ref_2threads),
        cmocka_unit_test(test_vs_ref_3threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
