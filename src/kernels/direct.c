/* direct.c — direct convolution for few input channels: stride 1, dilation
 * 1, one group (LeNet's and the MNIST nets' first layers, where the GEMM of
 * im2col has a depth C*kh*kw of 9 to 150 and one to a few dozen rows, far
 * from the shapes a GEMM kernel is fast on).
 *
 * Forward only, from a zero-padded copy xp (C, Hp, Wp) of the input:
 *   y[k,oh,ow] = b[k] + sum_{ci,ki,kj} w[k,ci,ki,kj] * xp[ci,oh+ki,ow+kj],
 * 4 output channels x 16 output columns in registers at a time. (Direct
 * loops for the backward passes were written and measured too: 1.1-1.7x
 * slower than im2col + GEMM on these shapes, so the backward stays a GEMM.)
 * Sums run in a fixed order. This file is built with -ffp-contract=fast, so
 * the AVX-512 and AVX2 builds (picked at run time) fuse each multiply-add and
 * give the same bits; the baseline build rounds the product separately.
 * The column loops run 16 wide past the end of a row: the extra lanes read
 * the next row (or the slack behind the last plane) and are never stored. */
#include "direct.h"
#include <string.h>

#define LANES 16
#define KB 4 /* output channels per register block (forward) */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define DIRECT_CLONES 1
#define DIRECT_INLINE static inline __attribute__((always_inline))
#else
#define DIRECT_CLONES 0
#define DIRECT_INLINE static inline
#endif

static int pad_w(const cnn_conv_geom *g) {
    return g->w + 2 * g->pw;
}
static size_t plane(const cnn_conv_geom *g) {
    return (size_t)(g->h + 2 * g->ph) * pad_w(g);
}
static size_t round16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

int cnn_conv_direct_fits(const cnn_conv_geom *g) {
    return g->groups == 1 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->oh >= 1 && g->ow >= 1;
}

/* The rule, measured with one thread, forward, µs per image, direct vs
 * im2col + GEMM (3x3 cases: `bench convk direct|gemm C K H W N 1 5`,
 * docs/benchmarks.md, "Direct convolution"):
 * direct wins while the 16-wide column chunks are at least 3/4 full and the
 * depth C*kh*kw is at most 640 (1x28x28 -> 24: 5.5 vs 7.7; 24x14x14 -> 48:
 * 43.8 vs 57.5; 32x14x14 -> 32: 41.0 vs 58.6; 64x56x56 -> 64: 2576 vs 3463),
 * and loses on 7-wide planes (64x7x7 -> 64: 77.0 vs 68.5), on deep inputs
 * (512x7x7: 5376 vs 3319; 128x28x28 about even) and on one channel into
 * many filters (1 -> 128: 42.0 vs 34.0). */
int cnn_conv_direct_enabled = 1;

int cnn_conv_direct_pays(const cnn_conv_geom *g) {
    if (!cnn_conv_direct_enabled || !cnn_conv_direct_fits(g)) return 0;
    const int ckk = g->c * g->kh * g->kw, chunks = (g->ow + LANES - 1) / LANES;
    return 4 * g->ow >= 3 * LANES * chunks && ckk <= 640 && (ckk >= 32 || g->k <= 64);
}

/* One padded plane set with slack for the 16-wide over-read. */
static size_t padded_size(const cnn_conv_geom *g) {
    return round16((size_t)g->c * plane(g) + LANES + (size_t)g->kw);
}

size_t cnn_conv_direct_work_size(const cnn_conv_geom *g) {
    /* xp, then the blocked weights */
    return padded_size(g) + round16((size_t)g->c * g->kh * g->kw * KB);
}

/* 16 floats; the builds below map it to one AVX-512 register, two AVX2
 * registers or four SSE registers. */
typedef float v16 __attribute__((vector_size(64)));

