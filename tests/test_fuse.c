/* test_fuse.c — the inference fast paths give what the plain layer-by-layer
 * pass gives.
 *
 * Inference fusion (src/graph/fuse.c) runs conv/add -> batchnorm -> relu
 * groups as one pass with the batch norm folded into a per-channel scale and
 * shift. Here every net is run at inference twice, fused and with
 * cnn_net_set_fusion(net, 0), on small nets covering the conv paths (shifted
 * rows, im2col with stride, groups and dilation, pointwise), conv -> bn ->
 * relu, conv -> relu with a bias, conv -> bn without activation, leaky ReLU,
 * residual adds with and without a projection, and a conv whose output also
 * feeds a second layer (which must not be fused). Batch statistics, affine
 * parameters and biases are random, so a fold that used the wrong numbers
 * shows. The fold must follow the parameters: after a training step (new
 * weights and running statistics) and after loading a weights file the fused
 * output still equals the unfused one. Training forwards are not fused: they
 * are bit-identical with fusion on and off. Also: dense at batch 1 (one
 * sgemv) against the same rows of a larger batch (sgemm). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the headers it needs */

#include "cnn.h"
#include "graph/net.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float urand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24);
}

static float *random_input(const cnn_net *net, int n, unsigned seed) {
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    size_t sz = (size_t)n * c * h * w;
    float *x = malloc(sz * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < sz; i++)
        x[i] = 2.0f * urand(&seed) - 1.0f;
    return x;
}

static size_t output_size(const cnn_net *net, int n) {
    int c, h, w;
    cnn_net_output_shape(net, &c, &h, &w);
    return (size_t)n * c * h * w;
}

/* Random batch-norm statistics and affine parameters, and random conv biases,
 * so that a fold that mixes them up is visible. */
static void randomise_norms(cnn_net *net, unsigned seed) {
    for (int i = 0; i < cnn_net_num_layers(net); i++) {
        cnn_layer *l = cnn_net_layer(net, i);
        if (!strcmp(l->ops->type, "batchnorm")) {
            int c = l->out.c;
            for (size_t k = 0; k < l->n_params; k++)
                l->params[k] = k < (size_t)c ? 0.5f + urand(&seed) : urand(&seed) - 0.5f;
            for (int k = 0; k < c; k++) {
                l->buffers[k] = 0.4f * (urand(&seed) - 0.5f);   /* running mean */
                l->buffers[c + k] = 0.2f + 2.0f * urand(&seed); /* running var */
            }
        } else if (!strcmp(l->ops->type, "conv")) {
            for (size_t k = 0; k < l->n_params; k++) /* the bias, if any, is last */
                if (k + (size_t)l->out.c >= l->n_params) l->params[k] = urand(&seed) - 0.5f;
        }
    }
}

/* The output of an inference pass, fused or not, copied. */
static float *infer(cnn_net *net, const float *x, int n, int fused) {
    const float *y;
    cnn_net_set_fusion(net, fused);
    assert_int_equal(cnn_net_forward(net, x, n, 0, &y), CNN_OK);
    cnn_net_set_fusion(net, 1);
    size_t sz = output_size(net, n);
    float *copy = malloc(sz * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, y, sz * sizeof *copy);
    return copy;
}

/* Within float rounding: the fold reassociates (x*w)*s + t against
 * ((x*w) - mean) * invstd * gamma + beta. */
static void expect_close(const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f + 2e-5f * fabsf(want[i])))
            fail_msg("%s: [%zu] fused %.9g, unfused %.9g", what, i, got[i], want[i]);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    return m;
}

typedef struct {
    const char *name;
    const char *model;
    int groups; /* fused groups expected */
} fuse_case;

