/* flatten.c — (C,H,W) -> (C*H*W,1,1) in C,H,W order, as torch.nn.Flatten.
 * The memory layout does not change: forward and backward are copies. */
#include "layer.h"
#include <limits.h>
#include <string.h>

static cnn_status flatten_shape(cnn_layer *l) {
    size_t f = cnn_shape_size(l->in[0]);
    if (f == 0) return cnn_fail(CNN_ERR_SHAPE, "flatten: empty input");
    if (f > INT_MAX) return cnn_fail(CNN_ERR_SHAPE, "flatten: input of %zu values is too large", f);
    l->out = (cnn_shape){(int)f, 1, 1};
    l->n_params = 0;
    l->n_buffers = 0;
    return CNN_OK;
}

static void flatten_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    size_t count = (size_t)n * cnn_shape_size(l->out);
    if (l->y != x[0]) memcpy(l->y, x[0], count * sizeof(float));
}

static void flatten_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                             float *scratch) {
    size_t count = (size_t)n * cnn_shape_size(l->out);
    if (dx[0] && dx[0] != l->dy) memcpy(dx[0], l->dy, count * sizeof(float));
}

const cnn_layer_ops cnn_flatten_ops = {
    .type = "flatten",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y | CNN_MEM_INPLACE,
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = flatten_shape,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
