/* softmax_ref.c — naive channel softmax, one position at a time: the reference
 * the blocked cnn_softmax_forward/backward are tested against. */
#include "../softmax.h"
#include <math.h>

void cnn_softmax_forward_ref(const float *x, float *y, int n, int c, int hw) {
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            const float *xs = x + (size_t)i * c * hw + p;
            float *ys = y + (size_t)i * c * hw + p;
            float m = xs[0], s = 0.0f;
            for (int ch = 1; ch < c; ch++)
                m = xs[(size_t)ch * hw] > m ? xs[(size_t)ch * hw] : m;
            for (int ch = 0; ch < c; ch++) {
                ys[(size_t)ch * hw] = expf(xs[(size_t)ch * hw] - m);
                s += ys[(size_t)ch * hw];
            }
            for (int ch = 0; ch < c; ch++)
                ys[(size_t)ch * hw] /= s;
        }
}

void cnn_softmax_backward_ref(const float *y, const float *dy, float *dx, int n, int c, int hw) {
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            size_t base = (size_t)i * c * hw + p;
            float s = 0.0f;
            for (int ch = 0; ch < c; ch++)
                s += dy[base + (size_t)ch * hw] * y[base + (size_t)ch * hw];
            for (int ch = 0; ch < c; ch++) {
                size_t q = base + (size_t)ch * hw;
                dx[q] = y[q] * (dy[q] - s);
            }
        }
}
