/* pool.c — the pooling layers: maxpool (torch.nn.MaxPool2d), avgpool
 * (torch.nn.AvgPool2d) and gap (torch.nn.AdaptiveAvgPool2d(1), output
 * (C,1,1)). No parameters. Max pooling over 2x2/2 windows keeps each window's
 * argmax code (a byte) in l->state for the backward pass; other windows find
 * the argmax again from x in backward. The math is in
 * src/kernels/pool.c; images are split over OpenMP threads. */
#include "../kernels/pool.h"
#include "../core/par.h"
#include "layer.h"
#include <omp.h>
#include <stdio.h>

extern const cnn_layer_ops cnn_avgpool_ops;

typedef struct {
    int kh, kw;            /* window */
    int sh, sw;            /* stride (default: the window) */
    int ph, pw;            /* padding, at most half the window */
    int dh, dw;            /* dilation (max pooling only) */
    int ceil_mode;         /* round the output size up, as torch */
    int count_include_pad; /* average pooling: padding counts in the divisor */
} pool_opt;

#define POOL_MAX_DIM 4096

/* Options shared by maxpool and avgpool; dilation only for max. */
static cnn_status pool_configure(cnn_layer *l, cnn_opts *o, int is_max) {
    pool_opt *p = l->opt;
    const char *type = is_max ? "maxpool" : "avgpool";
    cnn_status s;
    if ((s = cnn_opt_pair(o, "kernel", 0, 1, POOL_MAX_DIM, &p->kh, &p->kw)) != CNN_OK) return s;
    if ((s = cnn_opt_pair(o, "stride", 0, 1, POOL_MAX_DIM, &p->sh, &p->sw)) != CNN_OK) return s;
    if ((s = cnn_opt_pair(o, "padding", 0, 0, POOL_MAX_DIM, &p->ph, &p->pw)) != CNN_OK) return s;
    p->dh = p->dw = 1;
    if (is_max && (s = cnn_opt_pair(o, "dilation", 1, 1, POOL_MAX_DIM, &p->dh, &p->dw)) != CNN_OK)
        return s;
    if ((s = cnn_opt_bool(o, "ceil_mode", 0, &p->ceil_mode)) != CNN_OK) return s;
    if (!is_max && (s = cnn_opt_bool(o, "count_include_pad", 1, &p->count_include_pad)) != CNN_OK)
        return s;
    /* Every key read first: a misspelled key is reported as unknown, not as
     * the option it misses. */
    if ((s = cnn_opts_check_unused(o)) != CNN_OK) return s;
    if (p->kh == 0)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s: missing option 'kernel'", o->file, o->line,
                        type);
    if (p->sh == 0) {
        p->sh = p->kh;
        p->sw = p->kw;
    }
    if (p->ph > p->kh / 2 || p->pw > p->kw / 2)
        return cnn_fail(CNN_ERR_PARSE,
                        "%s:%d: %s: padding %dx%d is more than half the kernel %dx%d (torch "
                        "requires padding <= kernel/2)",
                        o->file, o->line, type, p->ph, p->pw, p->kh, p->kw);
    return CNN_OK;
}

static cnn_status maxpool_configure(cnn_layer *l, cnn_opts *o) {
    return pool_configure(l, o, 1);
}
static cnn_status avgpool_configure(cnn_layer *l, cnn_opts *o) {
    return pool_configure(l, o, 0);
}

/* The kernel geometry for one image of the layer's input. */
static cnn_pool_geom pool_geom(const cnn_layer *l) {
    const pool_opt *p = l->opt;
    cnn_pool_geom g = {
        .c = l->in[0].c,
        .h = l->in[0].h,
        .w = l->in[0].w,
        .kh = p->kh,
        .kw = p->kw,
        .sh = p->sh,
        .sw = p->sw,
        .ph = p->ph,
        .pw = p->pw,
        .dh = p->dh,
        .dw = p->dw,
        .ceil_mode = p->ceil_mode,
        .count_include_pad = p->count_include_pad,
    };
    cnn_pool_geom_init(&g);
    return g;
}

