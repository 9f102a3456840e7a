/* winograd.c — Winograd F(4x4, 3x3) forward convolution. See winograd.h.
 *
 * Transforms (Lavin & Gray's F(4x4, 3x3), interpolation points 0, +-1, +-2):
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = | 1/4     0     0 |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6 -1/6  -1/6 |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6  1/6  -1/6 |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       | 1/24 1/12   1/6 |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       | 1/24 -1/12  1/6 |
 *         | 0  4  0 -5  0  1 |       | 0       0     1 |
 *
 * Data layout, for a block of nt tiles (ld = nt rounded up to LANES):
 *   U (36, K, C)   transformed weights, U[xi] = (G w G^T)[xi] for every (k, c)
 *   V (36, C, ld)  transformed input tiles
 *   M (36, K, ld)  M[xi] = U[xi] * V[xi], one GEMM per xi
 * Tile t of the batch is (image, tile row, tile column) in that order; tile
 * (ty, tx) reads input rows 4ty - ph .. 4ty - ph + 5 (outside the image: zero)
 * and writes output rows 4ty .. 4ty + 3 (clipped to the output).
 *
 * The transforms work on LANES tiles at once: every step is a loop over the
 * lanes, which the compiler turns into one vector operation. They are
 * compiled three times (x86-64, AVX2, AVX-512F), chosen at run time. No FP
 * contraction (-std=c11), so all three give the same bits.
 *
 * Threads: with enough tiles every thread takes whole blocks (its transforms
 * and 36 single-threaded GEMMs, in its own slice of scratch); with few tiles
 * (batch 1, small images) there is one block and the team splits each phase:
 * input transform by channel, GEMMs by xi, output transform by output channel. */
#include "winograd.h"
#include "gemm.h"
#include <omp.h>

#define LANES 16 /* tiles per vector step */
#define NX 36    /* elements of a transformed tile */

/* Tiles per block: at most TMAX (V and M of a 64-channel block then take
 * 2 x 36 x 64 x 128 floats = 2.4 MB, about the L2 of both cores), and the
 * per-thread blocks are used when every thread gets at least TMIN tiles. */
#define TMAX 128
#define TMIN 32

static size_t align16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

int cnn_wino_supported(const cnn_conv_geom *g) {
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->groups == 1;
}

/* ---- the plan: how tiles are cut into blocks ----------------------------- */

typedef struct {
    int th, tw;   /* tile rows and columns of one image */
    int T;        /* tiles in the batch */
    int team;     /* threads */
    int shared;   /* 1: one block, each phase split over the team */
    int nb, tb;   /* blocks, tiles per block (the last may have fewer) */
    int ld;       /* tb rounded up to LANES */
    size_t u, vm; /* floats of U, and of one block's V and M */
} wino_plan;

static int team_of(int nthreads) {
    return nthreads < 1 ? 1 : nthreads;
}

static void make_plan(const cnn_conv_geom *g, int n, int nthreads, wino_plan *p) {
    p->th = (g->oh + 3) / 4;
    p->tw = (g->ow + 3) / 4;
    p->T = n * p->th * p->tw;
    p->team = team_of(nthreads);
    if (p->T >= p->team * TMIN || p->team == 1) {
        int per = (p->T + p->team * TMAX - 1) / (p->team * TMAX);
        p->shared = 0;
        p->nb = p->team * per;
        p->tb = (p->T + p->nb - 1) / p->nb;
    } else {
        p->shared = 1;
        p->nb = 1;
        p->tb = p->T;
    }
    p->ld = (int)align16((size_t)p->tb);
    p->u = align16((size_t)NX * g->k * g->c);
    p->vm = (size_t)NX * (g->c + g->k) * p->ld;
}

/* Every block layout make_plan can choose for up to n images fits in
 * NX * (C + K) * min(T + 16 team, team * TMAX) floats after U (see the plan:
 * team blocks of ld <= tb + 15 with tb <= T / team + 1, or one of ld <= T + 15). */
