/* test_plan.c — the liveness-planned activation arena (src/graph/plan.c)
 * changes no result: for nets with in-place ReLU/dropout/flatten chains,
 * sigmoid/tanh, batchnorm, fan-out (residual add, concat, one output used
 * twice) and a layer reading the net's input twice, a few training steps and
 * an inference pass with buffers reused give bit for bit the outputs, losses,
 * gradients and input gradients of the same net with every buffer kept apart
 * (cnn_net_keep_outputs). The reused plan must also be smaller, an inference
 * plan no larger than a training plan, and the classic MNIST net's training
 * plan at batch 64 under 32 MiB (it was 87 MiB with one buffer per output). */
#include "cnn.h"
#include "graph/net.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 6
#define STEPS 3

static int failures;

static void check(int ok, const char *net, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL %s: %s\n", net, what);
        failures++;
    }
}

static const char *const nets[][2] = {
    {"chain", "input shape=1x10x10\n"
              "conv name=c1 filters=4 kernel=3 padding=1\nrelu\nrelu\ndropout p=0.3\n"
              "maxpool kernel=2\ndropout p=0.2\nflatten\ndense units=12\nsigmoid\n"
              "dropout p=0.1\ntanh\ndense units=5\nsoftmax\n"},
    {"residual", "input shape=2x8x8\n"
                 "conv name=stem filters=4 kernel=3 padding=1 bias=0\nbatchnorm\nrelu name=r0\n"
                 "conv name=a filters=4 kernel=3 padding=1 bias=0\nbatchnorm\nrelu\n"
                 "conv name=b filters=4 kernel=3 padding=1 bias=0\nbatchnorm name=bn_b\n"
                 "add in=bn_b,r0\nrelu name=r1\n"
                 "conv name=p filters=3 kernel=1 in=r1\nconv name=q filters=3 kernel=1 in=r1\n"
                 "concat in=p,q,r1\nrelu\ngap\nflatten\ndense units=4\nsoftmax\n"},
    {"input twice", "input shape=1x6x6\n"
                    "add name=twice in=input,input\nrelu\nconv filters=2 kernel=3 in=twice\n"
                    "add name=sum in=conv1,conv1\nflatten\ndense units=3\nsoftmax\n"},
};

/* Train STEPS steps, then one inference pass; record everything. */
static int run(const char *text, int keep, float *out, size_t *plan_train, size_t *plan_infer,
               size_t *n_out) {
    cnn_net *net, *inf;
    if (cnn_net_parse(&net, text, "<plan>", 1) != CNN_OK ||
        cnn_net_parse(&inf, text, "<plan>", 1) != CNN_OK) {
        fprintf(stderr, "parse: %s\n", cnn_last_error());
        return 0;
    }
    cnn_net_keep_outputs(net, keep);
    cnn_net_keep_outputs(inf, keep);
    /* Plans only: inference fusion (which keep_outputs turns off) reassociates
     * floats, so it stays off on both sides; test_fuse checks it. */
    cnn_net_set_fusion(net, 0);
    cnn_net_set_fusion(inf, 0);
    int c, h, w, k, kh, kw;
    cnn_net_input_shape(net, &c, &h, &w);
    cnn_net_output_shape(net, &k, &kh, &kw);
    size_t in = (size_t)c * h * w, np = cnn_net_num_params(net), o = 0;
    float *x = malloc(in * BATCH * sizeof *x);
    uint8_t labels[BATCH];
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    for (size_t i = 0; i < in * BATCH; i++)
        x[i] = cnn_rng_uniform(&r) * 2 - 1;
    for (int i = 0; i < BATCH; i++)
        labels[i] = (uint8_t)(i % k);
    for (int s = 0; s < STEPS; s++) {
        float loss;
        if (cnn_net_train_step(net, x, labels, BATCH, 0.0f, &loss, NULL) != CNN_OK) return 0;
        out[o++] = loss;
        memcpy(out + o, cnn_net_grads(net), np * sizeof *out);
        o += np;
        float *p = cnn_net_params(net), *g = cnn_net_grads(net);
        for (size_t i = 0; i < np; i++)
            p[i] -= 0.1f * g[i];
    }
    /* The input gradient, through cnn_net_backward from the last output. */
    const float *y;
    if (cnn_net_forward(net, x, BATCH, 1, &y) != CNN_OK) return 0;
    float *dy = malloc((size_t)k * BATCH * sizeof *dy);
    for (int i = 0; i < k * BATCH; i++)
        dy[i] = (float)(i % 7) - 3;
    if (cnn_net_backward(net, dy, BATCH) != CNN_OK) return 0;
    memcpy(out + o, cnn_net_input_grad(net), in * BATCH * sizeof *out);
    o += in * BATCH;
    *plan_train = cnn_net_plan_bytes(net);
    /* Inference: the trained net, and a net that never trained (inference plan). */
    if (cnn_net_forward(net, x, BATCH, 0, &y) != CNN_OK) return 0;
    memcpy(out + o, y, (size_t)k * BATCH * sizeof *out);
    o += (size_t)k * BATCH;
    if (cnn_net_forward(inf, x, BATCH, 0, &y) != CNN_OK) return 0;
    memcpy(out + o, y, (size_t)k * BATCH * sizeof *out);
    o += (size_t)k * BATCH;
    *plan_infer = cnn_net_plan_bytes(inf);
    *n_out = o;
    free(dy);
    free(x);
    cnn_net_free(net);
    cnn_net_free(inf);
    return 1;
}

static void mnist_plan(void) {
    cnn_net *net;
    if (cnn_net_load_model(&net, "models/mnist_cnn.cnn", 1) != CNN_OK) {
        check(0, "mnist_cnn", cnn_last_error());
        return;
    }
    size_t n = 64 * 784;
    float *x = calloc(n, sizeof *x);
    uint8_t labels[64] = {0};
    float loss;
    check(cnn_net_train_step(net, x, labels, 64, 0.0f, &loss, NULL) == CNN_OK, "mnist_cnn",
          "train step");
    size_t bytes = cnn_net_plan_bytes(net);
    printf("mnist_cnn batch 64: training plan %.1f MiB\n", bytes / 1048576.0);
    check(bytes < ((size_t)32 << 20), "mnist_cnn", "training plan at batch 64 is 32 MiB or more");
    free(x);
    cnn_net_free(net);
}

int main(void) {
    float *a = malloc(sizeof(float) << 20), *b = malloc(sizeof(float) << 20);
    for (size_t t = 0; t < sizeof nets / sizeof nets[0]; t++) {
        size_t ta, ia, na, tb, ib, nb;
        if (!run(nets[t][1], 1, a, &ta, &ia, &na) || !run(nets[t][1], 0, b, &tb, &ib, &nb)) {
            check(0, nets[t][0], cnn_last_error());
            continue;
        }
        check(na == nb && !memcmp(a, b, na * sizeof *a), nets[t][0],
              "results differ between the kept and the reused buffers");
        check(tb < ta, nets[t][0], "the reused training plan is not smaller");
        check(ib <= tb, nets[t][0], "the inference plan is larger than the training plan");
        printf("%-12s training plan %6zu -> %6zu bytes, inference %6zu -> %6zu\n", nets[t][0], ta,
               tb, ia, ib);
    }
    mnist_plan();
    free(a);
    free(b);
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
