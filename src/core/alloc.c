/* alloc.c — checked, aligned allocation and overflow-safe sizes. */
#include "core.h"
#include <stdlib.h>
#include <string.h>

bool cnn_mul_size(size_t a, size_t b, size_t *out) {
    if (b != 0 && a > SIZE_MAX / b) return false;
    *out = a * b;
    return true;
}

bool cnn_add_size(size_t a, size_t b, size_t *out) {
    if (a > SIZE_MAX - b) return false;
    *out = a + b;
    return true;
}

float *cnn_alloc_floats(size_t n) {
    size_t bytes;
    if (n == 0) n = 1;
    if (!cnn_mul_size(n, sizeof(float), &bytes) || !cnn_add_size(bytes, 63, &bytes)) return NULL;
    bytes &= ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void cnn_free_floats(float *p) { free(p); }
