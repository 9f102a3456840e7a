/* conv.c — fast 2-D convolution (torch.nn.Conv2d semantics): im2col / col2im
 * and GEMM per image and group, batches split over OpenMP threads. See conv.h. */
#include "conv.h"
#include "../core/par.h"
#include "depthwise.h"
#include "direct.h"
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
static inline void zero_floats(float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = 0.0f;
}

/* Copies of at least this many floats are split over the threads when the
 * caller is not in a parallel region (a batch of one image: otherwise only
 * the GEMM would use the second core). Each row is written by one thread. */
#define CONV_PAR_MIN ((size_t)1 << 16)
static int copy_on_threads(size_t floats) {
    return floats >= CONV_PAR_MIN && !omp_in_parallel();
}

void cnn_im2col(const cnn_conv_geom *g, int c, const float *x, float *col) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow, sw = g->sw;
    const size_t ohw = (size_t)OH * OW;
    const int rows = c * g->kh;
    CNN_PAR_FOR(
        copy_on_threads((size_t)rows * g->kw * ohw), for (int cr = 0; cr < rows; cr++) {
            const int ci = cr / g->kh, ki = cr % g->kh;
            const float *xc = x + (size_t)ci * H * W;
            float *row = col + (size_t)cr * g->kw * ohw;
            int hoff = ki * g->dh - g->ph, h0, h1;
            valid_range(hoff, g->sh, H, OH, &h0, &h1);
            for (int kj = 0; kj < g->kw; kj++, row += ohw) {
                int woff = kj * g->dw - g->pw, w0, w1;
                valid_range(woff, sw, W, OW, &w0, &w1);
                zero_floats(row, (size_t)h0 * OW);
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
                zero_floats(row + (size_t)h1 * OW, (size_t)(OH - h1) * OW);
            }
        });
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

/* The sum of r[0..n) in double over 8 interleaved lanes (vectorised; one
 * serial chain of double adds was 6% of the classic MNIST net's training). */
static double sum_double(const float *r, int n) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int u = 0; u < 8; u++)
            lane[u] += r[j + u];
    double s =
        ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
    for (; j < n; j++)
        s += r[j];
    return s;
}

/* ---- stride 1, dilation 1, one group: shifted rows ------------------------
 *
 * With the input zero-padded into planes of Hp x Wp (Hp = H + 2ph, Wp =
 * W + 2pw), row (ci, ki, kj) of the column matrix, taken at output width Wp
 * instead of OW, is ONE contiguous slice of the padded input: it starts at
 * ci*Hp*Wp + ki*Wp + kj and is N = OH*Wp long. So im2col is one long copy per
 * row and col2im one long add per row, instead of OH short ones. The GEMM then
 * computes Wp - OW extra "wrap-around" columns per output row, which are
 * dropped (forward) or fed zeros (backward, dy is widened with zero columns,
 * so they add exact zeros to dw and nothing to dx). The last row's slice
 * reads kw - 1 floats past its plane: the padded buffer has that much slack.
 * The price is N/(OH*OW) - 1 more GEMM work (8% for a 3x3 conv on 26x26). */

static int is_shifted(const cnn_conv_geom *g) {
    return g->groups == 1 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           !cnn_conv_is_pointwise(g);
}

/* Sizes of the shifted path's buffers: padded planes (with slack), the
 * column matrix and the widened output. */
static size_t shifted_pad_size(const cnn_conv_geom *g) {
    return (size_t)g->c * (g->h + 2 * g->ph) * (g->w + 2 * g->pw) + (size_t)g->kw;
}
static size_t shifted_n(const cnn_conv_geom *g) {
    return (size_t)g->oh * (g->w + 2 * g->pw);
}

static size_t align16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

/* Floats of work im2col + GEMM needs (the shifted rows or plain im2col). */
static size_t shifted_work_size(const cnn_conv_geom *g, int cap);

