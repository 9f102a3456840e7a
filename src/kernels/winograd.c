/* winograd.c — Winograd F(4x4, 3x3) forward convolution. See winograd.h.
 *
 * Transforms: F(4x4, 3x3) (Lavin & Gray) with interpolation points 0, 1, -1,
 * 2, -1/2 and infinity instead of the usual 0, +-1, +-2 (Barabasz et al.,
 * "Error analysis and improving the accuracy of Winograd convolution", 2020:
 * the 8s of A^T are then 8 and -1/8). Rows of B^T scaled by 2 where that makes
 * them integers, G's rows by 1/2 to match:
 *
 *   B^T = | 2  3 -4 -3  2  0 |   G = | 1/2      0      0 |   A^T = | 1 1  1 1    1 0 |
 *         | 0 -2 -5 -1  2  0 |       | -1/6  -1/6   -1/6 |         | 0 1 -1 2 -1/2 0 |
 *         | 0  2  1 -5  2  0 |       | 1/6   -1/6    1/6 |         | 0 1  1 4  1/4 0 |
 *         | 0 -1 -2  1  2  0 |       | 1/30  1/15   2/15 |         | 0 1 -1 8 -1/8 1 |
 *         | 0  2 -1 -2  1  0 |       | -16/15 8/15 -4/15 |
 *         | 0  2  3 -4 -3  2 |       | 0        0    1/2 |
 *
 * Float32 error of the whole pipeline against the exact conv, C = 64 and
 * uniform inputs (a numpy model of these transforms with float32 GEMM sums,
 * max|diff| / max|y|): 2.2e-6 with these points, 5.4e-6 with 0, +-1, +-2;
 * in tests/test_winograd.c (OpenBLAS's GEMM) the worst case went from 6.7e-6
 * to 2.6e-6.
 *
 * Data layout, for a block of nt tiles (ld = nt rounded up to LANES):
 *   U (36, C, K)   transformed weights, U[xi] = (G w G^T)[xi] for every (c, k)
 *   V (C, 36, ld)  transformed input tiles
 *   M (K, 36, ld)  M[xi] = U[xi] * V[xi], one GEMM per xi (row stride 36 ld)
 * V and M keep a tile's 36 elements ld apart, not C x ld: the stores of the
 * input transform at a stride of C x ld (32 KB for C = 64) all fell into the
 * same L1 sets and took 40% of its time.
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

/* Tiles per block: at most TMAX, and the per-thread blocks are used when
 * every thread gets at least TMIN tiles. With 64 channels in and out, V and
 * M of a block take 2 x 36 x 64 x TMAX floats: 1.2 MB at TMAX = 64, about a
 * core's L2. On the 3x3 64->64 56x56 batch-16 conv (2 threads, loaded
 * machine, 8 samples each, medians in direct-conv GFLOP/s): TMAX 32: 64.8,
 * 64: 68.8, 128: 52.3, 256: 50.0. */
#define TMAX 64
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
        out[l] = 2.0f * (d0 + d4) + 3.0f * (d1 - d3) - 4.0f * d2;
        out[os + l] = 2.0f * (d4 - d1) - 5.0f * d2 - d3;
        out[2 * os + l] = 2.0f * (d1 + d4) + d2 - 5.0f * d3;
        out[3 * os + l] = 2.0f * (d4 - d2) + d3 - d1;
        out[4 * os + l] = 2.0f * (d1 - d3) + d4 - d2;
        out[5 * os + l] = 2.0f * (d1 + d5) + 3.0f * (d2 - d4) - 4.0f * d3;
    }
}

/* The four rows of A^T m for one column: in (6 x LANES, stride is), out (4 x LANES). */
WINO_INLINE void at4(const float *restrict in, int is, float *restrict out, int os) {
    for (int l = 0; l < LANES; l++) {
        float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l];
        float m3 = in[3 * is + l], m4 = in[4 * is + l], m5 = in[5 * is + l];
        float a = m1 + m2, b = m1 - m2;
        out[l] = m0 + a + (m3 + m4);
        out[os + l] = b + (2.0f * m3 - 0.5f * m4);
        out[2 * os + l] = a + (4.0f * m3 + 0.25f * m4);
        out[3 * os + l] = b + (8.0f * m3 - 0.125f * m4) + m5;
    }
}

