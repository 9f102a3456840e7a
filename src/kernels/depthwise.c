/* depthwise.c — direct depthwise convolution (see depthwise.h).
 *
 * im2col + GEMM is a poor fit when every group has one input channel: each
 * group's GEMM is (m x kh*kw) * (kh*kw x OH*OW), far too thin for a BLAS, and
 * the column matrix costs kh*kw copies of the input. Here each (ki, kj) tap is
 * one pass of y_row += w * x_row over the valid part of every output row, a
 * loop the compiler vectorises for stride 1. */
#include "depthwise.h"
#include <string.h>

int cnn_conv_is_depthwise(const cnn_conv_geom *g) {
    return g->groups > 1 && g->groups == g->c && g->k % g->groups == 0;
}

/* The outputs o in [*lo, *hi) whose input o*stride + off lies in [0, in). */
static void valid_range(int off, int stride, int in, int out, int *lo, int *hi) {
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
    if (b > out) b = out;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* sum(a[j] * b[j * s]) over 8 float lanes, added in a fixed order. */
static float dot_strided(const float *restrict a, const float *restrict b, int n, int s) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    if (s == 1)
        for (; j + 8 <= n; j += 8)
            for (int u = 0; u < 8; u++)
                lane[u] += a[j + u] * b[j + u];
    for (int u = 0; j < n; j++, u = (u + 1) & 7)
        lane[u] += a[j] * b[(size_t)j * s];
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) +
           ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

/* x (C,H,W), w (K,1,kh,kw), b (K) or NULL, y (K,OH,OW); channel k reads x[k/m], m = K/C. */
void cnn_dw_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                    float *y) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow, sw = g->sw, m = g->k / g->c;
    const size_t ohw = (size_t)OH * OW, hw = (size_t)H * W;
    for (int k = 0; k < g->k; k++) {
        const float *xc = x + (size_t)(k / m) * hw;
        const float *wk = w + (size_t)k * g->kh * g->kw;
        float *yk = y + (size_t)k * ohw;
        const float bk = b ? b[k] : 0.0f;
        for (size_t j = 0; j < ohw; j++)
            yk[j] = bk;
        /* Row by row, all taps: the output row stays in L1 across the kh*kw passes. */
        for (int oh = 0; oh < OH; oh++) {
            float *restrict yr = yk + (size_t)oh * OW;
            for (int ki = 0; ki < g->kh; ki++) {
                const int ih = oh * g->sh + ki * g->dh - g->ph;
                if (ih < 0 || ih >= H) continue;
                for (int kj = 0; kj < g->kw; kj++) {
                    const int woff = kj * g->dw - g->pw;
                    int w0, w1;
                    valid_range(woff, sw, W, OW, &w0, &w1);
                    const float wv = wk[ki * g->kw + kj];
                    const float *restrict xr = xc + (size_t)ih * W + woff;
                    if (sw == 1)
                        for (int ow = w0; ow < w1; ow++)
                            yr[ow] += wv * xr[ow];
                    else
                        for (int ow = w0; ow < w1; ow++)
                            yr[ow] += wv * xr[(size_t)ow * sw];
                }
            }
        }
    }
}

/* sum(r[0..n)) over 8 float lanes, added in a fixed order. */
static float sum8(const float *restrict r, size_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int u = 0; u < 8; u++)
            lane[u] += r[j + u];
    for (int u = 0; j < n; j++, u++)
        lane[u] += r[j];
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) +
           ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

/* dy (K,OH,OW), x (C,H,W), w (K,1,kh,kw): dx (C,H,W) overwritten, dw and db accumulated;
 * each skipped when NULL. */
void cnn_dw_backward(const cnn_conv_geom *g, const float *x, const float *w, const float *dy,
                     float *dx, float *dw, float *db) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow, sw = g->sw, m = g->k / g->c;
    const size_t ohw = (size_t)OH * OW, hw = (size_t)H * W;
    if (dx) memset(dx, 0, (size_t)g->c * hw * sizeof(float));
    for (int k = 0; k < g->k; k++) {
        const float *xc = x + (size_t)(k / m) * hw;
        float *dxc = dx ? dx + (size_t)(k / m) * hw : NULL;
        const float *wk = w + (size_t)k * g->kh * g->kw;
        float *dwk = dw ? dw + (size_t)k * g->kh * g->kw : NULL;
        const float *dyk = dy + (size_t)k * ohw;
        if (db) db[k] += sum8(dyk, ohw);
        for (int ki = 0; ki < g->kh; ki++) {
            int hoff = ki * g->dh - g->ph, h0, h1;
            valid_range(hoff, g->sh, H, OH, &h0, &h1);
            for (int kj = 0; kj < g->kw; kj++) {
                int woff = kj * g->dw - g->pw, w0, w1;
                valid_range(woff, sw, W, OW, &w0, &w1);
                const float wv = wk[ki * g->kw + kj];
                float acc = 0;
                for (int oh = h0; oh < h1; oh++) {
                    const float *restrict dr = dyk + (size_t)oh * OW;
                    const size_t xo = (size_t)(oh * g->sh + hoff) * W + woff;
                    if (dwk) acc += dot_strided(dr + w0, xc + xo + (size_t)w0 * sw, w1 - w0, sw);
                    if (dxc) {
                        float *restrict xr = dxc + xo;
                        if (sw == 1)
                            for (int ow = w0; ow < w1; ow++)
                                xr[ow] += wv * dr[ow];
                        else
                            for (int ow = w0; ow < w1; ow++)
                                xr[(size_t)ow * sw] += wv * dr[ow];
                    }
                }
                if (dwk) dwk[ki * g->kw + kj] += acc;
            }
        }
    }
}
