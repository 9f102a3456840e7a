/* norm_ref.c — naive local response normalisation (see norm.h): each
 * window sum and power computed directly, one value at a time. */
#include "../norm.h"
#include <math.h>

void cnn_lrn_forward_ref(int c, int hw, int size, float alpha, float beta, float k, const float *x,
                         float *y, float *scale) {
    for (int ch = 0; ch < c; ch++)
        for (int p = 0; p < hw; p++) {
            float s = 0;
            for (int j = ch - size / 2; j <= ch + (size - 1) - size / 2; j++)
                if (j >= 0 && j < c) s += x[(size_t)j * hw + p] * x[(size_t)j * hw + p];
            size_t o = (size_t)ch * hw + p;
            scale[o] = k + alpha / (float)size * s;
            y[o] = x[o] * powf(scale[o], -beta);
        }
}

void cnn_lrn_backward_ref(int c, int hw, int size, float alpha, float beta, const float *x,
                          const float *y, const float *scale, const float *dy, float *dx) {
    for (int i = 0; i < c; i++)
        for (int p = 0; p < hw; p++) {
            float acc = 0;
            for (int j = 0; j < c; j++) /* does channel j's window hold i? */
                if (i >= j - size / 2 && i <= j + (size - 1) - size / 2) {
                    size_t o = (size_t)j * hw + p;
                    acc += dy[o] * y[o] / scale[o];
                }
            size_t o = (size_t)i * hw + p;
            dx[o] = dy[o] * powf(scale[o], -beta) - 2.0f * alpha * beta / (float)size * x[o] * acc;
        }
}
