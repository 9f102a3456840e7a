/* test_threads.c — two nets used from two threads at once give exactly the
 * results they give one after the other: forward outputs, training losses
 * and the trained parameters, bit for bit. Each thread also provokes an error
 * of its own, to check that cnn_last_error() is per thread. Every thread uses
 * the same OpenMP thread count as the sequential run (OpenMP teams nested
 * inside pthreads), since results are bit-identical only for equal counts.
 *
 * Built a second time with ThreadSanitizer by `make check-tsan`, run with
 * OMP_NUM_THREADS=1: libgomp is not instrumented, so its own thread pool
 * would give false reports; the two pthreads still share the library. */
#include "cnn.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 8
#define STEPS 6

static const char model[] = "input shape=1x12x12 mean=0.1 std=0.3\n"
                            "train optimizer=adam lr=0.01\n"
                            "conv name=c1 filters=4 kernel=3 padding=1\n"
                            "relu\n"
                            "maxpool kernel=2\n"
                            "conv name=c2 filters=6 kernel=3\n"
                            "tanh\n"
                            "dropout p=0.2\n"
                            "dense name=fc units=5\n"
                            "softmax\n";

typedef struct {
    uint64_t seed;     /* of the net and of its data */
    float *out;        /* eval outputs (BATCH x 5) after training */
    float losses[STEPS];
    float *params;     /* after training */
    size_t n_params;
    char error[256];   /* the message of this thread's deliberate failure */
    int threads;       /* OpenMP threads to use inside this thread */
    int failed;
} job;

static void *work(void *arg) {
    job *j = arg;
    cnn_set_threads(j->threads);
    cnn_net *net = NULL;
    if (cnn_net_parse(&net, model, j->seed == 1 ? "one.cnn" : "two.cnn", j->seed) != CNN_OK) {
        fprintf(stderr, "parse: %s\n", cnn_last_error());
        j->failed = 1;
        return NULL;
    }
    cnn_optim *opt = NULL;
    float x[BATCH * 144];
    uint8_t labels[BATCH];
    cnn_rng r;
    cnn_rng_seed(&r, j->seed * 7919);
    for (int i = 0; i < BATCH * 144; i++) x[i] = cnn_rng_uniform(&r) * 2 - 1;
    for (int i = 0; i < BATCH; i++) labels[i] = (uint8_t)(cnn_rng_u64(&r) % 5);
    if (cnn_optim_create(&opt, cnn_net_train_config(net), cnn_net_num_params(net)) != CNN_OK) {
        j->failed = 1;
        goto done;
    }
    for (int s = 0; s < STEPS; s++) {
        if (cnn_net_train_step(net, x, labels, BATCH, 0.0f, &j->losses[s], NULL) != CNN_OK) {
            fprintf(stderr, "train step: %s\n", cnn_last_error());
            j->failed = 1;
            goto done;
        }
        cnn_optim_step(opt, cnn_net_params(net), cnn_net_grads(net), 0.01f);
    }
    /* A failure of this thread's own, between two calls that succeed. */
    char path[64];
    snprintf(path, sizeof path, "/nonexistent/thread-%llu.weights", (unsigned long long)j->seed);
    if (cnn_net_load_weights(net, path) == CNN_OK) j->failed = 1;
    snprintf(j->error, sizeof j->error, "%s", cnn_last_error());
    const float *y;
    if (cnn_net_forward(net, x, BATCH, 0, &y) != CNN_OK) {
        j->failed = 1;
        goto done;
    }
    memcpy(j->out, y, BATCH * 5 * sizeof *y);
    j->n_params = cnn_net_num_params(net);
    j->params = malloc(j->n_params * sizeof(float));
    if (j->params) memcpy(j->params, cnn_net_params(net), j->n_params * sizeof(float));
    else j->failed = 1;
    /* The error read after other successful calls is still this thread's own. */
    if (strcmp(j->error, cnn_last_error()) != 0) {
        fprintf(stderr, "seed %llu: the last error changed to '%s'\n",
                (unsigned long long)j->seed, cnn_last_error());
        j->failed = 1;
    }
done:
    cnn_optim_free(opt);
    cnn_net_free(net);
    return NULL;
}

static int same(const job *a, const job *b, const char *what) {
    int ok = !a->failed && !b->failed && a->n_params == b->n_params &&
             memcmp(a->losses, b->losses, sizeof a->losses) == 0 &&
             memcmp(a->out, b->out, BATCH * 5 * sizeof(float)) == 0 &&
             memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
    if (!ok)
        fprintf(stderr, "FAIL: %s: seed %llu differs between sequential and threaded runs\n", what,
                (unsigned long long)a->seed);
    return ok;
}

int main(void) {
    int threads = cnn_get_threads();
    float outs[4][BATCH * 5];
    job seq[2] = {{.seed = 1, .out = outs[0], .threads = threads},
                  {.seed = 2, .out = outs[1], .threads = threads}};
    job par[2] = {{.seed = 1, .out = outs[2], .threads = threads},
                  {.seed = 2, .out = outs[3], .threads = threads}};
    work(&seq[0]);
    work(&seq[1]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, work, &par[i]) != 0) {
            fprintf(stderr, "FAIL: pthread_create\n");
            return 1;
        }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    int ok = same(&seq[0], &par[0], "net one") & same(&seq[1], &par[1], "net two");
    /* The two nets differ (else the comparison proves little), losses are finite. */
    if (ok && memcmp(seq[0].out, seq[1].out, BATCH * 5 * sizeof(float)) == 0) {
        fprintf(stderr, "FAIL: the two nets give the same outputs\n");
        ok = 0;
    }
    for (int s = 0; s < STEPS && ok; s++)
        if (!isfinite(par[0].losses[s]) || !isfinite(par[1].losses[s])) ok = 0;
    /* Each thread saw its own error message, naming its own file. */
    if (!strstr(par[0].error, "thread-1.weights") || !strstr(par[1].error, "thread-2.weights")) {
        fprintf(stderr, "FAIL: thread errors '%s' / '%s'\n", par[0].error, par[1].error);
        ok = 0;
    }
    for (int i = 0; i < 2; i++) {
        free(seq[i].params);
        free(par[i].params);
    }
    if (!ok) return 1;
    printf("threads: 2 nets x %d steps in 2 threads (%d OpenMP threads each) match the sequential "
           "run bit for bit\n",
           STEPS, threads);
    return 0;
}
