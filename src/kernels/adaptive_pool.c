/* adaptive_pool.c — adaptive average pooling (see adaptive_pool.h). */
#include "adaptive_pool.h"
#include <string.h>

/* torch's start_index / end_index: floor(i*in/out), ceil((i+1)*in/out). */
static int start_index(int i, int out, int in) {
    return (int)(((long long)i * in) / out);
}
static int end_index(int i, int out, int in) {
    return (int)((((long long)i + 1) * in + out - 1) / out);
}

void cnn_adaptive_avgpool_forward(int c, int h, int w, int oh, int ow, const float *x, float *y) {
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t)ch * h * w;
        float *yc = y + (size_t)ch * oh * ow;
        for (int i = 0; i < oh; i++) {
            int h0 = start_index(i, oh, h), h1 = end_index(i, oh, h);
            for (int j = 0; j < ow; j++) {
                int w0 = start_index(j, ow, w), w1 = end_index(j, ow, w);
                float s = 0;
                for (int a = h0; a < h1; a++)
                    for (int b = w0; b < w1; b++)
                        s += xc[(size_t)a * w + b];
                yc[(size_t)i * ow + j] = s / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
}

void cnn_adaptive_avgpool_backward(int c, int h, int w, int oh, int ow, const float *dy,
                                   float *dx) {
    memset(dx, 0, (size_t)c * h * w * sizeof(float));
    for (int ch = 0; ch < c; ch++) {
        float *dxc = dx + (size_t)ch * h * w;
        const float *dyc = dy + (size_t)ch * oh * ow;
        for (int i = 0; i < oh; i++) {
            int h0 = start_index(i, oh, h), h1 = end_index(i, oh, h);
            for (int j = 0; j < ow; j++) {
                int w0 = start_index(j, ow, w), w1 = end_index(j, ow, w);
                float d = dyc[(size_t)i * ow + j] / (float)((h1 - h0) * (w1 - w0));
                for (int a = h0; a < h1; a++)
                    for (int b = w0; b < w1; b++)
                        dxc[(size_t)a * w + b] += d;
            }
        }
    }
}
