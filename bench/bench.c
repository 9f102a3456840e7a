/* bench.c — the libcnn side of `make bench` (bench/bench.py runs PyTorch's side
 * and alternates the two). Each invocation runs one case: a warm-up, then
 * `samples` timed repetitions, one "sample <value>" line each, so the driver
 * can take medians across processes. Units: GFLOP/s for sgemm and conv,
 * images/s for training (a sample stops after STEPS steps or 2 s, at least 5
 * steps), milliseconds for inference (a sample stops after REPS passes or
 * 2 s, at least one); "to99" prints the wall
 * seconds until the test accuracy first reaches the target.
 *
 *   bench sgemm N SAMPLES                    N^3 through cnn_gemm (what the layers use)
 *   bench gemm blas|own TA TB M N K SAMPLES  cnn_gemm through OpenBLAS or our AVX-512 kernel
 *   bench conv SAMPLES                       3x3 64->64 56x56 batch 16 forward
 *   bench convk ALGO C K H W N PAD SAMPLES   the 3x3 stride-1 conv kernel alone, ALGO gemm
 *                                            (im2col + GEMM), direct (direct loops) or
 *                                            wino (Winograd), GFLOP/s
 *                                            counted as the direct conv's, on
 *                                            omp_get_max_threads() threads
 *   bench train MODEL DATA BATCH STEPS SAMPLES [auto|on|off]
 *   bench infer MODEL BATCH REPS SAMPLES
 *   bench to99 MODEL DATA TARGET MAX_EPOCHS [MAX_SECONDS]
 */
#include "../src/graph/net_internal.h"
#include "../src/kernels/conv.h"
#include "../src/kernels/direct.h"
#include "../src/kernels/gemm.h"
#include "../src/kernels/winograd.h"
#include "cnn.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what) {
    fprintf(stderr, "bench: %s: %s\n", what, cnn_last_error());
    return 1;
}

static float *randn_like(size_t n, unsigned seed) {
    float *p = malloc(n * sizeof *p);
    if (!p) return NULL;
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = cnn_rng_uniform(&r) * 2.0f - 1.0f;
    return p;
}

static int bench_gemm(const char *impl, int ta, int tb, int M, int N, int K, int samples);

/* The square sgemm through cnn_gemm (our AVX-512 kernel where the CPU has it;
 * `bench gemm blas ...` times OpenBLAS on the same shape). */
static int bench_sgemm(int n, int samples) {
    return bench_gemm(cnn_gemm_selected() == CNN_GEMM_AVX512 ? "own" : "blas", 0, 0, n, n, n,
                      samples);
}

/* cnn_gemm with impl ("blas" or "own") on op(A) (M,K) op(B) (K,N): GFLOP/s,
 * each sample at least 0.3 s of calls. */
static int bench_gemm(const char *impl, int ta, int tb, int M, int N, int K, int samples) {
    float *a = randn_like((size_t)M * K, 1), *b = randn_like((size_t)K * N, 2),
          *c = calloc((size_t)M * N, sizeof(float));
    if (!a || !b || !c) return 1;
    cnn_gemm_select(!strcmp(impl, "blas") ? CNN_GEMM_BLAS : CNN_GEMM_AVX512);
    double flop = 2.0 * M * N * K;
    for (int s = -2; s < samples; s++) {
        double t = now_s();
        int r = 0;
        do {
            cnn_gemm(ta, tb, M, N, K, 1.0f, a, ta ? M : K, b, tb ? K : N, 0.0f, c, N);
            r++;
        } while (now_s() - t < 0.3);
        t = (now_s() - t) / r;
        if (s >= 0) printf("sample %.2f\n", flop / t * 1e-9);
    }
    cnn_gemm_select(CNN_GEMM_AUTO);
    free(a);
    free(b);
    free(c);
    return 0;
}

/* Time up to `reps` forward passes of a batch of n (at least one, then stop
 * once `budget` seconds have passed); returns seconds per pass. */
static double time_forward(cnn_net *net, const float *x, int n, int reps, double budget) {
    const float *y;
    double t = now_s();
    int r = 0;
    while (r < reps && (r == 0 || now_s() - t < budget)) {
        if (cnn_net_forward(net, x, n, 0, &y) != CNN_OK) return -1;
        r++;
    }
    return (now_s() - t) / r;
}

static int bench_conv(int samples) {
    const int n = 16;
    cnn_net *net;
    if (cnn_net_parse(&net, "input shape=64x56x56\nconv filters=64 kernel=3 padding=1\n", "<conv>",
                      1) != CNN_OK)
        return fail("conv net");
    float *x = randn_like((size_t)n * 64 * 56 * 56, 3);
    if (!x) return 1;
    double flop = 2.0 * cnn_net_macs(net) * n;
    time_forward(net, x, n, 3, 1e9);
    for (int s = 0; s < samples; s++) {
        double t = time_forward(net, x, n, 5, 1e9);
        if (t <= 0) return fail("conv forward");
        printf("sample %.2f\n", flop / t * 1e-9);
    }
    free(x);
    cnn_net_free(net);
    return 0;
}

