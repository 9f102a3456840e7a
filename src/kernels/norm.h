/* norm.h — normalisation kernels with torch.nn semantics.
 *
 * BatchNorm2d (https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html):
 *   training normalises with the batch mean and the biased batch variance of
 *   each channel; evaluation with the running statistics. The kernels work on
 *   one channel ch of x (N,C,HW), so a caller can split channels over threads;
 *   sums over the N*HW values are taken per row in 16 float lanes and the
 *   row totals accumulated in double, in a fixed order.
 * LocalResponseNorm (https://pytorch.org/docs/stable/generated/torch.nn.LocalResponseNorm.html):
 *   y_c = x_c / (k + alpha/size * sum_{j=c-size/2}^{c+(size-1)/2} x_j^2)^beta,
 *   channels outside 0..C-1 counting as zero (torch pads size/2 channels in
 *   front and (size-1)/2 behind, then averages over size). One image per call.
 * Nothing here allocates or spawns threads. */
#ifndef CNN_KERNELS_NORM_H
#define CNN_KERNELS_NORM_H

#include <stddef.h>

/* The mean and the biased variance of channel ch of x (N,C,HW), in double. */
void cnn_bn_stats(int n, int c, int hw, int ch, const float *x, double *mean, double *var);

/* y = (x - mean) * invstd * gamma + beta on channel ch of x and y (N,C,HW).
 * The mean is subtracted as two floats (its value and its rounding error), so
 * channels with a large mean and a small spread keep their precision. */
void cnn_bn_apply(int n, int c, int hw, int ch, const float *x, double mean, float invstd,
                  float gamma, float beta, float *y);

/* Backward of channel ch, x and dy (N,C,HW). xhat = (x - mean) * invstd.
 * Returns sum(dy) in *sum_dy and sum(dy * xhat) in *sum_dy_xhat (the bias and
 * weight gradients). If dx is not NULL it is OVERWRITTEN on channel ch:
 *   batch statistics (train):   dx = gamma*invstd * (dy - sum_dy/M - xhat*sum_dy_xhat/M)
 *   fixed statistics (eval):    dx = gamma*invstd * dy
 * with M = N*HW. */
void cnn_bn_backward(int n, int c, int hw, int ch, const float *x, const float *dy, double mean,
                     float invstd, float gamma, int batch_stats, float *dx, double *sum_dy,
                     double *sum_dy_xhat);

/* x is (C,HW), y is (C,HW), scale (C,HW) gets k + alpha/size * (window sum of x^2). */
void cnn_lrn_forward(int c, int hw, int size, float alpha, float beta, float k, const float *x,
                     float *y, float *scale);
/* x, y, scale and dy are (C,HW) from the forward pass; dx (C,HW) is OVERWRITTEN:
 *   dx_i = dy_i * scale_i^-beta
 *          - 2*alpha*beta/size * x_i * sum_{j : i in window(j)} dy_j * y_j / scale_j;
 * tmp is (C,HW) scratch. */
void cnn_lrn_backward(int c, int hw, int size, float alpha, float beta, const float *x,
                      const float *y, const float *scale, const float *dy, float *dx, float *tmp);

/* Naive references: every window sum and power computed directly (powf), no scratch. */
void cnn_lrn_forward_ref(int c, int hw, int size, float alpha, float beta, float k, const float *x,
                         float *y, float *scale);
void cnn_lrn_backward_ref(int c, int hw, int size, float alpha, float beta, const float *x,
                          const float *y, const float *scale, const float *dy, float *dx);

#endif
