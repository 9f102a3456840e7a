/* cli.c — helpers shared by the verbs: errors, data folders, overrides. */
#include "cli.h"
#include "../../src/core/core.h"
#include "../../src/graph/net_internal.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cli_lib_error(const char *verb) { return cli_error(verb, "%s", cnn_last_error()); }

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

cnn_status cli_load_split(const char *dir, int train, cnn_dataset *ds) {
    char images[4096], labels[4096];
    find_file(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte", images,
              sizeof images);
    find_file(dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte", labels,
              sizeof labels);
    return cnn_dataset_load_idx(ds, images, labels);
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
    return cnn_parse_train_opts(&o, cfg);
}
