/* finite.h — the NaN/Inf scan the training loop runs over the gradients
 * after every step. */
#ifndef CNN_FINITE_H
#define CNN_FINITE_H

#include <stddef.h>

/* 1 when every one of p[0..n) is finite, 0 when any is NaN or +-Inf. */
int cnn_all_finite(const float *p, size_t n);

#endif
