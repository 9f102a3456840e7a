/* rand.h — the kernel tests' deterministic inputs: uniform floats in [-1, 1)
 * from a 64-bit LCG, and filled buffers. Include after <cmocka.h>; a test
 * picks its stream by defining TEST_RNG_SEED first. Each test file gets its
 * own generator state (static). */
#ifndef TESTS_RAND_H
#define TESTS_RAND_H

#include <stdint.h>
#include <stdlib.h>

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ULL
#endif

static uint64_t rng_state = TEST_RNG_SEED;

/* Uniform in [-1, 1), deterministic. */
static inline float frand(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) * (1.0 / (1 << 24))) * 2.0f - 1.0f;
}

static inline float *rand_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static inline float *filled(size_t n, float v) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = v;
    return p;
}

#endif