size_t cnn_wino_scratch_size(const cnn_conv_geom *g, int n, int nthreads) {
    const int team = team_of(nthreads);
    size_t T = (size_t)n * ((g->oh + 3) / 4) * ((g->ow + 3) / 4);
    size_t s = T + 16 * (size_t)team, cap = (size_t)team * TMAX;
    if (s > cap) s = cap;
    return align16((size_t)NX * g->k * g->c) + (size_t)NX * (g->c + g->k) * s;
}

/* ---- the transforms, on LANES tiles at once -------------------------------- */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define WINO_CLONES 1
#define WINO_INLINE static inline __attribute__((always_inline))
#else
#define WINO_CLONES 0
#define WINO_INLINE static inline
#endif

/* The six rows of B^T d for one column: in (6 x LANES, stride is), out likewise. */
WINO_INLINE void bt6(const float *restrict in, int is, float *restrict out, int os) {
    for (int l = 0; l < LANES; l++) {
        float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l];
        float d3 = in[3 * is + l], d4 = in[4 * is + l], d5 = in[5 * is + l];
        float a = d4 - 4.0f * d2, b = d3 - 4.0f * d1; /* rows 1, 2 */
        float c = d4 - d2, e = 2.0f * (d3 - d1);      /* rows 3, 4 */
        out[l] = 4.0f * d0 - 5.0f * d2 + d4;
        out[os + l] = a + b;
        out[2 * os + l] = a - b;
        out[3 * os + l] = c + e;
        out[4 * os + l] = c - e;
        out[5 * os + l] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* The four rows of A^T m for one column: in (6 x LANES, stride is), out (4 x LANES). */
WINO_INLINE void at4(const float *restrict in, int is, float *restrict out, int os) {
    for (int l = 0; l < LANES; l++) {
        float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l];
        float m3 = in[3 * is + l], m4 = in[4 * is + l], m5 = in[5 * is + l];
        float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        out[l] = m0 + a + c;
        out[os + l] = b + 2.0f * d;
        out[2 * os + l] = a + 4.0f * c;
        out[3 * os + l] = b + 8.0f * d + m5;
    }
}

/* The six rows of G w for one column: in (3 x LANES, stride is), out (6 x LANES). */
WINO_INLINE void g6(const float *restrict in, int is, float *restrict out, int os) {
    for (int l = 0; l < LANES; l++) {
        float w0 = in[l], w1 = in[is + l], w2 = in[2 * is + l];
        float a = w0 + w2, c = w0 * (1.0f / 24) + w2 * (1.0f / 6);
        out[l] = w0 * 0.25f;
        out[os + l] = (a + w1) * (-1.0f / 6);
        out[2 * os + l] = (a - w1) * (-1.0f / 6);
        out[3 * os + l] = c + w1 * (1.0f / 12);
        out[4 * os + l] = c - w1 * (1.0f / 12);
        out[5 * os + l] = w2;
    }
}

/* U[xi][k][c] for output channels [k0, k1): w is (K,C,3,3), U is (36,K,C). */
WINO_INLINE void weights_body(const cnn_conv_geom *g, const float *w, float *U, int k0, int k1) {
    const int C = g->c;
    const size_t kc = (size_t)g->k * C;
    _Alignas(64) float d[9 * LANES], t[18 * LANES], u[NX * LANES];
    for (int k = k0; k < k1; k++)
        for (int c0 = 0; c0 < C; c0 += LANES) {
            const int nl = C - c0 < LANES ? C - c0 : LANES;
            const float *src = w + ((size_t)k * C + c0) * 9;
            for (int l = 0; l < LANES; l++)
                for (int e = 0; e < 9; e++)
                    d[e * LANES + l] = l < nl ? src[l * 9 + e] : 0.0f;
            for (int j = 0; j < 3; j++) /* columns: t (6x3) = G d */
                g6(d + j * LANES, 3 * LANES, t + j * LANES, 3 * LANES);
            for (int i = 0; i < 6; i++) /* rows: u (6x6) = t G^T */
                g6(t + i * 3 * LANES, LANES, u + i * 6 * LANES, LANES);
            float *dst = U + (size_t)k * C + c0;
            for (int x = 0; x < NX; x++)
                for (int l = 0; l < nl; l++)
                    dst[x * kc + l] = u[x * LANES + l];
        }
}

