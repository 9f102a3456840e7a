/* dropout.c — inverted dropout, torch.nn.Dropout(p). Training: each value is
 * kept with probability 1-p and scaled by 1/(1-p), else zeroed; evaluation:
 * identity. A training pass draws one number from the net's generator
 * (l->rng), the pass's seed; sample i of the batch then draws its values in
 * order, one cnn_rng_uniform each, from a generator seeded by that seed and
 * i's index in the whole batch (l->batch_first + i). So a given generator
 * state gives the same mask, and a batch split into slices across threads
 * (src/graph/replica.c, each slice's pass starting from the same generator
 * state) gets the same mask as the whole batch in one pass. The mask is kept
 * in l->state (0 or 1/(1-p) per value) for backward. p = 0 draws nothing. */
#include "layer.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    float p; /* probability of zeroing, [0, 1) */
} dropout_opt;

static cnn_status dropout_configure(cnn_layer *l, cnn_opts *o) {
    dropout_opt *opt = l->opt;
    cnn_status st = cnn_opt_float(o, "p", 0.5f, 0.0f, 1.0f, &opt->p);
    if (st != CNN_OK) return st;
    if (opt->p >= 1.0f)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: dropout: option p=%g: expected 0 <= p < 1", o->file,
                        o->line, opt->p);
    return CNN_OK;
}

static cnn_status dropout_shape(cnn_layer *l) {
    if (cnn_shape_size(l->in[0]) == 0) return cnn_fail(CNN_ERR_SHAPE, "dropout: empty input");
    l->out = l->in[0];
    l->n_params = 0;
    l->n_buffers = 0;
    return CNN_OK;
}

static size_t dropout_state_size(const cnn_layer *l, int n) {
    const dropout_opt *opt = l->opt;
    return opt->p > 0.0f ? (size_t)n * cnn_shape_size(l->out) : 0;
}

static void dropout_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const dropout_opt *opt = l->opt;
    size_t count = (size_t)n * cnn_shape_size(l->out);
    if (!train || opt->p == 0.0f) {
        if (l->y != x[0]) memcpy(l->y, x[0], count * sizeof(float));
        return;
    }
    const float keep = 1.0f - opt->p, scale = 1.0f / keep;
    const size_t per = cnn_shape_size(l->out);
    const uint64_t seed = cnn_rng_u64(l->rng);
    float *mask = l->state;
    for (int i = 0; i < n; i++) {
        cnn_rng g;
        cnn_rng_seed(&g, seed ^ (uint64_t)(l->batch_first + i + 1) * 0xd1b54a32d192ed03ULL);
        for (size_t j = 0; j < per; j++)
            mask[(size_t)i * per + j] = cnn_rng_uniform(&g) < keep ? scale : 0.0f;
    }
    for (size_t i = 0; i < count; i++)
        l->y[i] = x[0][i] * mask[i];
}

/* Only after a training forward pass: dx = dy * mask. */
static void dropout_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                             float *scratch) {
    const dropout_opt *opt = l->opt;
    size_t count = (size_t)n * cnn_shape_size(l->out);
    if (!dx[0]) return;
    if (opt->p == 0.0f) {
        if (dx[0] != l->dy) memcpy(dx[0], l->dy, count * sizeof(float));
        return;
    }
    for (size_t i = 0; i < count; i++)
        dx[0][i] = l->dy[i] * l->state[i];
}

static void dropout_describe(const cnn_layer *l, char *buf, size_t len) {
    const dropout_opt *opt = l->opt;
    snprintf(buf, len, "p=%g", opt->p);
}

const cnn_layer_ops cnn_dropout_ops = {
    .type = "dropout",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y | CNN_MEM_INPLACE,
    .opt_size = sizeof(dropout_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = dropout_configure,
    .shape = dropout_shape,
    .state_size = dropout_state_size,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .describe = dropout_describe,
};
