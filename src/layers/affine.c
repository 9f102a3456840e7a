/* affine.c — a fixed per-channel affine map y[n,c,h,w] = x[n,c,h,w] * scale[c] + shift[c].
 *
 * What an ONNX Add/Sub/Mul/Div by a per-channel or scalar constant computes
 * (e.g. torchvision-style input normalisation (x - mean) / std). scale and
 * shift are buffers, saved with the weights but not trained; they start as
 * scale = 1, shift = 0. Backward: dx = dy * scale[c]. No options. */
#include "layer.h"
#include <stdio.h>

static cnn_status affine_shape(cnn_layer *l) {
    if (cnn_shape_size(l->in[0]) == 0) return cnn_fail(CNN_ERR_SHAPE, "affine: empty input");
    l->out = l->in[0];
    l->n_params = 0;
    l->n_buffers = 2 * (size_t)l->in[0].c;
    return CNN_OK;
}

static void affine_init(cnn_layer *l, cnn_rng *rng) {
    int c = l->out.c;
    for (int i = 0; i < c; i++) {
        l->buffers[i] = 1.0f;
        l->buffers[c + i] = 0.0f;
    }
}

/* x, y are (n, C, HW); scale, shift are (C). */
static void affine_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    int c = l->out.c;
    size_t hw = (size_t)l->out.h * l->out.w;
    const float *scale = l->buffers, *shift = l->buffers + c;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            const float *xp = x[0] + ((size_t)i * c + k) * hw;
            float *yp = l->y + ((size_t)i * c + k) * hw;
            for (size_t j = 0; j < hw; j++)
                yp[j] = xp[j] * scale[k] + shift[k];
        }
}

static void affine_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                            float *scratch) {
    if (!dx[0]) return;
    int c = l->out.c;
    size_t hw = (size_t)l->out.h * l->out.w;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            const float *dy = l->dy + ((size_t)i * c + k) * hw;
            float *d = dx[0] + ((size_t)i * c + k) * hw;
            for (size_t j = 0; j < hw; j++)
                d[j] = dy[j] * l->buffers[k];
        }
}

static double affine_macs(const cnn_layer *l) {
    return (double)cnn_shape_size(l->out);
}

static int affine_tensors(const cnn_layer *l, cnn_tensor_desc *t) {
    t[0] = (cnn_tensor_desc){"scale", 1, {l->out.c}, 1, 0};
    t[1] = (cnn_tensor_desc){"shift", 1, {l->out.c}, 1, (size_t)l->out.c};
    return 2;
}

static void affine_describe(const cnn_layer *l, char *buf, size_t len) {
    snprintf(buf, len, "x*scale+shift");
}

const cnn_layer_ops cnn_affine_ops = {
    .type = "affine",
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = affine_shape,
    .init = affine_init,
    .forward = affine_forward,
    .backward = affine_backward,
    .macs = affine_macs,
    .tensors = affine_tensors,
    .describe = affine_describe,
};