static cnn_status pool_shape(cnn_layer *l) {
    const pool_opt *p = l->opt;
    cnn_pool_geom g = pool_geom(l);
    if (g.oh < 1 || g.ow < 1)
        return cnn_fail(CNN_ERR_SHAPE,
                        "output would be %dx%d: a %dx%d input is too small for window %dx%d "
                        "(dilation %dx%d, padding %dx%d, stride %dx%d)",
                        g.oh, g.ow, g.h, g.w, p->kh, p->kw, p->dh, p->dw, p->ph, p->pw, p->sh,
                        p->sw);
    if ((long long)g.h * g.w > INT32_MAX)
        return cnn_fail(CNN_ERR_SHAPE, "a %dx%d plane is too large to pool", g.h, g.w);
    l->out = (cnn_shape){g.c, g.oh, g.ow};
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

/* Pooling is split over the batch's planes (n x C, so one image's channels
 * too), and runs on one thread when the input is too small to pay for a
 * parallel region. Every plane is independent: no result depends on the split. */
#define POOL_PAR_MIN ((size_t)1 << 15)
static int worth_threads(int n, size_t in) {
    return (size_t)n * in >= POOL_PAR_MIN;
}

/* Windows other than 2x2/2 find their argmax again from x in backward
 * instead of keeping indices from forward: in the usual
 * conv-(batchnorm)-ReLU-pool the input stays alive until the ReLU's backward
 * anyway, so the planned arena saves the indices (as large as the output).
 * Per thread, one plane's output and argmax (int32 in float-sized slots). */
static size_t maxpool_scratch_size(const cnn_layer *l, int n, int nthreads) {
    return 2 * (size_t)l->out.h * (size_t)l->out.w * (size_t)nthreads;
}

/* 2x2/2 windows keep a byte per window in l->state: its argmax code
 * (cnn_maxpool_codes_forward), written by a training forward. */
static size_t maxpool_state_size(const cnn_layer *l, int n) {
    cnn_pool_geom g = pool_geom(l);
    if (!cnn_maxpool_has_codes(&g)) return 0;
    return (cnn_shape_size(l->out) * (size_t)n + sizeof(float) - 1) / sizeof(float);
}

/* x is (n,C,H,W), y is (n,C,OH,OW). */
static void maxpool_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    cnn_pool_geom g = pool_geom(l);
    size_t in = cnn_shape_size(l->in[0]), out = cnn_shape_size(l->out);
    const long planes = (long)n * g.c;
    const size_t pin = in / (size_t)g.c, pout = out / (size_t)g.c;
    const int codes = train && cnn_maxpool_has_codes(&g);
    uint8_t *code = (uint8_t *)l->state;
    g.c = 1;
    if (codes) {
        CNN_PAR_FOR(worth_threads(n, in),
                    for (long p = 0; p < planes; p++) cnn_maxpool_codes_forward(
                        &g, x[0] + pin * p, l->y + pout * p, code + pout * p););
        return;
    }
    CNN_PAR_FOR(worth_threads(n, in), for (long p = 0; p < planes; p++) cnn_maxpool_forward(
                                          &g, x[0] + pin * p, l->y + pout * p, NULL););
}

/* dy (n,C,OH,OW) goes to each window's argmax in dx (n,C,H,W), overwritten;
 * the argmax of a plane is found again from x (the same as forward's). The
 * thread count is the one the net sized scratch for (omp_get_max_threads). */
static void maxpool_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                             float *scratch) {
    if (!dx[0]) return;
    cnn_pool_geom g = pool_geom(l);
    size_t in = cnn_shape_size(l->in[0]), out = cnn_shape_size(l->out);
    const long planes = (long)n * g.c;
    const size_t pin = in / (size_t)g.c, pout = out / (size_t)g.c;
    g.c = 1;
    if (cnn_maxpool_has_codes(&g)) { /* from the training forward's codes */
        const uint8_t *code = (const uint8_t *)l->state;
        CNN_PAR_FOR(worth_threads(n, in),
                    for (long p = 0; p < planes; p++) cnn_maxpool_codes_backward(
                        &g, code + pout * p, l->dy + pout * p, dx[0] + pin * p););
        return;
    }
    CNN_PAR_FOR(
        worth_threads(n, in), for (long p = 0; p < planes; p++) {
            float *ys = scratch + 2 * pout * (size_t)CNN_PAR_TID;
            int32_t *idx = (int32_t *)(ys + pout);
            cnn_maxpool_forward(&g, x[0] + pin * p, ys, idx);
            cnn_maxpool_backward(&g, l->dy + pout * p, idx, dx[0] + pin * p);
        });
}

