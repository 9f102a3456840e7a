/* eval.c — `cnn eval MODEL --weights FILE --data DIR`: test loss and accuracy. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const char help[] = "usage: cnn eval MODEL --weights FILE --data DIR [--batch N] "
                           "[--threads N] [--tta-hflip 0|1]\n"
                           "\n"
                           "Evaluate MODEL with the given weights on the test set in DIR (IDX,\n"
                           "CIFAR or image folders, as cnn train): loss, top-1 and top-5\n"
                           "accuracy, per-class precision and recall, confusion matrix.\n"
                           "--tta-hflip 1 averages each image's class probabilities with its\n"
                           "mirror image's (default: the model's train line, tta_hflip).\n";

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *weights = NULL, *data = NULL;
    int batch = 256, threads = 0, tta = -1, rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (model) return cli_error("eval", "unexpected argument '%s'", a), 2;
            model = a;
            continue;
        }
        if (!v) return cli_error("eval", "%s needs a value", a), 2;
        i++;
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--batch")) {
            if ((rc = cli_int("eval", a, v, 1, 65536, &batch))) return rc;
        } else if (!strcmp(a, "--threads")) {
            if ((rc = cli_int("eval", a, v, 1, 1024, &threads))) return rc;
        } else if (!strcmp(a, "--tta-hflip")) {
            if ((rc = cli_int("eval", a, v, 0, 1, &tta))) return rc;
        } else return cli_error("eval", "unknown option %s (see --help)", a), 2;
    }
    if (!model || !weights || !data) {
        fputs(help, stderr);
        return 2;
    }
    cnn_set_threads(threads);
    cnn_net *net;
    cnn_dataset test = {0};
    if (cli_load_net(model, weights, &net) != CNN_OK) return cli_lib_error("eval");
    cnn_net_set_eval_hflip(net, tta >= 0 ? tta : cnn_net_train_config(net)->tta_hflip);
    cnn_metrics m;
    rc = 0;
    if (cli_load_split(data, 0, net, &test) != CNN_OK ||
        cnn_evaluate_metrics(net, &test, batch, &m, NULL, NULL) != CNN_OK) {
        rc = cli_lib_error("eval");
    } else {
        cnn_metrics_print(&m, stdout);
        if (tta > 0 || (tta < 0 && cnn_net_train_config(net)->tta_hflip))
            printf("\ntest-time augmentation: each image and its mirror image");
        printf("\ntest images: %d\ntest loss: %.4f\ntest top-5 accuracy: %.2f%%\n"
               "test accuracy: %.2f%%\n",
               test.n, cnn_metrics_loss(&m), 100 * cnn_metrics_top5(&m),
               100 * cnn_metrics_top1(&m));
        cnn_metrics_free(&m);
    }
    cnn_dataset_free(&test);
    cnn_net_free(net);
    return rc;
}