static size_t gemm_work_size(const cnn_conv_geom *g) {
    if (is_shifted(g)) return shifted_work_size(g, 1);
    return cnn_conv_is_pointwise(g) || cnn_conv_is_depthwise(g) ? 0 : cnn_conv_col_size(g);
}

/* dx of a stride-1, dilation-1 conv of one group is the convolution of dy
 * (padded by kh-1-ph, kw-1-pw) with the weights flipped and transposed,
 * wt[ci,k,a,b] = w[k,ci,kh-1-a,kw-1-b]: *t gets that geometry. Returns 1
 * when the direct forward should compute dx that way. */
static int dx_direct(const cnn_conv_geom *g, cnn_conv_geom *t) {
    /* C not a multiple of 4 leaves the direct loops' last filter block part
     * empty: LeNet's 6 -> 16 5x5 backward measured 28.2 against 23.5 µs per
     * image; 32 -> 32 3x3 at 14x14, 104 against 118; but with a deeper
     * transposed conv (K*kh*kw = 576: the classic MNIST net's 32 -> 64 at
     * 26x26) the GEMM was faster, 259 against 286 (one thread). */
    if (!cnn_conv_direct_fits(g) || g->c % 4 || g->k * g->kh * g->kw > 320 || g->ph > g->kh - 1 ||
        g->pw > g->kw - 1)
        return 0;
    *t = (cnn_conv_geom){.c = g->k,
                         .h = g->oh,
                         .w = g->ow,
                         .k = g->c,
                         .kh = g->kh,
                         .kw = g->kw,
                         .sh = 1,
                         .sw = 1,
                         .ph = g->kh - 1 - g->ph,
                         .pw = g->kw - 1 - g->pw,
                         .dh = 1,
                         .dw = 1,
                         .groups = 1};
    return cnn_conv_geom_init(t) && t->oh == g->h && t->ow == g->w && cnn_conv_direct_pays(t);
}

/* wt (C, K, kh, kw) from w (K, C, kh, kw), each kernel flipped. */
static void flip_transpose(const cnn_conv_geom *g, const float *w, float *wt) {
    const int K = g->k, C = g->c, kk = g->kh * g->kw;
    for (int k = 0; k < K; k++)
        for (int ci = 0; ci < C; ci++)
            for (int t = 0; t < kk; t++)
                wt[((size_t)ci * K + k) * kk + (kk - 1 - t)] = w[((size_t)k * C + ci) * kk + t];
}

/* Floats of work the single-image functions need (their `col` argument). */
size_t cnn_conv_work_size(const cnn_conv_geom *g) {
    size_t s = gemm_work_size(g); /* the backward's, and the forward's unless direct */
    if (cnn_conv_direct_pays(g) && cnn_conv_direct_work_size(g) > s)
        s = cnn_conv_direct_work_size(g);
    return s;
}

/* The batch functions' per-thread work: also the direct dx's when it runs. */
static int shifted_cap(const cnn_conv_geom *g);

/* The images per GEMM of the batch functions (1: each image alone). */
static int batch_cap(const cnn_conv_geom *g) {
    return is_shifted(g) ? shifted_cap(g) : 1;
}

static size_t batch_work_size(const cnn_conv_geom *g) {
    size_t s = cnn_conv_work_size(g);
    if (batch_cap(g) > 1 && shifted_work_size(g, batch_cap(g)) > s)
        s = shifted_work_size(g, batch_cap(g));
    cnn_conv_geom t;
    if (dx_direct(g, &t) && cnn_conv_direct_work_size(&t) > s) s = cnn_conv_direct_work_size(&t);
    return s;
}

