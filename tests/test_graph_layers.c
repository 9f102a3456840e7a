/* test_graph_layers.c — the graph and normalisation layers (add, concat,
 * batchnorm, lrn, adaptive_avgpool, pad) beyond their numbers: option and
 * shape errors name file:line, results are bit-identical for 1 and 2 threads,
 * batch-norm running statistics round-trip through a weights file, and every
 * model in models/ builds. (Numbers against torch: test_golden; gradients:
 * test_gradcheck.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include "graph/net.h"
#include "kernels/norm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parsing `text` fails with status s and a message containing each of the
 * NULL-terminated fragments. */
static void expect_error(const char *text, cnn_status s, ...) {
    cnn_net *net = NULL;
    cnn_status got = cnn_net_parse(&net, text, "m.cnn", 1);
    const char *msg = cnn_last_error();
    if (got != s) fail_msg("expected status %d, got %d (%s) for:\n%s", s, got, msg, text);
    assert_null(net);
    va_list ap;
    va_start(ap, s);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(msg, frag)) fail_msg("message '%s' lacks '%s'", msg, frag);
    va_end(ap);
}

static void test_errors(void **state) {
    expect_error("input shape=3x5x5\nconv name=a filters=4 kernel=1\nadd in=input,a\n",
                 CNN_ERR_SHAPE, "m.cnn:3: add1 (add)", "3x5x5", "4x5x5", NULL);
    expect_error("input shape=3x5x5\nadd\n", CNN_ERR_PARSE, "m.cnn:2", "add takes 2 to", NULL);
    expect_error("input shape=3x6x6\nmaxpool name=p kernel=2\nconcat in=input,p\n", CNN_ERR_SHAPE,
                 "m.cnn:3: concat1 (concat)", "same height and width", NULL);
    expect_error("input shape=3x5x5\npad padding=1,2\n", CNN_ERR_PARSE, "m.cnn:2: pad", "got 2",
                 NULL);
    expect_error("input shape=3x5x5\npad padding=1,x,2,3\n", CNN_ERR_PARSE, "m.cnn:2: pad", NULL);
    expect_error("input shape=3x5x5\npad\n", CNN_ERR_PARSE, "missing option 'padding'", NULL);
    expect_error("input shape=3x5x5\npad padding=-3,-2,0,0\n", CNN_ERR_SHAPE, "m.cnn:2: pad1",
                 "to nothing", NULL);
    expect_error("input shape=3x5x5\nadaptive_avgpool\n", CNN_ERR_PARSE, "missing option 'size'",
                 NULL);
    expect_error("input shape=3x5x5\nlrn alpha=1\n", CNN_ERR_PARSE, "missing option 'size'", NULL);
    expect_error("input shape=3x5x5\nbatchnorm eps=0\n", CNN_ERR_PARSE, "m.cnn:2: batchnorm", "eps",
                 NULL);
    expect_error("input shape=3x5x5\nbatchnorm momentum=2\n", CNN_ERR_PARSE, "momentum", NULL);
    expect_error("input shape=3x5x5\nbatchnorm mom=0.1\n", CNN_ERR_PARSE, "unknown option 'mom'",
                 NULL);
}

static const char *graph_model = "input shape=3x12x12\n"
                                 "conv name=stem filters=8 kernel=3 padding=1 bias=0\n"
                                 "batchnorm name=bn\n"
                                 "relu name=r\n"
                                 "lrn size=5 alpha=0.01\n"
                                 "conv name=b1 filters=4 kernel=1\n"
                                 "conv name=b2 in=lrn1 filters=4 kernel=3 padding=1\n"
                                 "concat name=cat in=b1,b2\n"
                                 "add name=sum in=cat,r\n"
                                 "pad padding=1,0,0,1,1,1\n"
                                 "adaptive_avgpool size=5x3\n"
                                 "dense units=6\n"
                                 "softmax\n";

/* One training step's output, gradients and running statistics for a thread count. */
static void run_threads(int threads, float *y, float *g, float *b, size_t ny, size_t np,
                        size_t nb) {
    cnn_set_threads(threads);
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, graph_model, "graph", 5), CNN_OK);
    assert_int_equal(cnn_net_num_params(net), np);
    assert_int_equal(cnn_net_num_buffers(net), nb);
    const int n = 5;
    float *x = malloc(n * 3 * 12 * 12 * sizeof *x);
    assert_non_null(x);
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    for (int i = 0; i < n * 3 * 12 * 12; i++)
        x[i] = 4 * cnn_rng_uniform(&r) - 2;
    uint8_t labels[5] = {0, 3, 5, 1, 1};
    float loss;
    assert_int_equal(cnn_net_train_step(net, x, labels, n, 0, &loss, NULL), CNN_OK);
    const float *out;
    assert_int_equal(cnn_net_forward(net, x, n, 0, &out), CNN_OK);
    memcpy(y, out, ny * sizeof *y);
    memcpy(g, cnn_net_grads(net), np * sizeof *g);
    memcpy(b, cnn_net_buffers(net), nb * sizeof *b);
    free(x);
    cnn_net_free(net);
}