static int bench_convk(const char *algo, int c, int k, int h, int w, int n, int pad, int samples) {
    cnn_conv_geom g = {.c = c,
                       .h = h,
                       .w = w,
                       .k = k,
                       .kh = 3,
                       .kw = 3,
                       .sh = 1,
                       .sw = 1,
                       .ph = pad,
                       .pw = pad,
                       .dh = 1,
                       .dw = 1,
                       .groups = 1};
    const int wino = !strcmp(algo, "wino"), direct = !strcmp(algo, "direct");
    const int nt = omp_get_max_threads();
    if (!cnn_conv_geom_init(&g) || (!wino && !direct && strcmp(algo, "gemm"))) return 2;
    cnn_conv_direct_enabled = 0; /* "gemm" is im2col + GEMM whatever the rule says */
    const size_t dws = cnn_conv_direct_work_size(&g);
    size_t ss = wino     ? cnn_wino_scratch_size(&g, n, nt)
                : direct ? dws * (size_t)nt
                         : cnn_conv_scratch_size(&g, n, nt);
    float *x = randn_like((size_t)n * c * h * w, 3), *wt = randn_like((size_t)k * c * 9, 4);
    float *b = randn_like((size_t)k, 5), *y = malloc((size_t)n * k * g.oh * g.ow * sizeof(float));
    float *s = malloc((ss ? ss : 1) * sizeof(float));
    if (!x || !wt || !b || !y || !s) return 1;
    double flop = 2.0 * k * c * 9 * g.oh * g.ow * n;
    for (int i = -1; i < samples; i++) {
        double t = now_s();
        int r = 0;
        while (r < 3 || now_s() - t < 0.3) {
            if (wino) {
                cnn_wino_forward_batch(&g, n, x, wt, b, y, s, nt);
            } else if (direct) {
                const size_t in = (size_t)c * h * w, out = (size_t)k * g.oh * g.ow;
#pragma omp parallel for schedule(static)
                for (int j = 0; j < n; j++)
                    cnn_conv_direct_forward(&g, x + in * j, wt, b, y + out * j,
                                            s + dws * (size_t)omp_get_thread_num());
            } else
                cnn_conv_forward_batch(&g, n, x, wt, b, y, s, nt);
            r++;
        }
        t = (now_s() - t) / r;
        if (i >= 0) printf("sample %.2f\n", flop / t * 1e-9);
    }
    free(x), free(wt), free(b), free(y), free(s);
    return 0;
}

/* Raw IDX read per batch from the file (the training-throughput and memory
 * cases), or loaded into memory (in_memory; time to 99%, as PyTorch's side). */
static int load_mnist_as(const char *dir, const char *set, cnn_dataset *ds, int in_memory) {
    char im[512], lb[512];
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte", dir, set);
    snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte", dir, set);
    return (in_memory ? cnn_dataset_load_idx(ds, im, lb) : cnn_dataset_open_idx(ds, im, lb)) ==
           CNN_OK;
}

static int load_mnist(const char *dir, const char *set, cnn_dataset *ds) {
    return load_mnist_as(dir, set, ds, 0);
}

/* Training throughput with the model's recipe but a fixed batch: each sample
 * times `steps` SGD steps on shuffled MNIST batches (batch conversion included).
 * The step is split across the threads as cnn_train_run splits it (the train
 * line's data_parallel, or `split` auto|on|off when given). */
static int bench_train(const char *model, const char *dir, int batch, int steps, int samples,
                       const char *split) {
    cnn_net *net;
    cnn_dataset train = {0};
    if (cnn_net_load_model(&net, model, 1) != CNN_OK) return fail(model);
    if (!load_mnist(dir, "train", &train)) return fail("mnist");
    cnn_train_config cfg = *cnn_net_train_config(net);
    cnn_optim *opt;
    if (cnn_optim_create(&opt, &cfg, cnn_net_num_params(net)) != CNN_OK) return fail("optim");
    if (split)
        cfg.data_parallel = !strcmp(split, "on")    ? CNN_DP_ON
                            : !strcmp(split, "off") ? CNN_DP_OFF
                                                    : CNN_DP_AUTO;
    int slices = 0;
    cnn_replicas *rep = NULL;
    if (cnn_replicas_choose(net, cfg.data_parallel, batch, omp_get_max_threads(), &slices) !=
            CNN_OK ||
        (slices && cnn_replicas_create(&rep, net, slices) != CNN_OK))
        return fail("data-parallel");
    fprintf(stderr, "train step: %s\n", rep ? "data-parallel" : "layer-parallel");
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    float *x = malloc((size_t)batch * c * h * w * sizeof(float));
    uint8_t *labels = malloc((size_t)batch);
    int *order = malloc((size_t)train.n * sizeof(int));
    if (!x || !labels || !order) return 1;
    for (int i = 0; i < train.n; i++)
        order[i] = i;
    cnn_rng rng;
    cnn_rng_seed(&rng, 7);
    cnn_rng_shuffle(&rng, order, train.n);
    int pos = 0;
    for (int s = -1; s < samples; s++) {
        int todo = s < 0 ? (steps + 1) / 2 : steps;
        double t = now_s();
        int k = 0;
        for (; k < todo && (k < 5 || now_s() - t < 2.0); k++) {
            if (pos + batch > train.n) pos = 0;
            float loss;
            cnn_dataset_batch(&train, net, order + pos, 0, batch, x, labels);
            pos += batch;
            if (rep) {
                int bad, finite;
                if (cnn_replicas_step(rep, x, labels, batch, 0.0f, &loss, NULL, &bad, &finite) !=
                    CNN_OK)
                    return fail("train step");
            } else if (cnn_net_train_step(net, x, labels, batch, 0.0f, &loss, NULL) != CNN_OK) {
                return fail("train step");
            }
            cnn_optim_step(opt, cnn_net_params(net), cnn_net_grads(net), cfg.lr);
        }
        t = now_s() - t;
        if (s >= 0) printf("sample %.1f\n", (double)k * batch / t);
    }
    cnn_replicas_free(rep);
    cnn_optim_free(opt);
    cnn_dataset_free(&train);
    cnn_net_free(net);
    free(x);
    free(labels);
    free(order);
    return 0;
}

