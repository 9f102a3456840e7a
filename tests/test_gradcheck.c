/* test_gradcheck.c — every layer's backward against central finite differences.
 *
 * For a one-layer net and a fixed random r, L(x, params) = sum(y * r), so
 * dL/dy = r: the analytic gradients come from cnn_net_backward(r) and each
 * checked coordinate v gets (L(v + eps) - L(v - eps)) / (2 eps), with the forward
 * in float32 and L accumulated in double. The cross-entropy cases use the mean
 * loss of cnn_net_train_step instead of sum(y * r).
 *
 * eps = 1e-2. The layers are linear in each coordinate (conv, pooling, dense,
 * flatten, dropout) or smooth with small third derivatives (sigmoid, tanh,
 * softmax, log-softmax), so the truncation error is below 1e-4; the float32
 * rounding of the few outputs a coordinate touches contributes ~1e-6 / eps.
 * A coordinate passes when
 *     |num - ana| <= 1e-2 * max(|num|, |ana|) + 1e-4
 * (relative 1e-2, with an absolute floor for gradients near zero, e.g. in the
 * saturated tails of sigmoid). Printed errors are the worst ratio of
 * |num - ana| to that bound: <= 1 passes.
 *
 * Kinks: inputs of relu/leaky_relu/elu are at least 0.05 = 5 eps away from 0,
 * and inputs of max pooling are a shuffled grid with spacing 0.05, so no
 * perturbation crosses a kink or changes a window's arg-max (both are asserted
 * when the input is made). Dropout reseeds the net's RNG before every forward so
 * every evaluation sees the same mask. Every checked tensor must have an
 * analytic gradient that is not all zero.
 *
 * Coverage: the full product of the conv options (kernel 1/3/5/3x5, stride 1/2,
 * padding 0/1/2x1, dilation 1/2, groups 1/2/depthwise, bias on/off), of the max
 * pool options (kernel, stride, padding, dilation, ceil_mode) and of the average
 * pool options (kernel, stride, padding, ceil_mode, count_include_pad), plus
 * every other layer type with its options, add and concat in small graphs
 * (identity and projection shortcuts, an Inception-style module), batch norm
 * in training mode, LRN, adaptive average pooling and padding. Tensors with more than 40 entries
 * are checked at 40 random coordinates plus the first and the last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include "graph/net.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-2
#define RTOL 1e-2
#define ATOL 1e-4
#define KINK_MARGIN 0.05
#define MAX_COORDS 40
#define DROPOUT_SEED 12345u

typedef enum {
    INPUT_RANDOM,      /* uniform in (-2, 2) */
    INPUT_AWAY_FROM_0, /* |x| >= KINK_MARGIN */
    INPUT_GRID,        /* distinct, pairwise >= KINK_MARGIN apart */
} input_kind;

typedef struct {
    char name[96];
    char model[320];
    int n;
    input_kind input;
    int ce;          /* loss = cnn_net_train_step's cross-entropy */
    float smoothing; /* for ce */
} gc_case;

typedef struct {
    cnn_net *net;
    const gc_case *c;
    float *x, *r;
    uint8_t *labels;
    size_t nx, ny;
    cnn_status status;
} ctx;

