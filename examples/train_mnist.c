/* train_mnist.c — the C API in one page: build LeNet-5 line by line, train it
 * for one epoch on MNIST, evaluate, save the weights, and classify one image.
 *
 *   build/examples/train_mnist data/mnist
 */
#include "cnn.h"
#include <stdio.h>

static int fail(const char *what) {
    fprintf(stderr, "train_mnist: %s: %s\n", what, cnn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/mnist";
    char images[512], labels[512];
    static const char *lines[] = {
        "input shape=1x28x28 mean=0.1307 std=0.3081",
        "conv filters=6 kernel=5 padding=2", "relu", "maxpool kernel=2",
        "conv filters=16 kernel=5", "relu", "maxpool kernel=2",
        "dense units=120", "relu", "dense units=84", "relu", "dense units=10", "softmax",
    };

    cnn_net *net;
    if (cnn_net_create(&net) != CNN_OK) return fail("create");
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (cnn_net_add(net, lines[i]) != CNN_OK) return fail(lines[i]);
    if (cnn_net_build(net, 42) != CNN_OK) return fail("build");
    cnn_net_summary(net, stdout);

    cnn_dataset train = {0}, test = {0};
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", dir);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte", dir);
    if (cnn_dataset_load_idx(&train, images, labels) != CNN_OK) return fail("train set");
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte", dir);
    if (cnn_dataset_load_idx(&test, images, labels) != CNN_OK) return fail("test set");

    cnn_train_config cfg;
    cnn_train_config_default(&cfg);
    cfg.epochs = 1;
    cfg.lr = 0.05f;
    if (cnn_train(net, &cfg, &train, &test, NULL, NULL, NULL) != CNN_OK) return fail("train");

    float loss, acc;
    if (cnn_evaluate(net, &test, 256, &loss, &acc) != CNN_OK) return fail("evaluate");
    printf("after one epoch: test loss %.4f, test accuracy %.2f%%\n", loss, 100 * acc);
    if (cnn_net_save_weights(net, "build/example.weights") != CNN_OK) return fail("save");

    /* Classify the first test image. */
    float x[28 * 28];
    uint8_t label;
    const float *p;
    cnn_dataset_batch(&test, net, NULL, 0, 1, x, &label);
    if (cnn_net_forward(net, x, 1, 0, &p) != CNN_OK) return fail("forward");
    int best = 0;
    for (int k = 1; k < 10; k++)
        if (p[k] > p[best]) best = k;
    printf("first test image: label %d, predicted %d (p=%.3f)\n", label, best, p[best]);

    cnn_dataset_free(&train);
    cnn_dataset_free(&test);
    cnn_net_free(net);
    return 0;
}