static int bench_infer(const char *model, int n, int reps, int samples) {
    cnn_net *net;
    if (cnn_net_load_model(&net, model, 1) != CNN_OK) return fail(model);
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    float *x = randn_like((size_t)n * c * h * w, 5);
    if (!x) return 1;
    if (time_forward(net, x, n, 1, 0) < 0) return fail("forward");
    for (int s = 0; s < samples; s++) {
        double t = time_forward(net, x, n, reps, 2.0);
        if (t < 0) return fail("forward");
        printf("sample %.3f\n", t * 1e3);
    }
    free(x);
    cnn_net_free(net);
    return 0;
}

typedef struct {
    double start, reached, limit;
    float target, acc;
    int epoch;
} to99_state;

static void to99_epoch(int epoch, float tl, float ta, float vl, float va, void *user) {
    to99_state *st = user;
    fprintf(stderr, "epoch %d: test accuracy %.2f%% at %.1f s\n", epoch, 100.0 * va,
            now_s() - st->start);
    if (st->reached == 0 && va >= st->target) {
        st->reached = now_s() - st->start;
        st->acc = va;
        st->epoch = epoch;
    }
}

static int to99_progress(const cnn_progress *p, void *user) {
    const to99_state *st = user;
    return st->reached != 0 || (st->limit > 0 && now_s() - st->start > st->limit);
}

/* Train with the model file's recipe, evaluating after every epoch; stop at the target. */
static int bench_to99(const char *model, const char *dir, float target, int max_epochs,
                      double limit) {
    cnn_net *net;
    cnn_dataset train = {0}, test = {0};
    if (!load_mnist_as(dir, "train", &train, 1) || !load_mnist_as(dir, "t10k", &test, 1))
        return fail("mnist");
    to99_state st = {0};
    st.target = target;
    st.start = now_s();
    st.limit = limit;
    if (cnn_net_load_model(&net, model, 0) != CNN_OK) return fail(model);
    cnn_train_config cfg = *cnn_net_train_config(net);
    if (max_epochs > 0 && cfg.epochs > max_epochs) cfg.epochs = max_epochs;
    if (cnn_train(net, &cfg, &train, &test, to99_progress, to99_epoch, &st) != CNN_OK)
        return fail("train");
    if (st.reached > 0)
        printf("sample %.2f\nepoch %d\naccuracy %.4f\n", st.reached, st.epoch, st.acc);
    else
        printf("sample nan\n");
    cnn_dataset_free(&train);
    cnn_dataset_free(&test);
    cnn_net_free(net);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "sgemm")) return bench_sgemm(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 9 && !strcmp(argv[1], "gemm"))
        return bench_gemm(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                          atoi(argv[7]), atoi(argv[8]));
    if (argc >= 3 && !strcmp(argv[1], "conv")) return bench_conv(atoi(argv[2]));
    if (argc >= 10 && !strcmp(argv[1], "convk"))
        return bench_convk(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                           atoi(argv[7]), atoi(argv[8]), atoi(argv[9]));
    if (argc >= 7 && !strcmp(argv[1], "train"))
        return bench_train(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                           argc >= 8 ? argv[7] : NULL);
    if (argc >= 6 && !strcmp(argv[1], "infer"))
        return bench_infer(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "to99"))
        return bench_to99(argv[2], argv[3], (float)atof(argv[4]), atoi(argv[5]),
                          argc >= 7 ? atof(argv[6]) : 0);
    fprintf(stderr, "usage: bench sgemm N SAMPLES | gemm blas|own TA TB M N K SAMPLES | conv "
                    "SAMPLES | convk ALGO C K H W N PAD "
                    "SAMPLES | train MODEL DATA BATCH STEPS "
                    "SAMPLES | infer MODEL BATCH REPS SAMPLES | to99 MODEL DATA TARGET EPOCHS "
                    "[SECONDS]\n");
    return 2;
}