/* x is (n,C,H,W), y is (n,C,OH,OW). */
static void avgpool_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    cnn_pool_geom g = pool_geom(l);
    size_t in = cnn_shape_size(l->in[0]), out = cnn_shape_size(l->out);
    const long planes = (long)n * g.c;
    const size_t pin = in / (size_t)g.c, pout = out / (size_t)g.c;
    g.c = 1;
    CNN_PAR_FOR(worth_threads(n, in), for (long p = 0; p < planes; p++) cnn_avgpool_forward(
                                          &g, x[0] + pin * p, l->y + pout * p););
}

/* dy is (n,C,OH,OW), dx (n,C,H,W) overwritten. */
static void avgpool_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                             float *scratch) {
    if (!dx[0]) return;
    cnn_pool_geom g = pool_geom(l);
    size_t in = cnn_shape_size(l->in[0]), out = cnn_shape_size(l->out);
    const long planes = (long)n * g.c;
    const size_t pin = in / (size_t)g.c, pout = out / (size_t)g.c;
    g.c = 1;
    CNN_PAR_FOR(worth_threads(n, in), for (long p = 0; p < planes; p++) cnn_avgpool_backward(
                                          &g, l->dy + pout * p, dx[0] + pin * p););
}

/* "3x3/2 p1 d2 ceil", "2x2/2 nopad" (avgpool, count_include_pad=0) */
static void pool_describe(const cnn_layer *l, char *buf, size_t len) {
    const pool_opt *p = l->opt;
    size_t n = (size_t)snprintf(buf, len, "%dx%d/", p->kh, p->kw);
    if (n < len)
        n += (size_t)(p->sh == p->sw ? snprintf(buf + n, len - n, "%d", p->sh)
                                     : snprintf(buf + n, len - n, "%dx%d", p->sh, p->sw));
    if (n < len && (p->ph || p->pw))
        n += (size_t)(p->ph == p->pw ? snprintf(buf + n, len - n, " p%d", p->ph)
                                     : snprintf(buf + n, len - n, " p%dx%d", p->ph, p->pw));
    if (n < len && (p->dh != 1 || p->dw != 1))
        n += (size_t)(p->dh == p->dw ? snprintf(buf + n, len - n, " d%d", p->dh)
                                     : snprintf(buf + n, len - n, " d%dx%d", p->dh, p->dw));
    if (n < len && p->ceil_mode) n += (size_t)snprintf(buf + n, len - n, " ceil");
    if (n < len && l->ops == &cnn_avgpool_ops && !p->count_include_pad && (p->ph || p->pw))
        snprintf(buf + n, len - n, " nopad");
}

/* ---- global average pooling --------------------------------------------- */

static cnn_status gap_shape(cnn_layer *l) {
    l->out = (cnn_shape){l->in[0].c, 1, 1};
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

/* x is (n,C,H,W), y is (n,C,1,1): the mean of each plane. */
static void gap_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    int c = l->in[0].c, hw = l->in[0].h * l->in[0].w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        cnn_gap_forward(c, hw, x[0] + (size_t)c * hw * i, l->y + (size_t)c * i);
}

/* dy is (n,C,1,1), dx (n,C,H,W) overwritten with dy / (H*W). */
static void gap_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                         float *scratch) {
    if (!dx[0]) return;
    int c = l->in[0].c, hw = l->in[0].h * l->in[0].w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        cnn_gap_backward(c, hw, l->dy + (size_t)c * i, dx[0] + (size_t)c * hw * i);
}

const cnn_layer_ops cnn_maxpool_ops = {
    .type = "maxpool",
    .mem = CNN_MEM_NO_Y,
    .opt_size = sizeof(pool_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = maxpool_configure,
    .shape = pool_shape,
    .scratch_size = maxpool_scratch_size,
    .state_size = maxpool_state_size,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .describe = pool_describe,
};

const cnn_layer_ops cnn_avgpool_ops = {
    .type = "avgpool",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y,
    .opt_size = sizeof(pool_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = avgpool_configure,
    .shape = pool_shape,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .describe = pool_describe,
};

const cnn_layer_ops cnn_gap_ops = {
    .type = "gap",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y,
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = gap_shape,
    .forward = gap_forward,
    .backward = gap_backward,
};
