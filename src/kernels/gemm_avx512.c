/* gemm_avx512.c — our own packed AVX-512 SGEMM (see gemm.h), used by cnn_gemm
 * on CPUs with AVX-512F in place of OpenBLAS.
 *
 * Why: Debian's OpenBLAS 0.3.21 runs its Haswell (AVX2) kernel on this Zen 4
 * machine, and on the narrow products a batch-1 convolution makes (512
 * filters x 4608 taps x 49-63 output pixels) it reached 100-106 GFLOP/s on two
 * threads where this kernel reaches 170-185 (docs/benchmarks.md, `bench
 * gemm`): there the weights are the big operand, and every call reads them
 * once whichever library runs.
 *
 * C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, row-major.
 *
 * Blocking (Goto/BLIS style, but with the register tile vectorised along M,
 * the filters of a convolution, so a tile's N edge costs scalar columns, not
 * masked lanes):
 *   - A is taken in panels of MR = 32 rows, packed per KC = 256 columns into
 *     ap[k][32] (32 KB, L1): two vector loads per k;
 *   - B is read in place when not transposed (row k of a tile: NR = 12
 *     consecutive floats, each broadcast), otherwise a 12-column panel is
 *     packed into bp[k][12] first;
 *   - the register tile is 32 x 12: 24 accumulators, 24 FMAs per 2 loads and
 *     12 broadcasts;
 *   - N is walked in chunks of NC = 512 columns, so the KC x NC slice of B a
 *     panel sweeps stays in L2 (512 KB).
 * The K loop of every element runs in the same order (k ascending in blocks
 * of KC) however the work is split, so the result does not depend on the
 * thread count.
 *
 * Threads: outside a parallel region, work items (an A panel and a share of
 * N's tiles) are split statically over omp_get_max_threads(); N is split only
 * when there are fewer panels than threads. Inside a region (a data-parallel
 * training step, the per-image loops of conv.c) it runs on the calling thread. */
#include "gemm.h"
#include <omp.h>
#include <stddef.h>

#define MR 32
#define NR 12
#define KC 256
#define NC 516 /* a multiple of NR */

/* Below this many multiply-adds a second thread costs more than it saves. */
#define PAR_MACS (1 << 20)

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX512 1
#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
} gemm_args;

/* The 16 x 16 transpose of r (rows) in place: r[j] becomes column j. */
AVX512 INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) { /* per 128-bit lane: a0 b0 a1 b1 | a2 b2 a3 b3 */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i + j], lane L: rows 4i..4i+3 of column 4L + j */
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) { /* gather lane L of the four groups: column 4L + j */
        __m512 a = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        __m512 b = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
        __m512 c = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        __m512 d = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(a, c, 0xDD);
        t[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(b, d, 0xDD);
    }
    for (int j = 0; j < 16; j++)
        r[j] = t[j];
}

/* ap[k][i] = op(A)[m0 + i][k0 + k] for i < mr, zero for mr <= i < MR. A not
 * transposed: 16 x 16 blocks of rows are loaded and transposed in registers
 * (a scalar copy, 32 rows' columns scattered 128 bytes apart, took a fifth of
 * a batch-1 ResNet-18 pass). */