/* Where the LANES tiles starting at tile t0 (of a block of nt) read and
 * write: image, first input row and column (may be negative: padding). Lanes
 * past the block repeat its first tile, so every lane reads valid memory;
 * their results land in V's padding columns, which the GEMM ignores. */
typedef struct {
    int img[LANES], ty[LANES], tx[LANES];
    int interior; /* every lane's 6x6 window lies inside the image */
} lane_set;

static void lanes_at(const cnn_conv_geom *g, const wino_plan *p, int t0, int nl, lane_set *s) {
    const int per = p->th * p->tw;
    s->interior = 1;
    for (int l = 0; l < LANES; l++) {
        int t = t0 + (l < nl ? l : 0), r = t % per;
        s->img[l] = t / per;
        s->ty[l] = r / p->tw;
        s->tx[l] = r % p->tw;
        int r0 = 4 * s->ty[l] - g->ph, c0 = 4 * s->tx[l] - g->pw;
        if (r0 < 0 || c0 < 0 || r0 + 6 > g->h || c0 + 6 > g->w) s->interior = 0;
    }
}

/* V[xi][c][t - b0] for the block's tiles [b0, b0 + nt) and channels [c0, c1).
 * x is (N,C,H,W), V is (36, C, ld). */
WINO_INLINE void input_body(const cnn_conv_geom *g, const wino_plan *p, const float *x, int b0,
                            int nt, float *V, int c0, int c1) {
    const int C = g->c, H = g->h, W = g->w;
    const size_t hw = (size_t)H * W, cl = (size_t)C * p->ld;
    _Alignas(64) float d[NX * LANES], t[NX * LANES], v[NX * LANES];
    lane_set s;
    for (int j0 = 0; j0 < nt; j0 += LANES) {
        lanes_at(g, p, b0 + j0, nt - j0 < LANES ? nt - j0 : LANES, &s);
        for (int c = c0; c < c1; c++) {
            if (s.interior) {
                for (int l = 0; l < LANES; l++) {
                    const float *src = x + ((size_t)s.img[l] * C + c) * hw +
                                       (size_t)(4 * s.ty[l] - g->ph) * W + (4 * s.tx[l] - g->pw);
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++)
                            d[(i * 6 + j) * LANES + l] = src[i * W + j];
                }
            } else {
                for (int l = 0; l < LANES; l++) {
                    const float *plane = x + ((size_t)s.img[l] * C + c) * hw;
                    const int r0 = 4 * s.ty[l] - g->ph, q0 = 4 * s.tx[l] - g->pw;
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++) {
                            int r = r0 + i, q = q0 + j;
                            d[(i * 6 + j) * LANES + l] =
                                r >= 0 && r < H && q >= 0 && q < W ? plane[(size_t)r * W + q] : 0;
                        }
                }
            }
            for (int j = 0; j < 6; j++) /* columns: t = B^T d */
                bt6(d + j * LANES, 6 * LANES, t + j * LANES, 6 * LANES);
            for (int i = 0; i < 6; i++) /* rows: v = t B */
                bt6(t + i * 6 * LANES, LANES, v + i * 6 * LANES, LANES);
            float *dst = V + (size_t)c * p->ld + j0;
            for (int xi = 0; xi < NX; xi++)
                for (int l = 0; l < LANES; l++)
                    dst[xi * cl + l] = v[xi * LANES + l];
        }
    }
}

/* y for the block's tiles [b0, b0 + nt) and output channels [k0, k1), from
 * M (36, K, ld), plus the bias. y is (N,K,OH,OW). */