/* The six rows of G w for one column: in (3 x LANES, stride is), out (6 x LANES). */
WINO_INLINE void g6(const float *restrict in, int is, float *restrict out, int os) {
    for (int l = 0; l < LANES; l++) {
        float w0 = in[l], w1 = in[is + l], w2 = in[2 * is + l];
        out[l] = 0.5f * w0;
        out[os + l] = (w0 + w1 + w2) * (-1.0f / 6);
        out[2 * os + l] = (w0 - w1 + w2) * (1.0f / 6);
        out[3 * os + l] = (w0 + 2.0f * w1 + 4.0f * w2) * (1.0f / 30);
        out[4 * os + l] = (4.0f * w0 - 2.0f * w1 + w2) * (-4.0f / 15);
        out[5 * os + l] = 0.5f * w2;
    }
}

/* U[xi][c][k] for output channels [k0, k1): w is (K,C,3,3), U is (36,C,K),
 * LANES output channels at a time (so each U row is written in runs of
 * LANES; the GEMMs read U[xi] transposed, which our GEMM packs by plain
 * copies). */
WINO_INLINE void weights_body(const cnn_conv_geom *g, const float *w, float *U, int k0, int k1) {
    const int C = g->c, K = g->k;
    const size_t kc = (size_t)K * C;
    _Alignas(64) float d[9 * LANES], t[18 * LANES], u[NX * LANES];
    for (int kb = k0; kb < k1; kb += LANES) {
        const int nl = k1 - kb < LANES ? k1 - kb : LANES;
        for (int c = 0; c < C; c++) {
            for (int l = 0; l < LANES; l++) {
                const float *src = w + ((size_t)(kb + l) * C + c) * 9;
                for (int e = 0; e < 9; e++)
                    d[e * LANES + l] = l < nl ? src[e] : 0.0f;
            }
            for (int j = 0; j < 3; j++) /* columns: t (6x3) = G d */
                g6(d + j * LANES, 3 * LANES, t + j * LANES, 3 * LANES);
            for (int i = 0; i < 6; i++) /* rows: u (6x6) = t G^T */
                g6(t + i * 3 * LANES, LANES, u + i * 6 * LANES, LANES);
            float *dst = U + (size_t)c * K + kb;
            for (int x = 0; x < NX; x++)
                for (int l = 0; l < nl; l++)
                    dst[x * kc + l] = u[x * LANES + l];
        }
    }
}

/* ---- moving rows of tiles in and out --------------------------------------
 *
 * A block's tiles are visited in runs ("segments") of up to LANES tiles of
 * one tile row of one image. Lane l of a segment starting at tile column tx
 * reads input columns 4(tx + l) - pw + j, j = 0..5, of six input rows: with
 * the row at p = &row[4 tx - pw], d[j][l] = p[4l + j], a stride-4
 * de-interleave of 4 nl + 2 consecutive floats. Rows and columns outside the
 * image are read from a zero-padded copy (ROWBUF floats) or a zero row. The
 * output goes back the same way: row[4l + j] = o[j][l] for the 4 nl columns
 * that exist. The generic versions are plain loops; the AVX-512 ones
 * de-interleave with two rounds of permutes. */

#define ROWBUF 80 /* >= 4 * LANES + 2, a multiple of 16 */

typedef struct {
    int img, ty, tx; /* the first tile */
    int nl;          /* tiles (lanes) in the segment */
} segment;

/* The segment starting at block-relative tile t of a block starting at b0 with nt tiles. */
static segment segment_at(const wino_plan *p, int b0, int nt, int t) {
    const int per = p->th * p->tw, g = b0 + t, r = g % per;
    segment s = {g / per, r / p->tw, r % p->tw, 0};
    s.nl = p->tw - s.tx;
    if (s.nl > nt - t) s.nl = nt - t;
    if (s.nl > LANES) s.nl = LANES;
    return s;
}

static const float zero_row[ROWBUF];

/* Input row r of plane (H x W) from column q0 on, n floats (zero outside the
 * image): a pointer into the plane when they all exist, else into tmp
 * (ROWBUF floats, filled) or to zero_row. Past n the result may hold anything. */
