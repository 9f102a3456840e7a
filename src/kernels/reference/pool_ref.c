/* pool_ref.c — naive pooling, written straight from the torch.nn definitions:
 * every window tap is visited and tested, sums are in double. The reference
 * the fast kernels in pool.c are tested against. */
#include "../pool.h"
#include <math.h>
#include <string.h>

static int inside(int i, int lo, int hi) {
    return i >= lo && i < hi;
}

/* The max of the window at (oh, ow) of plane xc and where it is (-1: none). */
static float window_max(const cnn_pool_geom *g, const float *xc, int oh, int ow, int *where) {
    float m = -INFINITY;
    *where = -1;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int ih = oh * g->sh - g->ph + ki * g->dh, iw = ow * g->sw - g->pw + kj * g->dw;
            if (!inside(ih, 0, g->h) || !inside(iw, 0, g->w)) continue;
            float v = xc[ih * g->w + iw];
            if (*where < 0) *where = ih * g->w + iw; /* torch starts at the first tap inside */
            if (v > m || isnan(v)) {
                m = v;
                *where = ih * g->w + iw;
            }
        }
    return m;
}

void cnn_maxpool_forward_ref(const cnn_pool_geom *g, const float *x, float *y) {
    for (int c = 0; c < g->c; c++)
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                int where;
                y[(c * g->oh + oh) * g->ow + ow] =
                    window_max(g, x + (size_t)c * g->h * g->w, oh, ow, &where);
            }
}

void cnn_maxpool_backward_ref(const cnn_pool_geom *g, const float *x, const float *dy, float *dx) {
    memset(dx, 0, (size_t)g->c * g->h * g->w * sizeof(float));
    for (int c = 0; c < g->c; c++)
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                int where;
                window_max(g, x + (size_t)c * g->h * g->w, oh, ow, &where);
                if (where >= 0)
                    dx[(size_t)c * g->h * g->w + where] += dy[(c * g->oh + oh) * g->ow + ow];
            }
}

/* torch's divisor of the average window at (oh, ow), 0 if it holds no input. */
static int window_div(const cnn_pool_geom *g, int oh, int ow) {
    int in = 0, all = 0;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int ih = oh * g->sh - g->ph + ki, iw = ow * g->sw - g->pw + kj;
            /* taps past the right/bottom padding (ceil_mode) never count */
            if (inside(ih, -g->ph, g->h + g->ph) && inside(iw, -g->pw, g->w + g->pw)) all++;
            if (inside(ih, 0, g->h) && inside(iw, 0, g->w)) in++;
        }
    return in == 0 ? 0 : g->count_include_pad ? all : in;
}

/* The sum of the inputs under the average window at (oh, ow) of plane xc. */
static double window_sum(const cnn_pool_geom *g, const float *xc, int oh, int ow) {
    double s = 0;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int ih = oh * g->sh - g->ph + ki, iw = ow * g->sw - g->pw + kj;
            if (inside(ih, 0, g->h) && inside(iw, 0, g->w)) s += xc[ih * g->w + iw];
        }
    return s;
}

void cnn_avgpool_forward_ref(const cnn_pool_geom *g, const float *x, float *y) {
    for (int c = 0; c < g->c; c++)
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                int div = window_div(g, oh, ow);
                double s = window_sum(g, x + (size_t)c * g->h * g->w, oh, ow);
                y[(c * g->oh + oh) * g->ow + ow] = div ? (float)(s / div) : 0.0f;
            }
}

void cnn_avgpool_backward_ref(const cnn_pool_geom *g, const float *dy, float *dx) {
    memset(dx, 0, (size_t)g->c * g->h * g->w * sizeof(float));
    for (int c = 0; c < g->c; c++)
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                int div = window_div(g, oh, ow);
                if (!div) continue;
                for (int ki = 0; ki < g->kh; ki++)
                    for (int kj = 0; kj < g->kw; kj++) {
                        int ih = oh * g->sh - g->ph + ki, iw = ow * g->sw - g->pw + kj;
                        if (!inside(ih, 0, g->h) || !inside(iw, 0, g->w)) continue;
                        dx[((size_t)c * g->h + ih) * g->w + iw] +=
                            (float)((double)dy[(c * g->oh + oh) * g->ow + ow] / div);
                    }
            }
}

void cnn_gap_forward_ref(int c, int hw, const float *x, float *y) {
    for (int i = 0; i < c; i++) {
        double s = 0;
        for (int j = 0; j < hw; j++)
            s += x[(size_t)i * hw + j];
        y[i] = (float)(s / hw);
    }
}

void cnn_gap_backward_ref(int c, int hw, const float *dy, float *dx) {
    for (int i = 0; i < c; i++)
        for (int j = 0; j < hw; j++)
            dx[(size_t)i * hw + j] = (float)((double)dy[i] / hw);
}
