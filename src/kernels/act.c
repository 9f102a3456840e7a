/* act.c — element-wise activation kernels (see act.h). Plain loops the compiler
 * vectorises (the max/select ones) or runs through libm (exp, tanh), split over
 * OpenMP threads when the array is large enough to pay for it. */
#include "act.h"
#include "../core/par.h"
#include <math.h>

/* Below this many elements a parallel region costs more than it saves. */
#define ACT_PAR_MIN ((size_t)1 << 15)

void cnn_relu_forward(const float *x, float *y, size_t n) {
    CNN_PAR_FOR_SIMD(n >= ACT_PAR_MIN,
                     for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];);
}

void cnn_relu_backward(const float *x, const float *dy, float *dx, size_t n) {
    CNN_PAR_FOR_SIMD(
        n >= ACT_PAR_MIN, for (size_t i = 0; i < n; i++) {
            const float d = dy[i]; /* loaded unconditionally, so the select vectorises */
            dx[i] = x[i] > 0.0f ? d : 0.0f;
        });
}

void cnn_leaky_relu_forward(const float *x, float *y, size_t n, float slope) {
    CNN_PAR_FOR_SIMD(
        n >= ACT_PAR_MIN, for (size_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = v > 0.0f ? v : v * slope;
        });
}

void cnn_leaky_relu_backward(const float *x, const float *dy, float *dx, size_t n, float slope) {
    CNN_PAR_FOR_SIMD(
        n >= ACT_PAR_MIN, for (size_t i = 0; i < n; i++) {
            const float d = dy[i];
            dx[i] = x[i] > 0.0f ? d : d * slope;
        });
}

void cnn_elu_forward(const float *x, float *y, size_t n, float alpha) {
    CNN_PAR_FOR(n >= ACT_PAR_MIN,
                for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]););
}

void cnn_elu_backward(const float *x, const float *dy, float *dx, size_t n, float alpha) {
    CNN_PAR_FOR(n >= ACT_PAR_MIN, for (size_t i = 0; i < n; i++) dx[i] =
                                      x[i] > 0.0f ? dy[i] : dy[i] * alpha * expf(x[i]););
}

void cnn_sigmoid_forward(const float *x, float *y, size_t n) {
    CNN_PAR_FOR(n >= ACT_PAR_MIN,
                for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i])););
}

void cnn_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n) {
    CNN_PAR_FOR_SIMD(n >= ACT_PAR_MIN,
                     for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i]) * y[i];);
}

void cnn_tanh_forward(const float *x, float *y, size_t n) {
    CNN_PAR_FOR(n >= ACT_PAR_MIN, for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]););
}

void cnn_tanh_backward(const float *y, const float *dy, float *dx, size_t n) {
    CNN_PAR_FOR_SIMD(n >= ACT_PAR_MIN,
                     for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]););
}