static const float *row_at(const float *plane, int H, int W, int r, int q0, int n, float *tmp) {
    if (r < 0 || r >= H) return zero_row;
    const float *src = plane + (size_t)r * W;
    if (q0 >= 0 && q0 + n <= W) return src + q0;
    for (int j = 0; j < ROWBUF; j++) {
        int q = q0 + j;
        tmp[j] = j < n && q >= 0 && q < W ? src[q] : 0.0f;
    }
    return tmp;
}

/* d[(i*6 + j) * LANES + l] = rows[i][4l + j] for lanes l < nl. */
WINO_INLINE void gather_generic(const float *const rows[6], int nl, float *restrict d) {
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            for (int l = 0; l < nl; l++)
                d[(i * 6 + j) * LANES + l] = rows[i][4 * l + j];
}

/* dst[x * stride + l] = src[x * LANES + l] for x < count, l < nl. */
WINO_INLINE void store_generic(float *dst, size_t stride, const float *restrict src, int count,
                               int nl) {
    for (int x = 0; x < count; x++)
        for (int l = 0; l < nl; l++)
            dst[x * stride + l] = src[x * LANES + l];
}

/* dst[x * LANES + l] = src[x * stride + l] for x < count, l < nl. */
WINO_INLINE void load_generic(float *restrict dst, const float *src, size_t stride, int count,
                              int nl) {
    for (int x = 0; x < count; x++)
        for (int l = 0; l < nl; l++)
            dst[x * LANES + l] = src[x * stride + l];
}

/* row[4l + j] = o[j * LANES + l] + bias for the first n of the 4 nl columns. */
WINO_INLINE void scatter_generic(float *row, const float *restrict o, float bias, int nl, int n) {
    for (int l = 0; l < nl; l++)
        for (int j = 0; j < 4 && 4 * l + j < n; j++)
            row[4 * l + j] = o[j * LANES + l] + bias;
}

#if WINO_CLONES
#include <immintrin.h>
#define WINO_AVX2 __attribute__((target("avx2,fma")))
#define WINO_AVX512 __attribute__((target("avx512f,avx2,fma")))

/* The first n of 16 lanes (n clamped to 0..16). */
WINO_AVX512 static inline __mmask16 first_lanes(int n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* s[j][l] = p[4l + j], j = 0..5, from the first n floats of p (masked loads
 * never touch the others). */
WINO_AVX512 static inline void deinterleave6(const float *p, int n, float *d) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 a0 = _mm512_maskz_loadu_ps(first_lanes(n), p);
    __m512 a1 = _mm512_maskz_loadu_ps(first_lanes(n - 16), p + 16);
    __m512 a2 = _mm512_maskz_loadu_ps(first_lanes(n - 32), p + 32);
    __m512 a3 = _mm512_maskz_loadu_ps(first_lanes(n - 48), p + 48);
    __m512 a4 = _mm512_maskz_loadu_ps(first_lanes(n - 64), p + 64);
    __m512 e01 = _mm512_permutex2var_ps(a0, ev, a1), o01 = _mm512_permutex2var_ps(a0, od, a1);
    __m512 e23 = _mm512_permutex2var_ps(a2, ev, a3), o23 = _mm512_permutex2var_ps(a2, od, a3);
    __m512 s0 = _mm512_permutex2var_ps(e01, ev, e23), s2 = _mm512_permutex2var_ps(e01, od, e23);
    __m512 s1 = _mm512_permutex2var_ps(o01, ev, o23), s3 = _mm512_permutex2var_ps(o01, od, o23);
    __m512i i4 = _mm512_castps_si512(a4);
    __m512 s4 = _mm512_castsi512_ps(_mm512_alignr_epi32(i4, _mm512_castps_si512(s0), 1));
    __m512 s5 = _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_alignr_epi32(i4, i4, 1), _mm512_castps_si512(s1), 1));
    _mm512_store_ps(d, s0);
    _mm512_store_ps(d + LANES, s1);
    _mm512_store_ps(d + 2 * LANES, s2);
    _mm512_store_ps(d + 3 * LANES, s3);
    _mm512_store_ps(d + 4 * LANES, s4);
    _mm512_store_ps(d + 5 * LANES, s5);
}

WINO_AVX512 static inline void gather_avx512(const float *const rows[6], int nl, float *d) {
    for (int i = 0; i < 6; i++)
        deinterleave6(rows[i], 4 * nl + 2, d + i * 6 * LANES);
}

