/* adaptive_pool.c — adaptive average pooling to a fixed output size,
 * torch.nn.AdaptiveAvgPool2d((OH, OW)): `adaptive_avgpool size=7` or
 * `size=6x6`. Window i covers rows [floor(i*H/OH), ceil((i+1)*H/OH)), likewise
 * columns, so any input size works (torchvision's AlexNet and VGG use it to
 * accept inputs other than 224x224). No parameters. The math is in
 * src/kernels/adaptive_pool.c; images are split over OpenMP threads. */
#include "../kernels/adaptive_pool.h"
#include "layer.h"
#include <stdio.h>

typedef struct {
    int oh, ow;
} adaptive_opt;

static cnn_status adaptive_configure(cnn_layer *l, cnn_opts *o) {
    adaptive_opt *p = l->opt;
    cnn_status s = cnn_opt_pair(o, "size", 0, 1, 65536, &p->oh, &p->ow);
    if (s != CNN_OK) return s;
    if (p->oh == 0)
        return cnn_fail(CNN_ERR_PARSE,
                        "%s:%d: adaptive_avgpool: missing option 'size' (e.g. size=7x7)", o->file,
                        o->line);
    return CNN_OK;
}

static cnn_status adaptive_shape(cnn_layer *l) {
    const adaptive_opt *p = l->opt;
    l->out = (cnn_shape){l->in[0].c, p->oh, p->ow};
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

/* x is (n,C,H,W), y is (n,C,OH,OW). */
static void adaptive_forward(cnn_layer *l, const float *const *x, int n, int train,
                             float *scratch) {
    const cnn_shape in = l->in[0], out = l->out;
    const size_t si = cnn_shape_size(in), so = cnn_shape_size(out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        cnn_adaptive_avgpool_forward(in.c, in.h, in.w, out.h, out.w, x[0] + si * i, l->y + so * i);
}

/* dy is (n,C,OH,OW), dx (n,C,H,W) overwritten. */
static void adaptive_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                              float *scratch) {
    if (!dx[0]) return;
    const cnn_shape in = l->in[0], out = l->out;
    const size_t si = cnn_shape_size(in), so = cnn_shape_size(out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        cnn_adaptive_avgpool_backward(in.c, in.h, in.w, out.h, out.w, l->dy + so * i,
                                      dx[0] + si * i);
}

static void adaptive_describe(const cnn_layer *l, char *buf, size_t len) {
    const adaptive_opt *p = l->opt;
    snprintf(buf, len, "to %dx%d", p->oh, p->ow);
}

const cnn_layer_ops cnn_adaptive_avgpool_ops = {
    .type = "adaptive_avgpool",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y,
    .opt_size = sizeof(adaptive_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = adaptive_configure,
    .shape = adaptive_shape,
    .forward = adaptive_forward,
    .backward = adaptive_backward,
    .describe = adaptive_describe,
};