static const fuse_case cases[] = {
    {"conv-bn-relu paths",
     "input shape=3x9x10\n"
     "conv filters=8 kernel=3 padding=1 bias=0\nbatchnorm\nrelu\n"        /* shifted rows */
     "conv filters=5 kernel=3 stride=2 padding=1\nrelu\n"                 /* im2col, bias */
     "conv filters=6 kernel=1\nbatchnorm\nleaky_relu slope=0.2\n"         /* pointwise */
     "conv filters=6 kernel=3 dilation=2 padding=2 groups=2\nbatchnorm\n" /* groups, no act */
     "conv filters=4 kernel=2 stride=1 bias=0\nbatchnorm affine=0\nrelu\n",
     5},
    {"residual",
     "input shape=4x8x8\n"
     "conv name=c1 filters=8 kernel=3 padding=1 bias=0\nbatchnorm name=b1\nrelu name=r1\n"
     "conv name=c2 filters=8 kernel=3 padding=1 bias=0\nbatchnorm name=b2\n"
     "add name=a1 in=b2,r1\nrelu name=o1\n"
     "conv name=c3 filters=16 kernel=3 stride=2 padding=1 bias=0\nbatchnorm name=b3\n"
     "relu name=r3\nconv name=c4 filters=16 kernel=3 padding=1 bias=0\nbatchnorm name=b4\n"
     "conv name=d0 in=o1 filters=16 kernel=1 stride=2 bias=0\nbatchnorm name=d1\n"
     "add name=a2 in=b4,d1\nrelu name=o2\ngap\ndense units=5\n",
     7},
    {"wide convs",
     "input shape=8x6x7\n"
     "conv filters=64 kernel=3 padding=1\nbatchnorm\nrelu\n"
     "conv filters=70 kernel=3 stride=2 padding=1 bias=0\nbatchnorm\n"
     "conv filters=96 kernel=1\nrelu\n",
     3},
    {"pointwise chain",
     /* equal sizes: a memory plan reuses buffers; a 1x1 conv reads its input
      * while writing its output, so a group's output must not share its
      * head's input buffer */
     "input shape=8x6x6\n"
     "conv filters=8 kernel=1\nbatchnorm\nrelu\nconv filters=8 kernel=1\nbatchnorm\nrelu\n"
     "conv filters=8 kernel=1\nbatchnorm\nrelu\nconv filters=8 kernel=1\nbatchnorm\nrelu\n"
     "conv filters=8 kernel=1\nrelu\nconv filters=8 kernel=1\nrelu\n",
     6},
    {"shared output",
     /* c1's output feeds b1 and the add, so c1 -> b1 is not fused; b1 -> r1
      * has no head; c2 -> r2 is. */
     "input shape=2x6x6\n"
     "conv name=c1 filters=4 kernel=3 padding=1\nbatchnorm name=b1\nrelu name=r1\n"
     "add name=a in=c1,r1\nconv name=c2 filters=3 kernel=3\nrelu name=r2\n",
     1},
};

static void test_fused_equals_unfused(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cnn_net *net;
        assert_int_equal(cnn_net_parse(&net, cases[c].model, cases[c].name, 7), CNN_OK);
        if (cnn_fuse_groups(net) != cases[c].groups)
            fail_msg("%s: %d fused groups, expected %d", cases[c].name, cnn_fuse_groups(net),
                     cases[c].groups);
        randomise_norms(net, 11 + (unsigned)c);
        const int batches[] = {1, 3};
        for (int b = 0; b < 2; b++) {
            int n = batches[b];
            float *x = random_input(net, n, 3 + (unsigned)n);
            float *f = infer(net, x, n, 1), *u = infer(net, x, n, 0);
            expect_close(cases[c].name, f, u, output_size(net, n));
            /* and again: nothing of the first fused pass is left over */
            float *f2 = infer(net, x, n, 1);
            assert_memory_equal(f, f2, output_size(net, n) * sizeof(float));
            free(x), free(f), free(u), free(f2);
        }
        cnn_net_free(net);
    }
}

static const char *trainable = "input shape=3x8x8\n"
                               "conv filters=6 kernel=3 padding=1 bias=0\nbatchnorm\nrelu\n"
                               "conv name=c2 filters=6 kernel=3 padding=1\nbatchnorm\n"
                               "add in=batchnorm2,relu1\nrelu\ngap\ndense units=4\nsoftmax\n";

/* A training step moves the weights (optimizer) and the running statistics
 * (training forward): the next inference pass must use the new ones. */
