/* pool.c — max, average and global average pooling, forward and backward,
 * with torch.nn semantics (see pool.h). One image of c planes per call. */
#include "pool.h"
#include <limits.h>
#include <math.h>
#include <string.h>

static long long floor_div(long long a, long long b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
static int imin(int a, int b) {
    return a < b ? a : b;
}
static int imax(int a, int b) {
    return a > b ? a : b;
}

int cnn_pool_out_size(int in, int k, int stride, int pad, int dil, int ceil_mode) {
    long long num = (long long)in + 2LL * pad - (long long)dil * (k - 1) - 1;
    long long out = floor_div(num + (ceil_mode ? stride - 1 : 0), stride) + 1;
    /* torch: with ceil_mode the last window must start inside the input or the left padding */
    if (ceil_mode && (out - 1) * stride >= (long long)in + pad) out--;
    return out > INT_MAX ? INT_MAX : (int)out;
}

int cnn_pool_geom_init(cnn_pool_geom *g) {
    g->oh = cnn_pool_out_size(g->h, g->kh, g->sh, g->ph, g->dh, g->ceil_mode);
    g->ow = cnn_pool_out_size(g->w, g->kw, g->sw, g->pw, g->dw, g->ceil_mode);
    return g->oh >= 1 && g->ow >= 1;
}

/* The taps t in [*lo, *hi) of a window starting at start, step dil, that land in [0, in). */
static void taps(int start, int dil, int k, int in, int *lo, int *hi) {
    int a = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int b = in - 1 - start < 0 ? 0 : (in - 1 - start) / dil + 1;
    if (b > k) b = k;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* 2x2 windows at stride 2 without padding or dilation, every window inside
 * the input (so also ceil_mode when it adds no partial window): the pooling of
 * LeNet, VGG and most small nets, written without window bookkeeping. */
static int is_2x2_s2(const cnn_pool_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
           g->dh == 1 && g->dw == 1 && 2 * g->oh <= g->h && 2 * g->ow <= g->w;
}

/* dx (H,W) of one plane outside the 2x2/2 windows (a last odd row or
 * column) to zero: no window sends it a gradient. */
static void clear_uncovered(const cnn_pool_geom *g, float *dxc) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int h = 0; h < 2 * OH; h++)
        for (int w = 2 * OW; w < W; w++)
            dxc[(size_t)h * W + w] = 0.0f;
    for (int h = 2 * OH; h < H; h++)
        for (int w = 0; w < W; w++)
            dxc[(size_t)h * W + w] = 0.0f;
}

/* The same choice as the general loop: the first maximum in row-major order,
 * and a NaN beats everything (the last NaN wins, as v > m fails after it). */
static void maxpool_2x2_forward(const cnn_pool_geom *g, const float *x, float *y, int32_t *idx) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            const float *restrict r0 = xc + (size_t)(2 * oh) * W, *restrict r1 = r0 + W;
            float *restrict yr = y + ((size_t)c * OH + oh) * OW;
            int32_t *restrict ir = idx ? idx + ((size_t)c * OH + oh) * OW : NULL;
            const int32_t base = 2 * oh * W;
            for (int ow = 0; ow < OW; ow++) {
                float a = r0[2 * ow], b = r0[2 * ow + 1], cc = r1[2 * ow], d = r1[2 * ow + 1];
                float m = a;
                int32_t k = 0;
                int t = (b > m) | (b != b);
                m = t ? b : m;
                k = t ? 1 : k;
                t = (cc > m) | (cc != cc);
                m = t ? cc : m;
                k = t ? W : k;
                t = (d > m) | (d != d);
                m = t ? d : m;
                k = t ? W + 1 : k;
                yr[ow] = m;
                if (ir) ir[ow] = base + 2 * ow + k;
            }
        }
    }
}

/* Every input belongs to at most one window: write each window's four inputs
 * (dy at the argmax, 0 elsewhere) and clear a last odd row or column. */
