/* split.c — copies and a seeded train/validation split of a dataset. */
#include "../core/core.h"
#include "data.h"
#include <stdlib.h>
#include <string.h>

static cnn_status take(cnn_dataset *dst, const cnn_dataset *src, const int *idx, int n) {
    size_t sample = (size_t)src->c * src->h * src->w;
    memset(dst, 0, sizeof *dst);
    uint8_t *images = malloc((size_t)n * sample + 1), *labels = malloc((size_t)n + 1);
    if (!images || !labels) {
        free(images);
        free(labels);
        return cnn_fail(CNN_ERR_NOMEM, "out of memory copying %d samples", n);
    }
    int max = 0;
    for (int i = 0; i < n; i++) {
        int k = idx ? idx[i] : i;
        uint8_t *to = images + (size_t)i * sample;
        const uint8_t *from = cnn_dataset_sample(src, k, to);
        if (from != to) memcpy(to, from, sample);
        labels[i] = src->labels[k];
        if (labels[i] > max) max = labels[i];
    }
    cnn_status s = cnn_dataset_read_status(src);
    if (s != CNN_OK) {
        free(images);
        free(labels);
        return s;
    }
    *dst = (cnn_dataset){n, src->c, src->h, src->w, images, labels, max + 1, NULL};
    /* Keep the source's class count: a part may lack the last class. */
    if (src->classes > dst->classes) dst->classes = src->classes;
    return CNN_OK;
}

cnn_status cnn_dataset_copy(cnn_dataset *dst, const cnn_dataset *src, int n) {
    if (!dst || !src || !(src->images || cnn_dataset_file_of(src)))
        return cnn_fail(CNN_ERR_ARG, "cnn_dataset_copy: no dataset");
    if (n <= 0 || n > src->n) n = src->n;
    return take(dst, src, NULL, n);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

cnn_status cnn_dataset_split(const cnn_dataset *src, double val, uint64_t seed, cnn_dataset *train,
                             cnn_dataset *valid) {
    if (!src || !train || !valid || !(src->images || cnn_dataset_file_of(src)))
        return cnn_fail(CNN_ERR_ARG, "cnn_dataset_split: no dataset");
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    if (!(val > 0)) return cnn_fail(CNN_ERR_ARG, "validation split %g: expected > 0", val);
    long k = val < 1 ? (long)(val * src->n) : (long)val;
    if (k < 1) k = 1;
    if (k >= src->n)
        return cnn_fail(CNN_ERR_ARG,
                        "validation split %g: %ld of %d samples leaves nothing to train on", val, k,
                        src->n);
    int *perm = malloc((size_t)src->n * sizeof *perm);
    if (!perm) return cnn_fail(CNN_ERR_NOMEM, "out of memory splitting %d samples", src->n);
    for (int i = 0; i < src->n; i++)
        perm[i] = i;
    cnn_rng rng;
    cnn_rng_seed(&rng, seed * 0xd1342543de82ef95ULL + 0x5b117);
    cnn_rng_shuffle(&rng, perm, src->n);
    /* The first k of the permutation are held out; each part in src's order. */
    qsort(perm, (size_t)k, sizeof *perm, cmp_int);
    qsort(perm + k, (size_t)(src->n - k), sizeof *perm, cmp_int);
    cnn_status s = take(valid, src, perm, (int)k);
    if (s == CNN_OK) s = take(train, src, perm + k, src->n - (int)k);
    free(perm);
    if (s != CNN_OK) {
        free(valid->images);
        free(valid->labels);
        memset(valid, 0, sizeof *valid);
    }
    return s;
}
