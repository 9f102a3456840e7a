/* gemm.h — C = alpha * op(A) * op(B) + beta * C, row-major, float32.
 * op(A) is (M, K), op(B) is (K, N), C is (M, N). ta/tb: 0 = as stored, 1 = transposed.
 * The fast path goes through CBLAS (OpenBLAS, OpenMP build: single-threaded
 * when called inside a parallel region); cnn_gemm_ref is the naive reference. */
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
void cnn_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

#endif
