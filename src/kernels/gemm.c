/* gemm.c — the GEMM used by conv and dense layers, through CBLAS. */
#include "gemm.h"
#include <cblas.h>

void cnn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void cnn_gemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y,
                1);
}