WINO_AVX512 static inline void store_avx512(float *dst, size_t stride, const float *src, int count,
                                            int nl) {
    const __mmask16 m = first_lanes(nl);
    for (int x = 0; x < count; x++)
        _mm512_mask_storeu_ps(dst + x * stride, m, _mm512_load_ps(src + x * LANES));
}

WINO_AVX512 static inline void load_avx512(float *dst, const float *src, size_t stride, int count,
                                           int nl) {
    const __mmask16 m = first_lanes(nl);
    for (int x = 0; x < count; x++)
        _mm512_store_ps(dst + x * LANES, _mm512_maskz_loadu_ps(m, src + x * stride));
}

/* row[4l + j] = o[j][l] + bias for the first n of the 64 columns. */
WINO_AVX512 static inline void scatter_avx512(float *row, const float *o, float bias, int nl,
                                              int n) {
    (void)nl;
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512 b = _mm512_set1_ps(bias);
    __m512 s0 = _mm512_add_ps(_mm512_load_ps(o), b);
    __m512 s1 = _mm512_add_ps(_mm512_load_ps(o + LANES), b);
    __m512 s2 = _mm512_add_ps(_mm512_load_ps(o + 2 * LANES), b);
    __m512 s3 = _mm512_add_ps(_mm512_load_ps(o + 3 * LANES), b);
    /* u = s0, s2 interleaved; v = s1, s3; the row = u, v interleaved */
    __m512 ul = _mm512_permutex2var_ps(s0, lo, s2), uh = _mm512_permutex2var_ps(s0, hi, s2);
    __m512 vl = _mm512_permutex2var_ps(s1, lo, s3), vh = _mm512_permutex2var_ps(s1, hi, s3);
    _mm512_mask_storeu_ps(row, first_lanes(n), _mm512_permutex2var_ps(ul, lo, vl));
    _mm512_mask_storeu_ps(row + 16, first_lanes(n - 16), _mm512_permutex2var_ps(ul, hi, vl));
    _mm512_mask_storeu_ps(row + 32, first_lanes(n - 32), _mm512_permutex2var_ps(uh, lo, vh));
    _mm512_mask_storeu_ps(row + 48, first_lanes(n - 48), _mm512_permutex2var_ps(uh, hi, vh));
}
#define PICK(isa, name, ...) ((isa) == 2 ? name##_avx512(__VA_ARGS__) : name##_generic(__VA_ARGS__))
#else
#define PICK(isa, name, ...) name##_generic(__VA_ARGS__)
#endif

/* V[c][xi][t] for the block's tiles t in [0, nt) (tiles b0 + t of the batch)
 * and channels [c0, c1). x is (N,C,H,W), V is (C, 36, ld). isa: 2 = AVX-512. */
WINO_INLINE void input_body(const cnn_conv_geom *g, const wino_plan *p, const float *x, int b0,
                            int nt, float *V, int c0, int c1, const int isa) {
    const int C = g->c, H = g->h, W = g->w;
    const size_t hw = (size_t)H * W, ld = (size_t)p->ld;
    _Alignas(64) float d[NX * LANES] = {0}, t[NX * LANES], v[NX * LANES], tmp[6 * ROWBUF];
    for (int t0 = 0; t0 < nt;) {
        const segment s = segment_at(p, b0, nt, t0);
        const int r0 = 4 * s.ty - g->ph, q0 = 4 * s.tx - g->pw, n = 4 * s.nl + 2;
        for (int c = c0; c < c1; c++) {
            const float *plane = x + ((size_t)s.img * C + c) * hw, *rows[6];
            for (int i = 0; i < 6; i++)
                rows[i] = row_at(plane, H, W, r0 + i, q0, n, tmp + i * ROWBUF);
            PICK(isa, gather, rows, s.nl, d);
            for (int j = 0; j < 6; j++) /* columns: t = B^T d */
                bt6(d + j * LANES, 6 * LANES, t + j * LANES, 6 * LANES);
            for (int i = 0; i < 6; i++) /* rows: v = t B */
                bt6(t + i * 6 * LANES, LANES, v + i * 6 * LANES, LANES);
            PICK(isa, store, V + (size_t)c * NX * ld + t0, ld, v, NX, s.nl);
        }
        t0 += s.nl;
    }
}

/* y for the block's tiles [0, nt) and output channels [k0, k1), from
 * M (K, 36, ld), plus the bias. y is (N,K,OH,OW). */
