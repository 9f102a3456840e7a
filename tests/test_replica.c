/* test_replica.c — data-parallel training steps (src/graph/replica.c).
 *
 * A step split into one slice per thread must give the whole batch's step:
 * the same loss, hits and dropout masks, the gradient of the batch's mean
 * loss up to the order of float sums, and the net's generator left where
 * the unsplit step leaves it; for batches that do not divide evenly, smaller
 * than the thread count, and three threads as well as two. A NaN in one
 * slice is reported as that slice's; batch norm is refused with
 * data_parallel=on and trained unsplit with auto; the thread count outside
 * the step is what it was; cnn_train_run with data_parallel on and off
 * reaches the same weights up to float reassociation, and with on it is
 * deterministic. The gradient sum's NaN/Inf scan (cnn_sum_finite) against
 * the plain loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/graph/net_internal.h"
#include "../src/kernels/finite.h"
#include "cnn.h"
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* conv, relu, max pool, dropout, dense: every kind of layer state a step has */
static const char *model = "input shape=2x9x9\n"
                           "conv name=c filters=6 kernel=3 padding=1\n"
                           "relu\n"
                           "maxpool kernel=2\n"
                           "dropout p=0.3\n"
                           "flatten\n"
                           "dense units=12\n"
                           "relu\n"
                           "dense units=5\n"
                           "softmax\n";

static cnn_net *parse(const char *text, uint64_t seed) {
    cnn_net *net;
    if (cnn_net_parse(&net, text, "rep.cnn", seed) != CNN_OK)
        fail_msg("parse: %s", cnn_last_error());
    return net;
}

