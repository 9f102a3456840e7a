/* train.c — `cnn train MODEL --data DIR`: train in a run folder, evaluate every
 * epoch, checkpoint, resume. */
#include "cli.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: cnn train MODEL --data DIR [options]\n"
    "       cnn train --resume RUN_DIR [options]\n"
    "\n"
    "Train MODEL on the data in DIR, evaluating on its test set after every epoch. DIR\n"
    "holds IDX files (train-images-idx3-ubyte[.gz], ... t10k-...), CIFAR-10 batches\n"
    "(data_batch_1..5.bin, test_batch.bin), CIFAR-100 (train.bin, test.bin) or image\n"
    "folders (train/CLASS/*.png|jpg, test/CLASS/...). The last line is\n"
    "'test accuracy: NN.NN%'.\n"
    "\n"
    "Every run has a folder (--run-dir, default runs/MODEL-YYYYmmdd-HHMMSS) holding\n"
    "metrics.jsonl, checkpoint.cnnw, best.weights, final.weights, the model, its summary\n"
    "and the command; 'cnn report RUN_DIR' turns it into a web page. Ctrl-C writes a\n"
    "checkpoint and stops; --resume RUN_DIR continues exactly where a run stopped or was\n"
    "killed (the same options are read back from the folder).\n"
    "\n"
    "options:\n"
    "  --data DIR          the data folder (required)\n"
    "  --run-dir DIR       the run folder (created)\n"
    "  --resume DIR        continue the run in DIR\n"
    "  --save FILE         also write the final weights to FILE\n"
    "  --load FILE         start from the weights in FILE instead of a fresh init\n"
    "  --threads N         compute threads (default: all cores)\n"
    "  --subset N          use only the first N training images\n"
    "  --test-subset N     use only the first N test images\n"
    "  --quiet             no per-batch progress\n"
    "  --no-prefetch       make batches in the training thread (same results, slower)\n"
    "\n"
    "Training recipe (defaults from the model file's 'train' line):\n"
    "  --epochs N  --batch N  --optimizer sgd|adam|adamw  --lr X  --momentum X\n"
    "  --nesterov 0|1  --dampening X  --weight-decay X  --beta1 X  --beta2 X  --eps X\n"
    "  --schedule constant|step|cosine  --step-size N  --gamma X  --min-lr X\n"
    "  --warmup N (epochs)  --label-smoothing X  --seed N\n"
    "  --val-split X       hold out a fraction (< 1) or a count of the training set\n"
    "  --patience N        stop after N epochs without a better validation accuracy\n"
    "  --checkpoint-every N  steps between checkpoints (besides each epoch's end)\n"
    "  --log-every N       steps between lines of metrics.jsonl\n"
    "Augmentation (seeded; training batches only):\n"
    "  --crop-pad N  --hflip [0|1]  --rotate DEG  --translate PX  --erase P\n"
    "Threads: --data-parallel auto|on|off  split each batch into one slice per thread\n"
    "                    (nets without batch norm; auto: docs/design.md)\n"
    "Evaluation: --tta-hflip 0|1  average each test/validation image's class probabilities\n"
    "                    with its mirror image's (test-time augmentation)\n";

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    int quiet;
} train_ui;

static int progress(const cnn_progress *p, void *user) {
    const train_ui *ui = user;
    if (!ui->quiet) cli_progress(p, NULL);
    return interrupted;
}

/* mkdir -p */
static int make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[1 << 14];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0)
        ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* Read RUN_DIR/args.txt (one argument per line) into a new argv after argv[0]. */