static void maxpool_2x2_backward(const cnn_pool_geom *g, const float *dy, const int32_t *idx,
                                 float *dx) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            float *restrict r0 = dxc + (size_t)(2 * oh) * W, *restrict r1 = r0 + W;
            const float *restrict dyr = dy + ((size_t)c * OH + oh) * OW;
            const int32_t *restrict ir = idx + ((size_t)c * OH + oh) * OW;
            const int32_t base = 2 * oh * W;
            for (int ow = 0; ow < OW; ow++) {
                int32_t k = ir[ow] - base - 2 * ow;
                float v = dyr[ow];
                r0[2 * ow] = k == 0 ? v : 0.0f;
                r0[2 * ow + 1] = k == 1 ? v : 0.0f;
                r1[2 * ow] = k == W ? v : 0.0f;
                r1[2 * ow + 1] = k == W + 1 ? v : 0.0f;
            }
        }
        clear_uncovered(g, dxc);
    }
}

int cnn_pool_simd_enabled = 1;

/* ---- 2x2/2 with AVX-512: 16 windows at a time -----------------------------
 *
 * Rows are de-interleaved into the windows' a b (top) and c d (bottom)
 * elements; each later element takes over where it beats the running maximum
 * (greater, or NaN: the scalar loop's rule), which leaves k = 0..3, the
 * position in row-major window order. In training that code is kept as one
 * byte per window (cnn_maxpool_codes_forward): the backward pass reads 1
 * byte per window instead of the 4 floats of x, which were out of cache by
 * then (finding the argmax again from x took 6-8% of a mnist_fast step). */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define POOL_AVX512 __attribute__((target("avx512f")))
#define POOL_SIMD 1

static int pool_avx512(void) {
    return cnn_pool_simd_enabled && __builtin_cpu_supports("avx512f");
}

static inline __mmask16 first_lanes(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* The argmax code k (0..3) and maximum m of windows ow0 .. ow0 + n - 1 of rows r0, r1. */
POOL_AVX512 static inline __m512i window_max(const float *r0, const float *r1, int n, __m512 *m) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __mmask16 m0 = first_lanes(2 * n), m1 = first_lanes(2 * n - 16);
    __m512 x0 = _mm512_maskz_loadu_ps(m0, r0), x1 = _mm512_maskz_loadu_ps(m1, r0 + 16);
    __m512 y0 = _mm512_maskz_loadu_ps(m0, r1), y1 = _mm512_maskz_loadu_ps(m1, r1 + 16);
    __m512 v[4] = {_mm512_permutex2var_ps(x0, ev, x1), _mm512_permutex2var_ps(x0, od, x1),
                   _mm512_permutex2var_ps(y0, ev, y1), _mm512_permutex2var_ps(y0, od, y1)};
    __m512 best = v[0];
    __m512i k = _mm512_setzero_si512();
    for (int j = 1; j < 4; j++) {
        __mmask16 t = _mm512_cmp_ps_mask(v[j], best, _CMP_GT_OQ) |
                      _mm512_cmp_ps_mask(v[j], v[j], _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, t, v[j]);
        k = _mm512_mask_mov_epi32(k, t, _mm512_set1_epi32(j));
    }
    *m = best;
    return k;
}

/* y and, when codes is not NULL, the argmax codes (bytes) of 2x2/2 windows.
 * (Forward with int32 indices, which only the kernel API asks for, takes the
 * portable loop.) */
POOL_AVX512 static void maxpool_2x2_avx512(const cnn_pool_geom *g, const float *x, float *y,
                                           uint8_t *codes) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++)
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = x + ((size_t)c * H + 2 * oh) * W, *r1 = r0 + W;
            const size_t o = ((size_t)c * OH + oh) * OW;
            for (int ow = 0; ow < OW; ow += 16) {
                const int n = OW - ow < 16 ? OW - ow : 16;
                __m512 m;
                __m512i k = window_max(r0 + 2 * ow, r1 + 2 * ow, n, &m);
                _mm512_mask_storeu_ps(y + o + ow, first_lanes(n), m);
                if (codes) _mm512_mask_cvtepi32_storeu_epi8(codes + o + ow, first_lanes(n), k);
            }
        }
}

