/* add.c — element-wise sum of 2 to CNN_MAX_INPUTS inputs of the same shape
 * (the `+` of a residual connection, torch's x + shortcut(x)):
 *   add in=layer1.0.bn2,layer1.0.downsample.1
 * No parameters; backward hands dy to every input. Inputs are summed in the
 * order of `in=`, so results do not depend on the thread count. */
#include "layer.h"
#include <string.h>

static cnn_status add_shape(cnn_layer *l) {
    for (int j = 1; j < l->n_in; j++)
        if (l->in[j].c != l->in[0].c || l->in[j].h != l->in[0].h || l->in[j].w != l->in[0].w)
            return cnn_fail(CNN_ERR_SHAPE,
                            "inputs must have the same shape: input 1 is %dx%dx%d, input %d is "
                            "%dx%dx%d",
                            l->in[0].c, l->in[0].h, l->in[0].w, j + 1, l->in[j].c, l->in[j].h,
                            l->in[j].w);
    l->out = l->in[0];
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

/* x[0..n_in) and y are (n,C,H,W): y = x[0] + x[1] + ... */
static void add_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const long long count = (long long)n * (long long)cnn_shape_size(l->out);
    const int k = l->n_in;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < count; i++) {
        float s = x[0][i];
        for (int j = 1; j < k; j++)
            s += x[j][i];
        l->y[i] = s;
    }
}

/* Inference with an epilogue (a following ReLU, see fuse.c): y = e(x[0] + ...),
 * image by image and channel by channel, the sum still in cache. */
static void add_forward_ep(cnn_layer *l, const float *const *x, int n, const cnn_epilogue *e,
                           float *y, float *scratch) {
    const int c = l->out.c, k = l->n_in;
    const size_t hw = (size_t)l->out.h * l->out.w;
    const long long planes = (long long)n * c;
#pragma omp parallel for schedule(static) if ((size_t)planes * hw >= ((size_t)1 << 15))
    for (long long p = 0; p < planes; p++) {
        const size_t o = (size_t)p * hw;
        float *restrict yp = y + o;
        for (size_t i = 0; i < hw; i++) {
            float s = x[0][o + i];
            for (int j = 1; j < k; j++)
                s += x[j][o + i];
            yp[i] = s;
        }
        cnn_epilogue_apply(e, y + (size_t)(p / c) * c * hw, (int)(p % c), (int)(p % c) + 1, hw);
    }
}

/* dx[j] = dy for every input that wants a gradient. */
static void add_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                         float *scratch) {
    const size_t count = (size_t)n * cnn_shape_size(l->out);
    for (int j = 0; j < l->n_in; j++)
        if (dx[j] && dx[j] != l->dy) memcpy(dx[j], l->dy, count * sizeof(float));
}

const cnn_layer_ops cnn_add_ops = {
    .type = "add",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y,
    .min_inputs = 2,
    .max_inputs = CNN_MAX_INPUTS,
    .shape = add_shape,
    .forward = add_forward,
    .backward = add_backward,
    .forward_ep = add_forward_ep,
};
