/* conv.c — fast 2-D convolution (torch.nn.Conv2d semantics): im2col / col2im
 * and GEMM per image and group, batches split over OpenMP threads. See conv.h. */
#include "conv.h"
#include "gemm.h"
#include <limits.h>
#include <omp.h>
#include <string.h>

/* Floor division for a possibly negative numerator and a positive divisor. */
static long long floor_div(long long a, long long b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int cnn_conv_out_size(int in, int k, int stride, int pad, int dil) {
    long long o = floor_div((long long)in + 2LL * pad - (long long)dil * (k - 1) - 1, stride) + 1;
    return o > INT_MAX ? INT_MAX : (int)o;
}

int cnn_conv_geom_init(cnn_conv_geom *g) {
    g->oh = cnn_conv_out_size(g->h, g->kh, g->sh, g->ph, g->dh);
    g->ow = cnn_conv_out_size(g->w, g->kw, g->sw, g->pw, g->dw);
    return g->oh >= 1 && g->ow >= 1;
}

int cnn_conv_is_pointwise(const cnn_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

size_t cnn_conv_col_size(const cnn_conv_geom *g) {
    return (size_t)(g->c / g->groups) * g->kh * g->kw * ((size_t)g->oh * g->ow);
}

size_t cnn_conv_weight_size(const cnn_conv_geom *g) {
    return (size_t)g->k * (g->c / g->groups) * g->kh * g->kw;
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

/* Rows are short (a few dozen floats), so they are copied and cleared with
 * inline loops the compiler vectorises instead of memcpy/memset calls, whose
 * per-call cost dominated small convolutions (LeNet: 22 instructions of
 * overhead per 28-float row). */
static inline void zero_floats(float *p, int n) {
    for (int i = 0; i < n; i++)
        p[i] = 0.0f;
}

void cnn_im2col(const cnn_conv_geom *g, int c, const float *x, float *col) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow, sw = g->sw;
    const size_t ohw = (size_t)OH * OW;
    float *row = col;
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * H * W;
        for (int ki = 0; ki < g->kh; ki++) {
            int hoff = ki * g->dh - g->ph, h0, h1;
            valid_range(hoff, g->sh, H, OH, &h0, &h1);
            for (int kj = 0; kj < g->kw; kj++, row += ohw) {
                int woff = kj * g->dw - g->pw, w0, w1;
                valid_range(woff, sw, W, OW, &w0, &w1);
                zero_floats(row, h0 * OW);
                for (int oh = h0; oh < h1; oh++) {
                    float *restrict r = row + (size_t)oh * OW;
                    const float *restrict xr = xc + (size_t)(oh * g->sh + hoff) * W + woff;
                    zero_floats(r, w0);
                    if (sw == 1) {
                        for (int ow = w0; ow < w1; ow++)
                            r[ow] = xr[ow];
                    } else {
                        for (int ow = w0; ow < w1; ow++)
                            r[ow] = xr[ow * sw];
                    }
                    zero_floats(r + w1, OW - w1);
                }
                zero_floats(row + (size_t)h1 * OW, (OH - h1) * OW);
            }
        }
    }
}

void cnn_col2im(const cnn_conv_geom *g, int c, const float *col, float *x) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow, sw = g->sw;
    const size_t ohw = (size_t)OH * OW;
    const float *row = col;
    for (int ci = 0; ci < c; ci++) {
        float *xc = x + (size_t)ci * H * W;
        for (int ki = 0; ki < g->kh; ki++) {
            int hoff = ki * g->dh - g->ph, h0, h1;
            valid_range(hoff, g->sh, H, OH, &h0, &h1);
            for (int kj = 0; kj < g->kw; kj++, row += ohw) {
                int woff = kj * g->dw - g->pw, w0, w1;
                valid_range(woff, sw, W, OW, &w0, &w1);
                for (int oh = h0; oh < h1; oh++) {
                    const float *restrict r = row + (size_t)oh * OW;
                    float *restrict xr = xc + (size_t)(oh * g->sh + hoff) * W + woff;
                    if (sw == 1) {
                        for (int ow = w0; ow < w1; ow++)
                            xr[ow] += r[ow];
                    } else {
                        for (int ow = w0; ow < w1; ow++)
                            xr[ow * sw] += r[ow];
                    }
                }
            }
        }
    }
}

/* x is (C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (K,OH,OW) */
void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *col) {
    const int cg = g->c / g->groups, kg = g->k / g->groups;
    const int ckk = cg * g->kh * g->kw, ohw = g->oh * g->ow;
    const size_t hw = (size_t)g->h * g->w;
    const int pointwise = cnn_conv_is_pointwise(g);
    for (int gi = 0; gi < g->groups; gi++) {
        const float *xg = x + (size_t)gi * cg * hw;
        const float *wg = w + (size_t)gi * kg * ckk;
        float *yg = y + (size_t)gi * kg * ohw;
        const float *cols = xg;
        if (!pointwise) {
            cnn_im2col(g, cg, xg, col);
            cols = col;
        }
        float beta = 0;
        if (b) {
            for (int k = 0; k < kg; k++) {
                float v = b[gi * kg + k];
                float *yr = yg + (size_t)k * ohw;
                for (int j = 0; j < ohw; j++)
                    yr[j] = v;
            }
            beta = 1;
        }
        cnn_gemm(0, 0, kg, ohw, ckk, 1.0f, wg, ckk, cols, ohw, beta, yg, ohw);
    }
}