AVX512 static void pack_a(const gemm_args *g, int m0, int mr, int k0, int kc, float *restrict ap) {
    if (g->ta) { /* op(A)[m][k] = A[k][m]: rows of A are contiguous in m */
        for (int k = 0; k < kc; k++) {
            const float *restrict src = g->A + (size_t)(k0 + k) * g->lda + m0;
            float *restrict dst = ap + (size_t)k * MR;
            int i = 0;
            for (; i < mr; i++)
                dst[i] = src[i];
            for (; i < MR; i++)
                dst[i] = 0.0f;
        }
        return;
    }
    for (int h = 0; h < MR; h += 16) {
        const int rows = mr - h < 0 ? 0 : mr - h < 16 ? mr - h : 16;
        for (int k = 0; k < kc; k += 16) {
            const int cols = kc - k < 16 ? kc - k : 16;
            const __mmask16 m = (__mmask16)((1u << cols) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < rows
                           ? _mm512_maskz_loadu_ps(m, g->A + (size_t)(m0 + h + i) * g->lda + k0 + k)
                           : _mm512_setzero_ps();
            transpose16(r);
            for (int j = 0; j < cols; j++)
                _mm512_store_ps(ap + (size_t)(k + j) * MR + h, r[j]);
        }
    }
}

/* bp[k][j] = op(B)[k0 + k][n0 + j] = B[n0 + j][k0 + k] (B transposed), by
 * 16 x 16 transposes as in pack_a. */
AVX512 static void pack_b(const gemm_args *g, int n0, int nr, int k0, int kc, float *restrict bp) {
    const __mmask16 keep = (__mmask16)((1u << NR) - 1);
    for (int k = 0; k < kc; k += 16) {
        const int cols = kc - k < 16 ? kc - k : 16;
        const __mmask16 m = (__mmask16)((1u << cols) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < nr ? _mm512_maskz_loadu_ps(m, g->B + (size_t)(n0 + i) * g->ldb + k0 + k)
                          : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < cols; j++)
            _mm512_mask_storeu_ps(bp + (size_t)(k + j) * NR, keep, r[j]);
    }
}

/* The register tile: c (mr, NRC) (ldc) = alpha * ap (kc, MR)^T b (kc, NRC)
 * (ldb), plus beta * c on the first K block (beta 0: c not read), plus c on
 * the others. MV: vectors of 16 rows in the panel (1 when mr <= 16). */
AVX512 INLINE void tile(int kc, const float *restrict ap, const float *restrict b, size_t ldb,
                        float *restrict c, size_t ldc, int mr, float alpha, float beta, int first,
                        const int MV, const int NRC) {
    __m512 lo[NR], hi[NR];
    for (int j = 0; j < NRC; j++) {
        lo[j] = _mm512_setzero_ps();
        hi[j] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        const __m512 a0 = _mm512_load_ps(ap + (size_t)k * MR);
        const __m512 a1 = MV == 2 ? _mm512_load_ps(ap + (size_t)k * MR + 16) : a0;
        const float *bk = b + (size_t)k * ldb;
        for (int j = 0; j < NRC; j++) {
            const __m512 bb = _mm512_set1_ps(bk[j]);
            lo[j] = _mm512_fmadd_ps(a0, bb, lo[j]);
            if (MV == 2) hi[j] = _mm512_fmadd_ps(a1, bb, hi[j]);
        }
    }
    _Alignas(64) float t[NR][MR];
    const __m512 va = _mm512_set1_ps(alpha);
    for (int j = 0; j < NRC; j++) {
        _mm512_store_ps(t[j], _mm512_mul_ps(lo[j], va));
        if (MV == 2) _mm512_store_ps(t[j] + 16, _mm512_mul_ps(hi[j], va));
    }
    for (int i = 0; i < mr; i++) {
        float *restrict ci = c + (size_t)i * ldc;
        if (!first)
            for (int j = 0; j < NRC; j++)
                ci[j] += t[j][i];
        else if (beta == 0.0f)
            for (int j = 0; j < NRC; j++)
                ci[j] = t[j][i];
        else
            for (int j = 0; j < NRC; j++)
                ci[j] = t[j][i] + beta * ci[j];
    }
}

#define TILE_CASE(mv, n)                                                                           \
    case n:                                                                                        \
        tile(kc, ap, b, ldb, c, ldc, mr, alpha, beta, first, mv, n);                               \
        break;
#define TILE_CASES(mv)                                                                             \
    TILE_CASE(mv, 1)                                                                               \
    TILE_CASE(mv, 2)                                                                               \
    TILE_CASE(mv, 3)                                                                               \
    TILE_CASE(mv, 4)                                                                               \
    TILE_CASE(mv, 5)                                                                               \
    TILE_CASE(mv, 6)                                                                               \
    TILE_CASE(mv, 7)                                                                               \
    TILE_CASE(mv, 8)                                                                               \
    TILE_CASE(mv, 9)                                                                               \
    TILE_CASE(mv, 10)                                                                              \
    TILE_CASE(mv, 11)                                                                              \
    TILE_CASE(mv, 12)

/* One tile of nr <= NR columns, its width a compile-time constant. */
AVX512 static void tile_any(int kc, const float *ap, const float *b, size_t ldb, float *c,
                            size_t ldc, int mr, int nr, float alpha, float beta, int first) {
    if (mr > 16) {
        switch (nr) { TILE_CASES(2) }
    } else {
        switch (nr) { TILE_CASES(1) }
    }
}

/* Panel p (rows p*MR ..), tiles [j0, j1) of N (columns j*NR ..). */
static void run_item(const gemm_args *g, int p, int j0, int j1) {
    _Alignas(64) float ap[KC * MR];
    _Alignas(64) float bp[KC * NR];
    const int m0 = p * MR, mr = g->M - m0 < MR ? g->M - m0 : MR;
    const int n_end = j1 * NR < g->N ? j1 * NR : g->N;
    for (int c0 = j0 * NR; c0 < n_end; c0 += NC) {
        const int c1 = c0 + NC < n_end ? c0 + NC : n_end;
        for (int k0 = 0; k0 < g->K; k0 += KC) {
            const int kc = g->K - k0 < KC ? g->K - k0 : KC;
            pack_a(g, m0, mr, k0, kc, ap);
            /* The next block of A (A not transposed: mr rows of kn floats,
             * `lines` cache lines each), fetched into L2 a share per tile
             * while this block computes. */
            const int kn = g->ta ? 0 : g->K - k0 - kc < KC ? g->K - k0 - kc : KC;
            const int lines = (kn + 15) / 16, todo = mr * lines, tiles = (c1 - c0 + NR - 1) / NR;
            const int per = (todo + tiles - 1) / tiles;
            const float *next = g->A + (size_t)m0 * g->lda + k0 + kc;
            int done = 0;
            for (int n0 = c0; n0 < c1; n0 += NR) {
                const int nr = c1 - n0 < NR ? c1 - n0 : NR;
                for (int e = 0; e < per && done < todo; e++, done++)
                    _mm_prefetch((const char *)(next + (size_t)(done / lines) * g->lda +
                                                (size_t)(done % lines) * 16),
                                 _MM_HINT_T1);
                const float *b;
                size_t ldb;
                if (g->tb) {
                    pack_b(g, n0, nr, k0, kc, bp);
                    b = bp;
                    ldb = NR;
                } else {
                    b = g->B + (size_t)k0 * g->ldb + n0;
                    ldb = (size_t)g->ldb;
                }
                tile_any(kc, ap, b, ldb, g->C + (size_t)m0 * g->ldc + n0, (size_t)g->ldc, mr, nr,
                         g->alpha, g->beta, k0 == 0);
            }
        }
    }
}

/* Items [i0, i1): item i is panel i / chunks, share i % chunks of the N tiles. */
static void run_items(const gemm_args *g, int chunks, int i0, int i1) {
    const int tiles = (g->N + NR - 1) / NR;
    for (int i = i0; i < i1; i++) {
        const int p = i / chunks, s = i % chunks;
        run_item(g, p, (int)((long long)tiles * s / chunks),
                 (int)((long long)tiles * (s + 1) / chunks));
    }
}

/* Not cached in a static: threads may ask at once (the check itself only
 * reads what libgcc's constructor found). */
int cnn_gemm_avx512_available(void) {
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

void cnn_gemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_args g = {ta, tb, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C};
    if (K <= 0 || alpha == 0.0f) { /* C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    const int panels = (M + MR - 1) / MR, tiles = (N + NR - 1) / NR;
    int team = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((double)M * N * K < PAR_MACS) team = 1;
    int chunks = 1;
    if (panels < team) {
        chunks = (team + panels - 1) / panels;
        if (chunks > tiles) chunks = tiles;
    }
    const int items = panels * chunks;
    if (team > items) team = items;
    if (team <= 1) {
        run_items(&g, chunks, 0, items);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        run_items(&g, chunks, (int)((long long)items * t / nt),
                  (int)((long long)items * (t + 1) / nt));
    }
}

#else /* no AVX-512 build: cnn_gemm uses CBLAS */

int cnn_gemm_avx512_available(void) {
    return 0;
}

void cnn_gemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    cnn_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif
