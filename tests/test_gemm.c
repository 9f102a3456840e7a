/* test_gemm.c — our AVX-512 GEMM (gemm_avx512.c) and cnn_gemm's dispatch
 * against the naive reference (cnn_gemm_ref, double sums): every
 * transposition, sizes on both sides of the tile edges (MR = 32 rows with the
 * 16-row half tile, NR = 12 columns, KC = 256, NC = 516), 1-element and prime
 * sizes, leading dimensions wider than the matrix, alpha and beta (beta 0
 * must not read C: it is filled with NaN), 1-3 threads outside a parallel
 * region and inside one; results bit-identical across thread counts.
 *
 * Tolerance: max|diff| <= TOL * max(1, max|ref|) per product; float32 sums
 * over K <= 1100 terms in [-1, 1] measured up to ~4e-7 of max|ref| here. On a
 * CPU without AVX-512 the kernel is the reference itself, and the tests still
 * check the dispatch and the CBLAS path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "kernels/gemm.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 4e-6

#define TEST_RNG_SEED 0x9e3779b97f4a7c15ULL
#include "common/rand.h"

typedef struct {
    int ta, tb, M, N, K, pad; /* pad: extra columns on every leading dimension */
    float alpha, beta;
} gcase;

/* op(A) is (M,K): stored (M, K+pad) or, transposed, (K, M+pad). */
typedef struct {
    float *a, *b, *c0;
    int lda, ldb, ldc;
} operands;

static operands make(const gcase *t) {
    operands o;
    o.lda = (t->ta ? t->M : t->K) + t->pad;
    o.ldb = (t->tb ? t->K : t->N) + t->pad;
    o.ldc = t->N + t->pad;
    o.a = rand_floats((size_t)(t->ta ? t->K : t->M) * o.lda);
    o.b = rand_floats((size_t)(t->tb ? t->N : t->K) * o.ldb);
    o.c0 = rand_floats((size_t)t->M * o.ldc);
    if (t->beta == 0.0f)
        for (size_t i = 0; i < (size_t)t->M * o.ldc; i++)
            o.c0[i] = NAN;
    return o;
}

static void drop(operands *o) {
    free(o->a);
    free(o->b);
    free(o->c0);
}

/* C from the kernel on `threads` threads (inside: from one thread of an
 * enclosing region of that many). */
static float *run(const gcase *t, const operands *o, int threads, int inside,
                  void (*f)(int, int, int, int, int, float, const float *, int, const float *, int,
                            float, float *, int)) {
    size_t n = (size_t)t->M * o->ldc;
    float *c = malloc(n * sizeof *c);
    assert_non_null(c);
    memcpy(c, o->c0, n * sizeof *c);
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    if (inside) {
#pragma omp parallel num_threads(threads)
        {
#pragma omp single
            f(t->ta, t->tb, t->M, t->N, t->K, t->alpha, o->a, o->lda, o->b, o->ldb, t->beta, c,
              o->ldc);
        }
    } else {
        f(t->ta, t->tb, t->M, t->N, t->K, t->alpha, o->a, o->lda, o->b, o->ldb, t->beta, c, o->ldc);
    }
    omp_set_num_threads(saved);
    return c;
}

/* Worst |diff| / max(1, max|ref|) over C's M x N entries; the padding
 * columns must be left as they were. */
static double compare(const gcase *t, const operands *o, const float *got, const float *ref) {
    double worst = 0, scale = 1;
    for (int i = 0; i < t->M; i++)
        for (int j = 0; j < t->N; j++)
            if (fabs(ref[(size_t)i * o->ldc + j]) > scale)
                scale = fabs(ref[(size_t)i * o->ldc + j]);
    for (int i = 0; i < t->M; i++) {
        for (int j = 0; j < t->N; j++) {
            double d = fabs((double)got[(size_t)i * o->ldc + j] - ref[(size_t)i * o->ldc + j]);
            if (!(d <= worst)) worst = d; /* NaN too */
        }
        for (int j = t->N; j < o->ldc; j++)
            assert_memory_equal(&got[(size_t)i * o->ldc + j], &o->c0[(size_t)i * o->ldc + j],
                                sizeof(float));
    }
    return worst / scale;
}