/* x (C,H,W) into xp (C,Hp,Wp) with zero borders, then `slack` zeros. */
void cnn_conv_pad_planes(const cnn_conv_geom *g, const float *x, float *xp, size_t slack) {
    const int H = g->h, W = g->w, ph = g->ph, pw = g->pw, Hp = H + 2 * ph, Wp = W + 2 * pw;
    CNN_PAR_FOR(
        copy_on_threads((size_t)g->c * Hp * Wp), for (int ci = 0; ci < g->c; ci++) {
            const float *xc = x + (size_t)ci * H * W;
            float *pc = xp + (size_t)ci * Hp * Wp;
            zero_floats(pc, (size_t)ph * Wp);
            for (int h = 0; h < H; h++) {
                float *restrict r = pc + (size_t)(h + ph) * Wp;
                const float *restrict xr = xc + (size_t)h * W;
                zero_floats(r, pw);
                memcpy(r + pw, xr, (size_t)W * sizeof(float));
                zero_floats(r + pw + W, pw);
            }
            zero_floats(pc + (size_t)(H + ph) * Wp, (size_t)ph * Wp);
        });
    zero_floats(xp + (size_t)g->c * Hp * Wp, slack);
}

/* col (C*kh*kw, ld): columns [0, n) of row (ci,ki,kj) are the slice of xp at
 * ci*Hp*Wp + ki*Wp + kj. */
static void shifted_im2col(const cnn_conv_geom *g, const float *xp, float *col, size_t ld) {
    const int Wp = g->w + 2 * g->pw;
    const size_t plane = (size_t)(g->h + 2 * g->ph) * Wp, n = shifted_n(g);
    const int kk = g->kh * g->kw, rows = g->c * kk;
    CNN_PAR_FOR(
        copy_on_threads((size_t)rows * n), for (int r = 0; r < rows; r++) {
            const int ci = r / kk, ki = r % kk / g->kw, kj = r % g->kw;
            memcpy(col + (size_t)r * ld, xp + ci * plane + (size_t)ki * Wp + kj, n * sizeof(float));
        });
}

/* The adjoint: columns [0, n) of each row of col (ld apart) are added onto
 * their slice of xp (C,Hp,Wp), which is zeroed first; the part of a slice
 * past its plane is dropped (the wrap-around columns carry zeros there). */
static void shifted_col2im(const cnn_conv_geom *g, const float *col, size_t ld, float *xp) {
    const int Wp = g->w + 2 * g->pw;
    const size_t plane = (size_t)(g->h + 2 * g->ph) * Wp, n = shifted_n(g);
    zero_floats(xp, g->c * plane);
    const float *row = col;
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++, row += ld) {
                size_t off = (size_t)ki * Wp + kj, len = plane - off < n ? plane - off : n;
                float *restrict dst = xp + ci * plane + off;
                const float *restrict src = row;
                for (size_t j = 0; j < len; j++)
                    dst[j] += src[j];
            }
}

/* Several images per GEMM: on small planes a GEMM of one image is only
 * n = OH*Wp columns wide (63 for a 7x7 conv), too narrow for the kernel;
 * `cap` images side by side make it cap*n wide (64 -> 64 filters at 7x7,
 * one thread: 67 GFLOP/s for one image per GEMM, 90 for 16). Images are
 * taken up to about 1 MB of column matrix, at most 16. */
static int shifted_cap(const cnn_conv_geom *g) {
    if (shifted_n(g) >= 128) return 1;
    size_t per = ((size_t)g->c * g->kh * g->kw + (size_t)g->k) * shifted_n(g);
    size_t cap = ((size_t)1 << 18) / per;
    return cap < 1 ? 1 : cap > 16 ? 16 : (int)cap;
}

/* The work of cnt <= cap images: [xp | col (ckk, cap*n) | out (K, cap*n)]. */
static size_t shifted_work_size(const cnn_conv_geom *g, int cap) {
    size_t n = shifted_n(g) * (size_t)cap, ckk = (size_t)g->c * g->kh * g->kw;
    return align16(shifted_pad_size(g)) + align16(ckk * n) + align16((size_t)g->k * n);
}

