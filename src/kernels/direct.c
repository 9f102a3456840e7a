/* direct.c — direct convolution for few input channels: stride 1, dilation
 * 1, one group (LeNet's and the MNIST nets' first layers, where the GEMM of
 * im2col has a depth C*kh*kw of 9 to 150 and one to a few dozen rows, far
 * from the shapes a GEMM kernel is fast on).
 *
 * Forward only, from a zero-padded copy xp (C, Hp, Wp) of the input:
 *   y[k,oh,ow] = b[k] + sum_{ci,ki,kj} w[k,ci,ki,kj] * xp[ci,oh+ki,ow+kj],
 * 8 output channels x 2 rows x 16 output columns in registers at a time with
 * AVX-512 (4 x 1 x 16 otherwise). (Direct
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
#define KBMAX 8 /* output channels per register block (forward), at most */
#define RMAX 2  /* output rows per register block (forward), at most */

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
    return g->groups == 1 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->oh >= 1 &&
           g->ow >= 1;
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
    return padded_size(g) + round16((size_t)g->c * g->kh * g->kw * KBMAX);
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

/* Output rows oh .. oh + R - 1, columns ow0 .. ow0 + 15, channels k0 ..
 * k0 + nk - 1 (nk <= KB): R x KB accumulators, each weight broadcast once
 * for the R rows, each input vector used by KB channels. */
DIRECT_INLINE void fwd_tile(const cnn_conv_geom *g, const float *xp, const float *wb,
                            const float *b, float *y, int k0, int nk, int oh, int ow0, const int KB,
                            const int R) {
    const int C = g->c, kh = g->kh, kw = g->kw, OW = g->ow, Wp = pad_w(g);
    const size_t pl = plane(g), ohw = (size_t)g->oh * OW;
    v16 a[RMAX][KBMAX];
    for (int u = 0; u < KB; u++) {
        const v16 bu = splat16(b && u < nk ? b[k0 + u] : 0.0f);
        for (int r = 0; r < R; r++)
            a[r][u] = bu;
    }
    const float *wt = wb;
    for (int ci = 0; ci < C; ci++)
        for (int ki = 0; ki < kh; ki++) {
            const float *row = xp + ci * pl + (size_t)(oh + ki) * Wp + ow0;
            for (int kj = 0; kj < kw; kj++, wt += KB) {
                v16 s[RMAX];
                for (int r = 0; r < R; r++)
                    s[r] = load16(row + (size_t)r * Wp + kj);
                for (int u = 0; u < KB; u++) {
                    const float wu = wt[u];
                    for (int r = 0; r < R; r++)
                        a[r][u] += wu * s[r];
                }
            }
        }
    const int len = OW - ow0 < LANES ? OW - ow0 : LANES;
    for (int r = 0; r < R; r++) {
        float *yo = y + (size_t)k0 * ohw + (size_t)(oh + r) * OW + ow0;
        for (int u = 0; u < KB; u++)
            if (u < nk) store16_part(yo + u * ohw, a[r][u], len);
    }
}

/* wb (ceil(K/KB)*KB blocks of (C*kh*kw, KB)): the weights of KB output
 * channels side by side, zeros for the channels past K. Every output sums
 * its taps in the same order whatever KB and R are. */
DIRECT_INLINE void fwd_body(const cnn_conv_geom *g, const float *xp, const float *w, const float *b,
                            float *y, float *wb, const int KB, const int R) {
    const int K = g->k, OH = g->oh, OW = g->ow, ckk = g->c * g->kh * g->kw;
    for (int k0 = 0; k0 < K; k0 += KB) {
        const int nk = K - k0 < KB ? K - k0 : KB;
        for (int t = 0; t < ckk; t++)
            for (int u = 0; u < KB; u++)
                wb[t * KB + u] = u < nk ? w[(size_t)(k0 + u) * ckk + t] : 0.0f;
        int oh = 0;
        for (; oh + R <= OH; oh += R)
            for (int ow0 = 0; ow0 < OW; ow0 += LANES)
                fwd_tile(g, xp, wb, b, y, k0, nk, oh, ow0, KB, R);
        for (; oh < OH; oh++) /* the rows left when R does not divide OH */
            for (int ow0 = 0; ow0 < OW; ow0 += LANES)
                fwd_tile(g, xp, wb, b, y, k0, nk, oh, ow0, KB, 1);
    }
}

/* ---- builds for this CPU ------------------------------------------------ */

typedef void (*fwd_fn)(const cnn_conv_geom *, const float *, const float *, const float *, float *,
                       float *);

#define DIRECT_BUILD(suffix, attr)                                                                 \
    attr static void fwd_##suffix(const cnn_conv_geom *g, const float *xp, const float *w,         \
                                  const float *b, float *y, float *wb) {                           \
        fwd_body(g, xp, w, b, y, wb, KB_, R_);                                                     \
    }

/* Tiles: 4 channels x 1 row where a vector takes several registers (AVX2,
 * SSE: 16 and 32 of the 16 registers), 8 x 2 with AVX-512 (16 of 32):
 * 4 x 1 was latency-bound there, four FMA chains for 4-cycle FMAs. */
#define KB_ 4
#define R_ 1
DIRECT_BUILD(base, )
#if DIRECT_CLONES
DIRECT_BUILD(avx2, __attribute__((target("avx2,fma"))))
#undef KB_
#undef R_
#define KB_ 8
#define R_ 2
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

void cnn_conv_direct_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                             float *y, float *work) {
    cnn_conv_pad_planes(g, x, work, LANES + (size_t)g->kw);
    pick()(g, work, w, b, y, work + padded_size(g));
}