/* dx of 2x2/2 windows from their codes: dy at the code's position, 0 elsewhere. */
POOL_AVX512 static void maxpool_2x2_codes_backward_avx512(const cnn_pool_geom *g,
                                                          const uint8_t *codes, const float *dy,
                                                          float *dx) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            float *d0 = dxc + (size_t)(2 * oh) * W, *d1 = d0 + W;
            const size_t o = ((size_t)c * OH + oh) * OW;
            for (int ow = 0; ow < OW; ow += 16) {
                const int n = OW - ow < 16 ? OW - ow : 16;
                uint8_t kb[16] = {0};
                memcpy(kb, codes + o + ow, (size_t)n);
                const __m512i k = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)kb));
                __m512 v = _mm512_maskz_loadu_ps(first_lanes(n), dy + o + ow), e[4];
                for (int j = 0; j < 4; j++)
                    e[j] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(j)), v);
                const __mmask16 m0 = first_lanes(2 * n), m1 = first_lanes(2 * n - 16);
                _mm512_mask_storeu_ps(d0 + 2 * ow, m0, _mm512_permutex2var_ps(e[0], lo, e[1]));
                _mm512_mask_storeu_ps(d0 + 2 * ow + 16, m1, _mm512_permutex2var_ps(e[0], hi, e[1]));
                _mm512_mask_storeu_ps(d1 + 2 * ow, m0, _mm512_permutex2var_ps(e[2], lo, e[3]));
                _mm512_mask_storeu_ps(d1 + 2 * ow + 16, m1, _mm512_permutex2var_ps(e[2], hi, e[3]));
            }
        }
        clear_uncovered(g, dxc);
    }
}
#else
#define POOL_SIMD 0
#endif

int cnn_maxpool_has_codes(const cnn_pool_geom *g) {
    return is_2x2_s2(g);
}

/* The portable versions: the 2x2 loops with the code in place of the index. */
static void maxpool_2x2_codes_generic(const cnn_pool_geom *g, const float *x, float *y,
                                      uint8_t *codes) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++)
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = x + ((size_t)c * H + 2 * oh) * W, *r1 = r0 + W;
            const size_t o = ((size_t)c * OH + oh) * OW;
            for (int ow = 0; ow < OW; ow++) {
                const float v[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
                float m = v[0];
                int k = 0;
                for (int j = 1; j < 4; j++)
                    if ((v[j] > m) | (v[j] != v[j])) {
                        m = v[j];
                        k = j;
                    }
                y[o + ow] = m;
                codes[o + ow] = (uint8_t)k;
            }
        }
}

static void maxpool_2x2_codes_backward_generic(const cnn_pool_geom *g, const uint8_t *codes,
                                               const float *dy, float *dx) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            float *r0 = dxc + (size_t)(2 * oh) * W, *r1 = r0 + W;
            const size_t o = ((size_t)c * OH + oh) * OW;
            for (int ow = 0; ow < OW; ow++) {
                const int k = codes[o + ow];
                const float v = dy[o + ow];
                r0[2 * ow] = k == 0 ? v : 0.0f;
                r0[2 * ow + 1] = k == 1 ? v : 0.0f;
                r1[2 * ow] = k == 2 ? v : 0.0f;
                r1[2 * ow + 1] = k == 3 ? v : 0.0f;
            }
        }
        clear_uncovered(g, dxc);
    }
}

void cnn_maxpool_codes_forward(const cnn_pool_geom *g, const float *x, float *y, uint8_t *codes) {
#if POOL_SIMD
    if (pool_avx512()) {
        maxpool_2x2_avx512(g, x, y, codes);
        return;
    }
#endif
    maxpool_2x2_codes_generic(g, x, y, codes);
}

void cnn_maxpool_codes_backward(const cnn_pool_geom *g, const uint8_t *codes, const float *dy,
                                float *dx) {
#if POOL_SIMD
    if (pool_avx512()) {
        maxpool_2x2_codes_backward_avx512(g, codes, dy, dx);
        return;
    }
#endif
    maxpool_2x2_codes_backward_generic(g, codes, dy, dx);
}

