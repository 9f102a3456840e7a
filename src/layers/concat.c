/* concat.c — concatenation of 2 to CNN_MAX_INPUTS inputs along the channels,
 * torch.cat(dim=1) (the branches of an Inception module):
 *   concat in=inception3a.branch1,inception3a.branch2.1,...
 * Inputs must agree in height and width; the output has the sum of their
 * channels, in the order of `in=`. No parameters; forward and backward are
 * copies of channel blocks. */
#include "layer.h"
#include <limits.h>
#include <string.h>

static cnn_status concat_shape(cnn_layer *l) {
    long long c = 0;
    for (int j = 0; j < l->n_in; j++) {
        if (l->in[j].h != l->in[0].h || l->in[j].w != l->in[0].w)
            return cnn_fail(CNN_ERR_SHAPE,
                            "inputs must have the same height and width: input 1 is %dx%dx%d, "
                            "input %d is %dx%dx%d",
                            l->in[0].c, l->in[0].h, l->in[0].w, j + 1, l->in[j].c, l->in[j].h,
                            l->in[j].w);
        c += l->in[j].c;
    }
    if (c > INT_MAX) return cnn_fail(CNN_ERR_SHAPE, "%lld channels are too many", c);
    l->out = (cnn_shape){(int)c, l->in[0].h, l->in[0].w};
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

/* x[j] is (n,C_j,H,W), y is (n,sum C_j,H,W). */
static void concat_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const size_t out = cnn_shape_size(l->out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *y = l->y + out * i;
        for (int j = 0; j < l->n_in; j++) {
            size_t sz = cnn_shape_size(l->in[j]);
            memcpy(y, x[j] + sz * i, sz * sizeof(float));
            y += sz;
        }
    }
}

/* dx[j] (n,C_j,H,W) is overwritten with its channel block of dy. */
static void concat_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                            float *scratch) {
    const size_t out = cnn_shape_size(l->out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *dy = l->dy + out * i;
        for (int j = 0; j < l->n_in; j++) {
            size_t sz = cnn_shape_size(l->in[j]);
            if (dx[j]) memcpy(dx[j] + sz * i, dy, sz * sizeof(float));
            dy += sz;
        }
    }
}

const cnn_layer_ops cnn_concat_ops = {
    .type = "concat",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y,
    .min_inputs = 2,
    .max_inputs = CNN_MAX_INPUTS,
    .shape = concat_shape,
    .forward = concat_forward,
    .backward = concat_backward,
};