WINO_INLINE void output_body(const cnn_conv_geom *g, const wino_plan *p, const float *M, int b0,
                             int nt, const float *b, float *y, int k0, int k1, const int isa) {
    const int K = g->k, OH = g->oh, OW = g->ow;
    const size_t ohw = (size_t)OH * OW, ld = (size_t)p->ld;
    _Alignas(64) float m[NX * LANES] = {0}, t[24 * LANES], o[16 * LANES];
    for (int t0 = 0; t0 < nt;) {
        const segment s = segment_at(p, b0, nt, t0);
        const int r0 = 4 * s.ty, q0 = 4 * s.tx;
        const int nr = OH - r0 < 4 ? OH - r0 : 4, n = OW - q0 < 4 * s.nl ? OW - q0 : 4 * s.nl;
        for (int k = k0; k < k1; k++) {
            PICK(isa, load, m, M + (size_t)k * NX * ld + t0, ld, NX, s.nl);
            for (int j = 0; j < 6; j++) /* columns: t (4x6) = A^T m */
                at4(m + j * LANES, 6 * LANES, t + j * LANES, 6 * LANES);
            for (int i = 0; i < 4; i++) /* rows: o (4x4) = t A */
                at4(t + i * 6 * LANES, LANES, o + i * 4 * LANES, LANES);
            const float bk = b ? b[k] : 0.0f;
            float *dst = y + ((size_t)s.img * K + k) * ohw + (size_t)r0 * OW + q0;
            for (int i = 0; i < nr; i++)
                PICK(isa, scatter, dst + (size_t)i * OW, o + i * 4 * LANES, bk, s.nl, n);
        }
        t0 += s.nl;
    }
}

static void weights_base(const cnn_conv_geom *g, const float *w, float *U, int k0, int k1) {
    weights_body(g, w, U, k0, k1);
}
static void input_base(const cnn_conv_geom *g, const wino_plan *p, const float *x, int b0, int nt,
                       float *V, int c0, int c1) {
    input_body(g, p, x, b0, nt, V, c0, c1, 0);
}
static void output_base(const cnn_conv_geom *g, const wino_plan *p, const float *M, int b0, int nt,
                        const float *b, float *y, int k0, int k1) {
    output_body(g, p, M, b0, nt, b, y, k0, k1, 0);
}