/* cnt images (x, y consecutive), their columns side by side (ld = cnt*n). */
static void shifted_forward(const cnn_conv_geom *g, int cnt, int cap, const float *x,
                            const float *w, const float *b, float *y, float *work) {
    const int Wp = g->w + 2 * g->pw, OH = g->oh, OW = g->ow, K = g->k;
    const int ckk = g->c * g->kh * g->kw, n = (int)shifted_n(g), ld = cnt * n;
    const size_t in = (size_t)g->c * g->h * g->w, out_sz = (size_t)K * OH * OW;
    float *xp = work, *col = xp + align16(shifted_pad_size(g));
    float *out = col + align16((size_t)ckk * n * cap);
    for (int j = 0; j < cnt; j++) {
        cnn_conv_pad_planes(g, x + in * j, xp, (size_t)g->kw);
        shifted_im2col(g, xp, col + (size_t)j * n, ld);
    }
    cnn_gemm(0, 0, K, ld, ckk, 1.0f, w, ckk, col, ld, 0.0f, out, ld);
    for (int j = 0; j < cnt; j++)
        for (int k = 0; k < K; k++) {
            const float bk = b ? b[k] : 0.0f;
            for (int oh = 0; oh < OH; oh++) {
                const float *restrict o = out + (size_t)k * ld + (size_t)j * n + (size_t)oh * Wp;
                float *restrict yr = y + out_sz * j + ((size_t)k * OH + oh) * OW;
                for (int ow = 0; ow < OW; ow++)
                    yr[ow] = o[ow] + bk;
            }
        }
}

/* cnt images as in shifted_forward; dx (cnt images) overwritten, dw and db accumulated. */
static void shifted_backward(const cnn_conv_geom *g, int cnt, int cap, const float *x,
                             const float *w, const float *dy, float *dx, float *dw, float *db,
                             float *work) {
    const int Wp = g->w + 2 * g->pw, OH = g->oh, OW = g->ow, K = g->k;
    const int ckk = g->c * g->kh * g->kw, n = (int)shifted_n(g), ohw = OH * OW, ld = cnt * n;
    const size_t in = (size_t)g->c * g->h * g->w, out_sz = (size_t)K * ohw;
    float *xp = work, *col = xp + align16(shifted_pad_size(g));
    float *dyp = col + align16((size_t)ckk * n * cap);
    for (int j = 0; db && j < cnt; j++)
        for (int k = 0; k < K; k++) {
            const float *r = dy + out_sz * j + (size_t)k * ohw;
            db[k] += (float)sum_double(r, ohw);
        }
    if (!dw && !dx) return;
    for (int j = 0; j < cnt; j++)
        for (int k = 0; k < K; k++)
            for (int oh = 0; oh < OH; oh++) {
                float *restrict o = dyp + (size_t)k * ld + (size_t)j * n + (size_t)oh * Wp;
                const float *restrict dr = dy + out_sz * j + ((size_t)k * OH + oh) * OW;
                for (int ow = 0; ow < OW; ow++)
                    o[ow] = dr[ow];
                zero_floats(o + OW, Wp - OW);
            }
    if (dw) { /* dw (K, ckk) += dyp (K, ld) * col^T (ld, ckk) */
        for (int j = 0; j < cnt; j++) {
            cnn_conv_pad_planes(g, x + in * j, xp, (size_t)g->kw);
            shifted_im2col(g, xp, col + (size_t)j * n, ld);
        }
        cnn_gemm(0, 1, K, ckk, ld, 1.0f, dyp, ld, col, ld, 1.0f, dw, ckk);
    }
    if (dx) { /* dcol (ckk, ld) = w^T (ckk, K) * dyp (K, ld), then the adjoint into xp */
        const int H = g->h, W = g->w, ph = g->ph, pw = g->pw, Hp = H + 2 * ph;
        cnn_gemm(1, 0, ckk, ld, K, 1.0f, w, ckk, dyp, ld, 0.0f, col, ld);
        for (int j = 0; j < cnt; j++) {
            shifted_col2im(g, col + (size_t)j * n, ld, xp);
            for (int ci = 0; ci < g->c; ci++)
                for (int h = 0; h < H; h++) {
                    const float *restrict r = xp + ((size_t)ci * Hp + h + ph) * Wp + pw;
                    float *restrict d = dx + in * j + ((size_t)ci * H + h) * W;
                    for (int q = 0; q < W; q++)
                        d[q] = r[q];
                }
        }
    }
}

