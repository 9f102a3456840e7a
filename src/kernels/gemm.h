/* gemm.h — C = alpha * op(A) * op(B) + beta * C, row-major, float32.
 * op(A) is (M, K), op(B) is (K, N), C is (M, N). ta/tb: 0 = as stored, 1 = transposed.
 * The fast path goes through CBLAS (OpenBLAS, OpenMP build: single-threaded
 * when called inside a parallel region); cnn_gemm_ref is the naive reference. */
#ifndef CNN_GEMM_H
#define CNN_GEMM_H

void cnn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
void cnn_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

#endif
