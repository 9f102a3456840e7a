/* predict.c — `cnn predict MODEL --weights FILE (IMAGE | --data DIR --index N)`. */
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cnn predict MODEL --weights FILE [--top K] IMAGE...\n"
    "       cnn predict MODEL --weights FILE [--top K] --data DIR --index N\n"
    "\n"
    "Classify PNG or JPEG images (converted to the model's channels and resized to its\n"
    "input), or test sample N of the IDX test set in DIR, and print the top K classes\n"
    "(default 5) with their probabilities.\n";

static void print_top(const float *p, int k, int top) {
    int *idx = malloc((size_t)k * sizeof *idx);
    if (!idx) return;
    for (int i = 0; i < k; i++) idx[i] = i;
    for (int i = 0; i < top && i < k; i++) {
        for (int j = i + 1; j < k; j++)
            if (p[idx[j]] > p[idx[i]]) {
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
        printf("  class %-4d %7.3f%%\n", idx[i], 100 * p[idx[i]]);
    }
    free(idx);
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *weights = NULL, *data = NULL;
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_images = 0, top = 5, index = -1, rc = 0;
    if (!images) return cli_error("predict", "out of memory");
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            free(images);
            return 0;
        }
        if (a[0] != '-') {
            if (!model) model = a;
            else images[n_images++] = a;
            continue;
        }
        if (!v) {
            rc = 2;
            cli_error("predict", "%s needs a value", a);
            break;
        }
        i++;
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--top")) rc = cli_int("predict", a, v, 1, 1000, &top);
        else if (!strcmp(a, "--index")) rc = cli_int("predict", a, v, 0, 1 << 30, &index);
        else rc = 2, cli_error("predict", "unknown option %s (see --help)", a);
    }
    if (!rc && (!model || !weights || (n_images == 0) == (data == NULL) || (data && index < 0))) {
        fputs(help, stderr);
        rc = 2;
    }
    if (rc) {
        free(images);
        return rc;
    }
    cnn_net *net;
    if (cli_load_net(model, weights, &net) != CNN_OK) {
        free(images);
        return cli_lib_error("predict");
    }
    int c, h, w, k, kh, kw;
    cnn_net_input_shape(net, &c, &h, &w);
    cnn_net_output_shape(net, &k, &kh, &kw);
    float *x = malloc((size_t)c * h * w * sizeof *x);
    const float *y;
    if (!x) rc = cli_error("predict", "out of memory");
    if (!rc && data) {
        cnn_dataset test = {0};
        uint8_t label;
        if (cli_load_split(data, 0, net, &test) != CNN_OK) rc = cli_lib_error("predict");
        else if (index >= test.n)
            rc = cli_error("predict", "--index %d: the test set has %d images", index, test.n);
        else {
            cnn_dataset_batch(&test, net, &index, 0, 1, x, &label);
            if (cnn_net_forward(net, x, 1, 0, &y) != CNN_OK) rc = cli_lib_error("predict");
            else {
                printf("test image %d (label %d):\n", index, label);
                print_top(y, k * kh * kw, top);
            }
        }
        cnn_dataset_free(&test);
    }
    for (int i = 0; i < n_images && !rc; i++) {
        if (cnn_image_load(images[i], net, x) != CNN_OK ||
            cnn_net_forward(net, x, 1, 0, &y) != CNN_OK) {
            rc = cli_lib_error("predict");
            break;
        }
        printf("%s:\n", images[i]);
        print_top(y, k * kh * kw, top);
    }
    free(x);
    free(images);
    cnn_net_free(net);
    return rc;
}
