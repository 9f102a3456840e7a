/* cli.c — helpers shared by the verbs: errors, data folders, overrides. */
#include "cli.h"
#include "../../src/core/core.h"
#include "../../src/graph/net_internal.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cnn %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_lib_error(const char *verb) {
    return cli_error(verb, "%s", cnn_last_error());
}

int cli_int(const char *verb, const char *flag, const char *v, int lo, int hi, int *out) {
    char *e;
    errno = 0;
    long x = v ? strtol(v, &e, 10) : 0;
    if (!v || e == v || *e || errno || x < lo || x > hi) {
        cli_error(verb, "%s expects an integer from %d to %d, got '%s'", flag, lo, hi,
                  v ? v : "nothing");
        return 2;
    }
    *out = (int)x;
    return 0;
}

/* dir/base or dir/base.gz, whichever exists. */
static void find_file(const char *dir, const char *base, char *out, size_t len) {
    snprintf(out, len, "%s/%s", dir, base);
    if (access(out, R_OK) == 0) return;
    snprintf(out, len, "%s/%s.gz", dir, base);
    if (access(out, R_OK) == 0) return;
    snprintf(out, len, "%s/%s", dir, base); /* report the plain name as missing */
}

static int exists(const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, R_OK) == 0;
}

static int is_dir(const char *dir, const char *name) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cli_data_format(const char *dir) {
    if (exists(dir, "train-images-idx3-ubyte") || exists(dir, "train-images-idx3-ubyte.gz") ||
        exists(dir, "t10k-images-idx3-ubyte") || exists(dir, "t10k-images-idx3-ubyte.gz"))
        return "idx";
    if (exists(dir, "data_batch_1.bin") || exists(dir, "test_batch.bin")) return "cifar10";
    if (exists(dir, "train.bin") || exists(dir, "test.bin")) return "cifar100";
    if (is_dir(dir, "train") || is_dir(dir, "test")) return "folder";
    return "idx"; /* reported as missing IDX files */
}

static cnn_status load_split(const char *dir, int train, const cnn_net *net, cnn_dataset *ds,
                             int keep_open) {
    const char *fmt = cli_data_format(dir);
    if (!strcmp(fmt, "cifar10")) {
        char names[5][4096];
        const char *paths[5];
        int n = train ? 5 : 1;
        for (int i = 0; i < n; i++) {
            if (train)
                snprintf(names[i], sizeof names[i], "%s/data_batch_%d.bin", dir, i + 1);
            else
                snprintf(names[i], sizeof names[i], "%s/test_batch.bin", dir);
            paths[i] = names[i];
        }
        return cnn_dataset_load_cifar(ds, paths, n, 0);
    }
    if (!strcmp(fmt, "cifar100")) {
        char name[4096];
        snprintf(name, sizeof name, "%s/%s", dir, train ? "train.bin" : "test.bin");
        const char *paths[1] = {name};
        return cnn_dataset_load_cifar(ds, paths, 1, 1);
    }
    if (!strcmp(fmt, "folder")) {
        char sub[4096];
        int c, h, w;
        snprintf(sub, sizeof sub, "%s/%s", dir, train ? "train" : "test");
        if (!net)
            return cnn_fail(CNN_ERR_ARG, "%s: an image folder needs a model's input size", sub);
        cnn_net_input_shape(net, &c, &h, &w);
        return cnn_dataset_load_folder(ds, sub, c, h, w, NULL);
    }
    char images[4096], labels[4096];
    find_file(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte", images,
              sizeof images);
    find_file(dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte", labels,
              sizeof labels);
    return keep_open ? cnn_dataset_open_idx(ds, images, labels)
                     : cnn_dataset_load_idx(ds, images, labels);
}

cnn_status cli_load_split(const char *dir, int train, const cnn_net *net, cnn_dataset *ds) {
    return load_split(dir, train, net, ds, 0);
}

cnn_status cli_open_split(const char *dir, int train, const cnn_net *net, cnn_dataset *ds) {
    return load_split(dir, train, net, ds, 1);
}

cnn_status cli_load_net(const char *model, const char *weights, cnn_net **net) {
    cnn_status s = cnn_net_load_model(net, model, 0);
    if (s == CNN_OK && weights) {
        s = cnn_net_load_weights(*net, weights);
        if (s != CNN_OK) {
            cnn_net_free(*net);
            *net = NULL;
        }
    }
    return s;
}

cnn_status cli_train_override(cnn_train_config *cfg, const char *key, const char *value) {
    char k[64], v[256];
    snprintf(k, sizeof k, "%s", key);
    snprintf(v, sizeof v, "%s", value);
    for (char *p = k; *p; p++)
        if (*p == '-') *p = '_';
    cnn_opts o = {.file = "command line", .line = 0, .type = "train", .n = 1};
    o.key[0] = k;
    o.val[0] = v;
    cnn_status s = cnn_parse_train_opts(&o, cfg);
    if (s != CNN_OK) {
        /* "command line:0: train: option lr=abc: ..." reads better as "--lr abc: ..." */
        char msg[1024], kv[400];
        const char *m = cnn_last_error(), *p = strstr(m, "train: ");
        snprintf(msg, sizeof msg, "%s", p ? p + 7 : m);
        const char *rest = strncmp(msg, "option ", 7) ? msg : msg + 7;
        snprintf(kv, sizeof kv, "%s=%s:", k, v);
        if (!strncmp(rest, kv, strlen(kv)))
            cnn_fail(s, "--%s %s:%s", key, value, rest + strlen(kv));
        else if (strstr(msg, "unknown option"))
            cnn_fail(s, "unknown option --%s (see --help)", key);
        else
            cnn_fail(s, "%s", msg);
    }
    return s;
}