static void fill(float *x, size_t n, uint8_t *labels, int batch, unsigned seed) {
    cnn_rng g;
    cnn_rng_seed(&g, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = cnn_rng_uniform(&g) * 2 - 1;
    for (int i = 0; i < batch; i++)
        labels[i] = (uint8_t)(cnn_rng_u64(&g) % 5);
}

/* The split step against the unsplit one for a batch of n on `threads`. */
static void compare(int n, int threads) {
    cnn_set_threads(threads);
    cnn_net *net = parse(model, 3);
    const size_t in = 2 * 9 * 9, np = cnn_net_num_params(net);
    float *x = malloc(in * (size_t)n * sizeof *x), *g = malloc(np * sizeof *g);
    uint8_t *labels = malloc((size_t)n);
    assert_true(x && g && labels);
    fill(x, in * (size_t)n, labels, n, 11 + (unsigned)n);
    cnn_rng before = *cnn_net_rng(net);
    float loss1, loss2;
    int hits1, hits2;
    assert_int_equal(cnn_net_train_step(net, x, labels, n, 0.1f, &loss1, &hits1), CNN_OK);
    memcpy(g, cnn_net_grads(net), np * sizeof *g);
    cnn_rng after = *cnn_net_rng(net);

    *cnn_net_rng(net) = before;
    cnn_replicas *rs;
    assert_int_equal(cnn_replicas_create(&rs, net, threads), CNN_OK);
    assert_int_equal(cnn_replicas_count(rs), threads);
    int bad = 7, finite = 7;
    assert_int_equal(cnn_replicas_step(rs, x, labels, n, 0.1f, &loss2, &hits2, &bad, &finite),
                     CNN_OK);
    assert_int_equal(bad, -1);
    assert_int_equal(finite, 1);
    assert_int_equal(hits1, hits2);
    if (fabsf(loss1 - loss2) > 1e-6f * fabsf(loss1)) fail_msg("loss %g vs %g", loss1, loss2);
    /* the generator: where the unsplit step left it */
    assert_memory_equal(&after, cnn_net_rng(net), sizeof after);
    const float *g2 = cnn_net_grads(net); /* replica 0 sums into it */
    double worst = 0, scale = 0;
    for (size_t i = 0; i < np; i++) {
        scale = fmax(scale, fabs(g[i]));
        worst = fmax(worst, fabs(g[i] - g2[i]));
    }
    print_message("batch %d, %d threads: max |grad difference| %.3g of max |grad| %.3g\n", n,
                  threads, worst, scale);
    assert_true(scale > 0);
    assert_true(worst <= 1e-5 * scale);
    /* the thread count outside the step is unchanged */
    assert_int_equal(omp_get_max_threads(), threads);
    cnn_replicas_free(rs);
    cnn_net_free(net);
    free(x);
    free(g);
    free(labels);
}

static void test_same_step(void **state) {
    (void)state;
    compare(8, 2);
    compare(7, 2); /* uneven slices: 3 and 4 images */
    compare(1, 2); /* fewer images than threads: one slice */
    compare(16, 3);
    compare(2, 3);
    cnn_set_threads(2);
}

/* A NaN input in the second slice: reported as that slice's. */
static void test_nan_slice(void **state) {
    (void)state;
    cnn_set_threads(2);
    cnn_net *net = parse(model, 3);
    enum { N = 8 };
    float x[N * 162];
    uint8_t labels[N];
    fill(x, sizeof x / sizeof *x, labels, N, 5);
    x[6 * 162 + 40] = NAN;
    cnn_replicas *rs;
    assert_int_equal(cnn_replicas_create(&rs, net, 2), CNN_OK);
    float loss;
    int hits, bad, finite;
    assert_int_equal(cnn_replicas_step(rs, x, labels, N, 0.0f, &loss, &hits, &bad, &finite),
                     CNN_OK);
    assert_int_equal(bad, 1);
    assert_int_equal(finite, 0);
    assert_false(isfinite(loss));
    cnn_replicas_free(rs);
    cnn_net_free(net);
}

static cnn_dataset random_set(int n, unsigned seed) {
    cnn_dataset ds = {0};
    ds.n = n;
    ds.c = 2;
    ds.h = ds.w = 9;
    ds.classes = 5;
    ds.images = malloc((size_t)n * 162);
    ds.labels = malloc((size_t)n);
    assert_true(ds.images && ds.labels);
    cnn_rng g;
    cnn_rng_seed(&g, seed);
    /* a learnable rule: the label is the brightest of 5 bands */
    for (int i = 0; i < n; i++) {
        int label = (int)(cnn_rng_u64(&g) % 5);
        for (int j = 0; j < 162; j++) {
            int band = (j % 81) / 17;
            ds.images[(size_t)i * 162 + j] =
                (uint8_t)(cnn_rng_u64(&g) % 100 + (band == label ? 150 : 0));
        }
        ds.labels[i] = (uint8_t)label;
    }
    return ds;
}

static float *train(const char *text, cnn_data_parallel_kind dp, int threads, cnn_status *st,
                    size_t *np) {
    cnn_set_threads(threads);
    cnn_net *net = parse(text, 5);
    cnn_train_config cfg;
    cnn_train_config_default(&cfg);
    cfg.epochs = 2;
    cfg.batch = 10;
    cfg.lr = 0.05f;
    cfg.data_parallel = dp;
    cnn_dataset ds = random_set(200, 9);
    cnn_train_options o = {0};
    o.train = &ds;
    *st = cnn_train_run(net, &cfg, &o);
    *np = cnn_net_num_params(net);
    float *p = malloc(*np * sizeof *p);
    assert_non_null(p);
    memcpy(p, cnn_net_params(net), *np * sizeof *p);
    cnn_net_free(net);
    cnn_dataset_free(&ds);
    return p;
}

static void test_train_run(void **state) {
    (void)state;
    size_t n1, n2, n3, n4;
    cnn_status s1, s2, s3, s4;
    float *on = train(model, CNN_DP_ON, 2, &s1, &n1), *on2 = train(model, CNN_DP_ON, 2, &s2, &n2);
    float *off = train(model, CNN_DP_OFF, 2, &s3, &n3),
          *one = train(model, CNN_DP_AUTO, 1, &s4, &n4);
    assert_int_equal(s1, CNN_OK);
    assert_int_equal(s2, CNN_OK);
    assert_int_equal(s3, CNN_OK);
    assert_int_equal(s4, CNN_OK);
    assert_memory_equal(on, on2, n1 * sizeof *on); /* deterministic */
    double worst = 0, worst1 = 0;
    for (size_t i = 0; i < n1; i++) {
        worst = fmax(worst, fabs(on[i] - off[i]));
        worst1 = fmax(worst1, fabs(on[i] - one[i]));
    }
    print_message("split vs unsplit after 40 steps: max parameter difference %.3g (one thread: "
                  "%.3g)\n",
                  worst, worst1);
    assert_true(worst < 1e-3);
    assert_true(worst1 < 1e-3);
    assert_int_equal(omp_get_max_threads(), 1);
    free(on);
    free(on2);
    free(off);
    free(one);
    cnn_set_threads(2);
}

static void test_batchnorm(void **state) {
    (void)state;
    const char *bn = "input shape=2x9x9\nconv filters=4 kernel=3\nbatchnorm\nrelu\nflatten\n"
                     "dense units=5\nsoftmax\n";
    size_t np;
    cnn_status s;
    float *p = train(bn, CNN_DP_ON, 2, &s, &np);
    assert_int_equal(s, CNN_ERR_ARG);
    assert_string_equal(cnn_last_error(), "rep.cnn: data_parallel=on: batch norm's statistics "
                                          "would be a slice's, not the batch's");
    free(p);
    p = train(bn, CNN_DP_AUTO, 2, &s, &np); /* auto: trained unsplit */
    assert_int_equal(s, CNN_OK);
    free(p);
    cnn_net *net = parse(bn, 1);
    assert_false(cnn_replicas_usable(net, NULL));
    cnn_net_free(net);
    net = parse(model, 1);
    assert_true(cnn_replicas_usable(net, NULL));
    cnn_replicas *rs;
    assert_int_equal(cnn_replicas_create(&rs, net, 1), CNN_ERR_ARG);
    cnn_net_free(net);
    cnn_set_threads(2);
}

/* The train line's option. */
static void test_model_option(void **state) {
    (void)state;
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net,
                                   "input shape=1x4x4\ntrain data_parallel=on\nflatten\n"
                                   "dense units=2\nsoftmax\n",
                                   "m.cnn", 1),
                     CNN_OK);
    assert_int_equal(cnn_net_train_config(net)->data_parallel, CNN_DP_ON);
    cnn_net_free(net);
    assert_int_equal(cnn_net_parse(&net,
                                   "input shape=1x4x4\ntrain data_parallel=off\nflatten\n"
                                   "dense units=2\nsoftmax\n",
                                   "m.cnn", 1),
                     CNN_OK);
    assert_int_equal(cnn_net_train_config(net)->data_parallel, CNN_DP_OFF);
    cnn_net_free(net);
    assert_int_equal(
        cnn_net_parse(&net, "input shape=1x4x4\ntrain data_parallel=yes\nflatten\n", "m.cnn", 1),
        CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(),
                        "m.cnn:2: train: data_parallel=yes: expected one of auto, off, on");
}

