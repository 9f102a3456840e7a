/* batchnorm.c — batch normalisation, torch.nn.BatchNorm2d (and BatchNorm1d on
 * (C,1,1) inputs, e.g. after a dense layer).
 *
 * Training: each channel is normalised with the mean and the biased variance
 * of its N*H*W values in the batch, and the running statistics move towards
 * them: running_mean = (1-momentum)*running_mean + momentum*mean,
 * running_var = (1-momentum)*running_var + momentum*var*M/(M-1) (unbiased;
 * with M = 1 the biased 0 is used where torch refuses to train). Evaluation
 * uses the running statistics and changes nothing.
 *
 * Parameters (affine=1): weight (C) = 1, bias (C) = 0. Buffers, saved with the
 * weights but not trained: running_mean (C) = 0, running_var (C) = 1.
 * torch's num_batches_tracked is not kept (it only matters for momentum=None).
 * l->state keeps, per channel, the mean (as a float and its rounding error)
 * and 1/sqrt(var + eps) the forward pass used, and whether they were batch
 * statistics. The math is in
 * src/kernels/norm.c; channels are split over OpenMP threads, each channel's
 * sums in one fixed order, so results do not depend on the thread count. */
#include "../kernels/norm.h"
#include "layer.h"
#include <math.h>
#include <stdio.h>

typedef struct {
    float eps;      /* added to the variance */
    float momentum; /* running-statistics update factor */
    int affine;     /* 1: learnable weight and bias */
} bn_opt;

static cnn_status bn_configure(cnn_layer *l, cnn_opts *o) {
    bn_opt *p = l->opt;
    cnn_status s;
    if ((s = cnn_opt_float(o, "eps", 1e-5f, 0.0f, 1.0f, &p->eps)) != CNN_OK) return s;
    if ((s = cnn_opt_float(o, "momentum", 0.1f, 0.0f, 1.0f, &p->momentum)) != CNN_OK) return s;
    if ((s = cnn_opt_bool(o, "affine", 1, &p->affine)) != CNN_OK) return s;
    if (!(p->eps > 0))
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: batchnorm: option eps=%g: expected eps > 0", o->file,
                        o->line, p->eps);
    return CNN_OK;
}

static cnn_status bn_shape(cnn_layer *l) {
    const bn_opt *p = l->opt;
    l->out = l->in[0];
    l->n_params = p->affine ? 2 * (size_t)l->in[0].c : 0;
    l->n_buffers = 2 * (size_t)l->in[0].c;
    return CNN_OK;
}

static void bn_init(cnn_layer *l, cnn_rng *rng) {
    const bn_opt *p = l->opt;
    int c = l->out.c;
    for (int i = 0; i < c; i++) {
        if (p->affine) {
            l->params[i] = 1.0f;
            l->params[c + i] = 0.0f;
        }
        l->buffers[i] = 0.0f;
        l->buffers[c + i] = 1.0f;
    }
}

/* mean (C), its rounding error (C), invstd (C), and one flag: 1 if they are
 * batch statistics. */
static size_t bn_state_size(const cnn_layer *l, int n) {
    return 3 * (size_t)l->out.c + 1;
}

/* The mean kept in l->state as a float and its rounding error. */
static double state_mean(const cnn_layer *l, int ch) {
    return (double)l->state[ch] + (double)l->state[l->out.c + ch];
}

/* x and y are (n,C,H,W). */
static void bn_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const bn_opt *p = l->opt;
    const int c = l->out.c, hw = l->out.h * l->out.w;
    float *mean = l->state, *mean_lo = l->state + c, *invstd = l->state + 2 * c;
    float *rmean = l->buffers, *rvar = l->buffers + c;
    const double m = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        if (train) {
            double mu, var;
            cnn_bn_stats(n, c, hw, ch, x[0], &mu, &var);
            mean[ch] = (float)mu;
            mean_lo[ch] = (float)(mu - mean[ch]);
            invstd[ch] = (float)(1.0 / sqrt(var + p->eps));
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            rmean[ch] = (float)((1.0 - p->momentum) * rmean[ch] + p->momentum * mu);
            rvar[ch] = (float)((1.0 - p->momentum) * rvar[ch] + p->momentum * unbiased);
        } else {
            mean[ch] = rmean[ch];
            mean_lo[ch] = 0.0f;
            invstd[ch] = (float)(1.0 / sqrt((double)rvar[ch] + p->eps));
        }
        float gamma = p->affine ? l->params[ch] : 1.0f, beta = p->affine ? l->params[c + ch] : 0.0f;
        cnn_bn_apply(n, c, hw, ch, x[0], state_mean(l, ch), invstd[ch], gamma, beta, l->y);
    }
    l->state[3 * c] = train ? 1.0f : 0.0f;
}

/* Inference: y = (x - running_mean) * invstd * gamma + beta as one scale and
 * shift per channel, invstd computed as bn_forward does. */
static void bn_channel_affine(const cnn_layer *l, float *scale, float *shift) {
    const bn_opt *p = l->opt;
    const int c = l->out.c;
    const float *rmean = l->buffers, *rvar = l->buffers + c;
    for (int ch = 0; ch < c; ch++) {
        float invstd = (float)(1.0 / sqrt((double)rvar[ch] + p->eps));
        float gamma = p->affine ? l->params[ch] : 1.0f, beta = p->affine ? l->params[c + ch] : 0.0f;
        scale[ch] = gamma * invstd;
        shift[ch] = beta - rmean[ch] * scale[ch];
    }
}

/* dy is (n,C,H,W): dx overwritten, dweight += sum(dy*xhat), dbias += sum(dy). */
static void bn_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                        float *scratch) {
    const bn_opt *p = l->opt;
    const int c = l->out.c, hw = l->out.h * l->out.w;
    const float *invstd = l->state + 2 * c;
    const int batch_stats = l->state[3 * c] != 0.0f;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float gamma = p->affine ? l->params[ch] : 1.0f;
        double sd, sdx;
        cnn_bn_backward(n, c, hw, ch, x[0], l->dy, state_mean(l, ch), invstd[ch], gamma,
                        batch_stats, dx[0], &sd, &sdx);
        if (p->affine) {
            l->grads[ch] += (float)sdx;
            l->grads[c + ch] += (float)sd;
        }
    }
}

static int bn_tensors(const cnn_layer *l, cnn_tensor_desc *t) {
    const bn_opt *p = l->opt;
    int c = l->out.c, k = 0;
    if (p->affine) {
        t[k++] = (cnn_tensor_desc){"weight", 1, {c}, 0, 0};
        t[k++] = (cnn_tensor_desc){"bias", 1, {c}, 0, (size_t)c};
    }
    t[k++] = (cnn_tensor_desc){"running_mean", 1, {c}, 1, 0};
    t[k++] = (cnn_tensor_desc){"running_var", 1, {c}, 1, (size_t)c};
    return k;
}

static void bn_describe(const cnn_layer *l, char *buf, size_t len) {
    const bn_opt *p = l->opt;
    snprintf(buf, len, "eps %g m %g%s", p->eps, p->momentum, p->affine ? "" : " noaffine");
}

const cnn_layer_ops cnn_batchnorm_ops = {
    .type = "batchnorm",
    .mem = CNN_MEM_NO_Y,
    .opt_size = sizeof(bn_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = bn_configure,
    .shape = bn_shape,
    .init = bn_init,
    .state_size = bn_state_size,
    .forward = bn_forward,
    .backward = bn_backward,
    .tensors = bn_tensors,
    .describe = bn_describe,
    .channel_affine = bn_channel_affine,
};
