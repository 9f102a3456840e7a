/* check_models.c — helper of scripts/check_models.py: run a model with given
 * weights on raw float32 input and write what the torch side compares.
 *
 *   check_models MODEL WEIGHTS X.f32 N OUT_PREFIX [LABELS.u8]
 *
 * writes OUT_PREFIX.logits.f32 (the input of the final softmax, eval mode),
 * OUT_PREFIX.params.f32 and OUT_PREFIX.buffers.f32 (the net's parameter and
 * buffer blocks, to check that torch's state_dict order maps onto them). With
 * labels it then runs one training step (cnn_net_train_step, batch
 * statistics) and writes OUT_PREFIX.loss.f32, .grads.f32 and .buffers_after.f32. */
#include "cnn.h"
#include "graph/net.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int dump(const char *prefix, const char *what, const float *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s.%s.f32", prefix, what);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, sizeof *p, n, f) != n || fclose(f)) {
        fprintf(stderr, "check_models: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: check_models MODEL WEIGHTS X.f32 N OUT_PREFIX [LABELS.u8]\n");
        return 2;
    }
    cnn_net *net;
    if (cnn_net_load_model(&net, argv[1], 1) != CNN_OK ||
        cnn_net_load_weights(net, argv[2]) != CNN_OK) {
        fprintf(stderr, "check_models: %s\n", cnn_last_error());
        return 1;
    }
    int n = atoi(argv[4]), c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    size_t nx = (size_t)n * c * h * w;
    float *x = malloc(nx * sizeof *x);
    FILE *f = fopen(argv[3], "rb");
    if (!x || !f || fread(x, sizeof *x, nx, f) != nx) {
        fprintf(stderr, "check_models: cannot read %zu floats from %s\n", nx, argv[3]);
        return 1;
    }
    fclose(f);
    if (cnn_net_forward(net, x, n, 0, NULL) != CNN_OK) {
        fprintf(stderr, "check_models: %s\n", cnn_last_error());
        return 1;
    }
    const cnn_layer *last = cnn_net_layer(net, cnn_net_num_layers(net) - 1);
    const cnn_layer *logits = cnn_net_layer(net, last->in_idx[0]);
    int rc = dump(argv[5], "logits", logits->y, (size_t)n * cnn_shape_size(logits->out)) ||
             dump(argv[5], "params", cnn_net_params(net), cnn_net_num_params(net)) ||
             dump(argv[5], "buffers", cnn_net_buffers(net), cnn_net_num_buffers(net));
    if (!rc && argc == 7) {
        uint8_t *labels = malloc((size_t)n);
        f = fopen(argv[6], "rb");
        if (!labels || !f || fread(labels, 1, (size_t)n, f) != (size_t)n) {
            fprintf(stderr, "check_models: cannot read %d labels from %s\n", n, argv[6]);
            return 1;
        }
        fclose(f);
        float loss;
        if (cnn_net_train_step(net, x, labels, n, 0, &loss, NULL) != CNN_OK) {
            fprintf(stderr, "check_models: %s\n", cnn_last_error());
            return 1;
        }
        rc = dump(argv[5], "loss", &loss, 1) ||
             dump(argv[5], "grads", cnn_net_grads(net), cnn_net_num_params(net)) ||
             dump(argv[5], "buffers_after", cnn_net_buffers(net), cnn_net_num_buffers(net));
        free(labels);
    }
    free(x);
    cnn_net_free(net);
    return rc;
}
