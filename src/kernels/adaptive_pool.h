/* adaptive_pool.h — adaptive average pooling, torch.nn.AdaptiveAvgPool2d
 * (https://pytorch.org/docs/stable/generated/torch.nn.AdaptiveAvgPool2d.html):
 * output cell (i, j) of an OH x OW grid averages input rows
 * [floor(i*H/OH), ceil((i+1)*H/OH)) and columns [floor(j*W/OW), ceil((j+1)*W/OW));
 * windows may overlap (H not a multiple of OH) and OH may exceed H. One image
 * of C planes per call; nothing here allocates or spawns threads. */
#ifndef CNN_KERNELS_ADAPTIVE_POOL_H
#define CNN_KERNELS_ADAPTIVE_POOL_H

/* x is (C,H,W), y is (C,OH,OW). */
void cnn_adaptive_avgpool_forward(int c, int h, int w, int oh, int ow, const float *x, float *y);
/* dy is (C,OH,OW), dx (C,H,W) is OVERWRITTEN. */
void cnn_adaptive_avgpool_backward(int c, int h, int w, int oh, int ow, const float *dy, float *dx);

#endif
