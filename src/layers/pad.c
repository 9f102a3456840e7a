/* pad.c — constant padding, torch.nn.ZeroPad2d / ConstantPad2d, and F.pad's
 * 6-value form that also pads channels:
 *   pad padding=1                    1 on every side of H and W
 *   pad padding=l,r,t,b value=0      left, right, top, bottom (ZeroPad2d's order)
 *   pad padding=l,r,t,b,f,k          and f channels in front, k behind
 * Negative values crop, as in torch. The output is
 * (C+f+k) x (H+t+b) x (W+l+r); new cells hold `value`. No parameters;
 * backward copies the gradient of the cells that came from the input. */
#include "layer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define PAD_MAX 65536

typedef struct {
    int l, r, t, b, f, k; /* left, right, top, bottom, front (channels), back */
    float value;
} pad_opt;

static cnn_status pad_configure(cnn_layer *l, cnn_opts *o) {
    pad_opt *p = l->opt;
    const char *v;
    cnn_opt_str(o, "padding", NULL, &v);
    if (!v)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: pad: missing option 'padding'", o->file, o->line);
    long a[6];
    int count = 0;
    const char *s = v;
    for (;;) {
        char *e;
        errno = 0;
        long x = strtol(s, &e, 10);
        if (e == s || errno || x < -PAD_MAX || x > PAD_MAX || count == 6 || (*e && *e != ','))
            return cnn_fail(CNN_ERR_PARSE,
                            "%s:%d: pad: option padding=%s: expected 1, 4 (left,right,top,bottom) "
                            "or 6 (and front,back channels) integers from %d to %d",
                            o->file, o->line, v, -PAD_MAX, PAD_MAX);
        a[count++] = x;
        if (!*e) break;
        s = e + 1;
    }
    if (count != 1 && count != 4 && count != 6)
        return cnn_fail(CNN_ERR_PARSE,
                        "%s:%d: pad: option padding=%s: expected 1, 4 (left,right,top,bottom) or "
                        "6 (and front,back channels) values, got %d",
                        o->file, o->line, v, count);
    if (count == 1) a[1] = a[2] = a[3] = a[0];
    if (count < 6) a[4] = a[5] = 0;
    p->l = (int)a[0], p->r = (int)a[1], p->t = (int)a[2], p->b = (int)a[3];
    p->f = (int)a[4], p->k = (int)a[5];
    return cnn_opt_float(o, "value", 0.0f, -3.4e38f, 3.4e38f, &p->value);
}

static cnn_status pad_shape(cnn_layer *l) {
    const pad_opt *p = l->opt;
    cnn_shape in = l->in[0];
    long long c = (long long)in.c + p->f + p->k, h = (long long)in.h + p->t + p->b,
              w = (long long)in.w + p->l + p->r;
    if (c < 1 || h < 1 || w < 1)
        return cnn_fail(CNN_ERR_SHAPE,
                        "padding %d,%d,%d,%d,%d,%d crops a %dx%dx%d input to nothing", p->l, p->r,
                        p->t, p->b, p->f, p->k, in.c, in.h, in.w);
    if (c > 1 << 24 || h > 1 << 24 || w > 1 << 24)
        return cnn_fail(CNN_ERR_SHAPE, "output %lldx%lldx%lld is too large", c, h, w);
    l->out = (cnn_shape){(int)c, (int)h, (int)w};
    l->n_params = l->n_buffers = 0;
    return CNN_OK;
}

/* x is (n,C,H,W), y is (n,C',H',W'): y[c'][h'][w'] = x[c'-f][h'-t][w'-l] or value. */
static void pad_forward(cnn_layer *l, const float *const *x, int n, int train, float *scratch) {
    const pad_opt *p = l->opt;
    const cnn_shape in = l->in[0], out = l->out;
    const size_t si = cnn_shape_size(in), so = cnn_shape_size(out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x[0] + si * i;
        float *yi = l->y + so * i;
        for (int c = 0; c < out.c; c++) {
            int ic = c - p->f;
            for (int h = 0; h < out.h; h++) {
                int ih = h - p->t;
                float *yr = yi + ((size_t)c * out.h + h) * out.w;
                int inside = ic >= 0 && ic < in.c && ih >= 0 && ih < in.h;
                const float *xr = inside ? xi + ((size_t)ic * in.h + ih) * in.w : NULL;
                for (int w = 0; w < out.w; w++) {
                    int iw = w - p->l;
                    yr[w] = inside && iw >= 0 && iw < in.w ? xr[iw] : p->value;
                }
            }
        }
    }
}

/* dy is (n,C',H',W'), dx (n,C,H,W) overwritten; cropped cells get 0. */
static void pad_backward(cnn_layer *l, const float *const *x, float *const *dx, int n,
                         float *scratch) {
    if (!dx[0]) return;
    const pad_opt *p = l->opt;
    const cnn_shape in = l->in[0], out = l->out;
    const size_t si = cnn_shape_size(in), so = cnn_shape_size(out);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *dxi = dx[0] + si * i;
        const float *dyi = l->dy + so * i;
        for (int c = 0; c < in.c; c++) {
            int oc = c + p->f;
            for (int h = 0; h < in.h; h++) {
                int oh = h + p->t;
                float *dr = dxi + ((size_t)c * in.h + h) * in.w;
                int inside = oc >= 0 && oc < out.c && oh >= 0 && oh < out.h;
                const float *yr = inside ? dyi + ((size_t)oc * out.h + oh) * out.w : NULL;
                for (int w = 0; w < in.w; w++) {
                    int ow = w + p->l;
                    dr[w] = inside && ow >= 0 && ow < out.w ? yr[ow] : 0.0f;
                }
            }
        }
    }
}

static void pad_describe(const cnn_layer *l, char *buf, size_t len) {
    const pad_opt *p = l->opt;
    int k = snprintf(buf, len, "%d,%d,%d,%d", p->l, p->r, p->t, p->b);
    if (k >= 0 && (size_t)k < len && (p->f || p->k))
        k += snprintf(buf + k, len - (size_t)k, ",%d,%d", p->f, p->k);
    if (k >= 0 && (size_t)k < len && p->value != 0)
        snprintf(buf + k, len - (size_t)k, " v%g", p->value);
}

const cnn_layer_ops cnn_pad_ops = {
    .type = "pad",
    .mem = CNN_MEM_NO_X | CNN_MEM_NO_Y,
    .opt_size = sizeof(pad_opt),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = pad_configure,
    .shape = pad_shape,
    .forward = pad_forward,
    .backward = pad_backward,
    .describe = pad_describe,
};
