/* config.c — the default training recipe. */
#include "../core/core.h"

void cnn_train_config_default(cnn_train_config *c) {
    *c = (cnn_train_config){
        .epochs = 10,
        .batch = 64,
        .optimizer = CNN_OPT_SGD,
        .lr = 0.01f,
        .momentum = 0.9f,
        .nesterov = 0,
        .dampening = 0.0f,
        .weight_decay = 0.0f,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
        .schedule = CNN_SCHED_CONSTANT,
        .step_size = 1,
        .gamma = 0.1f,
        .min_lr = 0.0f,
        .warmup_epochs = 0,
        .label_smoothing = 0.0f,
        .seed = 1,
    };
}