WINO_INLINE void output_body(const cnn_conv_geom *g, const wino_plan *p, const float *M, int b0,
                             int nt, const float *b, float *y, int k0, int k1) {
    const int K = g->k, OH = g->oh, OW = g->ow;
    const size_t ohw = (size_t)OH * OW, kl = (size_t)K * p->ld;
    _Alignas(64) float m[NX * LANES], t[24 * LANES], o[16 * LANES];
    lane_set s;
    for (int j0 = 0; j0 < nt; j0 += LANES) {
        const int nl = nt - j0 < LANES ? nt - j0 : LANES;
        lanes_at(g, p, b0 + j0, nl, &s);
        for (int k = k0; k < k1; k++) {
            const float *src = M + (size_t)k * p->ld + j0;
            for (int xi = 0; xi < NX; xi++)
                for (int l = 0; l < LANES; l++)
                    m[xi * LANES + l] = src[xi * kl + l];
            for (int j = 0; j < 6; j++) /* columns: t (4x6) = A^T m */
                at4(m + j * LANES, 6 * LANES, t + j * LANES, 6 * LANES);
            for (int i = 0; i < 4; i++) /* rows: o (4x4) = t A */
                at4(t + i * 6 * LANES, LANES, o + i * 4 * LANES, LANES);
            const float bk = b ? b[k] : 0.0f;
            for (int l = 0; l < nl; l++) {
                const int r0 = 4 * s.ty[l], q0 = 4 * s.tx[l];
                const int nr = OH - r0 < 4 ? OH - r0 : 4, nq = OW - q0 < 4 ? OW - q0 : 4;
                float *dst = y + ((size_t)s.img[l] * K + k) * ohw + (size_t)r0 * OW + q0;
                for (int i = 0; i < nr; i++)
                    for (int j = 0; j < nq; j++)
                        dst[(size_t)i * OW + j] = o[(i * 4 + j) * LANES + l] + bk;
            }
        }
    }
}

static void weights_base(const cnn_conv_geom *g, const float *w, float *U, int k0, int k1) {
    weights_body(g, w, U, k0, k1);
}
static void input_base(const cnn_conv_geom *g, const wino_plan *p, const float *x, int b0, int nt,
                       float *V, int c0, int c1) {
    input_body(g, p, x, b0, nt, V, c0, c1);
}
static void output_base(const cnn_conv_geom *g, const wino_plan *p, const float *M, int b0, int nt,
                        const float *b, float *y, int k0, int k1) {
    output_body(g, p, M, b0, nt, b, y, k0, k1);
}

#if WINO_CLONES
#define WINO_AVX2 __attribute__((target("avx2,fma")))
#define WINO_AVX512 __attribute__((target("avx512f,avx2,fma")))
WINO_AVX2 static void weights_avx2(const cnn_conv_geom *g, const float *w, float *U, int k0,
                                   int k1) {
    weights_body(g, w, U, k0, k1);
}
WINO_AVX2 static void input_avx2(const cnn_conv_geom *g, const wino_plan *p, const float *x, int b0,
                                 int nt, float *V, int c0, int c1) {
    input_body(g, p, x, b0, nt, V, c0, c1);
}
WINO_AVX2 static void output_avx2(const cnn_conv_geom *g, const wino_plan *p, const float *M,
                                  int b0, int nt, const float *b, float *y, int k0, int k1) {
    output_body(g, p, M, b0, nt, b, y, k0, k1);
}
WINO_AVX512 static void weights_avx512(const cnn_conv_geom *g, const float *w, float *U, int k0,
                                       int k1) {
    weights_body(g, w, U, k0, k1);
}
WINO_AVX512 static void input_avx512(const cnn_conv_geom *g, const wino_plan *p, const float *x,
                                     int b0, int nt, float *V, int c0, int c1) {
    input_body(g, p, x, b0, nt, V, c0, c1);
}
WINO_AVX512 static void output_avx512(const cnn_conv_geom *g, const wino_plan *p, const float *M,
                                      int b0, int nt, const float *b, float *y, int k0, int k1) {
    output_body(g, p, M, b0, nt, b, y, k0, k1);
}
#endif