static float urand(cnn_rng *g, float lo, float hi) {
    return lo + (hi - lo) * cnn_rng_uniform(g);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void make_input(const gc_case *c, cnn_rng *g, float *x, size_t n) {
    switch (c->input) {
    case INPUT_RANDOM:
        for (size_t i = 0; i < n; i++)
            x[i] = urand(g, -2, 2);
        break;
    case INPUT_AWAY_FROM_0:
        for (size_t i = 0; i < n; i++) {
            float v = urand(g, (float)KINK_MARGIN, 2.5f);
            x[i] = cnn_rng_uniform(g) < 0.5f ? -v : v;
            assert_true(fabsf(x[i]) >= (float)KINK_MARGIN);
        }
        break;
    case INPUT_GRID: {
        int *perm = malloc(n * sizeof *perm);
        assert_non_null(perm);
        for (size_t i = 0; i < n; i++)
            perm[i] = (int)i;
        cnn_rng_shuffle(g, perm, (int)n);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((perm[i] - (double)n / 2) * KINK_MARGIN);
        free(perm);
        float *sorted = malloc(n * sizeof *sorted);
        assert_non_null(sorted);
        memcpy(sorted, x, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_float);
        for (size_t i = 1; i < n; i++) /* no two values closer than the margin */
            assert_true((double)sorted[i] - sorted[i - 1] >= KINK_MARGIN * 0.999);
        free(sorted);
        break;
    }
    }
}

/* The scalar whose gradient is checked. */
static double loss(ctx *t) {
    if (t->c->ce) {
        float l = NAN;
        t->status = cnn_net_train_step(t->net, t->x, t->labels, t->c->n, t->c->smoothing, &l, NULL);
        return t->status == CNN_OK ? (double)l : NAN;
    }
    const float *y;
    cnn_rng_seed(cnn_net_rng(t->net), DROPOUT_SEED);
    t->status = cnn_net_forward(t->net, t->x, t->c->n, 1, &y);
    if (t->status != CNN_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < t->ny; i++)
        s += (double)y[i] * t->r[i];
    return s;
}

typedef struct {
    double worst;   /* worst |num - ana| / bound */
    double max_ana; /* max |ana| of the tensor */
    int checked, failed;
} tensor_result;

/* Check vals[0..count) (a view into x or the params) against ana. */
static tensor_result check_tensor(ctx *t, cnn_rng *g, float *vals, const float *ana, size_t count,
                                  const char *what) {
    tensor_result res = {0, 0, 0, 0};
    for (size_t i = 0; i < count; i++)
        if (fabsf(ana[i]) > res.max_ana) res.max_ana = fabsf(ana[i]);
    if (!(res.max_ana > 1e-6)) {
        printf("    %s %s: analytic gradient is all zero\n", t->c->name, what);
        res.failed = 1;
        return res;
    }
    size_t n_coords = count <= MAX_COORDS + 2 ? count : MAX_COORDS + 2;
    for (size_t k = 0; k < n_coords; k++) {
        size_t i = count <= MAX_COORDS + 2 ? k
                   : k == 0                ? 0
                   : k == 1                ? count - 1
                                           : (size_t)(cnn_rng_u64(g) % count);
        float v = vals[i];
        float hi = (float)(v + EPS), lo = (float)(v - EPS);
        vals[i] = hi;
        double lp = loss(t);
        vals[i] = lo;
        double lm = loss(t);
        vals[i] = v;
        if (t->status != CNN_OK) {
            printf("    %s: %s\n", t->c->name, cnn_last_error());
            res.failed = 1;
            return res;
        }
        double num = (lp - lm) / ((double)hi - (double)lo);
        double a = ana[i];
        double bound = RTOL * fmax(fabs(num), fabs(a)) + ATOL;
        double ratio = fabs(num - a) / bound;
        if (!(ratio <= res.worst)) res.worst = ratio;
        res.checked++;
        if (!(ratio <= 1)) {
            if (res.failed < 3)
                printf("    %s %s[%zu]: analytic %.6g, numeric %.6g\n", t->c->name, what, i, a,
                       num);
            res.failed++;
        }
    }
    return res;
}

/* Run one case; returns the number of failed coordinates (or 1 for an error). */
static int gradcheck(const gc_case *c, double *worst_out) {
    ctx t;
    memset(&t, 0, sizeof t);
    t.c = c;
    cnn_status s = cnn_net_parse(&t.net, c->model, c->name, 7);
    if (s != CNN_OK) {
        printf("%-44s parse failed: %s\n", c->name, cnn_last_error());
        return 1;
    }
    int ic, ih, iw, oc, oh, ow;
    cnn_net_input_shape(t.net, &ic, &ih, &iw);
    cnn_net_output_shape(t.net, &oc, &oh, &ow);
    t.nx = (size_t)c->n * (size_t)(ic * ih * iw);
    t.ny = (size_t)c->n * (size_t)(oc * oh * ow);
    size_t np = cnn_net_num_params(t.net);
    t.x = malloc(t.nx * sizeof *t.x);
    t.r = malloc(t.ny * sizeof *t.r);
    t.labels = malloc((size_t)c->n);
    float *ana_x = malloc(t.nx * sizeof *ana_x);
    float *ana_p = malloc((np ? np : 1) * sizeof *ana_p);
    assert_true(t.x && t.r && t.labels && ana_x && ana_p);

    cnn_rng g;
    cnn_rng_seed(&g, hash_name(c->name));
    make_input(c, &g, t.x, t.nx);
    for (size_t i = 0; i < t.ny; i++)
        t.r[i] = urand(&g, -1, 1);
    /* the CE nets end in softmax; the logits are the input of the softmax */
    for (int i = 0; i < c->n; i++)
        t.labels[i] = (uint8_t)(cnn_rng_u64(&g) % (uint64_t)oc);

    int failed = 0;
    char line[512];
    int k = snprintf(line, sizeof line, "%-44s", c->name);

    /* analytic gradients */
    double l0 = loss(&t);
    if (t.status == CNN_OK && !c->ce) t.status = cnn_net_backward(t.net, t.r, c->n);
    if (t.status != CNN_OK || !isfinite(l0)) {
        printf("%s forward/backward failed: %s\n", line, cnn_last_error());
        failed = 1;
        goto done;
    }
    memcpy(ana_x, cnn_net_input_grad(t.net), t.nx * sizeof *ana_x);
    if (np) memcpy(ana_p, cnn_net_grads(t.net), np * sizeof *ana_p);

    double worst = 0;
    tensor_result tr = check_tensor(&t, &g, t.x, ana_x, t.nx, "dx");
    failed += tr.failed;
    worst = fmax(worst, tr.worst);
    k += snprintf(line + k, sizeof line - (size_t)k, " dx %.3f", tr.worst);

    float *p0 = cnn_net_params(t.net);
    size_t covered = 0;
    for (int li = 0; li < cnn_net_num_layers(t.net); li++) {
        cnn_layer *l = cnn_net_layer(t.net, li);
        if (!l->n_params || !l->ops->tensors) continue;
        cnn_tensor_desc d[CNN_MAX_TENSORS];
        int nt = l->ops->tensors(l, d);
        for (int j = 0; j < nt; j++) {
            if (d[j].buffer) continue;
            size_t count = 1;
            for (int m = 0; m < d[j].ndim; m++)
                count *= (size_t)d[j].dims[m];
            size_t off = (size_t)(l->params - p0) + d[j].offset;
            assert_true(off + count <= np);
            char what[32];
            snprintf(what, sizeof what, "d%s", d[j].suffix);
            tr = check_tensor(&t, &g, p0 + off, ana_p + off, count, what);
            failed += tr.failed;
            worst = fmax(worst, tr.worst);
            if (k > 0 && (size_t)k < sizeof line)
                k += snprintf(line + k, sizeof line - (size_t)k, " %s %.3f", what, tr.worst);
            covered += count;
        }
    }
    if (covered != np) {
        printf("    %s: tensor descriptors cover %zu of %zu params\n", c->name, covered, np);
        failed++;
    }
    printf("%s%s\n", line, failed ? "  FAIL" : "");
    *worst_out = worst;
done:
    fflush(stdout);
    cnn_net_free(t.net);
    free(t.x);
    free(t.r);
    free(t.labels);
    free(ana_x);
    free(ana_p);
    return failed;
}

/* ---- the case lists ------------------------------------------------------ */

#define MAX_CASES 400

typedef struct {
    gc_case c[MAX_CASES];
    int n;
} case_list;

static gc_case *add(case_list *L, input_kind input, int n, const char *name, const char *fmt, ...) {
    assert_true(L->n < MAX_CASES);
    gc_case *c = &L->c[L->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(c->model, sizeof c->model, fmt, ap);
    va_end(ap);
    assert_true(k > 0 && (size_t)k < sizeof c->model);
    c->n = n;
    c->input = input;
    return c;
}

static void run_list(const case_list *L, const char *family) {
    int failed_cases = 0;
    double worst = 0;
    for (int i = 0; i < L->n; i++) {
        double w = 0;
        if (gradcheck(&L->c[i], &w)) failed_cases++;
        worst = fmax(worst, w);
    }
    printf("%s: %d cases, %d failed, worst |num-ana|/bound %.3f\n\n", family, L->n, failed_cases,
           worst);
    if (failed_cases)
        fail_msg("%s: %d of %d cases disagree with finite differences", family, failed_cases, L->n);
}

static int next_prime(int k) {
    for (;; k++) {
        int p = k >= 2;
        for (int d = 2; d * d <= k && p; d++)
            p = k % d != 0;
        if (p) return k;
    }
}

static void pair(const char *s, int *a, int *b) {
    *a = atoi(s);
    const char *x = strchr(s, 'x');
    *b = x ? atoi(x + 1) : *a;
}

static void test_conv(void **state) {
    static case_list L;
    L.n = 0;
    static const char *kernels[] = {"1", "3", "5", "3x5"}, *strides[] = {"1", "2"},
                      *pads[] = {"0", "1", "2x1"}, *dils[] = {"1", "2"},
                      *groups[] = {"1", "2", "dw"};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int p = 0; p < 3; p++)
                for (int d = 0; d < 2; d++)
                    for (int gi = 0; gi < 3; gi++)
                        for (int bias = 1; bias >= 0; bias--) {
                            int kh, kw, dh, dw;
                            pair(kernels[a], &kh, &kw);
                            pair(dils[d], &dh, &dw);
                            int c = gi == 1 ? 4 : 3, k = gi == 0 ? 4 : gi == 1 ? 6 : 3;
                            int g = gi == 0 ? 1 : gi == 1 ? 2 : c;
                            int h = next_prime(dh * (kh - 1) + 3 > 5 ? dh * (kh - 1) + 3 : 5);
                            int wd = dw * (kw - 1) + 3 > h + 1 ? dw * (kw - 1) + 3 : h + 1;
                            int w = next_prime(wd);
                            char name[96];
                            snprintf(name, sizeof name, "conv_k%s_s%s_p%s_d%s_g%s_b%d", kernels[a],
                                     strides[b], pads[p], dils[d], groups[gi], bias);
                            add(&L, INPUT_RANDOM, 2, name,
                                "input shape=%dx%dx%d\nconv filters=%d kernel=%s stride=%s "
                                "padding=%s dilation=%s groups=%d bias=%d\n",
                                c, h, w, k, kernels[a], strides[b], pads[p], dils[d], g, bias);
                        }
    add(&L, INPUT_RANDOM, 2, "conv_dw_mult2",
        "input shape=3x7x9\nconv filters=6 kernel=3 stride=2 padding=1 groups=3\n");
    add(&L, INPUT_RANDOM, 2, "conv_asym",
        "input shape=2x11x13\nconv filters=3 kernel=3x5 stride=1x2 padding=1x2 dilation=2x1\n");
    add(&L, INPUT_RANDOM, 2, "conv_big_c8_k16",
        "input shape=8x9x11\nconv filters=16 kernel=3 padding=1\n");
    add(&L, INPUT_RANDOM, 3, "conv_defaults", "input shape=2x5x7\nconv filters=3 kernel=3\n");
    run_list(&L, "conv");
}

static void test_maxpool(void **state) {
    static case_list L;
    L.n = 0;
    static const char *kernels[] = {"2", "3", "3x2"}, *strides[] = {NULL, "1", "2"},
                      *pads[] = {"0", "1"}, *dils[] = {"1", "2"};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int p = 0; p < 2; p++)
                for (int d = 0; d < 2; d++)
                    for (int ceil = 0; ceil < 2; ceil++) {
                        char name[96], stride[32] = "";
                        if (strides[b]) snprintf(stride, sizeof stride, " stride=%s", strides[b]);
                        snprintf(name, sizeof name, "maxpool_k%s_s%s_p%s_d%s_ceil%d", kernels[a],
                                 strides[b] ? strides[b] : "default", pads[p], dils[d], ceil);
                        add(&L, INPUT_GRID, 2, name,
                            "input shape=2x7x11\nmaxpool kernel=%s%s padding=%s dilation=%s "
                            "ceil_mode=%d\n",
                            kernels[a], stride, pads[p], dils[d], ceil);
                    }
    run_list(&L, "maxpool");
}

