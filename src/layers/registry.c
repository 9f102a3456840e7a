/* registry.c — every layer type by its model-file name. */
#include "layer.h"
#include <string.h>

extern const cnn_layer_ops cnn_conv_ops, cnn_maxpool_ops, cnn_avgpool_ops, cnn_gap_ops;
extern const cnn_layer_ops cnn_relu_ops, cnn_leaky_relu_ops, cnn_elu_ops, cnn_sigmoid_ops,
    cnn_tanh_ops;
extern const cnn_layer_ops cnn_dense_ops, cnn_flatten_ops, cnn_dropout_ops, cnn_softmax_ops;
extern const cnn_layer_ops cnn_add_ops, cnn_concat_ops, cnn_batchnorm_ops, cnn_lrn_ops,
    cnn_adaptive_avgpool_ops, cnn_pad_ops;
extern const cnn_layer_ops cnn_affine_ops, cnn_clip_ops;

static const struct {
    const char *name;
    const cnn_layer_ops *ops;
} table[] = {
    {"conv", &cnn_conv_ops},
    {"conv2d", &cnn_conv_ops},
    {"maxpool", &cnn_maxpool_ops},
    {"avgpool", &cnn_avgpool_ops},
    {"gap", &cnn_gap_ops},
    {"global_avgpool", &cnn_gap_ops},
    {"relu", &cnn_relu_ops},
    {"leaky_relu", &cnn_leaky_relu_ops},
    {"elu", &cnn_elu_ops},
    {"sigmoid", &cnn_sigmoid_ops},
    {"tanh", &cnn_tanh_ops},
    {"dense", &cnn_dense_ops},
    {"fc", &cnn_dense_ops},
    {"linear", &cnn_dense_ops},
    {"flatten", &cnn_flatten_ops},
    {"dropout", &cnn_dropout_ops},
    {"softmax", &cnn_softmax_ops},
    {"add", &cnn_add_ops},
    {"concat", &cnn_concat_ops},
    {"batchnorm", &cnn_batchnorm_ops},
    {"bn", &cnn_batchnorm_ops},
    {"lrn", &cnn_lrn_ops},
    {"adaptive_avgpool", &cnn_adaptive_avgpool_ops},
    {"pad", &cnn_pad_ops},
    {"affine", &cnn_affine_ops},
    {"clip", &cnn_clip_ops},
};

const cnn_layer_ops *cnn_layer_find(const char *type) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, type) == 0) return table[i].ops;
    return NULL;
}

const char *const *cnn_layer_types(void) {
    static const char *names[sizeof table / sizeof table[0] + 1];
    if (!names[0])
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            names[i] = table[i].name;
    return names;
}

void cnn_init_uniform(float *p, size_t n, float bound, cnn_rng *rng) {
    for (size_t i = 0; i < n; i++)
        p[i] = (2.0f * cnn_rng_uniform(rng) - 1.0f) * bound;
}