static void test_threads_bit_identical(void **state) {
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, graph_model, "graph", 5), CNN_OK);
    size_t np = cnn_net_num_params(net), nb = cnn_net_num_buffers(net), ny = 5 * 6;
    cnn_net_free(net);
    float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *g1 = malloc(np * 4), *g2 = malloc(np * 4),
          *b1 = malloc(nb * 4), *b2 = malloc(nb * 4);
    assert_true(y1 && y2 && g1 && g2 && b1 && b2);
    int all = cnn_get_threads();
    run_threads(1, y1, g1, b1, ny, np, nb);
    run_threads(2, y2, g2, b2, ny, np, nb);
    cnn_set_threads(all);
    /* batch norm, lrn, add, concat, pad and adaptive pooling split work by
     * channel or image, never a sum across threads: bit-identical */
    assert_memory_equal(b1, b2, nb * 4);
    assert_memory_equal(y1, y2, ny * 4);
    /* conv weight gradients reduce per-thread partial sums; the others must agree exactly */
    size_t bn_off = 8 * 3 * 3 * 3; /* stem weight, then bn.weight and bn.bias */
    assert_memory_equal(g1 + bn_off, g2 + bn_off, 16 * 4);
    int differ = 0;
    for (size_t i = 0; i < np; i++)
        differ |= fabsf(g1[i] - g2[i]) > 1e-5f * (1 + fabsf(g1[i]));
    assert_false(differ);
    free(y1), free(y2), free(g1), free(g2), free(b1), free(b2);
}

static void test_buffers_round_trip(void **state) {
    cnn_net *a, *b;
    assert_int_equal(cnn_net_parse(&a, graph_model, "graph", 5), CNN_OK);
    assert_int_equal(cnn_net_parse(&b, graph_model, "graph", 6), CNN_OK);
    size_t nb = cnn_net_num_buffers(a);
    assert_int_equal(nb, 16); /* running_mean and running_var of 8 channels */
    for (size_t i = 0; i < nb; i++)
        cnn_net_buffers(a)[i] = 0.25f * (float)i + 0.5f;
    char path[] = "/tmp/cnn_test_bn_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cnn_net_save_weights(a, path), CNN_OK);
    assert_int_equal(cnn_net_load_weights(b, path), CNN_OK);
    unlink(path);
    assert_memory_equal(cnn_net_buffers(a), cnn_net_buffers(b), nb * sizeof(float));
    assert_memory_equal(cnn_net_params(a), cnn_net_params(b),
                        cnn_net_num_params(a) * sizeof(float));
    cnn_net_free(a);
    cnn_net_free(b);
}

/* Every model file builds with torchvision's parameter count (the tensor-by-tensor
 * layout and the outputs are checked against torchvision by scripts/check_models.py). */
static void test_models_build(void **state) {
    static const struct {
        const char *path;
        size_t params;
    } models[] = {
        {"models/lenet5.cnn", 61706},      {"models/alexnet.cnn", 61100840},
        {"models/vgg11.cnn", 132863336},   {"models/vgg16.cnn", 138357544},
        {"models/resnet18.cnn", 11689512}, {"models/resnet34.cnn", 21797672},
        {"models/googlenet.cnn", 6624904}, {"models/resnet20_cifar.cnn", 269722},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (access(models[i].path, R_OK) != 0) fail_msg("%s is missing", models[i].path);
        cnn_net *net;
        if (cnn_net_load_model(&net, models[i].path, 1) != CNN_OK) fail_msg("%s", cnn_last_error());
        printf("%-28s %12zu parameters, %8.3f G multiply-adds\n", models[i].path,
               cnn_net_num_params(net), cnn_net_macs(net) / 1e9);
        assert_int_equal(cnn_net_num_params(net), models[i].params);
        cnn_net_free(net);
    }
}

/* The LRN kernels against their naive references, over odd shapes and the
 * betas with a square-root fast path (0.5, 0.75, 1) and without (0.6). */
static void test_lrn_vs_reference(void **state) {
    static const float betas[] = {0.75f, 0.5f, 1.0f, 0.6f};
    static const int sizes[] = {1, 2, 3, 5, 8};
    cnn_rng g;
    cnn_rng_seed(&g, 21);
    for (int bi = 0; bi < 4; bi++)
        for (int si = 0; si < 5; si++) {
            int c = 7, hw = 13, n = c * hw;
            float x[7 * 13], dy[7 * 13], y[7 * 13], s[7 * 13], dx[7 * 13], tmp[7 * 13];
            float yr[7 * 13], sr[7 * 13], dxr[7 * 13];
            for (int i = 0; i < n; i++) {
                x[i] = 6 * cnn_rng_uniform(&g) - 3;
                dy[i] = 2 * cnn_rng_uniform(&g) - 1;
            }
            cnn_lrn_forward(c, hw, sizes[si], 0.3f, betas[bi], 1.5f, x, y, s);
            cnn_lrn_forward_ref(c, hw, sizes[si], 0.3f, betas[bi], 1.5f, x, yr, sr);
            cnn_lrn_backward(c, hw, sizes[si], 0.3f, betas[bi], x, y, s, dy, dx, tmp);
            cnn_lrn_backward_ref(c, hw, sizes[si], 0.3f, betas[bi], x, yr, sr, dy, dxr);
            for (int i = 0; i < n; i++) {
                if (fabsf(s[i] - sr[i]) > 1e-6f * sr[i] || fabsf(y[i] - yr[i]) > 1e-6f ||
                    fabsf(dx[i] - dxr[i]) > 1e-6f)
                    fail_msg("lrn size %d beta %g at %d: y %g/%g dx %g/%g", sizes[si], betas[bi], i,
                             y[i], yr[i], dx[i], dxr[i]);
            }
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lrn_vs_reference),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_buffers_round_trip),
        cmocka_unit_test(test_models_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
