/* depthwise.h — direct depthwise convolution, torch.nn.Conv2d with
 * groups == in_channels (out_channels = m * in_channels, m >= 1), any kernel,
 * stride, padding and dilation. One image per call; cnn_conv_forward and
 * cnn_conv_backward (conv.h) take this path for such shapes, so the batch
 * functions, their threading and the naive reference apply unchanged.
 * Sums are in float over fixed lanes; nothing here allocates. */
#ifndef CNN_KERNELS_DEPTHWISE_H
#define CNN_KERNELS_DEPTHWISE_H

#include "conv.h"

/* True when every group has exactly one input channel (groups == C > 1). */
int cnn_conv_is_depthwise(const cnn_conv_geom *g);

/* x (C,H,W), w (K,1,kh,kw), b (K) or NULL, y (K,OH,OW). Output channel k
 * reads input channel k / (K/C). */
void cnn_dw_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                    float *y);
/* dy (K,OH,OW), x (C,H,W), w (K,1,kh,kw): dx (C,H,W) OVERWRITTEN, dw
 * (K,1,kh,kw) and db (K) ACCUMULATED; each skipped when NULL. */
void cnn_dw_backward(const cnn_conv_geom *g, const float *x, const float *w, const float *dy,
                     float *dx, float *dw, float *db);

#endif