DIRECT_INLINE v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
DIRECT_INLINE v16 splat16(float f) {
    const v16 zero = {0};
    return zero + f; /* a scalar operand is broadcast */
}
/* The first len floats of p, zeros behind. */
DIRECT_INLINE v16 load16_part(const float *p, int len) {
    if (len >= LANES) return load16(p);
    float t[LANES] = {0};
    memcpy(t, p, (size_t)len * sizeof(float));
    return load16(t);
}
/* The first len lanes of v to p. */
DIRECT_INLINE void store16_part(float *p, v16 v, int len) {
    if (len >= LANES) {
        memcpy(p, &v, sizeof v);
        return;
    }
    for (int j = 0; j < len; j++)
        p[j] = v[j];
}
DIRECT_INLINE float sum16(v16 v) {
    float s = 0.0f;
    for (int j = 0; j < LANES; j++)
        s += v[j];
    return s;
}

/* ---- forward ------------------------------------------------------------ */

/* wb (ceil(K/4)*4 blocks of (C*kh*kw, 4)): the weights of 4 output channels
 * side by side, zeros for the channels past K. */
DIRECT_INLINE void fwd_body(const cnn_conv_geom *g, const float *xp, const float *w,
                            const float *b, float *y, float *wb) {
    const int K = g->k, C = g->c, kh = g->kh, kw = g->kw, OH = g->oh, OW = g->ow, Wp = pad_w(g);
    const int kk = kh * kw, ckk = C * kk;
    const size_t pl = plane(g), ohw = (size_t)OH * OW;
    for (int k0 = 0; k0 < K; k0 += KB) {
        const int nk = K - k0 < KB ? K - k0 : KB;
        for (int t = 0; t < ckk; t++)
            for (int u = 0; u < KB; u++)
                wb[t * KB + u] = u < nk ? w[(size_t)(k0 + u) * ckk + t] : 0.0f;
        const v16 b0 = splat16(b ? b[k0] : 0.0f);
        const v16 b1 = splat16(b && nk > 1 ? b[k0 + 1] : 0.0f);
        const v16 b2 = splat16(b && nk > 2 ? b[k0 + 2] : 0.0f);
        const v16 b3 = splat16(b && nk > 3 ? b[k0 + 3] : 0.0f);
        for (int oh = 0; oh < OH; oh++)
            for (int ow0 = 0; ow0 < OW; ow0 += LANES) {
                v16 a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                const float *wt = wb;
                for (int ci = 0; ci < C; ci++)
                    for (int ki = 0; ki < kh; ki++) {
                        const float *row = xp + ci * pl + (size_t)(oh + ki) * Wp + ow0;
                        for (int kj = 0; kj < kw; kj++, wt += KB) {
                            const v16 s = load16(row + kj);
                            a0 += wt[0] * s;
                            a1 += wt[1] * s;
                            a2 += wt[2] * s;
                            a3 += wt[3] * s;
                        }
                    }
                const int len = OW - ow0 < LANES ? OW - ow0 : LANES;
                float *yo = y + (size_t)k0 * ohw + (size_t)oh * OW + ow0;
                store16_part(yo, a0, len);
                if (nk > 1) store16_part(yo + ohw, a1, len);
                if (nk > 2) store16_part(yo + 2 * ohw, a2, len);
                if (nk > 3) store16_part(yo + 3 * ohw, a3, len);
            }
    }
}

/* ---- builds for this CPU ------------------------------------------------ */

typedef void (*fwd_fn)(const cnn_conv_geom *, const float *, const float *, const float *,
                       float *, float *);

#define DIRECT_BUILD(suffix, attr)                                                                 \
    attr static void fwd_##suffix(const cnn_conv_geom *g, const float *xp, const float *w,         \
                                  const float *b, float *y, float *wb) {                           \
        fwd_body(g, xp, w, b, y, wb);                                                              \
    }

DIRECT_BUILD(base, )
#if DIRECT_CLONES
DIRECT_BUILD(avx2, __attribute__((target("avx2,fma"))))
DIRECT_BUILD(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif

static fwd_fn pick(void) {
#if DIRECT_CLONES
    if (__builtin_cpu_supports("avx512f")) return fwd_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fwd_avx2;
#endif
    return fwd_base;
}

/* ---- entry points ------------------------------------------------------- */

void cnn_conv_direct_forward(const cnn_conv_geom *g, const float *x, const float *w,
                             const float *b, float *y, float *work) {
    cnn_conv_pad_planes(g, x, work, LANES + (size_t)g->kw);
    pick()(g, work, w, b, y, work + padded_size(g));
}