static void test_fold_follows_training(void **state) {
    (void)state;
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, trainable, "trainable", 5), CNN_OK);
    assert_true(cnn_fuse_groups(net) >= 3);
    randomise_norms(net, 21);
    const int n = 4;
    float *x = random_input(net, n, 9);
    uint8_t labels[4] = {0, 1, 2, 3};
    size_t out = output_size(net, n);
    float *before = infer(net, x, n, 1);
    cnn_train_config cfg = *cnn_net_train_config(net);
    cfg.lr = 0.5f;
    cnn_optim *opt;
    assert_int_equal(cnn_optim_create(&opt, &cfg, cnn_net_num_params(net)), CNN_OK);
    for (int step = 0; step < 3; step++) {
        assert_int_equal(cnn_net_train_step(net, x, labels, n, 0.0f, NULL, NULL), CNN_OK);
        cnn_optim_step(opt, cnn_net_params(net), cnn_net_grads(net), cfg.lr);
        float *f = infer(net, x, n, 1), *u = infer(net, x, n, 0);
        expect_close("after a training step", f, u, out);
        free(f), free(u);
    }
    float *after = infer(net, x, n, 1);
    if (max_abs_diff(before, after, out) < 1e-3)
        fail_msg("training did not change the output: the test proves nothing");
    cnn_optim_free(opt);
    free(x), free(before), free(after);
    cnn_net_free(net);
}

/* Weights loaded into a net that has already run fused inference: the next
 * pass uses them (equal to the net they were saved from). */
static void test_fold_follows_loaded_weights(void **state) {
    (void)state;
    cnn_net *a, *b;
    assert_int_equal(cnn_net_parse(&a, trainable, "a", 1), CNN_OK);
    assert_int_equal(cnn_net_parse(&b, trainable, "b", 2), CNN_OK);
    randomise_norms(a, 31);
    randomise_norms(b, 32);
    const int n = 2;
    float *x = random_input(a, n, 4);
    size_t out = output_size(a, n);
    float *ya = infer(a, x, n, 1), *yb = infer(b, x, n, 1);
    if (max_abs_diff(ya, yb, out) < 1e-3) fail_msg("the two nets agree before loading");
    char path[] = "/tmp/test_fuse_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cnn_net_save_weights(a, path), CNN_OK);
    assert_int_equal(cnn_net_load_weights(b, path), CNN_OK);
    unlink(path);
    float *yb2 = infer(b, x, n, 1), *ub2 = infer(b, x, n, 0);
    assert_memory_equal(yb2, ya, out * sizeof(float)); /* same weights, same fused pass */
    expect_close("after loading weights", yb2, ub2, out);
    free(x), free(ya), free(yb), free(yb2), free(ub2);
    cnn_net_free(a);
    cnn_net_free(b);
}

/* Training forwards never take the fused path: bit-identical with it on or off. */
static void test_training_forward_untouched(void **state) {
    (void)state;
    cnn_net *on, *off;
    assert_int_equal(cnn_net_parse(&on, cases[1].model, "on", 3), CNN_OK);
    assert_int_equal(cnn_net_parse(&off, cases[1].model, "off", 3), CNN_OK);
    cnn_net_set_fusion(off, 0);
    const int n = 3;
    float *x = random_input(on, n, 5);
    const float *y1, *y2;
    for (int r = 0; r < 2; r++) {
        assert_int_equal(cnn_net_forward(on, x, n, 1, &y1), CNN_OK);
        assert_int_equal(cnn_net_forward(off, x, n, 1, &y2), CNN_OK);
        assert_memory_equal(y1, y2, output_size(on, n) * sizeof(float));
    }
    assert_memory_equal(cnn_net_buffers(on), cnn_net_buffers(off),
                        cnn_net_num_buffers(on) * sizeof(float));
    free(x);
    cnn_net_free(on);
    cnn_net_free(off);
}

/* Dense at batch 1 is one sgemv; rows of a batch of 3 go through sgemm. */
static void test_dense_batch1(void **state) {
    (void)state;
    cnn_net *net;
    assert_int_equal(
        cnn_net_parse(&net, "input shape=7x5x3\ndense units=37\nrelu\ndense units=9 bias=0\n",
                      "dense", 4),
        CNN_OK);
    const int n = 3;
    float *x = random_input(net, n, 8);
    size_t out = output_size(net, 1), in = 7 * 5 * 3;
    float *all = infer(net, x, n, 1);
    for (int i = 0; i < n; i++) {
        float *one = infer(net, x + in * i, 1, 1);
        expect_close("dense batch 1", one, all + out * i, out);
        free(one);
    }
    free(x), free(all);
    cnn_net_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_equals_unfused),
        cmocka_unit_test(test_fold_follows_training),
        cmocka_unit_test(test_fold_follows_loaded_weights),
        cmocka_unit_test(test_training_forward_untouched),
        cmocka_unit_test(test_dense_batch1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
