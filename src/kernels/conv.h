/* conv.h — 2-D convolution kernels with torch.nn.Conv2d semantics
 * (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html):
 * zero padding, stride, dilation, groups, optional bias.
 *
 * The fast path is im2col + GEMM (cnn_gemm, CBLAS row-major) per image and
 * group; a 1x1 stride-1 unpadded conv skips im2col; a stride-1, dilation-1
 * conv of one group builds its columns from a padded copy of the input with
 * one long copy per row ("shifted rows"). The batch functions split
 * the images over OpenMP threads, each with its own slice of scratch, and
 * reduce weight gradients from per-thread partial sums in a fixed order, so
 * results are bit-identical for the same thread count. The _ref functions are
 * naive direct loops (accumulating in double) that the fast path is tested
 * against. Nothing here allocates. */
#ifndef CNN_KERNELS_CONV_H
#define CNN_KERNELS_CONV_H

#include <stddef.h>

typedef struct {
    int c, h, w; /* input channels and size */
    int k;       /* output channels */
    int kh, kw;  /* kernel size */
    int sh, sw;  /* stride */
    int ph, pw;  /* zero padding on each side */
    int dh, dw;  /* dilation */
    int groups;  /* c and k are multiples of groups */
    int oh, ow;  /* output size, set by cnn_conv_geom_init */
} cnn_conv_geom;

/* torch's output size: floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1 (may be < 1). */
int cnn_conv_out_size(int in, int k, int stride, int pad, int dil);
/* Set g->oh and g->ow from the other fields. Returns 1 if both are >= 1. */
int cnn_conv_geom_init(cnn_conv_geom *g);
/* True when the conv needs no im2col: 1x1 kernel, stride 1, no padding. */
int cnn_conv_is_pointwise(const cnn_conv_geom *g);
/* Floats of one group's column matrix: (C/groups * kh * kw) * (OH * OW). */
size_t cnn_conv_col_size(const cnn_conv_geom *g);
/* Floats of the weight (K, C/groups, kh, kw). */
size_t cnn_conv_weight_size(const cnn_conv_geom *g);

/* x is (c, H, W) (c channels, usually C/groups), col is (c*kh*kw, OH*OW);
 * positions in the padding read as zero. */
void cnn_im2col(const cnn_conv_geom *g, int c, const float *x, float *col);
/* The adjoint of cnn_im2col: col (c*kh*kw, OH*OW) is ADDED into x (c, H, W);
 * entries that fall into the padding are dropped. */
void cnn_col2im(const cnn_conv_geom *g, int c, const float *col, float *x);

/* x (C,H,W) into xp (C, H+2ph, W+2pw) with zero borders, followed by slack
 * zeros (for kernels that read past the last plane). */
void cnn_conv_pad_planes(const cnn_conv_geom *g, const float *x, float *xp, size_t slack);

/* Floats of work the single-image functions below need (0 when pointwise):
 * the column matrix, and for stride 1 and dilation 1 (one group) the padded
 * input and the output at padded width, see "shifted rows" in conv.c. */
size_t cnn_conv_work_size(const cnn_conv_geom *g);

/* One image. x is (C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (K,OH,OW).
 * col: cnn_conv_work_size floats (unused, may be NULL, when that is 0). */
void cnn_conv_forward(const cnn_conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *col);
/* One image. dy is (K,OH,OW), x is (C,H,W), w is (K,C/g,kh,kw).
 * dx (C,H,W) is OVERWRITTEN (skipped if NULL); dw (K,C/g,kh,kw) and db (K)
 * are ACCUMULATED (each skipped if NULL). col as for cnn_conv_forward. */
void cnn_conv_backward(const cnn_conv_geom *g, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *db, float *col);

/* Scratch floats for the batch functions below with n images on up to
 * nthreads threads (the larger of forward's and backward's needs). */
size_t cnn_conv_scratch_size(const cnn_conv_geom *g, int n, int nthreads);
/* Floats of one thread's slice: thread t's is at t * this in the scratch. */
size_t cnn_conv_slice_size(const cnn_conv_geom *g);

/* A batch on up to nthreads threads (never more than n).
 * x is (N,C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (N,K,OH,OW). */
void cnn_conv_forward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                            const float *b, float *y, float *scratch, int nthreads);
/* A batch on up to nthreads threads. dy is (N,K,OH,OW), x is (N,C,H,W);
 * dx (N,C,H,W) OVERWRITTEN (skipped if NULL); dw (K,C/g,kh,kw) and db (K)
 * ACCUMULATED (skipped if NULL) from per-thread partial sums added in thread order. */
void cnn_conv_backward_batch(const cnn_conv_geom *g, int n, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db, float *scratch,
                             int nthreads);

/* Naive references, direct loops over a batch. Same shapes and contracts as
 * the batch functions (dx overwritten, dw/db accumulated, NULL skipped). */
void cnn_conv_forward_ref(const cnn_conv_geom *g, int n, const float *x, const float *w,
                          const float *b, float *y);
void cnn_conv_backward_ref(const cnn_conv_geom *g, int n, const float *x, const float *w,
                           const float *dy, float *dx, float *dw, float *db);

#endif