static const gcase cases[] = {
    {0, 0, 1, 1, 1, 0, 1.0f, 0.0f},      {0, 0, 32, 12, 256, 0, 1.0f, 0.0f},
    {0, 0, 33, 13, 257, 3, 1.0f, 1.0f},  {0, 0, 31, 11, 255, 0, 0.5f, -0.7f},
    {0, 0, 16, 1, 7, 1, 1.0f, 0.0f},     {0, 0, 17, 24, 1, 0, 2.0f, 0.0f},
    {0, 0, 15, 517, 33, 0, 1.0f, 1.0f},  {0, 0, 512, 49, 600, 0, 1.0f, 0.0f},
    {0, 0, 65, 1100, 19, 5, 1.0f, 0.0f}, {0, 0, 3, 97, 1031, 0, 1.0f, 0.0f},
    {0, 1, 1, 1, 1, 0, 1.0f, 0.0f},      {0, 1, 32, 144, 700, 2, 1.0f, 1.0f},
    {0, 1, 10, 13, 300, 0, 1.0f, 0.0f},  {0, 1, 97, 530, 41, 1, 0.5f, 0.25f},
    {1, 0, 1, 1, 1, 0, 1.0f, 0.0f},      {1, 0, 144, 300, 32, 3, 1.0f, 0.0f},
    {1, 0, 33, 25, 513, 0, 1.0f, -1.0f}, {1, 0, 7, 1000, 10, 0, 1.0f, 0.0f},
    {1, 1, 1, 1, 1, 0, 1.0f, 0.0f},      {1, 1, 47, 29, 263, 4, 1.5f, 0.5f},
    {1, 1, 64, 520, 17, 0, 1.0f, 0.0f},  {0, 0, 2, 2, 0, 0, 1.0f, 0.5f},
    {0, 0, 40, 30, 20, 0, 0.0f, 0.5f},
};

static void test_against_reference(void **state) {
    (void)state;
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const gcase *t = &cases[i];
        operands o = make(t);
        float *ref = run(t, &o, 1, 0, cnn_gemm_ref);
        float *first = NULL;
        for (int threads = 1; threads <= 3; threads++)
            for (int inside = 0; inside <= 1; inside++) {
                float *got = run(t, &o, threads, inside, cnn_gemm_avx512);
                double e = compare(t, &o, got, ref);
                if (e > worst) worst = e;
                if (!(e <= TOL))
                    fail_msg("case %zu (ta %d tb %d %dx%dx%d): error %.3g on %d threads%s", i,
                             t->ta, t->tb, t->M, t->N, t->K, e, threads, inside ? " inside" : "");
                if (!first) {
                    first = got;
                    continue;
                }
                /* the same bits on any thread count */
                for (int r = 0; r < t->M; r++)
                    assert_memory_equal(got + (size_t)r * o.ldc, first + (size_t)r * o.ldc,
                                        (size_t)t->N * sizeof(float));
                free(got);
            }
        free(first);
        free(ref);
        drop(&o);
    }
    printf("gemm_avx512 (%s): worst error %.3g of max|ref|\n",
           cnn_gemm_avx512_available() ? "AVX-512" : "reference, no AVX-512", worst);
}

/* cnn_gemm through each implementation gives the reference's result. */
static void test_dispatch(void **state) {
    (void)state;
    const gcase t = {0, 1, 70, 45, 300, 1, 1.0f, 1.0f};
    operands o = make(&t);
    float *ref = run(&t, &o, 1, 0, cnn_gemm_ref);
    const int impls[] = {CNN_GEMM_BLAS, CNN_GEMM_AVX512, CNN_GEMM_AUTO};
    for (int i = 0; i < 3; i++) {
        cnn_gemm_select(impls[i]);
        int sel = cnn_gemm_selected();
        assert_true(sel == CNN_GEMM_BLAS || sel == CNN_GEMM_AVX512);
        if (impls[i] == CNN_GEMM_BLAS) assert_int_equal(sel, CNN_GEMM_BLAS);
        if (impls[i] != CNN_GEMM_BLAS)
            assert_int_equal(sel, cnn_gemm_avx512_available() ? CNN_GEMM_AVX512 : CNN_GEMM_BLAS);
        float *got = run(&t, &o, 2, 0, cnn_gemm);
        assert_true(compare(&t, &o, got, ref) <= TOL);
        free(got);
    }
    cnn_gemm_select(CNN_GEMM_AUTO);
    free(ref);
    drop(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
