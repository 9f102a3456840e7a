/* test_act_kernels.c — the element-wise activation kernels against closed forms
 * (computed in double) and finite differences, the channel softmax against its
 * naive reference, and the fused softmax cross-entropy against hand-computed
 * losses and gradients (label smoothing, huge logits, NaN/Inf, bad labels). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kernels/act.h"
#include "kernels/softmax.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { RELU, LEAKY, ELU, SIGMOID, TANH, N_ACT };
static const char *const act_name[N_ACT] = {"relu", "leaky_relu", "elu", "sigmoid", "tanh"};

/* Deterministic values in [-scale, scale). */
static void fill(float *a, size_t n, float scale, unsigned seed) {
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = (2.0f * cnn_rng_uniform(&r) - 1.0f) * scale;
}

static void act_fwd(int k, const float *x, float *y, size_t n, float p) {
    switch (k) {
    case RELU:
        cnn_relu_forward(x, y, n);
        break;
    case LEAKY:
        cnn_leaky_relu_forward(x, y, n, p);
        break;
    case ELU:
        cnn_elu_forward(x, y, n, p);
        break;
    case SIGMOID:
        cnn_sigmoid_forward(x, y, n);
        break;
    case TANH:
        cnn_tanh_forward(x, y, n);
        break;
    }
}

/* Backward takes x for relu/leaky/elu and y for sigmoid/tanh, as torch does. */
static void act_bwd(int k, const float *x, const float *y, const float *dy, float *dx, size_t n,
                    float p) {
    switch (k) {
    case RELU:
        cnn_relu_backward(x, dy, dx, n);
        break;
    case LEAKY:
        cnn_leaky_relu_backward(x, dy, dx, n, p);
        break;
    case ELU:
        cnn_elu_backward(x, dy, dx, n, p);
        break;
    case SIGMOID:
        cnn_sigmoid_backward(y, dy, dx, n);
        break;
    case TANH:
        cnn_tanh_backward(y, dy, dx, n);
        break;
    }
}

/* Closed forms in double: f(x) and f'(x) (the autograd choice at the kinks). */
static double act_f(int k, double x, double p) {
    switch (k) {
    case RELU:
        return x > 0 ? x : 0;
    case LEAKY:
        return x > 0 ? x : p * x;
    case ELU:
        return x > 0 ? x : p * (exp(x) - 1);
    case SIGMOID:
        return 1 / (1 + exp(-x));
    default:
        return tanh(x);
    }
}

static double act_df(int k, double x, double p) {
    switch (k) {
    case RELU:
        return x > 0 ? 1 : 0;
    case LEAKY:
        return x > 0 ? 1 : p;
    case ELU:
        return x > 0 ? 1 : p * exp(x);
    case SIGMOID:
        return act_f(k, x, p) * (1 - act_f(k, x, p));
    default:
        return 1 - tanh(x) * tanh(x);
    }
}

static void expect_close(double got, double want, double atol, double rtol, const char *what,
                         size_t i) {
    if (!(fabs(got - want) <= atol + rtol * fabs(want)))
        fail_msg("%s[%zu]: got %.9g, want %.9g", what, i, got, want);
}

#define NV 64
static void grid(float *x) {
    static const float special[] = {0.0f,  -0.0f,  1e-30f, -1e-30f, 1e-3f,  -1e-3f,  1.0f, -1.0f,
                                    30.0f, -30.0f, 88.0f,  -88.0f,  100.0f, -100.0f, 0.5f, -0.5f};
    size_t ns = sizeof special / sizeof special[0];
    memcpy(x, special, sizeof special);
    fill(x + ns, NV - ns, 8.0f, 7);
}

static void test_act_closed_forms(void **state) {
    float x[NV], y[NV], dy[NV], dx[NV];
    const float params[] = {0.0f, 0.01f, 0.2f, 1.0f, 0.5f, 2.5f};
    grid(x);
    fill(dy, NV, 3.0f, 8);
    for (int k = 0; k < N_ACT; k++)
        for (size_t pi = 0; pi < sizeof params / sizeof params[0]; pi++) {
            float p = params[pi];
            act_fwd(k, x, y, NV, p);
            act_bwd(k, x, y, dy, dx, NV, p);
            for (size_t i = 0; i < NV; i++) {
                expect_close(y[i], act_f(k, x[i], p), 1e-7, 2e-7, act_name[k], i);
                /* sigmoid/tanh work from the float y, as torch does: 1 - y carries y's rounding */
                expect_close(dx[i], dy[i] * act_df(k, x[i], p), 3e-7 * fabsf(dy[i]), 1e-6,
                             act_name[k], i);
            }
        }
}