/* The gradient sum and its scan against the plain loop, and the scan alone. */
static void test_sum_finite(void **state) {
    (void)state;
    enum { N = 1000 };
    static float a[3][N], dst[N];
    cnn_rng g;
    cnn_rng_seed(&g, 4);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < N; i++)
            a[t][i] = cnn_rng_uniform(&g) * 2 - 1;
    const float w[3] = {0.25f, 0.5f, 0.25f};
    for (int k = 1; k <= 3; k++) {
        const float *src[3] = {a[0], a[1], a[2]};
        assert_int_equal(cnn_sum_finite(dst, src, w, k, N), 1);
        for (int i = 0; i < N; i++) {
            float s = w[0] * a[0][i];
            for (int t = 1; t < k; t++)
                s += w[t] * a[t][i];
            assert_true(dst[i] == s);
        }
    }
    assert_int_equal(cnn_all_finite(a[0], N), 1);
    const float bad[] = {NAN, INFINITY, -INFINITY};
    const int where[] = {0, 517, N - 1};
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < 3; j++) {
            const float keep = a[1][where[j]];
            a[1][where[j]] = bad[b];
            const float *src[2] = {a[0], a[1]};
            assert_int_equal(cnn_all_finite(a[1], N), 0);
            assert_int_equal(cnn_sum_finite(dst, src, w, 2, N), 0);
            a[1][where[j]] = keep;
        }
    /* two finite terms whose sum overflows; the largest finite float passes */
    float big[2] = {FLT_MAX, FLT_MAX};
    const float *src[2] = {big, big};
    const float one[2] = {1.0f, 1.0f};
    assert_int_equal(cnn_all_finite(big, 2), 1);
    assert_int_equal(cnn_sum_finite(dst, src, one, 2, 2), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_step),    cmocka_unit_test(test_nan_slice),
        cmocka_unit_test(test_train_run),    cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_model_option), cmocka_unit_test(test_sum_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
