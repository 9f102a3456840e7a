/* softmax.c — the softmax layer, torch.nn.Softmax(dim=1): a softmax over the
 * channels at every (h, w). Output shape = input shape. cnn_net_train_step
 * computes the loss on this layer's input with the fused cnn_softmax_xent; the
 * backward here is the plain softmax Jacobian, for any other use. */
#include "../kernels/softmax.h"
#include "layer.h"

static cnn_status softmax_shape(cnn_layer *l) {
    if (cnn_shape_size(l->in[0]) == 0) return cnn_fail(CNN_ERR_SHAPE, "softmax: empty input");
    l->out = l->in[0];
    l->n_params = 0;
    l->n_buffers = 0;
    return CNN_OK;
}

static void softmax_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    cnn_softmax_forward(x[0], l->y, n, l->out.c, l->out.h * l->out.w);
}

static void softmax_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                             float *scratch) {
    if (dx[0]) cnn_softmax_backward(l->y, l->dy, dx[0], n, l->out.c, l->out.h * l->out.w);
}

const cnn_layer_ops cnn_softmax_ops = {
    .type = "softmax",
    .mem = CNN_MEM_NO_X,
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = softmax_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
};