/* The kinks take torch's side: relu' (0) = 0, leaky' (0) = slope, elu'(0) = alpha. */
static void test_act_kinks(void **state) {
    const float x[2] = {0.0f, -0.0f}, dy[2] = {3.0f, -2.0f};
    float y[2], dx[2];
    cnn_relu_backward(x, dy, dx, 2);
    assert_true(dx[0] == 0.0f && dx[1] == 0.0f);
    cnn_leaky_relu_backward(x, dy, dx, 2, 0.25f);
    assert_true(dx[0] == 0.75f && dx[1] == -0.5f);
    cnn_elu_backward(x, dy, dx, 2, 0.5f);
    assert_true(dx[0] == 1.5f && dx[1] == -1.0f);
    cnn_elu_forward(x, y, 2, 0.5f);
    assert_true(y[0] == 0.0f && y[1] == 0.0f);
    /* relu passes NaN through, like torch.relu */
    const float nan_x = NAN;
    cnn_relu_forward(&nan_x, y, 1);
    assert_true(isnan(y[0]));
}

/* Central differences of each kernel's forward, away from the kinks. */
static void test_act_finite_differences(void **state) {
    enum { N = 200 };
    float x[N], xp[N], xm[N], y[N], yp[N], ym[N], dy[N], dx[N];
    fill(x, N, 4.0f, 11);
    for (int i = 0; i < N; i++)
        if (fabsf(x[i]) < 0.05f) x[i] += x[i] < 0 ? -0.05f : 0.05f;
    const float h = 1e-2f;
    for (int i = 0; i < N; i++) {
        xp[i] = x[i] + h;
        xm[i] = x[i] - h;
        dy[i] = 1.0f;
    }
    for (int k = 0; k < N_ACT; k++) {
        float p = k == LEAKY ? 0.1f : 0.7f;
        act_fwd(k, x, y, N, p);
        act_fwd(k, xp, yp, N, p);
        act_fwd(k, xm, ym, N, p);
        act_bwd(k, x, y, dy, dx, N, p);
        for (int i = 0; i < N; i++) {
            double fd = ((double)yp[i] - ym[i]) / ((double)xp[i] - xm[i]);
            expect_close(dx[i], fd, 2e-3, 2e-3, act_name[k], (size_t)i);
        }
    }
}

/* Large arrays go through OpenMP: 1 and 4 threads give the same bits, and the
 * same bits as the scalar expression; dx may alias dy. */
static void test_act_threads(void **state) {
    const size_t n = (size_t)1 << 17;
    float *x = malloc(n * sizeof *x), *y1 = malloc(n * sizeof *x), *y4 = malloc(n * sizeof *x);
    float *dy = malloc(n * sizeof *x), *d1 = malloc(n * sizeof *x), *d4 = malloc(n * sizeof *x);
    assert_non_null(x && y1 && y4 && dy && d1 && d4);
    fill(x, n, 6.0f, 3);
    fill(dy, n, 1.0f, 4);
    int saved = omp_get_max_threads();
    for (int k = 0; k < N_ACT; k++) {
        omp_set_num_threads(1);
        act_fwd(k, x, y1, n, 0.3f);
        act_bwd(k, x, y1, dy, d1, n, 0.3f);
        omp_set_num_threads(4);
        act_fwd(k, x, y4, n, 0.3f);
        memcpy(d4, dy, n * sizeof *d4);
        act_bwd(k, x, y4, d4, d4, n, 0.3f);
        assert_memory_equal(y1, y4, n * sizeof *y1);
        assert_memory_equal(d1, d4, n * sizeof *d1);
    }
    for (size_t i = 0; i < n; i += 997) {
        float want = 1.0f / (1.0f + expf(-x[i]));
        cnn_sigmoid_forward(x + i, y1, 1);
        assert_memory_equal(&want, y1, sizeof want);
    }
    omp_set_num_threads(saved);
    free(x), free(y1), free(y4), free(dy), free(d1), free(d4);
}

/* ---- softmax over channels ---- */