static void test_avgpool(void **state) {
    static case_list L;
    L.n = 0;
    static const char *kernels[] = {"2", "3", "3x2"}, *strides[] = {NULL, "1", "2"},
                      *pads[] = {"0", "1"};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int p = 0; p < 2; p++)
                for (int ceil = 0; ceil < 2; ceil++)
                    for (int cip = 0; cip < 2; cip++) {
                        char name[96], stride[32] = "";
                        if (strides[b]) snprintf(stride, sizeof stride, " stride=%s", strides[b]);
                        snprintf(name, sizeof name, "avgpool_k%s_s%s_p%s_ceil%d_cip%d", kernels[a],
                                 strides[b] ? strides[b] : "default", pads[p], ceil, cip);
                        add(&L, INPUT_RANDOM, 2, name,
                            "input shape=2x7x11\navgpool kernel=%s%s padding=%s ceil_mode=%d "
                            "count_include_pad=%d\n",
                            kernels[a], stride, pads[p], ceil, cip);
                    }
    run_list(&L, "avgpool");
}

static void test_gap(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 3, "gap_3x5x7", "input shape=3x5x7\ngap\n");
    add(&L, INPUT_RANDOM, 2, "gap_1x1", "input shape=4x1x1\ngap\n");
    add(&L, INPUT_RANDOM, 2, "global_avgpool_2x13x11", "input shape=2x13x11\nglobal_avgpool\n");
    run_list(&L, "gap");
}

