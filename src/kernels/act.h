/* act.h — element-wise activations on flat float arrays, forward and backward,
 * with the semantics of torch.nn.{ReLU, LeakyReLU, ELU, Sigmoid, Tanh} and their
 * autograd formulas (torch 1.13). Each function handles n elements; x, y, dy and
 * dx are all (n). Backward OVERWRITES dx; dx may alias dy. Every element is
 * computed independently, so results do not depend on the thread count. */
#ifndef CNN_ACT_H
#define CNN_ACT_H

#include <stddef.h>

/* y = max(x, 0) (NaN propagates); dx = x > 0 ? dy : 0 (threshold_backward). */
void cnn_relu_forward(const float *x, float *y, size_t n);
void cnn_relu_backward(const float *x, const float *dy, float *dx, size_t n);

/* y = x > 0 ? x : slope * x; dx = x > 0 ? dy : slope * dy. */
void cnn_leaky_relu_forward(const float *x, float *y, size_t n, float slope);
void cnn_leaky_relu_backward(const float *x, const float *dy, float *dx, size_t n, float slope);

/* y = x > 0 ? x : alpha * expm1(x); dx = x > 0 ? dy : dy * alpha * exp(x)
 * (torch elu_backward with is_result=false; x == 0 takes the negative branch). */
void cnn_elu_forward(const float *x, float *y, size_t n, float alpha);
void cnn_elu_backward(const float *x, const float *dy, float *dx, size_t n, float alpha);

/* y = 1 / (1 + exp(-x)); dx = dy * (1 - y) * y (from the output y). */
void cnn_sigmoid_forward(const float *x, float *y, size_t n);
void cnn_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n);

/* y = tanh(x); dx = dy * (1 - y * y) (from the output y). */
void cnn_tanh_forward(const float *x, float *y, size_t n);
void cnn_tanh_backward(const float *y, const float *dy, float *dx, size_t n);

#endif