static void test_softmax_closed_form(void **state) {
    const float x[6] = {1, 2, 3, 1000, 1001, 1000};
    float y[6];
    cnn_softmax_forward(x, y, 2, 3, 1);
    const double want[6] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219,
                            0.21194155761708547, 0.5761168847658291,  0.21194155761708547};
    for (size_t i = 0; i < 6; i++)
        expect_close(y[i], want[i], 0, 3e-7, "softmax", i);
    /* (n=1, C=2, HW=3): the softmax runs over C at each position */
    const float xs[6] = {0, 1, 2, 0, 0, 0};
    cnn_softmax_forward(xs, y, 1, 2, 3);
    for (int p = 0; p < 3; p++) {
        expect_close(y[p], 1 / (1 + exp(-(double)xs[p])), 0, 3e-7, "softmax hw", (size_t)p);
        expect_close(y[p] + y[3 + p], 1.0, 0, 3e-7, "softmax sum", (size_t)p);
    }
}

/* The blocked kernels give the reference's bits for shapes around the block size. */
static void test_softmax_vs_ref(void **state) {
    const int shapes[][3] = {{3, 7, 1}, {2, 5, 70},  {2, 3, 130},
                             {1, 1, 5}, {4, 10, 64}, {2, 2, 65}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], c = shapes[s][1], hw = shapes[s][2];
        size_t m = (size_t)n * c * hw;
        float *x = malloc(m * 4), *y = malloc(m * 4), *yr = malloc(m * 4), *dy = malloc(m * 4);
        float *dx = malloc(m * 4), *dxr = malloc(m * 4);
        assert_non_null(x && y && yr && dy && dx && dxr);
        fill(x, m, 10.0f, (unsigned)s + 20);
        fill(dy, m, 1.0f, (unsigned)s + 40);
        cnn_softmax_forward(x, y, n, c, hw);
        cnn_softmax_forward_ref(x, yr, n, c, hw);
        assert_memory_equal(y, yr, m * 4);
        cnn_softmax_backward(y, dy, dx, n, c, hw);
        cnn_softmax_backward_ref(y, dy, dxr, n, c, hw);
        assert_memory_equal(dx, dxr, m * 4);
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                double sum = 0, dsum = 0;
                for (int ch = 0; ch < c; ch++) {
                    sum += y[((size_t)i * c + ch) * hw + p];
                    dsum += dx[((size_t)i * c + ch) * hw + p];
                }
                expect_close(sum, 1.0, 1e-6, 0, "softmax row sum", (size_t)p);
                expect_close(dsum, 0.0, 1e-6, 0, "softmax grad sum", (size_t)p);
            }
        free(x), free(y), free(yr), free(dy), free(dx), free(dxr);
    }
}

/* dx of L = sum(dy * softmax(x)) against central differences; in place (dx == dy). */
static void test_softmax_backward_fd(void **state) {
    enum { N = 2, C = 5, HW = 3, M = N * C * HW };
    float x[M], y[M], dy[M], g[M], yp[M], ym[M];
    fill(x, M, 2.0f, 5);
    fill(dy, M, 1.0f, 6);
    cnn_softmax_forward(x, y, N, C, HW);
    memcpy(g, dy, sizeof g);
    cnn_softmax_backward(y, g, g, N, C, HW);
    const float h = 1e-2f;
    for (int i = 0; i < M; i++) {
        float keep = x[i];
        x[i] = keep + h;
        cnn_softmax_forward(x, yp, N, C, HW);
        x[i] = keep - h;
        cnn_softmax_forward(x, ym, N, C, HW);
        x[i] = keep;
        double lp = 0, lm = 0;
        for (int j = 0; j < M; j++)
            lp += (double)dy[j] * yp[j], lm += (double)dy[j] * ym[j];
        expect_close(g[i], (lp - lm) / (2 * h), 1e-4, 1e-3, "softmax fd", (size_t)i);
    }
}

static void test_softmax_threads(void **state) {
    const int n = 64, c = 16, hw = 100;
    size_t m = (size_t)n * c * hw;
    float *x = malloc(m * 4), *y1 = malloc(m * 4), *y4 = malloc(m * 4);
    float *d1 = malloc(m * 4), *d4 = malloc(m * 4);
    assert_non_null(x && y1 && y4 && d1 && d4);
    fill(x, m, 5.0f, 9);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    cnn_softmax_forward(x, y1, n, c, hw);
    cnn_softmax_backward(y1, x, d1, n, c, hw);
    omp_set_num_threads(4);
    cnn_softmax_forward(x, y4, n, c, hw);
    cnn_softmax_backward(y4, x, d4, n, c, hw);
    assert_memory_equal(y1, y4, m * 4);
    assert_memory_equal(d1, d4, m * 4);
    omp_set_num_threads(saved);
    free(x), free(y1), free(y4), free(d1), free(d4);
}

/* ---- fused softmax cross-entropy ---- */