/* max(a, b) with the general loop's NaN rule: a NaN wins. Over any order of
 * the window it gives NaN if one is there and the maximum otherwise (ties
 * differ at most in the sign of a zero). */
static inline float max_nan(float a, float b) {
    return (b > a) | (b != b) ? b : a;
}

/* Without indices (inference), dilation 1: separable. For each output row
 * the window's input rows are reduced into one row m (vectorised), then each
 * output takes the max of its kw columns of m. MAXPOOL_SEP_W bounds m. */
#define MAXPOOL_SEP_W 1024
static int is_separable(const cnn_pool_geom *g) {
    return g->dh == 1 && g->dw == 1 && g->w <= MAXPOOL_SEP_W;
}

static void maxpool_sep_forward(const cnn_pool_geom *g, const float *x, float *y) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow, kw = g->kw, sw = g->sw, pw = g->pw;
    float m[MAXPOOL_SEP_W];
    /* The outputs [a, b) whose window lies inside the row. */
    int a = (pw + sw - 1) / sw, b = W - kw + pw < 0 ? 0 : (W - kw + pw) / sw + 1;
    if (b > OW) b = OW;
    if (a > b) a = b;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            float *restrict yr = y + ((size_t)c * OH + oh) * OW;
            int r0 = imax(oh * g->sh - g->ph, 0), r1 = imin(oh * g->sh - g->ph + g->kh, H);
            if (r0 >= r1) {
                for (int ow = 0; ow < OW; ow++)
                    yr[ow] = -INFINITY;
                continue;
            }
            const float *restrict x0 = xc + (size_t)r0 * W;
            for (int w = 0; w < W; w++)
                m[w] = x0[w];
            for (int r = r0 + 1; r < r1; r++) {
                const float *restrict xr = xc + (size_t)r * W;
                for (int w = 0; w < W; w++)
                    m[w] = max_nan(m[w], xr[w]);
            }
            for (int ow = 0; ow < OW; ow++) { /* edges here, the inside overwritten below */
                if (ow == a && b > a) ow = b;
                if (ow >= OW) break;
                int j0 = imax(ow * sw - pw, 0), j1 = imin(ow * sw - pw + kw, W);
                float v = -INFINITY;
                for (int j = j0; j < j1; j++)
                    v = j == j0 ? m[j] : max_nan(v, m[j]);
                yr[ow] = v;
            }
            if (sw == 1) {
                for (int ow = a; ow < b; ow++)
                    yr[ow] = m[ow - pw];
                for (int j = 1; j < kw; j++)
                    for (int ow = a; ow < b; ow++)
                        yr[ow] = max_nan(yr[ow], m[ow - pw + j]);
            } else { /* a strided pass per tap: vectorised (the per-output loop was not) */
                for (int ow = a; ow < b; ow++)
                    yr[ow] = m[ow * sw - pw];
                for (int j = 1; j < kw; j++)
                    for (int ow = a; ow < b; ow++)
                        yr[ow] = max_nan(yr[ow], m[ow * sw - pw + j]);
            }
        }
    }
}

/* x is (C,H,W), y is (C,OH,OW), idx is (C,OH,OW) or NULL */
void cnn_maxpool_forward(const cnn_pool_geom *g, const float *x, float *y, int32_t *idx) {
#if POOL_SIMD
    if (!idx && is_2x2_s2(g) && pool_avx512()) {
        maxpool_2x2_avx512(g, x, y, NULL);
        return;
    }
#endif
    if (is_2x2_s2(g)) {
        maxpool_2x2_forward(g, x, y, idx);
        return;
    }
    if (!idx && is_separable(g)) {
        maxpool_sep_forward(g, x, y);
        return;
    }
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            int hs = oh * g->sh - g->ph, k0, k1;
            taps(hs, g->dh, g->kh, H, &k0, &k1);
            for (int ow = 0; ow < OW; ow++) {
                int ws = ow * g->sw - g->pw, j0, j1;
                taps(ws, g->dw, g->kw, W, &j0, &j1);
                float m = -INFINITY;
                int32_t best = -1;
                if (k0 < k1 && j0 < j1) best = (hs + k0 * g->dh) * W + ws + j0 * g->dw;
                for (int ki = k0; ki < k1; ki++) {
                    const float *xr = xc + (size_t)(hs + ki * g->dh) * W;
                    for (int kj = j0; kj < j1; kj++) {
                        int iw = ws + kj * g->dw;
                        float v = xr[iw];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = (hs + ki * g->dh) * W + iw;
                        }
                    }
                }
                size_t o = ((size_t)c * OH + oh) * OW + ow;
                y[o] = m;
                if (idx) idx[o] = best;
            }
        }
    }
}