/* The transforms for this CPU: 2 = AVX-512F, 1 = AVX2+FMA, 0 = baseline. */
typedef struct {
    void (*weights)(const cnn_conv_geom *, const float *, float *, int, int);
    void (*input)(const cnn_conv_geom *, const wino_plan *, const float *, int, int, float *, int,
                  int);
    void (*output)(const cnn_conv_geom *, const wino_plan *, const float *, int, int, const float *,
                   float *, int, int);
} wino_fns;

static wino_fns pick_fns(void) {
#if WINO_CLONES
    if (__builtin_cpu_supports("avx512f"))
        return (wino_fns){weights_avx512, input_avx512, output_avx512};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (wino_fns){weights_avx2, input_avx2, output_avx2};
#endif
    return (wino_fns){weights_base, input_base, output_base};
}

/* ---- the driver ---------------------------------------------------------- */

/* M[xi] (K, nt) = U[xi] (K, C) * V[xi] (C, nt) for xi in [x0, x1). */
static void gemms(const cnn_conv_geom *g, const wino_plan *p, const float *U, const float *V,
                  float *M, int nt, int x0, int x1) {
    const int K = g->k, C = g->c, ld = p->ld;
    for (int xi = x0; xi < x1; xi++)
        cnn_gemm(0, 0, K, nt, C, 1.0f, U + (size_t)xi * K * C, C, V + (size_t)xi * C * ld, ld, 0.0f,
                 M + (size_t)xi * K * ld, ld);
}

/* Block bi, start to end, by one thread with its own V and M. */
static void run_block(const wino_fns *f, const cnn_conv_geom *g, const wino_plan *p, const float *x,
                      const float *U, const float *b, float *y, float *area, int bi) {
    const int b0 = bi * p->tb, nt = p->T - b0 < p->tb ? p->T - b0 : p->tb;
    if (nt <= 0) return;
    float *V = area, *M = area + (size_t)NX * g->c * p->ld;
    f->input(g, p, x, b0, nt, V, 0, g->c);
    gemms(g, p, U, V, M, nt, 0, NX);
    f->output(g, p, M, b0, nt, b, y, 0, g->k);
}

/* Thread t's share [*lo, *hi) of [0, n) among nt threads. */
static void share(int n, int t, int nt, int *lo, int *hi) {
    *lo = (int)((long long)n * t / nt);
    *hi = (int)((long long)n * (t + 1) / nt);
}

/* x is (N,C,H,W), w is (K,C,3,3), b is (K) or NULL, y is (N,K,OH,OW) */
void cnn_wino_forward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                            const float *b, float *y, float *scratch, int nthreads) {
    if (n <= 0) return;
    wino_plan p;
    make_plan(g, n, nthreads, &p);
    const wino_fns f = pick_fns();
    float *U = scratch, *area = scratch + p.u;
    if (p.team == 1) { /* no region: each GEMM may use OpenBLAS's threads */
        f.weights(g, w, U, 0, g->k);
        for (int bi = 0; bi < p.nb; bi++)
            run_block(&f, g, &p, x, U, b, y, area, bi);
        return;
    }
#pragma omp parallel num_threads(p.team)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int lo, hi;
        share(g->k, t, nt, &lo, &hi);
        f.weights(g, w, U, lo, hi);
#pragma omp barrier
        if (!p.shared) {
#pragma omp for schedule(static)
            for (int bi = 0; bi < p.nb; bi++)
                run_block(&f, g, &p, x, U, b, y, area + p.vm * (size_t)t, bi);
        } else {
            float *V = area, *M = area + (size_t)NX * g->c * p.ld;
            share(g->c, t, nt, &lo, &hi);
            f.input(g, &p, x, 0, p.T, V, lo, hi);
#pragma omp barrier
            share(NX, t, nt, &lo, &hi);
            gemms(g, &p, U, V, M, p.T, lo, hi);
#pragma omp barrier
            share(g->k, t, nt, &lo, &hi);
            f.output(g, &p, M, 0, p.T, b, y, lo, hi);
        }
    }
}

/* ---- when to use it ------------------------------------------------------ */

int cnn_wino_preferred(const cnn_conv_geom *g, int n, int nthreads) {
    if (!cnn_wino_supported(g)) return 0;
    return g->c >= 8;
}