static void test_activations(void **state) {
    static case_list L;
    L.n = 0;
    static const char *lines[] = {"relu",    "leaky_relu",  "leaky_relu slope=0.2",
                                  "elu",     "elu alpha=1", "elu alpha=0.5",
                                  "sigmoid", "tanh"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s", lines[i]);
        for (char *p = name; *p; p++)
            if (*p == ' ' || *p == '=') *p = '_';
        add(&L, INPUT_AWAY_FROM_0, 2, name, "input shape=3x5x7\n%s\n", lines[i]);
    }
    run_list(&L, "activations");
}

static void test_dense(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 2, "dense_3d_bias", "input shape=3x5x7\ndense units=7 bias=1\n");
    add(&L, INPUT_RANDOM, 3, "dense_3d_nobias", "input shape=3x5x7\ndense units=5 bias=0\n");
    add(&L, INPUT_RANDOM, 3, "dense_vec_default", "input shape=11x1x1\ndense units=13\n");
    add(&L, INPUT_RANDOM, 2, "flatten", "input shape=3x5x7\nflatten\n");
    run_list(&L, "dense+flatten");
}

static void test_dropout(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 2, "dropout_default", "input shape=3x5x7\ndropout\n");
    add(&L, INPUT_RANDOM, 3, "dropout_p0.2", "input shape=3x5x7\ndropout p=0.2\n");
    run_list(&L, "dropout (training mode, mask reseeded)");
}

