/* dense.c — the fully connected layer, torch.nn.Linear on the flattened input.
 * The input (C,H,W) is read as F = C*H*W features in C,H,W order (what
 * torch.nn.Flatten gives), so no flatten layer is needed before it; output is
 * (units,1,1). Parameters: weight (units, F) then bias (units), the Linear
 * layout and state_dict names. y = x W^T + b; backward dW += dy^T x,
 * db += sum_n dy, dx = dy W. All through cnn_gemm. */
#include "../kernels/gemm.h"
#include "layer.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>

typedef struct {
    int units; /* output features */
    int bias;  /* 1: has a bias */
} dense_opt;

static cnn_status dense_configure(cnn_layer *l, cnn_opts *o) {
    dense_opt *opt = l->opt;
    cnn_status st;
    if ((st = cnn_opt_int(o, "units", 0, 1, INT_MAX, &opt->units)) != CNN_OK ||
        (st = cnn_opt_bool(o, "bias", 1, &opt->bias)) != CNN_OK ||
        (st = cnn_opts_check_unused(o)) != CNN_OK) /* a typo is unknown, not missing */
        return st;
    if (opt->units == 0)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: dense: missing option 'units'", o->file, o->line);
    return CNN_OK;
}

/* Input features F = C*H*W. */
static int dense_features(const cnn_layer *l) {
    return (int)cnn_shape_size(l->in[0]);
}

static cnn_status dense_shape(cnn_layer *l) {
    const dense_opt *opt = l->opt;
    size_t f = cnn_shape_size(l->in[0]), nw, np;
    if (f == 0) return cnn_fail(CNN_ERR_SHAPE, "dense: empty input");
    if (f > INT_MAX) return cnn_fail(CNN_ERR_SHAPE, "dense: input of %zu features is too large", f);
    if (!cnn_mul_size(f, (size_t)opt->units, &nw) ||
        !cnn_add_size(nw, opt->bias ? (size_t)opt->units : 0, &np))
        return cnn_fail(CNN_ERR_NOMEM, "dense: %zu x %d weights overflow", f, opt->units);
    l->out = (cnn_shape){opt->units, 1, 1};
    l->n_params = np;
    l->n_buffers = 0;
    return CNN_OK;
}

/* As torch.nn.Linear.reset_parameters: weight then bias ~ U(-1/sqrt(F), 1/sqrt(F)). */
static void dense_init(cnn_layer *l, cnn_rng *rng) {
    const dense_opt *opt = l->opt;
    size_t f = (size_t)dense_features(l), nw = f * (size_t)opt->units;
    float bound = 1.0f / sqrtf((float)f);
    cnn_init_uniform(l->params, nw, bound, rng);
    if (opt->bias) cnn_init_uniform(l->params + nw, (size_t)opt->units, bound, rng);
}

/* x is (n, F), W is (units, F), b is (units), y is (n, units). */
static void dense_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const dense_opt *opt = l->opt;
    int f = dense_features(l), u = opt->units;
    const float *w = l->params;
    float beta = 0.0f;
    if (opt->bias) {
        const float *b = w + (size_t)f * u;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < u; j++)
                l->y[(size_t)i * u + j] = b[j];
        beta = 1.0f;
    }
    if (n == 1) /* memory-bound: one pass over W, threaded by OpenBLAS */
        cnn_gemv(0, u, f, 1.0f, w, f, x[0], beta, l->y);
    else
        cnn_gemm(0, 1, n, u, f, 1.0f, x[0], f, w, f, beta, l->y, u);
}

/* dy is (n, units): dW (units, F) += dy^T x, db (units) += sum_n dy, dx (n, F) = dy W. */
static void dense_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                           float *scratch) {
    const dense_opt *opt = l->opt;
    int f = dense_features(l), u = opt->units;
    const float *w = l->params, *dy = l->dy;
    cnn_gemm(1, 0, u, f, n, 1.0f, dy, u, x[0], f, 1.0f, l->grads, f);
    if (opt->bias) {
        float *db = l->grads + (size_t)f * u;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < u; j++)
                db[j] += dy[(size_t)i * u + j];
    }
    if (dx[0]) cnn_gemm(0, 0, n, f, u, 1.0f, dy, u, w, f, 0.0f, dx[0], f);
}

static double dense_macs(const cnn_layer *l) {
    const dense_opt *opt = l->opt;
    return (double)dense_features(l) * opt->units;
}

static int dense_tensors(const cnn_layer *l, cnn_tensor_desc *t) {
    const dense_opt *opt = l->opt;
    int f = dense_features(l);
    t[0] = (cnn_tensor_desc){"weight", 2, {opt->units, f}, 0, 0};
    if (!opt->bias) return 1;
    t[1] = (cnn_tensor_desc){"bias", 1, {opt->units}, 0, (size_t)f * opt->units};
    return 2;
}

static void dense_describe(const cnn_layer *l, char *buf, size_t len) {
    const dense_opt *opt = l->opt;
    snprintf(buf, len, "%d units%s", opt->units, opt->bias ? "" : ", no bias");
}

const cnn_layer_ops cnn_dense_ops = {
    .type = "dense",
    .mem = CNN_MEM_NO_Y,
    .opt_size = sizeof(dense_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = dense_configure,
    .shape = dense_shape,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .macs = dense_macs,
    .tensors = dense_tensors,
    .describe = dense_describe,
};
