/* winograd.h — Winograd F(4x4, 3x3) forward convolution (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016) for 3x3,
 * stride-1, dilation-1, one-group convs, torch.nn.Conv2d semantics (any
 * padding, any size, optional bias).
 *
 * The output is cut into 4x4 tiles, each computed from a 6x6 input tile:
 * y = A^T [ (G w G^T) .* (B^T d B) ] A. The 36 elements of the transformed
 * tiles make 36 independent GEMMs, (K x C) * (C x tiles), through cnn_gemm:
 * 4x fewer multiplications than the direct conv. The weights are transformed
 * on every call (no cache, so a training step's new weights are always used).
 * Nothing here allocates: the scratch is planned with cnn_wino_scratch_size. */
#ifndef CNN_KERNELS_WINOGRAD_H
#define CNN_KERNELS_WINOGRAD_H

#include "conv.h"
#include <stddef.h>

/* True when the geometry is one Winograd can compute: 3x3, stride 1,
 * dilation 1, one group. */
int cnn_wino_supported(const cnn_conv_geom *g);
/* True when Winograd should replace cnn_conv_forward_batch for this geometry
 * and batch: supported, and measured faster than im2col + GEMM (the rule and
 * its numbers are in winograd.c). Never true for n if false for a larger n. */
int cnn_wino_preferred(const cnn_conv_geom *g, int n, int nthreads);

/* Scratch floats for cnn_wino_forward_batch with up to n images on up to
 * nthreads threads (also enough for any smaller n). */
size_t cnn_wino_scratch_size(const cnn_conv_geom *g, int n, int nthreads);

/* A batch on up to nthreads threads (one OpenMP team; the GEMMs then run
 * single-threaded inside it). g must be supported.
 * x is (N,C,H,W), w is (K,C,3,3), b is (K) or NULL, y is (N,K,OH,OW). */
void cnn_wino_forward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                            const float *b, float *y, float *scratch, int nthreads);

/* As cnn_wino_forward_batch, with the transforms compiled for at most `isa`
 * (0 = x86-64 baseline, 1 = AVX2+FMA, 2 = AVX-512F; lowered to what the CPU
 * has), so tests can run every version on one machine. All give the same bits. */
void cnn_wino_forward_batch_isa(const cnn_conv_geom *g, int n, const float *x, const float *w,
                                const float *b, float *y, float *scratch, int nthreads, int isa);

#endif