static void test_softmax(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 2, "softmax_spatial", "input shape=5x3x7\nsoftmax\n");
    add(&L, INPUT_RANDOM, 3, "softmax_vec", "input shape=7x1x1\nsoftmax\n");
    run_list(&L, "softmax");
}

static void test_cross_entropy(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 3, "ce_logits", "input shape=7x1x1\nflatten\nsoftmax\n")->ce = 1;
    gc_case *c =
        add(&L, INPUT_RANDOM, 3, "ce_logits_smooth0.1", "input shape=7x1x1\nflatten\nsoftmax\n");
    c->ce = 1;
    c->smoothing = 0.1f;
    add(&L, INPUT_RANDOM, 3, "ce_dense", "input shape=3x2x5\ndense units=7\nsoftmax\n")->ce = 1;
    c = add(&L, INPUT_RANDOM, 3, "ce_dense_smooth0.2",
            "input shape=3x2x5\ndense units=7\nsoftmax\n");
    c->ce = 1;
    c->smoothing = 0.2f;
    run_list(&L, "softmax cross-entropy (train_step)");
}

static void test_graph(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 2, "add_identity_shortcut",
        "input shape=3x5x7\nconv name=a filters=3 kernel=3 padding=1\nadd in=input,a\n");
    add(&L, INPUT_RANDOM, 2, "add_projection_shortcut",
        "input shape=3x6x7\nconv name=a filters=4 kernel=3 stride=2 padding=1\n"
        "conv name=p in=input filters=4 kernel=1 stride=2 bias=0\nadd in=a,p\n");
    add(&L, INPUT_RANDOM, 3, "add_three_inputs",
        "input shape=3x5x5\nconv name=a filters=3 kernel=3 padding=1\n"
        "conv name=b in=input filters=3 kernel=1\nadd in=a,input,b\n");
    add(&L, INPUT_RANDOM, 2, "add_same_input_twice", "input shape=2x3x5\nadd in=input,input\n");
    add(&L, INPUT_RANDOM, 2, "concat_two_branches",
        "input shape=3x5x7\nconv name=a filters=2 kernel=1\n"
        "conv name=b in=input filters=4 kernel=3 padding=1\nconcat in=a,b\n");
    add(&L, INPUT_GRID, 2, "concat_inception_module",
        "input shape=4x6x5\nconv name=b1 filters=2 kernel=1\n"
        "conv name=b2r in=input filters=3 kernel=1\nconv name=b2 filters=2 kernel=3 padding=1\n"
        "maxpool name=b3p in=input kernel=3 stride=1 padding=1\nconv name=b3 filters=3 kernel=1\n"
        "concat in=b1,b2,input,b3,input\n");
    add(&L, INPUT_RANDOM, 4, "resnet_block_bn_train",
        "input shape=3x6x6\nconv name=c1 filters=4 kernel=3 stride=2 padding=1 bias=0\n"
        "batchnorm name=bn1\nconv name=c2 filters=4 kernel=3 padding=1 bias=0\n"
        "batchnorm name=bn2\nconv name=d0 in=input filters=4 kernel=1 stride=2 bias=0\n"
        "batchnorm name=d1\nadd in=bn2,d1\n");
    run_list(&L, "add+concat graphs");
}

