/* gemm.c — the GEMM used by conv and dense layers: our AVX-512 kernel
 * (gemm_avx512.c) where the CPU has AVX-512F, otherwise CBLAS. */
#include "gemm.h"
#include <cblas.h>

static int gemm_impl = CNN_GEMM_AUTO;

void cnn_gemm_select(int impl) {
    gemm_impl = impl;
}

int cnn_gemm_selected(void) {
    if (gemm_impl == CNN_GEMM_AUTO)
        return cnn_gemm_avx512_available() ? CNN_GEMM_AVX512 : CNN_GEMM_BLAS;
    return gemm_impl == CNN_GEMM_AVX512 && !cnn_gemm_avx512_available() ? CNN_GEMM_BLAS : gemm_impl;
}

void cnn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (cnn_gemm_selected() == CNN_GEMM_AVX512) {
        cnn_gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void cnn_gemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y,
                1);
}