/* The shifted layout computes kw - 1 wrap-around columns per output row, K
 * of them per input row of the column matrix. On small planes with many
 * filters that is more GEMM work than plain im2col's shorter row copies cost
 * (ResNet-18 at batch 1: +7% multiply-adds at 28x28, +14% at 14x14, +29% at
 * 7x7; plain im2col measured 11-25% faster on those layers); few filters
 * (LeNet, the MNIST nets) or large planes keep the shifted copy. Forward only. */
static int shifted_forward_pays(const cnn_conv_geom *g) {
    return (size_t)g->oh * g->ow > 28 * 28 || g->k * (g->kw - 1) < 256;
}

/* x is (C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (K,OH,OW) */
void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *col) {
    if (cnn_conv_direct_pays(g)) {
        cnn_conv_direct_forward(g, x, w, b, y, col);
        return;
    }
    if (is_shifted(g) && shifted_forward_pays(g)) {
        shifted_forward(g, 1, 1, x, w, b, y, col);
        return;
    }
    if (cnn_conv_is_depthwise(g)) {
        cnn_dw_forward(g, x, w, b, y);
        return;
    }
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
    if (is_shifted(g)) {
        shifted_backward(g, 1, 1, x, w, dy, dx, dw, db, col);
        return;
    }
    if (cnn_conv_is_depthwise(g)) {
        cnn_dw_backward(g, x, w, dy, dx, dw, db);
        return;
    }
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
                db[gi * kg + k] += (float)sum_double(r, ohw);
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

static int team_size(int n, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    if (n < nthreads) nthreads = n < 1 ? 1 : n;
    return nthreads;
}

/* One thread's slice of scratch: [col | dw partial | db partial], each 64-byte aligned. */
static size_t col_part(const cnn_conv_geom *g) {
    return align16(batch_work_size(g));
}
static size_t slice_size(const cnn_conv_geom *g) {
    return col_part(g) + align16(cnn_conv_weight_size(g)) + align16((size_t)g->k);
}

size_t cnn_conv_slice_size(const cnn_conv_geom *g) {
    return slice_size(g);
}

/* The slices, then (for the direct dx) the flipped weights, shared. */
size_t cnn_conv_scratch_size(const cnn_conv_geom *g, int n, int nthreads) {
    return (size_t)team_size(n, nthreads) * slice_size(g) + align16(cnn_conv_weight_size(g));
}

/* A batch of one image (or one thread) runs outside any parallel region:
 * inside even a one-thread region OpenBLAS would start a nested team, which
 * competes with the idle threads of ours for the cores (libgomp spin-waits).
 * Outside, its GEMMs use the threads themselves.
 *
 * x is (N,C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (N,K,OH,OW) */
/* Images [lo, hi) of a batch in runs of at most cap, one GEMM per run. */
static void forward_run(const cnn_conv_geom *g, int lo, int hi, int cap, const float *x,
                        const float *w, const float *b, float *y, float *work) {
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->k * g->oh * g->ow;
    for (int i = lo; i < hi; i += cap) {
        const int cnt = hi - i < cap ? hi - i : cap;
        if (cap > 1)
            shifted_forward(g, cnt, cap, x + in * i, w, b, y + out * i, work);
        else
            cnn_conv_forward(g, x + in * i, w, b, y + out * i, work);
    }
}

/* This thread's contiguous share [*lo, *hi) of n images. */
static void thread_share(int n, int *lo, int *hi) {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    *lo = (int)((long)n * t / nt);
    *hi = (int)((long)n * (t + 1) / nt);
}

void cnn_conv_forward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                            const float *b, float *y, float *scratch, int nthreads) {
    if (n <= 0) return;
    const size_t per = slice_size(g);
    /* several images per GEMM only where the forward takes the shifted rows */
    const int cap = shifted_forward_pays(g) && !cnn_conv_direct_pays(g) ? batch_cap(g) : 1;
    if (team_size(n, nthreads) == 1) { /* no region: the GEMM may use the threads */
        forward_run(g, 0, n, cap, x, w, b, y, scratch);
        return;
    }
#pragma omp parallel num_threads(team_size(n, nthreads))
    {
        int lo, hi;
        thread_share(n, &lo, &hi);
        forward_run(g, lo, hi, cap, x, w, b, y, scratch + per * (size_t)omp_get_thread_num());
    }
}