static void test_batchnorm(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 4, "batchnorm_default", "input shape=3x5x7\nbatchnorm\n");
    add(&L, INPUT_RANDOM, 2, "batchnorm_m0.3_eps1e-3",
        "input shape=4x3x5\nbatchnorm momentum=0.3 eps=0.001\n");
    add(&L, INPUT_RANDOM, 3, "batchnorm_noaffine", "input shape=3x4x5\nbatchnorm affine=0\n");
    add(&L, INPUT_RANDOM, 1, "batchnorm_n1", "input shape=2x5x6\nbatchnorm\n");
    add(&L, INPUT_RANDOM, 6, "batchnorm_1d_after_dense",
        "input shape=5x1x1\ndense units=4 bias=0\nbatchnorm\n");
    run_list(&L, "batchnorm (training mode: batch statistics)");
}

static void test_lrn_adaptive_pad(void **state) {
    static case_list L;
    L.n = 0;
    add(&L, INPUT_RANDOM, 2, "lrn_size5_strong", "input shape=7x3x4\nlrn size=5 alpha=0.5\n");
    add(&L, INPUT_RANDOM, 2, "lrn_size4_even",
        "input shape=6x2x3\nlrn size=4 alpha=0.4 beta=0.75 k=1\n");
    add(&L, INPUT_RANDOM, 2, "lrn_size3_k1.5",
        "input shape=5x3x4\nlrn size=3 alpha=0.3 beta=0.5 "
        "k=1.5\n");
    add(&L, INPUT_RANDOM, 2, "lrn_size7_wide",
        "input shape=3x4x3\nlrn size=7 alpha=0.6 beta=1.25 "
        "k=0.5\n");
    add(&L, INPUT_RANDOM, 2, "lrn_size1", "input shape=3x3x3\nlrn size=1 alpha=0.2\n");
    add(&L, INPUT_RANDOM, 2, "adaptive_avgpool_13_to_6",
        "input shape=2x13x13\nadaptive_avgpool size=6\n");
    add(&L, INPUT_RANDOM, 2, "adaptive_avgpool_7x11_to_3x4",
        "input shape=3x7x11\nadaptive_avgpool size=3x4\n");
    add(&L, INPUT_RANDOM, 2, "adaptive_avgpool_up_5_to_7",
        "input shape=2x5x5\nadaptive_avgpool size=7\n");
    add(&L, INPUT_RANDOM, 2, "pad_lrtb_value",
        "input shape=2x4x3\npad padding=1,2,0,3 value=0.5\n");
    add(&L, INPUT_RANDOM, 2, "pad_negative_crop", "input shape=2x5x6\npad padding=-1,2,1,-2\n");
    add(&L, INPUT_RANDOM, 2, "pad_channels", "input shape=3x3x3\npad padding=0,0,0,0,2,1\n");
    run_list(&L, "lrn, adaptive_avgpool, pad");
}

