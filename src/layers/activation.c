/* activation.c — element-wise activation layers: relu, leaky_relu (slope),
 * elu (alpha), sigmoid, tanh. Output shape = input shape; no parameters.
 * torch.nn.ReLU / LeakyReLU(negative_slope) / ELU(alpha) / Sigmoid / Tanh. */
#include "../kernels/act.h"
#include "layer.h"
#include <float.h>
#include <stdio.h>

typedef struct {
    float slope;
} leaky_opt;

typedef struct {
    float alpha;
} elu_opt;

static cnn_status act_shape(cnn_layer *l) {
    if (cnn_shape_size(l->in[0]) == 0)
        return cnn_fail(CNN_ERR_SHAPE, "%s: empty input", l->ops->type);
    l->out = l->in[0];
    l->n_params = 0;
    l->n_buffers = 0;
    return CNN_OK;
}

/* Elements of a batch of n. */
static size_t act_count(const cnn_layer *l, int n) {
    return (size_t)n * cnn_shape_size(l->out);
}

/* ---- relu ---- */

static void relu_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    cnn_relu_forward(x[0], l->y, act_count(l, n));
}

static void relu_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                          float *scratch) {
    if (dx[0]) cnn_relu_backward(x[0], l->dy, dx[0], act_count(l, n));
}

const cnn_layer_ops cnn_relu_ops = {
    .type = "relu",
    .mem = CNN_MEM_NO_Y | CNN_MEM_INPLACE,
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = act_shape,
    .forward = relu_forward,
    .backward = relu_backward,
};

/* ---- leaky_relu ---- */

static cnn_status leaky_configure(cnn_layer *l, cnn_opts *o) {
    leaky_opt *opt = l->opt;
    return cnn_opt_float(o, "slope", 0.01f, -FLT_MAX, FLT_MAX, &opt->slope);
}

/* The slope, for inference fusion (src/graph/fuse.c). */
float cnn_leaky_relu_slope(const cnn_layer *l) {
    const leaky_opt *opt = l->opt;
    return opt->slope;
}

static void leaky_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const leaky_opt *opt = l->opt;
    cnn_leaky_relu_forward(x[0], l->y, act_count(l, n), opt->slope);
}

static void leaky_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                           float *scratch) {
    const leaky_opt *opt = l->opt;
    if (dx[0]) cnn_leaky_relu_backward(x[0], l->dy, dx[0], act_count(l, n), opt->slope);
}

static void leaky_describe(const cnn_layer *l, char *buf, size_t len) {
    const leaky_opt *opt = l->opt;
    snprintf(buf, len, "slope=%g", opt->slope);
}

const cnn_layer_ops cnn_leaky_relu_ops = {
    .type = "leaky_relu",
    .mem = CNN_MEM_NO_Y,
    .opt_size = sizeof(leaky_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = leaky_configure,
    .shape = act_shape,
    .forward = leaky_forward,
    .backward = leaky_backward,
    .describe = leaky_describe,
};

/* ---- elu ---- */

static cnn_status elu_configure(cnn_layer *l, cnn_opts *o) {
    elu_opt *opt = l->opt;
    return cnn_opt_float(o, "alpha", 1.0f, -FLT_MAX, FLT_MAX, &opt->alpha);
}

static void elu_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const elu_opt *opt = l->opt;
    cnn_elu_forward(x[0], l->y, act_count(l, n), opt->alpha);
}

static void elu_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                         float *scratch) {
    const elu_opt *opt = l->opt;
    if (dx[0]) cnn_elu_backward(x[0], l->dy, dx[0], act_count(l, n), opt->alpha);
}

static void elu_describe(const cnn_layer *l, char *buf, size_t len) {
    const elu_opt *opt = l->opt;
    snprintf(buf, len, "alpha=%g", opt->alpha);
}

const cnn_layer_ops cnn_elu_ops = {
    .type = "elu",
    .mem = CNN_MEM_NO_Y,
    .opt_size = sizeof(elu_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = elu_configure,
    .shape = act_shape,
    .forward = elu_forward,
    .backward = elu_backward,
    .describe = elu_describe,
};

/* ---- sigmoid ---- */

static void sigmoid_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    cnn_sigmoid_forward(x[0], l->y, act_count(l, n));
}

static void sigmoid_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                             float *scratch) {
    if (dx[0]) cnn_sigmoid_backward(l->y, l->dy, dx[0], act_count(l, n));
}

const cnn_layer_ops cnn_sigmoid_ops = {
    .type = "sigmoid",
    .mem = CNN_MEM_NO_X | CNN_MEM_INPLACE,
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = act_shape,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

/* ---- tanh ---- */

static void tanh_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    cnn_tanh_forward(x[0], l->y, act_count(l, n));
}

static void tanh_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                          float *scratch) {
    if (dx[0]) cnn_tanh_backward(l->y, l->dy, dx[0], act_count(l, n));
}

const cnn_layer_ops cnn_tanh_ops = {
    .type = "tanh",
    .mem = CNN_MEM_NO_X | CNN_MEM_INPLACE,
    .min_inputs = 1,
    .max_inputs = 1,
    .shape = act_shape,
    .forward = tanh_forward,
    .backward = tanh_backward,
};
