/* lrn.c — local response normalisation across channels,
 * torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1) (AlexNet's
 * original normalisation): y_c = x_c / (k + alpha/size * sum of x_j^2 over the
 * size channels around c)^beta, missing channels at the edges counting as 0.
 * No parameters. l->state keeps the denominator base (n,C,H,W) for backward.
 * The math is in src/kernels/norm.c; images are split over OpenMP threads. */
#include "../kernels/norm.h"
#include "layer.h"
#include <omp.h>
#include <stdio.h>

typedef struct {
    int size;
    float alpha, beta, k;
} lrn_opt;

static cnn_status lrn_configure(cnn_layer *l, cnn_opts *o) {
    lrn_opt *p = l->opt;
    cnn_status s;
    if ((s = cnn_opt_int(o, "size", 0, 1, 4096, &p->size)) != CNN_OK) return s;
    if (p->size == 0)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: lrn: missing option 'size'", o->file, o->line);
    if ((s = cnn_opt_float(o, "alpha", 1e-4f, 0.0f, 1e6f, &p->alpha)) != CNN_OK) return s;
    if ((s = cnn_opt_float(o, "beta", 0.75f, 0.0f, 1e6f, &p->beta)) != CNN_OK) return s;
    if ((s = cnn_opt_float(o, "k", 1.0f, 0.0f, 1e6f, &p->k)) != CNN_OK) return s;
    if (!(p->k > 0))
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: lrn: option k=%g: expected k > 0", o->file, o->line,
                        p->k);
    return CNN_OK;
}

static cnn_status lrn_shape(cnn_layer *l) {
    l->out = l->in[0];
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

static size_t lrn_state_size(const cnn_layer *l, int n) {
    return cnn_shape_size(l->out) * (size_t)n;
}

/* x and y are (n,C,H,W); the base k + alpha/size * sum x^2 goes to l->state. */
static void lrn_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const lrn_opt *p = l->opt;
    const int c = l->out.c, hw = l->out.h * l->out.w;
    const size_t sz = cnn_shape_size(l->out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        cnn_lrn_forward(c, hw, p->size, p->alpha, p->beta, p->k, x[0] + sz * i, l->y + sz * i,
                        l->state + sz * i);
}

/* One (C,H,W) temporary per thread for backward. */
static size_t lrn_scratch_size(const cnn_layer *l, int n, int nthreads) {
    return cnn_shape_size(l->out) * (size_t)nthreads;
}

/* dy is (n,C,H,W), dx overwritten. The thread count is the one the net sized
 * scratch for (omp_get_max_threads). */
static void lrn_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                         float *scratch) {
    if (!dx[0]) return;
    const lrn_opt *p = l->opt;
    const int c = l->out.c, hw = l->out.h * l->out.w;
    const size_t sz = cnn_shape_size(l->out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        cnn_lrn_backward(c, hw, p->size, p->alpha, p->beta, x[0] + sz * i, l->y + sz * i,
                         l->state + sz * i, l->dy + sz * i, dx[0] + sz * i,
                         scratch + sz * (size_t)omp_get_thread_num());
}

static void lrn_describe(const cnn_layer *l, char *buf, size_t len) {
    const lrn_opt *p = l->opt;
    snprintf(buf, len, "size %d a %g b %g k %g", p->size, p->alpha, p->beta, p->k);
}

const cnn_layer_ops cnn_lrn_ops = {
    .type = "lrn",
    .opt_size = sizeof(lrn_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = lrn_configure,
    .shape = lrn_shape,
    .state_size = lrn_state_size,
    .scratch_size = lrn_scratch_size,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .describe = lrn_describe,
};