/* Batch norm's running statistics, by their definition (torch.nn.BatchNorm2d):
 * a training forward moves them by momentum towards the batch mean and the
 * unbiased batch variance; an eval forward uses them and leaves them alone. */
static void test_batchnorm_running_stats(void **state) {
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, "input shape=2x3x4\nbatchnorm momentum=0.25\n", "bn", 3),
                     CNN_OK);
    const int n = 3, hw = 12, c = 2;
    float x[3 * 2 * 12];
    cnn_rng g;
    cnn_rng_seed(&g, 4);
    for (int i = 0; i < n * c * hw; i++)
        x[i] = urand(&g, -1, 3);
    float *b = cnn_net_buffers(net);
    assert_int_equal(cnn_net_num_buffers(net), 4);
    assert_true(b[0] == 0 && b[1] == 0 && b[2] == 1 && b[3] == 1); /* torch's initial values */
    const float *y;
    assert_int_equal(cnn_net_forward(net, x, n, 1, &y), CNN_OK);
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0, m = n * hw;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++)
                s += x[(i * c + ch) * hw + j];
        double mean = s / m;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                double d = x[(i * c + ch) * hw + j] - mean;
                ss += d * d;
            }
        assert_true(fabs(b[ch] - 0.25 * mean) < 1e-6);
        assert_true(fabs(b[c + ch] - (0.75 + 0.25 * ss / (m - 1))) < 1e-6);
        /* the training output is normalised with the biased variance */
        double ys = 0, yss = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                double v = y[(i * c + ch) * hw + j];
                ys += v;
                yss += v * v;
            }
        assert_true(fabs(ys / m) < 1e-5);
        assert_true(fabs(yss / m - (ss / m) / (ss / m + 1e-5)) < 1e-4);
    }
    float saved[4];
    memcpy(saved, b, sizeof saved);
    assert_int_equal(cnn_net_forward(net, x, n, 0, &y), CNN_OK);
    assert_memory_equal(saved, b, sizeof saved);
    for (int ch = 0; ch < c; ch++) /* eval: (x - running_mean) / sqrt(running_var + eps) */
        assert_true(fabs(y[ch * hw] - (x[ch * hw] - b[ch]) / sqrt(b[c + ch] + 1e-5)) < 1e-5);
    cnn_net_free(net);
}

