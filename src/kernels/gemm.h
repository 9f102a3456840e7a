/* gemm.h — C = alpha * op(A) * op(B) + beta * C, row-major, float32.
 * op(A) is (M, K), op(B) is (K, N), C is (M, N). ta/tb: 0 = as stored, 1 = transposed.
 * The fast path is our AVX-512 kernel (gemm_avx512.c) where the CPU has
 * AVX-512F, otherwise CBLAS (OpenBLAS, OpenMP build); both run on the calling
 * thread alone inside a parallel region. cnn_gemm_ref is the naive reference. */
#ifndef CNN_GEMM_H
#define CNN_GEMM_H

void cnn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* y = alpha * op(A) * x + beta * y, A (M, N) row-major; op(A) is A (ta = 0: x has N
 * entries, y has M) or A^T (ta = 1: x has M, y has N). One pass over A, so a
 * matrix-vector product costs one read of the matrix where cnn_gemm with one
 * row would also pack it (4x slower on AlexNet's 9216x4096 fc6). */
void cnn_gemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y);
/* Which one cnn_gemm runs (process-wide; for benchmarks and tests):
 * AUTO = AVX512 where available, else BLAS. */
enum { CNN_GEMM_AUTO = 0, CNN_GEMM_BLAS = 1, CNN_GEMM_AVX512 = 2 };
void cnn_gemm_select(int impl);
int cnn_gemm_selected(void); /* BLAS or AVX512: what cnn_gemm runs now */

/* The AVX-512 kernel itself (any shape; without AVX-512 in the build it is the
 * reference) and whether this CPU can run it. */
void cnn_gemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);
int cnn_gemm_avx512_available(void);

void cnn_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

#endif