/* -sum_j t_j log softmax(z)_j with t = (1-s) onehot + s/k, in double, the plain way. */
static double xent_hand(const float *z, int k, int label, double s, double *grad) {
    double se = 0, loss = 0;
    for (int j = 0; j < k; j++)
        se += exp(z[j]);
    for (int j = 0; j < k; j++) {
        double t = (j == label ? 1 - s : 0) + s / k, logp = z[j] - log(se);
        loss -= t * logp;
        if (grad) grad[j] = exp(logp) - t;
    }
    return loss;
}

static void test_xent_hand(void **state) {
    const float z[9] = {1, 2, 3, 1, 0, -1, 0.5f, 0.5f, 0};
    const uint8_t labels[3] = {2, 0, 1};
    float d[9], loss;
    int correct = -1;
    /* torch: F.cross_entropy(tensor([[1., 2., 3.]]), tensor([2])) = 0.4076059644443806 */
    assert_int_equal(cnn_softmax_xent(z, labels, 1, 3, 0.0f, d, &loss, &correct), CNN_OK);
    expect_close(loss, 0.4076059644443806, 0, 1e-7, "loss", 0);
    assert_int_equal(correct, 1);
    /* with s = 0.1 and logits 1,2,3: 0.9 * 0.40760596 + 0.1 * (lse - mean z) = 0.50760596 */
    assert_int_equal(cnn_softmax_xent(z, labels, 2, 3, 0.1f, d, &loss, &correct), CNN_OK);
    expect_close(loss, 0.5076059644443806, 0, 1e-7, "smoothed loss", 0);
    assert_int_equal(correct, 2);
    const float smooth[] = {0.0f, 0.1f, 0.3f, 1.0f};
    for (size_t si = 0; si < 4; si++) {
        double s = smooth[si], want = 0, g[9];
        for (int i = 0; i < 3; i++)
            want += xent_hand(z + 3 * i, 3, labels[i], s, g + 3 * i) / 3;
        assert_int_equal(cnn_softmax_xent(z, labels, 3, 3, smooth[si], d, &loss, &correct), CNN_OK);
        expect_close(loss, want, 0, 1e-7, "loss", si);
        assert_int_equal(correct, 2); /* sample 2's first arg-max is class 0, not 1 */
        for (int j = 0; j < 9; j++)
            expect_close(d[j], g[j] / 3, 1e-8, 1e-6, "dlogits", (size_t)j);
        /* evaluation: no gradient, same loss; correct may be NULL */
        float loss2;
        assert_int_equal(cnn_softmax_xent(z, labels, 3, 3, smooth[si], NULL, &loss2, NULL), CNN_OK);
        assert_true(loss2 == loss);
    }
}

/* dlogits is the gradient of the returned mean loss. */
static void test_xent_finite_differences(void **state) {
    enum { N = 4, K = 6 };
    float z[N * K], d[N * K], loss, lp, lm;
    const uint8_t labels[N] = {0, 5, 2, 2};
    fill(z, N * K, 3.0f, 13);
    assert_int_equal(cnn_softmax_xent(z, labels, N, K, 0.2f, d, &loss, NULL), CNN_OK);
    const float h = 1e-2f;
    for (int i = 0; i < N * K; i++) {
        float keep = z[i];
        z[i] = keep + h;
        assert_int_equal(cnn_softmax_xent(z, labels, N, K, 0.2f, NULL, &lp, NULL), CNN_OK);
        z[i] = keep - h;
        assert_int_equal(cnn_softmax_xent(z, labels, N, K, 0.2f, NULL, &lm, NULL), CNN_OK);
        z[i] = keep;
        expect_close(d[i], ((double)lp - lm) / (2 * h), 2e-5, 2e-3, "xent fd", (size_t)i);
    }
}

/* Logits far beyond exp's range stay finite (log-sum-exp). */
static void test_xent_large_logits(void **state) {
    const float z[6] = {1000, 0, -1000, 1000, 0, -1000};
    const uint8_t labels[2] = {0, 1};
    float d[6], loss;
    int correct;
    assert_int_equal(cnn_softmax_xent(z, labels, 2, 3, 0.0f, d, &loss, &correct), CNN_OK);
    expect_close(loss, 500.0, 0, 1e-7, "large loss", 0);
    assert_int_equal(correct, 1);
    const float want[6] = {0, 0, 0, 0.5f, -0.5f, 0};
    for (int j = 0; j < 6; j++)
        expect_close(d[j], want[j], 1e-30, 0, "large dlogits", (size_t)j);
    const float big[3] = {3e38f, 2.9e38f, -3e38f};
    assert_int_equal(cnn_softmax_xent(big, labels, 1, 3, 0.0f, d, &loss, &correct), CNN_OK);
    assert_true(loss == 0.0f && correct == 1);
    /* smoothing: (s/k) * sum_j (lse - z_j) */
    assert_int_equal(cnn_softmax_xent(big, labels, 1, 3, 0.3f, d, &loss, &correct), CNN_OK);
    expect_close(loss, 0.1 * (0.1e38 + 6e38), 0, 1e-6, "large smoothed loss", 0);
}

static void test_xent_nonfinite(void **state) {
    float z[6] = {1, 2, 3, 1, NAN, 0}, d[6], loss = 0;
    const uint8_t labels[2] = {0, 1};
    int correct = -7;
    assert_int_equal(cnn_softmax_xent(z, labels, 2, 3, 0.0f, d, &loss, &correct), CNN_ERR_NUMERIC);
    assert_non_null(strstr(cnn_last_error(), "NaN"));
    assert_non_null(strstr(cnn_last_error(), "sample 1"));
    assert_true(isnan(loss));
    assert_int_equal(correct, -7);
    z[4] = INFINITY;
    assert_int_equal(cnn_softmax_xent(z, labels, 2, 3, 0.0f, NULL, &loss, NULL), CNN_ERR_NUMERIC);
    /* -Inf on the target makes the loss infinite */
    z[4] = -INFINITY;
    assert_int_equal(cnn_softmax_xent(z, labels, 2, 3, 0.0f, NULL, &loss, NULL), CNN_ERR_NUMERIC);
    assert_non_null(strstr(cnn_last_error(), "Inf"));
    /* finite logits whose loss (6e38) is beyond float's range */
    const float far[2] = {3e38f, -3e38f};
    const uint8_t one = 1;
    assert_int_equal(cnn_softmax_xent(far, &one, 1, 2, 0.0f, NULL, &loss, NULL), CNN_ERR_NUMERIC);
    assert_non_null(strstr(cnn_last_error(), "overflows"));
    /* ... but on another class it is a valid (zero) probability without smoothing */
    z[3] = -INFINITY;
    z[4] = 0;
    assert_int_equal(cnn_softmax_xent(z, labels, 2, 3, 0.0f, d, &loss, NULL), CNN_OK);
    assert_true(isfinite(loss) && d[3] == 0.0f);
}

static void test_xent_bad_args(void **state) {
    const float z[6] = {0};
    const uint8_t ok[2] = {0, 2}, bad[2] = {0, 3};
    float d[6] = {42}, loss;
    assert_int_equal(cnn_softmax_xent(z, bad, 2, 3, 0.0f, d, &loss, NULL), CNN_ERR_ARG);
    assert_non_null(strstr(cnn_last_error(), "label 3"));
    assert_true(d[0] == 42); /* nothing written */
    assert_int_equal(cnn_softmax_xent(z, ok, 2, 3, 1.5f, d, &loss, NULL), CNN_ERR_ARG);
    assert_int_equal(cnn_softmax_xent(z, ok, 2, 3, NAN, d, &loss, NULL), CNN_ERR_ARG);
    assert_int_equal(cnn_softmax_xent(z, ok, 0, 3, 0.0f, d, &loss, NULL), CNN_ERR_ARG);
    assert_int_equal(cnn_softmax_xent(z, ok, 2, 0, 0.0f, d, &loss, NULL), CNN_ERR_ARG);
    assert_int_equal(cnn_softmax_xent(NULL, ok, 2, 3, 0.0f, d, &loss, NULL), CNN_ERR_ARG);
    /* all-equal logits: loss log(k), first arg-max (class 0) counts */
    int correct;
    assert_int_equal(cnn_softmax_xent(z, ok, 2, 3, 0.0f, d, &loss, &correct), CNN_OK);
    expect_close(loss, log(3.0), 0, 1e-7, "uniform loss", 0);
    assert_int_equal(correct, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_closed_forms),
        cmocka_unit_test(test_act_kinks),
        cmocka_unit_test(test_act_finite_differences),
        cmocka_unit_test(test_act_threads),
        cmocka_unit_test(test_softmax_closed_form),
        cmocka_unit_test(test_softmax_vs_ref),
        cmocka_unit_test(test_softmax_backward_fd),
        cmocka_unit_test(test_softmax_threads),
        cmocka_unit_test(test_xent_hand),
        cmocka_unit_test(test_xent_finite_differences),
        cmocka_unit_test(test_xent_large_logits),
        cmocka_unit_test(test_xent_nonfinite),
        cmocka_unit_test(test_xent_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) != 0;
}
