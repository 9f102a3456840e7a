/* pool.h — 2-D pooling kernels with torch.nn semantics:
 * MaxPool2d (https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html):
 *   padding reads as -inf, dilation, ceil_mode; ties keep the first maximum in
 *   row-major window order, NaN wins; argmax indices h*W+w within the plane
 *   are kept for the backward pass.
 * AvgPool2d (https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html):
 *   zero padding, ceil_mode, count_include_pad (the divisor counts padding but
 *   never the part of a ceil_mode window past the right/bottom padding).
 * AdaptiveAvgPool2d(1): the mean of each plane.
 * Kernels work on one image of c planes; the _ref versions are naive loops
 * the fast ones are tested against. Nothing here allocates or spawns threads. */
#ifndef CNN_KERNELS_POOL_H
#define CNN_KERNELS_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int c, h, w;           /* planes and input size */
    int kh, kw;            /* window */
    int sh, sw;            /* stride */
    int ph, pw;            /* padding on each side */
    int dh, dw;            /* dilation (1 for average pooling) */
    int ceil_mode;         /* round the output size up (torch's rule) */
    int count_include_pad; /* average pooling: padding counts in the divisor */
    int oh, ow;            /* output size, set by cnn_pool_geom_init */
} cnn_pool_geom;

/* torch's pooling_output_shape: floor or ceil of
 * (in + 2*pad - dil*(k-1) - 1) / stride, plus 1; with ceil_mode the last
 * window must start inside the input or the left padding. May be < 1. */
int cnn_pool_out_size(int in, int k, int stride, int pad, int dil, int ceil_mode);
/* Set g->oh and g->ow from the other fields. Returns 1 if both are >= 1. */
int cnn_pool_geom_init(cnn_pool_geom *g);

/* x is (C,H,W), y is (C,OH,OW), idx is (C,OH,OW) or NULL: the argmax of each
 * window as h*W+w within its plane, -1 if the window holds no input (y = -inf). */
void cnn_maxpool_forward(const cnn_pool_geom *g, const float *x, float *y, int32_t *idx);
/* dy and idx are (C,OH,OW), dx (C,H,W) is OVERWRITTEN: each dy goes to its argmax. */
void cnn_maxpool_backward(const cnn_pool_geom *g, const float *dy, const int32_t *idx, float *dx);

/* 2x2/2 windows inside the input (cnn_maxpool_has_codes): the forward also
 * writes each window's argmax as a code, codes (C,OH,OW) bytes, 0..3 = its
 * position in row-major window order (the same choice as the indices); the
 * backward overwrites dx (C,H,W) from the codes and dy alone. */
int cnn_maxpool_has_codes(const cnn_pool_geom *g);
void cnn_maxpool_codes_forward(const cnn_pool_geom *g, const float *x, float *y, uint8_t *codes);
void cnn_maxpool_codes_backward(const cnn_pool_geom *g, const uint8_t *codes, const float *dy,
                                float *dx);

/* 0: the AVX-512 paths are not taken (tests run the portable ones too). */
extern int cnn_pool_simd_enabled;

/* x is (C,H,W), y is (C,OH,OW). */
void cnn_avgpool_forward(const cnn_pool_geom *g, const float *x, float *y);
/* dy is (C,OH,OW), dx (C,H,W) is OVERWRITTEN. */
void cnn_avgpool_backward(const cnn_pool_geom *g, const float *dy, float *dx);

/* x is (C,HW), y is (C): the mean of each plane. */
void cnn_gap_forward(int c, int hw, const float *x, float *y);
/* dy is (C), dx (C,HW) is OVERWRITTEN with dy / HW. */
void cnn_gap_backward(int c, int hw, const float *dy, float *dx);

/* Naive references with the same shapes; the max-pool backward finds the
 * argmax again from x instead of reading indices. */
void cnn_maxpool_forward_ref(const cnn_pool_geom *g, const float *x, float *y);
void cnn_maxpool_backward_ref(const cnn_pool_geom *g, const float *x, const float *dy, float *dx);
void cnn_avgpool_forward_ref(const cnn_pool_geom *g, const float *x, float *y);
void cnn_avgpool_backward_ref(const cnn_pool_geom *g, const float *dy, float *dx);
void cnn_gap_forward_ref(int c, int hw, const float *x, float *y);
void cnn_gap_backward_ref(int c, int hw, const float *dy, float *dx);

#endif
