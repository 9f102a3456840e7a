/* train.c — `cnn train MODEL --data DIR`: train, evaluate every epoch, save. */
#include "cli.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char help[] =
    "usage: cnn train MODEL --data DIR [options]\n"
    "\n"
    "Train MODEL on the IDX files in DIR (train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or .gz), evaluating on the test\n"
    "set after every epoch. The last line is 'test accuracy: NN.NN%'.\n"
    "\n"
    "options:\n"
    "  --data DIR          the data folder (required)\n"
    "  --save FILE         write the trained weights to FILE\n"
    "  --load FILE         start from the weights in FILE instead of a fresh init\n"
    "  --threads N         compute threads (default: all cores)\n"
    "  --subset N          use only the first N training images\n"
    "  --test-subset N     use only the first N test images\n"
    "  --quiet             no per-batch progress\n"
    "\n"
    "Training recipe (defaults from the model file's 'train' line):\n"
    "  --epochs N  --batch N  --optimizer sgd|adam|adamw  --lr X  --momentum X\n"
    "  --nesterov 0|1  --dampening X  --weight-decay X  --beta1 X  --beta2 X  --eps X\n"
    "  --schedule constant|step|cosine  --step-size N  --gamma X  --min-lr X\n"
    "  --warmup N (epochs)  --label-smoothing X  --seed N\n";

int cmd_train(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *save = NULL, *load = NULL;
    const char *over_k[32], *over_v[32];
    int n_over = 0, threads = 0, subset = 0, test_subset = 0, quiet = 0, rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        } else if (a[0] != '-' || a[1] != '-') {
            if (model) return cli_error("train", "unexpected argument '%s' (see --help)", a), 2;
            model = a;
            continue;
        }
        if (!v) return cli_error("train", "%s needs a value (see --help)", a), 2;
        i++;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--load")) load = v;
        else if (!strcmp(a, "--threads")) {
            if ((rc = cli_int("train", a, v, 1, 1024, &threads))) return rc;
        } else if (!strcmp(a, "--subset")) {
            if ((rc = cli_int("train", a, v, 1, 1 << 30, &subset))) return rc;
        } else if (!strcmp(a, "--test-subset")) {
            if ((rc = cli_int("train", a, v, 1, 1 << 30, &test_subset))) return rc;
        } else if (n_over < 32) {
            over_k[n_over] = a + 2;
            over_v[n_over++] = v;
        }
    }
    if (!model || !data) {
        fputs(help, stderr);
        return 2;
    }
    cnn_set_threads(threads);
    cnn_net *net = NULL;
    cnn_dataset train = {0}, test = {0};
    if (cli_load_net(model, NULL, &net) != CNN_OK) return cli_lib_error("train");
    cnn_train_config cfg = *cnn_net_train_config(net);
    for (int i = 0; i < n_over; i++)
        if (cli_train_override(&cfg, over_k[i], over_v[i]) != CNN_OK) {
            cnn_net_free(net);
            return cli_lib_error("train"), 2;
        }
    /* The init seed follows --seed too: rebuild the net when it changed. */
    if (cfg.seed != cnn_net_train_config(net)->seed) {
        cnn_net_free(net);
        if (cnn_net_load_model(&net, model, cfg.seed) != CNN_OK) return cli_lib_error("train");
    }
    rc = 0;
    if ((load && cnn_net_load_weights(net, load) != CNN_OK) ||
        cli_load_split(data, 1, &train) != CNN_OK || cli_load_split(data, 0, &test) != CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    if (subset && subset < train.n) train.n = subset;
    if (test_subset && test_subset < test.n) test.n = test_subset;
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    printf("model %s: %zu parameters, input %dx%dx%d | train %d images, test %d | %d threads\n",
           model, cnn_net_num_params(net), c, h, w, train.n, test.n, cnn_get_threads());
    static const char *opt_names[] = {"sgd", "adam", "adamw"};
    static const char *sched_names[] = {"constant", "step", "cosine"};
    printf("recipe: %d epochs, batch %d, %s lr %g momentum %g weight decay %g, %s schedule, "
           "warm-up %d, seed %llu\n",
           cfg.epochs, cfg.batch, opt_names[cfg.optimizer], cfg.lr, cfg.momentum,
           cfg.weight_decay, sched_names[cfg.schedule], cfg.warmup_epochs,
           (unsigned long long)cfg.seed);
    fflush(stdout);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double start = ts.tv_sec + ts.tv_nsec * 1e-9;
    if (cnn_train(net, &cfg, &train, &test, quiet ? NULL : cli_progress, cli_epoch, &start) !=
        CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    float loss, acc;
    if (cnn_evaluate(net, &test, 256, &loss, &acc) != CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("trained in %.1f s\n", ts.tv_sec + ts.tv_nsec * 1e-9 - start);
    if (save) {
        if (cnn_net_save_weights(net, save) != CNN_OK) {
            rc = cli_lib_error("train");
            goto done;
        }
        printf("weights saved to %s\n", save);
    }
    printf("test loss: %.4f\ntest accuracy: %.2f%%\n", loss, 100 * acc);
done:
    cnn_dataset_free(&train);
    cnn_dataset_free(&test);
    cnn_net_free(net);
    return rc;
}
