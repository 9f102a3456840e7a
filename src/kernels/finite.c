/* finite.c — the NaN/Inf scan, on the bits: a float is NaN or +-Inf exactly
 * when its exponent field is all ones, i.e. when |bits| >= 0x7f800000. The
 * loop is a max-reduction over integers, which the compiler vectorises (the
 * float sum it replaces was a serial dependency chain, 2% of a small net's
 * training profile). */
#include "finite.h"
#include <stdint.h>
#include <string.h>

/* The larger of top and |v|'s bits (NaN and Inf are the largest). */
static inline uint32_t top_bits(uint32_t top, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u &= 0x7fffffffu;
    return u > top ? u : top;
}

int cnn_all_finite(const float *p, size_t n) {
    uint32_t top = 0;
    for (size_t i = 0; i < n; i++)
        top = top_bits(top, p[i]);
    return top < 0x7f800000u;
}

/* dst = sum over t of w[t] * src[t], t in order, and the scan of the result
 * in the same pass (dst may be src[0]). */
int cnn_sum_finite(float *dst, const float *const *src, const float *w, int k, size_t n) {
    uint32_t top = 0;
    if (k == 2) { /* two threads: the common case, one fused loop */
        const float *a = src[0], *b = src[1];
        const float wa = w[0], wb = w[1];
        for (size_t i = 0; i < n; i++) {
            float s = wa * a[i] + wb * b[i];
            top = top_bits(top, s);
            dst[i] = s;
        }
        return top < 0x7f800000u;
    }
    for (size_t i = 0; i < n; i++) {
        float s = w[0] * src[0][i];
        for (int t = 1; t < k; t++)
            s += w[t] * src[t][i];
        top = top_bits(top, s);
        dst[i] = s;
    }
    return top < 0x7f800000u;
}
