/* clip.c — y = min(max(x, min), max), as torch.clamp / nn.Hardtanh(min, max)
 * (nn.ReLU6 is clip min=0 max=6) and ONNX Clip. Options `min` and `max`
 * default to -/+ FLT_MAX (no bound). Backward as torch.nn.Hardtanh: the
 * gradient passes where min < x < max and is 0 elsewhere. */
#include "layer.h"
#include <float.h>
#include <stdio.h>

typedef struct {
    float lo, hi;
} clip_opt;

static cnn_status clip_configure(cnn_layer *l, cnn_opts *o) {
    clip_opt *opt = l->opt;
    cnn_status s = cnn_opt_float(o, "min", -FLT_MAX, -FLT_MAX, FLT_MAX, &opt->lo);
    if (s == CNN_OK) s = cnn_opt_float(o, "max", FLT_MAX, -FLT_MAX, FLT_MAX, &opt->hi);
    if (s == CNN_OK && !(opt->lo <= opt->hi))
        s = cnn_fail(CNN_ERR_PARSE, "%s:%d: clip: min=%g is above max=%g", o->file, o->line,
                     opt->lo, opt->hi);
    return s;
}

static cnn_status clip_shape(cnn_layer *l) {
    if (cnn_shape_size(l->in[0]) == 0) return cnn_fail(CNN_ERR_SHAPE, "clip: empty input");
    l->out = l->in[0];
    l->n_params = 0;
    l->n_buffers = 0;
    return CNN_OK;
}

static void clip_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const clip_opt *opt = l->opt;
    size_t count = (size_t)n * cnn_shape_size(l->out);
    for (size_t i = 0; i < count; i++) {
        float v = x[0][i];
        l->y[i] = v < opt->lo ? opt->lo : (v > opt->hi ? opt->hi : v);
    }
}

static void clip_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                          float *scratch) {
    const clip_opt *opt = l->opt;
    if (!dx[0]) return;
    size_t count = (size_t)n * cnn_shape_size(l->out);
    for (size_t i = 0; i < count; i++) {
        float v = x[0][i];
        dx[0][i] = v > opt->lo && v < opt->hi ? l->dy[i] : 0.0f;
    }
}

static void clip_describe(const cnn_layer *l, char *buf, size_t len) {
    const clip_opt *opt = l->opt;
    snprintf(buf, len, "[%g, %g]", opt->lo, opt->hi);
}

const cnn_layer_ops cnn_clip_ops = {
    .type = "clip",
    .mem = CNN_MEM_NO_Y,
    .opt_size = sizeof(clip_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = clip_configure,
    .shape = clip_shape,
    .forward = clip_forward,
    .backward = clip_backward,
    .describe = clip_describe,
};
