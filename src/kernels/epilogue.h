/* epilogue.h — what an inference pass applies to a layer's output while it is
 * still in cache: a per-channel scale and shift, then an activation,
 *   y[k][i] = act(y[k][i] * scale[k] + shift[k])
 * (a batch norm folded into the preceding conv, its bias, a following ReLU).
 * Any conv algorithm can end with it: cnn_conv_forward_batch_ep runs the
 * normal conv (cnn_conv_forward, whatever path it takes) image by image and
 * applies the epilogue to each image right after. Nothing here allocates. */
#ifndef CNN_KERNELS_EPILOGUE_H
#define CNN_KERNELS_EPILOGUE_H

#include "conv.h"
#include <stddef.h>

typedef enum { CNN_ACT_NONE, CNN_ACT_RELU, CNN_ACT_LEAKY_RELU } cnn_act_kind;

typedef struct {
    const float *scale; /* (K), or NULL for 1 */
    const float *shift; /* (K), or NULL for 0 */
    cnn_act_kind act;   /* applied after scale and shift */
    float slope;        /* CNN_ACT_LEAKY_RELU: torch.nn.LeakyReLU's negative_slope */
} cnn_epilogue;

/* y is (K, hw), one image: the epilogue on channels [k0, k1). Each element is
 * computed the same way whatever the split, so the result does not depend on
 * the thread count. */
void cnn_epilogue_apply(const cnn_epilogue *e, float *y, int k0, int k1, size_t hw);
/* The same on all K channels of one image, split over OpenMP threads when it
 * is large and the caller is not in a parallel region. */
void cnn_epilogue_apply_par(const cnn_epilogue *e, float *y, int k, size_t hw);

/* cnn_conv_forward_batch without the bias, then e on every image (x is
 * (N,C,H,W), w is (K,C/g,kh,kw), y is (N,K,OH,OW)); scratch as for
 * cnn_conv_forward_batch (cnn_conv_scratch_size). A conv bias goes into
 * e->shift. */
void cnn_conv_forward_batch_ep(const cnn_conv_geom *g, int n, const float *x, const float *w,
                               const cnn_epilogue *e, float *y, float *scratch, int nthreads);

#endif