/* Dropout in training mode, checked by its definition (torch.nn.Dropout):
 * each y is 0 or x / (1 - p), about a fraction p are 0, dx = dy * y / x, a
 * reseeded RNG repeats the mask, a fresh draw changes it, eval is identity. */
static void test_dropout_mask(void **state) {
    const float p = 0.3f;
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, "input shape=3x13x11\ndropout p=0.3\n", "dropout", 3),
                     CNN_OK);
    const int n = 4;
    const size_t count = (size_t)n * 3 * 13 * 11;
    float *x = malloc(count * sizeof *x), *dy = malloc(count * sizeof *dy);
    float *y1 = malloc(count * sizeof *y1), *y2 = malloc(count * sizeof *y2);
    assert_true(x && dy && y1 && y2);
    cnn_rng g;
    cnn_rng_seed(&g, 99);
    for (size_t i = 0; i < count; i++) {
        float v = urand(&g, 0.1f, 2.0f);
        x[i] = cnn_rng_uniform(&g) < 0.5f ? -v : v;
        dy[i] = urand(&g, -1, 1);
    }
    const float *y;
    cnn_rng_seed(cnn_net_rng(net), 5);
    assert_int_equal(cnn_net_forward(net, x, n, 1, &y), CNN_OK);
    memcpy(y1, y, count * sizeof *y1);
    size_t zeros = 0, bad = 0;
    for (size_t i = 0; i < count; i++) {
        if (y1[i] == 0)
            zeros++;
        else if (fabsf(y1[i] - x[i] / (1 - p)) > 1e-6f * fabsf(x[i] / (1 - p)))
            bad++;
    }
    assert_int_equal(cnn_net_backward(net, dy, n), CNN_OK);
    const float *dx = cnn_net_input_grad(net);
    for (size_t i = 0; i < count; i++) {
        float want = y1[i] == 0 ? 0 : dy[i] / (1 - p);
        if (fabsf(dx[i] - want) > 1e-6f * (1 + fabsf(want))) bad++;
    }
    double frac = (double)zeros / (double)count;
    printf("dropout p=0.3 training: %zu of %zu zero (%.3f), %zu bad values\n", zeros, count, frac,
           bad);
    assert_int_equal(bad, 0);
    assert_true(fabs(frac - p) < 0.05); /* ~4.7 standard deviations for 1716 draws */

    cnn_rng_seed(cnn_net_rng(net), 5);
    assert_int_equal(cnn_net_forward(net, x, n, 1, &y), CNN_OK);
    assert_memory_equal(y, y1, count * sizeof *y1);
    assert_int_equal(cnn_net_forward(net, x, n, 1, &y), CNN_OK);
    memcpy(y2, y, count * sizeof *y2);
    size_t differ = 0;
    for (size_t i = 0; i < count; i++)
        differ += (y1[i] == 0) != (y2[i] == 0);
    assert_true(differ > count / 10);
    assert_int_equal(cnn_net_forward(net, x, n, 0, &y), CNN_OK);
    assert_memory_equal(y, x, count * sizeof *x);
    free(x);
    free(dy);
    free(y1);
    free(y2);
    cnn_net_free(net);
}

int main(void) {
    cnn_set_threads(1); /* deterministic and fast for tiny nets */
    printf("finite differences: eps %g, pass if |num-ana| <= %g*max(|num|,|ana|) + %g\n", EPS, RTOL,
           ATOL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_avgpool),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_dropout_mask),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_lrn_adaptive_pad),
        cmocka_unit_test(test_batchnorm_running_stats),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("gradcheck: %s\n", failed ? "FAILED" : "all layers agree with finite differences");
    return failed ? 1 : 0;
}
