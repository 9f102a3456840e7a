/* direct.h — direct convolution for few input channels (stride 1, dilation
 * 1, one group), forward only: the path cnn_conv_forward takes when
 * cnn_conv_direct_pays says so. Same shapes and contract as the one-image
 * forward of conv.h; tested against the naive reference. */
#ifndef CNN_KERNELS_DIRECT_H
#define CNN_KERNELS_DIRECT_H

#include "conv.h"
#include <stddef.h>

/* 1 if the direct loops can run this geometry (stride 1, dilation 1, one group). */
int cnn_conv_direct_fits(const cnn_conv_geom *g);
/* 1 if they are also the faster choice (measured rule, see direct.c). */
int cnn_conv_direct_pays(const cnn_conv_geom *g);
/* 0 turns the direct path off (for tests and benchmarks that compare it with
 * im2col + GEMM); 1 by default. Not thread-safe: set it between passes. */
extern int cnn_conv_direct_enabled;
/* Floats of work the function below needs. */
size_t cnn_conv_direct_work_size(const cnn_conv_geom *g);

/* x (C,H,W), w (K,C,kh,kw), b (K) or NULL; y (K,OH,OW) overwritten. */
void cnn_conv_direct_forward(const cnn_conv_geom *g, const float *x, const float *w,
                             const float *b, float *y, float *work);
#endif