/* Backward of images [lo, hi) in runs of at most cap; dx (may be NULL) is
 * the whole batch's, dw and db this thread's partial sums. */
static void backward_run(const cnn_conv_geom *g, int lo, int hi, int cap, const float *x,
                         const float *w, const float *dy, float *dx, float *dw, float *db,
                         float *work) {
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->k * g->oh * g->ow;
    for (int i = lo; i < hi; i += cap) {
        const int cnt = hi - i < cap ? hi - i : cap;
        float *dxi = dx ? dx + in * i : NULL;
        if (cap > 1)
            shifted_backward(g, cnt, cap, x + in * i, w, dy + out * i, dxi, dw, db, work);
        else
            cnn_conv_backward(g, x + in * i, w, dy + out * i, dxi, dw, db, work);
    }
}

/* dy is (N,K,OH,OW), x is (N,C,H,W); dx (N,C,H,W) overwritten, dw, db accumulated.
 * Where the direct forward pays on the transposed geometry, dx is that
 * convolution of dy (dx_direct), and the GEMM path computes dw and db only. */
void cnn_conv_backward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db, float *scratch,
                             int nthreads) {
    if (n <= 0) return;
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->k * g->oh * g->ow;
    const size_t per = slice_size(g), cp = col_part(g);
    const size_t wsz = cnn_conv_weight_size(g), wpart = cp, bpart = cp + align16(wsz);
    const long nw = (long)wsz, nb = g->k;
    const int team = team_size(n, nthreads);
    cnn_conv_geom tg;
    const int direct_dx = dx && dx_direct(g, &tg);
    float *wt = scratch + (size_t)team * per;
    if (direct_dx) flip_transpose(g, w, wt);
    float *gemm_dx = direct_dx ? NULL : dx;
    const int cap = batch_cap(g);
    if (team == 1) { /* the same sums, outside a region (see forward) */
        float *pw = dw ? scratch + wpart : NULL, *pb = db ? scratch + bpart : NULL;
        if (pw) memset(pw, 0, wsz * sizeof(float));
        if (pb) memset(pb, 0, (size_t)g->k * sizeof(float));
        backward_run(g, 0, n, cap, x, w, dy, gemm_dx, pw, pb, scratch);
        for (int i = 0; direct_dx && i < n; i++)
            cnn_conv_direct_forward(&tg, dy + out * i, wt, NULL, dx + in * i, scratch);
        for (long j = 0; pw && j < nw; j++)
            dw[j] += pw[j];
        for (long j = 0; pb && j < nb; j++)
            db[j] += pb[j];
        return;
    }
#pragma omp parallel num_threads(team)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *mine = scratch + per * (size_t)t;
        float *pw = dw ? mine + wpart : NULL, *pb = db ? mine + bpart : NULL;
        if (pw) memset(pw, 0, wsz * sizeof(float));
        if (pb) memset(pb, 0, (size_t)g->k * sizeof(float));
        int lo, hi;
        thread_share(n, &lo, &hi);
        backward_run(g, lo, hi, cap, x, w, dy, gemm_dx, pw, pb, mine);
        for (int i = lo; direct_dx && i < hi; i++)
            cnn_conv_direct_forward(&tg, dy + out * i, wt, NULL, dx + in * i, mine);
#pragma omp barrier
        /* Every partial sum is complete now. */
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