static char **stored_args(const char *run_dir, int *argc_out, char **storage) {
    char path[4096];
    snprintf(path, sizeof path, "%s/args.txt", run_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = calloc(1, 1 << 16);
    size_t n = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (!text) return NULL;
    char **v = calloc(256, sizeof *v);
    int c = 0;
    for (char *p = text; v && *p && c < 255;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (*p) v[c++] = p;
        p = nl ? nl + 1 : p + strlen(p);
    }
    (void)n;
    *argc_out = c;
    *storage = text;
    return v;
}

int cmd_train(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *save = NULL, *load = NULL, *run_dir = NULL;
    const char *resume = NULL;
    const char *over_k[64], *over_v[64];
    int n_over = 0, threads = 0, subset = 0, test_subset = 0, no_prefetch = 0, rc;
    train_ui ui = {0};
    /* --resume without a model: the original arguments come from the run folder. */
    char **all = NULL, *stored_text = NULL;
    int has_model = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--resume") && i + 1 < argc)
            resume = argv[++i];
        else if (!strcmp(argv[i], "--hflip") && i + 1 < argc &&
                 (!strcmp(argv[i + 1], "0") || !strcmp(argv[i + 1], "1")))
            i++;
        else if (argv[i][0] != '-')
            has_model = 1;
        else if (strcmp(argv[i], "--quiet") && strcmp(argv[i], "--hflip") &&
                 strcmp(argv[i], "--no-prefetch") && strcmp(argv[i], "--help") &&
                 strcmp(argv[i], "-h"))
            i++;
    }
    if (resume && !has_model) {
        int n_stored = 0;
        char **st = stored_args(resume, &n_stored, &stored_text);
        if (!st)
            return cli_error("train", "%s/args.txt: %s (is it a run folder?)", resume,
                             strerror(errno)),
                   1;
        all = calloc((size_t)(argc + n_stored + 1), sizeof *all);
        if (!all) return cli_error("train", "out of memory");
        int k = 0;
        all[k++] = argv[0];
        for (int i = 0; i < n_stored; i++)
            all[k++] = st[i];
        for (int i = 1; i < argc; i++)
            all[k++] = argv[i];
        free(st);
        argc = k;
        argv = all;
    }
    rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            free(all);
            free(stored_text);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            ui.quiet = 1;
            continue;
        } else if (!strcmp(a, "--no-prefetch")) {
            no_prefetch = 1;
            continue;
        } else if (!strcmp(a, "--hflip")) {
            /* A switch; an explicit 0 or 1 after it is taken too. */
            int explicit = v && (!strcmp(v, "0") || !strcmp(v, "1"));
            if (n_over < 64) {
                over_k[n_over] = "hflip";
                over_v[n_over++] = explicit ? v : "1";
            }
            i += explicit;
            continue;
        } else if (a[0] != '-' || a[1] != '-') {
            if (model) rc = 2, cli_error("train", "unexpected argument '%s' (see --help)", a);
            model = a;
            continue;
        }
        if (!v) {
            rc = 2, cli_error("train", "%s needs a value (see --help)", a);
            break;
        }
        i++;
        if (!strcmp(a, "--data"))
            data = v;
        else if (!strcmp(a, "--save"))
            save = v;
        else if (!strcmp(a, "--load"))
            load = v;
        else if (!strcmp(a, "--run-dir"))
            run_dir = v;
        else if (!strcmp(a, "--resume"))
            resume = v;
        else if (!strcmp(a, "--threads"))
            rc = cli_int("train", a, v, 1, 1024, &threads);
        else if (!strcmp(a, "--subset"))
            rc = cli_int("train", a, v, 1, 1 << 30, &subset);
        else if (!strcmp(a, "--test-subset"))
            rc = cli_int("train", a, v, 1, 1 << 30, &test_subset);
        else if (n_over < 64) {
            over_k[n_over] = a + 2;
            over_v[n_over++] = v;
        }
    }
    if (!rc && (!model || !data)) {
        fputs(help, stderr);
        rc = 2;
    }
    if (!rc && resume && run_dir && strcmp(resume, run_dir))
        rc = 2,
        cli_error("train", "--resume %s and --run-dir %s name different folders", resume, run_dir);
    if (rc) {
        free(all);
        free(stored_text);
        return rc;
    }
    if (resume) run_dir = resume;
    cnn_set_threads(threads);
    cnn_net *net = NULL;
    cnn_dataset all_train = {0}, train = {0}, val = {0}, test = {0};
    int have_val = 0;
    char path[8300], default_dir[4096];
    if (cli_load_net(model, NULL, &net) != CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    cnn_train_config cfg = *cnn_net_train_config(net);
    for (int i = 0; i < n_over; i++)
        if (cli_train_override(&cfg, over_k[i], over_v[i]) != CNN_OK) {
            rc = 2;
            cli_lib_error("train");
            goto done;
        }
    /* The init seed follows --seed too: rebuild the net when it changed. */
    if (cfg.seed != cnn_net_train_config(net)->seed) {
        cnn_net_free(net);
        if (cnn_net_load_model(&net, model, cfg.seed) != CNN_OK) {
            rc = cli_lib_error("train");
            goto done;
        }
    }
    if ((load && cnn_net_load_weights(net, load) != CNN_OK) ||
        cli_open_split(data, 1, net, &all_train) != CNN_OK ||
        cli_open_split(data, 0, net, &test) != CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    if (subset && subset < all_train.n) all_train.n = subset;
    if (test_subset && test_subset < test.n) test.n = test_subset;
    if (cfg.val_split > 0) {
        if (cnn_dataset_split(&all_train, cfg.val_split, cfg.seed, &train, &val) != CNN_OK) {
            rc = cli_lib_error("train");
            goto done;
        }
        have_val = 1;
    } else {
        train = all_train;
    }
    /* The run folder. */
    if (!run_dir) {
        const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
        char stem[256], stamp[32];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot) *dot = 0;
        time_t t = time(NULL);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
        snprintf(default_dir, sizeof default_dir, "runs/%s-%s", stem, stamp);
        run_dir = default_dir;
    }
    snprintf(path, sizeof path, "%s/checkpoint.cnnw", run_dir);
    if (!resume && access(path, F_OK) == 0) {
        rc = cli_error("train", "%s already holds a run (%s); use --resume %s or another folder",
                       run_dir, path, run_dir);
        goto done;
    }
    if (make_dirs(run_dir) != 0) {
        rc = cli_error("train", "%s: %s", run_dir, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof path, "%s/args.txt", run_dir);
    if (!resume || access(path, F_OK) != 0) {
        FILE *f = fopen(path, "wb");
        snprintf(path, sizeof path, "%s/model.cnn", run_dir);
        int bad = !f || copy_file(model, path) != 0;
        if (f) {
            /* The arguments that make the run, for --resume and cnn report. */
            for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--resume") || !strcmp(a, "--run-dir")) {
                    i++;
                    continue;
                }
                if (!strcmp(a, "--threads") || !strcmp(a, "--save")) {
                    i++;
                    continue;
                }
                fprintf(f, "%s\n", a == model ? path : a);
            }
            if (fclose(f) != 0) bad = 1;
        }
        snprintf(path, sizeof path, "%s/summary.txt", run_dir);
        FILE *sf = fopen(path, "wb");
        if (!sf || cnn_net_summary(net, sf) != CNN_OK) bad = 1;
        if (sf && fclose(sf) != 0) bad = 1;
        if (bad) {
            rc =
                cli_error("train", "%s: cannot write the run folder: %s", run_dir, strerror(errno));
            goto done;
        }
    }
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    printf("model %s: %zu parameters, input %dx%dx%d | train %d images", model,
           cnn_net_num_params(net), c, h, w, train.n);
    if (have_val) printf(", validation %d", val.n);
    printf(", test %d (%s) | %d threads\n", test.n, cli_data_format(data), cnn_get_threads());
    static const char *opt_names[] = {"sgd", "adam", "adamw"};
    static const char *sched_names[] = {"constant", "step", "cosine"};
    printf("recipe: %d epochs, batch %d, %s lr %g momentum %g weight decay %g, %s schedule, "
           "warm-up %d, seed %llu\n",
           cfg.epochs, cfg.batch, opt_names[cfg.optimizer], cfg.lr, cfg.momentum, cfg.weight_decay,
           sched_names[cfg.schedule], cfg.warmup_epochs, (unsigned long long)cfg.seed);
    if (cfg.crop_pad || cfg.hflip || cfg.rotate > 0 || cfg.translate || cfg.erase > 0)
        printf("augmentation: crop pad %d, flip %s, rotate %g deg, translate %d px, erase %g\n",
               cfg.crop_pad, cfg.hflip ? "on" : "off", cfg.rotate, cfg.translate, cfg.erase);
    if (cfg.tta_hflip) printf("evaluation: each image and its mirror image (tta_hflip)\n");
    printf("run folder: %s%s\n", run_dir, resume ? " (resuming)" : "");
    fflush(stdout);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double start = ts.tv_sec + ts.tv_nsec * 1e-9;
    cnn_train_options o = {0};
    o.train = &train;
    o.val = have_val ? &val : NULL;
    o.test = &test;
    o.run_dir = run_dir;
    o.resume = resume != NULL;
    o.no_prefetch = no_prefetch;
    o.progress = progress;
    o.on_epoch = cli_epoch;
    o.user = &ui;
    signal(SIGINT, on_sigint);
    cnn_status s = cnn_train_run(net, &cfg, &o);
    signal(SIGINT, SIG_DFL);
    if (s != CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    if (interrupted) {
        printf("\ninterrupted: checkpoint written; continue with: cnn train --resume %s\n",
               run_dir);
        rc = 130;
        goto done;
    }
    cnn_metrics m;
    /* In batches of the training batch: the arena planned for training serves. */
    if (cnn_evaluate_metrics(net, &test, cfg.batch, &m, NULL, NULL) != CNN_OK) {
        rc = cli_lib_error("train");
        goto done;
    }
    snprintf(path, sizeof path, "%s/test_metrics.txt", run_dir);
    FILE *mf = fopen(path, "wb");
    if (mf) {
        cnn_metrics_print(&m, mf);
        fclose(mf);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("trained in %.1f s (this session)\n", ts.tv_sec + ts.tv_nsec * 1e-9 - start);
    if (save) {
        if (cnn_net_save_weights(net, save) != CNN_OK) {
            cnn_metrics_free(&m);
            rc = cli_lib_error("train");
            goto done;
        }
        printf("weights saved to %s\n", save);
    }
    printf("run folder: %s (cnn report %s)\n", run_dir, run_dir);
    printf("test loss: %.4f\ntest top-5 accuracy: %.2f%%\ntest accuracy: %.2f%%\n",
           cnn_metrics_loss(&m), 100 * cnn_metrics_top5(&m), 100 * cnn_metrics_top1(&m));
    cnn_metrics_free(&m);
done:
    if (have_val) {
        cnn_dataset_free(&train);
        cnn_dataset_free(&val);
    }
    cnn_dataset_free(&all_train);
    cnn_dataset_free(&test);
    cnn_net_free(net);
    free(all);
    free(stored_text);
    return rc;
}