/* dy is (K,OH,OW), x is (C,H,W), w is (K,C/g,kh,kw); dx (C,H,W) overwritten,
 * dw (K,C/g,kh,kw) and db (K) accumulated */
void cnn_conv_backward(const cnn_conv_geom *g, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *db, float *col) {
    const int cg = g->c / g->groups, kg = g->k / g->groups;
    const int ckk = cg * g->kh * g->kw, ohw = g->oh * g->ow;
    const size_t hw = (size_t)g->h * g->w;
    const int pointwise = cnn_conv_is_pointwise(g);
    for (int gi = 0; gi < g->groups; gi++) {
        const float *xg = x + (size_t)gi * cg * hw;
        const float *wg = w + (size_t)gi * kg * ckk;
        const float *dyg = dy + (size_t)gi * kg * ohw;
        if (db) {
            for (int k = 0; k < kg; k++) {
                const float *r = dyg + (size_t)k * ohw;
                double s = 0;
                for (int j = 0; j < ohw; j++)
                    s += r[j];
                db[gi * kg + k] += (float)s;
            }
        }
        if (dw) {
            /* dw_g (kg, ckk) += dy_g (kg, ohw) * cols^T (ohw, ckk) */
            const float *cols = xg;
            if (!pointwise) {
                cnn_im2col(g, cg, xg, col);
                cols = col;
            }
            cnn_gemm(0, 1, kg, ckk, ohw, 1.0f, dyg, ohw, cols, ohw, 1.0f,
                     dw + (size_t)gi * kg * ckk, ckk);
        }
        if (dx) {
            /* dcols (ckk, ohw) = w_g^T (ckk, kg) * dy_g (kg, ohw), then col2im */
            float *dxg = dx + (size_t)gi * cg * hw;
            if (pointwise) {
                cnn_gemm(1, 0, ckk, ohw, kg, 1.0f, wg, ckk, dyg, ohw, 0.0f, dxg, ohw);
            } else {
                cnn_gemm(1, 0, ckk, ohw, kg, 1.0f, wg, ckk, dyg, ohw, 0.0f, col, ohw);
                memset(dxg, 0, (size_t)cg * hw * sizeof(float));
                cnn_col2im(g, cg, col, dxg);
            }
        }
    }
}

/* ---- batches on threads ------------------------------------------------ */

static size_t align16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

static int team_size(int n, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    if (n < nthreads) nthreads = n < 1 ? 1 : n;
    return nthreads;
}

/* One thread's slice of scratch: [col | dw partial | db partial], each 64-byte aligned. */
static size_t col_part(const cnn_conv_geom *g) {
    return cnn_conv_is_pointwise(g) ? 0 : align16(cnn_conv_col_size(g));
}
static size_t slice_size(const cnn_conv_geom *g) {
    return col_part(g) + align16(cnn_conv_weight_size(g)) + align16((size_t)g->k);
}

size_t cnn_conv_scratch_size(const cnn_conv_geom *g, int n, int nthreads) {
    return (size_t)team_size(n, nthreads) * slice_size(g);
}

/* x is (N,C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (N,K,OH,OW) */
void cnn_conv_forward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                            const float *b, float *y, float *scratch, int nthreads) {
    if (n <= 0) return;
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->k * g->oh * g->ow;
    const size_t per = slice_size(g);
#pragma omp parallel for num_threads(team_size(n, nthreads)) schedule(static)
    for (int i = 0; i < n; i++) {
        float *col = scratch + per * (size_t)omp_get_thread_num();
        cnn_conv_forward(g, x + in * i, w, b, y + out * i, col);
    }
}

/* dy is (N,K,OH,OW), x is (N,C,H,W); dx (N,C,H,W) overwritten, dw, db accumulated */
void cnn_conv_backward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db, float *scratch,
                             int nthreads) {
    if (n <= 0) return;
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->k * g->oh * g->ow;
    const size_t per = slice_size(g), cp = col_part(g);
    const size_t wsz = cnn_conv_weight_size(g), wpart = cp, bpart = cp + align16(wsz);
    const long nw = (long)wsz, nb = g->k;
#pragma omp parallel num_threads(team_size(n, nthreads))
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *mine = scratch + per * (size_t)t;
        float *pw = dw ? mine + wpart : NULL, *pb = db ? mine + bpart : NULL;
        if (pw) memset(pw, 0, wsz * sizeof(float));
        if (pb) memset(pb, 0, (size_t)g->k * sizeof(float));
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++)
            cnn_conv_backward(g, x + in * i, w, dy + out * i, dx ? dx + in * i : NULL, pw, pb,
                              mine);
        /* The implicit barrier above makes every partial sum complete. */
        if (dw) {
#pragma omp for schedule(static)
            for (long j = 0; j < nw; j++) {
                float s = 0;
                for (int u = 0; u < nt; u++)
                    s += scratch[per * (size_t)u + wpart + (size_t)j];
                dw[j] += s;
            }
        }
        if (db) {
#pragma omp for schedule(static)
            for (long j = 0; j < nb; j++) {
                float s = 0;
                for (int u = 0; u < nt; u++)
                    s += scratch[per * (size_t)u + bpart + (size_t)j];
                db[j] += s;
            }
        }
    }
}
