/* finite.h — the NaN/Inf scan the training loop runs over the gradients
 * after every step. */
#ifndef CNN_FINITE_H
#define CNN_FINITE_H

#include <stddef.h>

/* 1 when every one of p[0..n) is finite, 0 when any is NaN or +-Inf. */
int cnn_all_finite(const float *p, size_t n);

/* dst[i] = sum over t < k of w[t] * src[t][i] (the terms added in order of t;
 * dst may be src[0]); 1 when every dst[i] is finite. The data-parallel
 * trainer's gradient sum and its NaN/Inf scan in one pass. */
int cnn_sum_finite(float *dst, const float *const *src, const float *w, int k, size_t n);

#endif