/* dy and idx are (C,OH,OW), dx (C,H,W) overwritten */
void cnn_maxpool_backward(const cnn_pool_geom *g, const float *dy, const int32_t *idx, float *dx) {
    if (is_2x2_s2(g)) {
        maxpool_2x2_backward(g, dy, idx, dx);
        return;
    }
    const size_t hw = (size_t)g->h * g->w, ohw = (size_t)g->oh * g->ow;
    memset(dx, 0, (size_t)g->c * hw * sizeof(float));
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * hw;
        const float *dyc = dy + (size_t)c * ohw;
        const int32_t *ic = idx + (size_t)c * ohw;
        for (size_t o = 0; o < ohw; o++)
            if (ic[o] >= 0) dxc[ic[o]] += dyc[o];
    }
}

/* The input rows [*lo, *hi) an average window covers and its torch divisor part. */
static int avg_span(int start, int k, int in, int pad, int *lo, int *hi) {
    int end = imin(start + k, in + pad);
    int full = end - start;
    *lo = imax(start, 0);
    *hi = imin(end, in);
    return full;
}

/* x is (C,H,W), y is (C,OH,OW) */
void cnn_avgpool_forward(const cnn_pool_geom *g, const float *x, float *y) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1, fh = avg_span(oh * g->sh - g->ph, g->kh, H, g->ph, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1, fw = avg_span(ow * g->sw - g->pw, g->kw, W, g->pw, &w0, &w1);
                size_t o = ((size_t)c * OH + oh) * OW + ow;
                if (h0 >= h1 || w0 >= w1) {
                    y[o] = 0;
                    continue;
                }
                float s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        s += xc[(size_t)ih * W + iw];
                int div = g->count_include_pad ? fh * fw : (h1 - h0) * (w1 - w0);
                y[o] = s / (float)div;
            }
        }
    }
}

/* dy is (C,OH,OW), dx (C,H,W) overwritten */
void cnn_avgpool_backward(const cnn_pool_geom *g, const float *dy, float *dx) {
    const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
    memset(dx, 0, (size_t)g->c * H * W * sizeof(float));
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1, fh = avg_span(oh * g->sh - g->ph, g->kh, H, g->ph, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1, fw = avg_span(ow * g->sw - g->pw, g->kw, W, g->pw, &w0, &w1);
                if (h0 >= h1 || w0 >= w1) continue;
                int div = g->count_include_pad ? fh * fw : (h1 - h0) * (w1 - w0);
                float d = dy[((size_t)c * OH + oh) * OW + ow] / (float)div;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        dxc[(size_t)ih * W + iw] += d;
            }
        }
    }
}

/* x is (C,HW), y is (C) */
void cnn_gap_forward(int c, int hw, const float *x, float *y) {
    for (int i = 0; i < c; i++) {
        const float *p = x + (size_t)i * hw;
        float s = 0;
        for (int j = 0; j < hw; j++)
            s += p[j];
        y[i] = s / (float)hw;
    }
}

/* dy is (C), dx (C,HW) overwritten */
void cnn_gap_backward(int c, int hw, const float *dy, float *dx) {
    for (int i = 0; i < c; i++) {
        float d = dy[i] / (float)hw, *p = dx + (size_t)i * hw;
        for (int j = 0; j < hw; j++)
            p[j] = d;
    }
}
