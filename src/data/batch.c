/* batch.c — uint8 dataset samples to a normalised float batch, and the check
 * that a dataset fits a net.
 *
 * The conversion is torchvision's ToTensor + Normalize: v = p / 255, then
 * (v - mean[c]) / std[c], computed once per channel into a 256-entry table so
 * a pixel costs one load. */
#include "data.h"
#include <string.h>

void cnn_data_norm_table(const cnn_net *net, int channel, float table[256]) {
    float mean = 0.0f, std = 1.0f;
    if (net) cnn_net_input_norm(net, channel, &mean, &std);
    for (int p = 0; p < 256; p++)
        table[p] = ((float)p / 255.0f - mean) / std;
}

/* A dataset read from its file: sample i's bytes are read into the last
 * quarter of its own float slot in x, from where the conversion below fills
 * the slot front to back: float j (bytes 4j..4j+3) is written after byte j of
 * the sample (at 3*sample + j) is read, and 4j + 3 < 3*sample + j + 1 for
 * every j < sample, so no byte is overwritten before it is read. */
static const uint8_t *staged(const float *x, size_t i, size_t sample) {
    return (const uint8_t *)(x + i * sample) + 3 * sample;
}

void cnn_dataset_batch(const cnn_dataset *ds, const cnn_net *net, const int *idx, int first, int n,
                       float *x, uint8_t *labels) {
    size_t plane = (size_t)ds->h * (size_t)ds->w, sample = (size_t)ds->c * plane;
    float table[256];
    if (cnn_dataset_file_of(ds))
        for (int i = 0; i < n; i++)
            cnn_dataset_sample(ds, idx ? idx[i] : first + i,
                               (uint8_t *)staged(x, (size_t)i, sample));
    for (int c = 0; c < ds->c; c++) {
        cnn_data_norm_table(net, c, table);
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)(idx ? idx[i] : first + i);
            const uint8_t *src =
                (cnn_dataset_file_of(ds) ? staged(x, (size_t)i, sample) : ds->images + k * sample) +
                (size_t)c * plane;
            float *dst = x + (size_t)i * sample + (size_t)c * plane;
            for (size_t j = 0; j < plane; j++)
                dst[j] = table[src[j]];
        }
    }
    if (labels)
        for (int i = 0; i < n; i++)
            labels[i] = ds->labels[idx ? idx[i] : first + i];
}

cnn_status cnn_dataset_check(const cnn_dataset *ds, const cnn_net *net, const char *what) {
    int c, h, w, kc, kh, kw;
    if (ds->n <= 0 || !(ds->images || cnn_dataset_file_of(ds)) || !ds->labels)
        return cnn_fail(CNN_ERR_ARG, "%s: the dataset is empty", what);
    cnn_net_input_shape(net, &c, &h, &w);
    if (ds->c != c || ds->h != h || ds->w != w)
        return cnn_fail(CNN_ERR_SHAPE, "%s: images are %dx%dx%d but the model's input is %dx%dx%d",
                        what, ds->c, ds->h, ds->w, c, h, w);
    cnn_net_output_shape(net, &kc, &kh, &kw);
    long k = (long)kc * kh * kw;
    if (ds->classes > k)
        return cnn_fail(CNN_ERR_SHAPE,
                        "%s: labels go up to %d (%d classes) but the model has %ld outputs", what,
                        ds->classes - 1, ds->classes, k);
    return CNN_OK;
}