#if WINO_CLONES
WINO_AVX2 static void weights_avx2(const cnn_conv_geom *g, const float *w, float *U, int k0,
                                   int k1) {
    weights_body(g, w, U, k0, k1);
}
WINO_AVX2 static void input_avx2(const cnn_conv_geom *g, const wino_plan *p, const float *x, int b0,
                                 int nt, float *V, int c0, int c1) {
    input_body(g, p, x, b0, nt, V, c0, c1, 1);
}
WINO_AVX2 static void output_avx2(const cnn_conv_geom *g, const wino_plan *p, const float *M,
                                  int b0, int nt, const float *b, float *y, int k0, int k1) {
    output_body(g, p, M, b0, nt, b, y, k0, k1, 1);
}
WINO_AVX512 static void weights_avx512(const cnn_conv_geom *g, const float *w, float *U, int k0,
                                       int k1) {
    weights_body(g, w, U, k0, k1);
}
WINO_AVX512 static void input_avx512(const cnn_conv_geom *g, const wino_plan *p, const float *x,
                                     int b0, int nt, float *V, int c0, int c1) {
    input_body(g, p, x, b0, nt, V, c0, c1, 2);
}
WINO_AVX512 static void output_avx512(const cnn_conv_geom *g, const wino_plan *p, const float *M,
                                      int b0, int nt, const float *b, float *y, int k0, int k1) {
    output_body(g, p, M, b0, nt, b, y, k0, k1, 2);
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

/* The best the CPU has, at most `level` (2 = AVX-512F, 1 = AVX2+FMA, 0 = baseline). */
static wino_fns pick_fns(int level) {
#if WINO_CLONES
    if (level >= 2 && __builtin_cpu_supports("avx512f"))
        return (wino_fns){weights_avx512, input_avx512, output_avx512};
    if (level >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (wino_fns){weights_avx2, input_avx2, output_avx2};
#endif
    return (wino_fns){weights_base, input_base, output_base};
}

/* ---- the driver ---------------------------------------------------------- */

/* M[xi] (K, nt) = U[xi]^T (U[xi] is (C, K)) * V[xi] (C, nt) for xi in
 * [x0, x1); the rows of V[xi] and M[xi] are 36 ld apart. */
static void gemms(const cnn_conv_geom *g, const wino_plan *p, const float *U, const float *V,
                  float *M, int nt, int x0, int x1) {
    const int K = g->k, C = g->c, ld = p->ld;
    for (int xi = x0; xi < x1; xi++)
        cnn_gemm(1, 0, K, nt, C, 1.0f, U + (size_t)xi * K * C, K, V + (size_t)xi * ld, NX * ld,
                 0.0f, M + (size_t)xi * ld, NX * ld);
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
void cnn_wino_forward_batch_isa(const cnn_conv_geom *g, int n, const float *x, const float *w,
                                const float *b, float *y, float *scratch, int nthreads, int isa) {
    if (n <= 0) return;
    wino_plan p;
    make_plan(g, n, nthreads, &p);
    const wino_fns f = pick_fns(isa);
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

void cnn_wino_forward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                            const float *b, float *y, float *scratch, int nthreads) {
    cnn_wino_forward_batch_isa(g, n, x, w, b, y, scratch, nthreads, 2);
}

/* ---- when to use it ------------------------------------------------------ */

/* Winograd's fixed costs are the weight transform (36 K C floats written
 * per call, whatever the batch) and one GEMM call per element and block; its
 * transforms cost per tile and channel. So it wins with enough tiles and
 * enough channels on both sides. Measured with `bench convk` (2 threads,
 * on a loaded machine: medians of 4 samples, Winograd's GFLOP/s over im2col
 * + GEMM's), shapes C->K HxW batch:
 *   wins:  64->64 224 b1 3.6x, 128->128 112 b1 2.4x, 256->256 56 b1 1.9x,
 *          512->512 28 b1 (49 tiles) 1.8x, 64->64 56 b16 3.7x, 512->512 7 b16
 *          (64 tiles) 2.1x, 32->64 26 p0 b64 2.0x, 16->16 32 b8 2.1x,
 *          16->32 28 b1 (49 tiles) 1.4x, 3->64 224 b1 1.3x;
 *   ties or losses with 16 tiles or fewer: 512->512 14 b1 1.07x, 256->256 14
 *          b1 1.01x, 256->256 13 b1 0.70x, 192->384 13 b1 0.56x, 16->48 14 b1
 *          0.88x, any 7x7 batch-1 layer (4 tiles) 0.29-0.59x;
 *   losses with few channels: 1->32 28 p0 b64 0.23x, 8->16 9x9 b5 0.25x,
 *          3->16 32 b8 0.64x.
 * That was against OpenBLAS's GEMM. With our AVX-512 GEMM and the 8 x 2
 * direct tiles (2026-12-07, `bench convk`, 2 threads, medians of 3, GFLOP/s
 * gemm / direct / wino) the few-channel wins went to the direct loops:
 *   16->32 14 b256 216 / 268 / 126, 16->16 32 b8 147 / 239 / 114,
 *   32->32 14 b32 248 / 284 / 174, 32->64 26 p0 b64 263 / 266 / 239,
 *   32->64 28 b8 292 / 344 / 328, 64->32 28 b8 278 / 335 / 324,
 *   48->48 28 b8 280 / 352 / 339, 32->32 56 b4 274 / 336 / 354;
 * from 64 channels on both sides Winograd still wins clearly:
 *   64->64 56 b16 309 / 338 / 511, 64->64 56 b1 166 / 174 / 361,
 *   64->64 28 b8 308 / 353 / 442, 128->128 28 b1 201 / 160 / 245,
 *   64->128 28 b1 194 / 171 / 239; but 256->256 14 b1 (16 tiles) 277 / 168 / 124.
 * Hence: at least 32 tiles and at least 64 channels in and out. */
int cnn_wino_preferred(const cnn_conv_geom *g, int n, int nthreads) {
    (void)nthreads;
    if (!cnn_wino_supported(g) || g->c < 64 || g->k < 64) return 0;
    long long tiles = (long long)n * ((g->oh + 3) / 4) * ((g->ow + 3) / 4);
    return tiles >= 32;
}
