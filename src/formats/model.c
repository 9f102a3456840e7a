/* model.c — the text model format (docs/model-format.md).
 *
 *   # comment
 *   input shape=1x28x28 mean=0.1307 std=0.3081
 *   train epochs=10 batch=64 optimizer=sgd lr=0.05 momentum=0.9 schedule=cosine
 *   conv filters=6 kernel=5 padding=2      # one layer per line: type key=value ...
 *   relu
 *
 * Every error names file:line. Keys `name=` and `in=` are common to all
 * layers (graph edges); the rest belong to the layer type. */
#include "../graph/net_internal.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_MODEL_BYTES (4u << 20)

/* Split a line into type and key=value options (in place). */
static cnn_status tokenize(char *line, const char *file, int lineno, char **type, cnn_opts *o) {
    memset(o, 0, sizeof *o);
    o->file = file;
    o->line = lineno;
    *type = NULL;
    char *save;
    for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (!*type) {
            if (strchr(tok, '='))
                return cnn_fail(CNN_ERR_PARSE, "%s:%d: expected a layer type first, got '%s'", file,
                                lineno, tok);
            *type = tok;
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s: expected key=value, got '%s'", file, lineno,
                            *type, tok);
        *eq = 0;
        for (int i = 0; i < o->n; i++)
            if (!strcmp(o->key[i], tok))
                return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s: option '%s' given twice", file, lineno,
                                *type, tok);
        if (o->n == CNN_MAX_OPTS)
            return cnn_fail(CNN_ERR_PARSE, "%s:%d: more than %d options", file, lineno,
                            CNN_MAX_OPTS);
        o->key[o->n] = tok;
        o->val[o->n] = eq + 1;
        o->n++;
    }
    if (*type) o->type = *type;
    return CNN_OK;
}

/* "0.485,0.456,0.406" or a single value for every channel. */
static cnn_status float_list(cnn_opts *o, const char *key, int channels, float *out) {
    const char *v;
    cnn_opt_str(o, key, NULL, &v);
    if (!v) return CNN_OK;
    int count = 0;
    const char *p = v;
    while (*p) {
        char *e;
        errno = 0;
        float x = strtof(p, &e);
        if (e == p || errno || !isfinite(x) || (*e && *e != ',') || count == CNN_MAX_CHANNELS)
            return cnn_fail(CNN_ERR_PARSE, "%s:%d: input: %s=%s: expected numbers separated by ','",
                            o->file, o->line, key, v);
        out[count++] = x;
        p = *e ? e + 1 : e;
        if (*e && !*p) /* a trailing comma */
            return cnn_fail(CNN_ERR_PARSE, "%s:%d: input: %s=%s: expected numbers separated by ','",
                            o->file, o->line, key, v);
    }
    if (count == 1)
        for (int c = 1; c < channels && c < CNN_MAX_CHANNELS; c++) out[c] = out[0];
    else if (count != channels)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: input: %s= has %d values for %d channels", o->file,
                        o->line, key, count, channels);
    return CNN_OK;
}

static cnn_status parse_input(cnn_net *net, cnn_opts *o) {
    if (net->in_shape.c)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: a second input line", o->file, o->line);
    if (net->n_layers)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: the input line must come before the layers",
                        o->file, o->line);
    const char *shape;
    cnn_opt_str(o, "shape", NULL, &shape);
    int c, h, w, len = 0;
    if (!shape)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: input: missing option 'shape' (e.g. shape=1x28x28)",
                        o->file, o->line);
    if (sscanf(shape, "%dx%dx%d%n", &c, &h, &w, &len) != 3 || shape[len] || c < 1 || h < 1 ||
        w < 1 || c > CNN_MAX_CHANNELS || h > 65536 || w > 65536)
        return cnn_fail(CNN_ERR_PARSE,
                        "%s:%d: input: shape=%s: expected CxHxW with 1 <= C <= %d, 1 <= H, W <= "
                        "65536",
                        o->file, o->line, shape, CNN_MAX_CHANNELS);
    if ((size_t)c * (size_t)h * (size_t)w > CNN_MAX_SAMPLE)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: input: shape=%s: more than %zu values per sample",
                        o->file, o->line, shape, (size_t)CNN_MAX_SAMPLE);
    net->in_shape = (cnn_shape){c, h, w};
    cnn_status s = float_list(o, "mean", c, net->mean);
    if (s == CNN_OK) s = float_list(o, "std", c, net->std);
    for (int i = 0; i < c && s == CNN_OK; i++)
        if (!(net->std[i] > 0))
            s = cnn_fail(CNN_ERR_PARSE, "%s:%d: input: std must be positive", o->file, o->line);
    return s == CNN_OK ? cnn_opts_check_unused(o) : s;
}

static cnn_status parse_choice(cnn_opts *o, const char *key, const char *const *names, int def,
                               int *out) {
    const char *v;
    cnn_opt_str(o, key, NULL, &v);
    *out = def;
    if (!v) return CNN_OK;
    for (int i = 0; names[i]; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return CNN_OK;
        }
    return cnn_fail(CNN_ERR_PARSE, "%s:%d: train: %s=%s: expected one of %s%s%s%s%s", o->file,
                    o->line, key, v, names[0], names[1] ? ", " : "", names[1] ? names[1] : "",
                    names[1] && names[2] ? ", " : "", names[1] && names[2] ? names[2] : "");
}

cnn_status cnn_parse_train_opts(cnn_opts *o, cnn_train_config *t) {
    static const char *const optimizers[] = {"sgd", "adam", "adamw", NULL};
    static const char *const schedules[] = {"constant", "step", "cosine", NULL};
    static const char *const splits[] = {"auto", "off", "on", NULL};
    int opt, sched, seed, split;
    cnn_status s;
    if ((s = cnn_opt_int(o, "epochs", t->epochs, 1, 100000, &t->epochs)) ||
        (s = cnn_opt_int(o, "batch", t->batch, 1, 65536, &t->batch)) ||
        (s = parse_choice(o, "optimizer", optimizers, (int)t->optimizer, &opt)) ||
        (s = cnn_opt_float(o, "lr", t->lr, 0, 100, &t->lr)) ||
        (s = cnn_opt_float(o, "momentum", t->momentum, 0, 1, &t->momentum)) ||
        (s = cnn_opt_bool(o, "nesterov", t->nesterov, &t->nesterov)) ||
        (s = cnn_opt_float(o, "dampening", t->dampening, 0, 1, &t->dampening)) ||
        (s = cnn_opt_float(o, "weight_decay", t->weight_decay, 0, 10, &t->weight_decay)) ||
        (s = cnn_opt_float(o, "beta1", t->beta1, 0, 1, &t->beta1)) ||
        (s = cnn_opt_float(o, "beta2", t->beta2, 0, 1, &t->beta2)) ||
        (s = cnn_opt_float(o, "eps", t->eps, 0, 1, &t->eps)) ||
        (s = parse_choice(o, "schedule", schedules, (int)t->schedule, &sched)) ||
        (s = cnn_opt_int(o, "step_size", t->step_size, 1, 100000, &t->step_size)) ||
        (s = cnn_opt_float(o, "gamma", t->gamma, 0, 1, &t->gamma)) ||
        (s = cnn_opt_float(o, "min_lr", t->min_lr, 0, 100, &t->min_lr)) ||
        (s = cnn_opt_int(o, "warmup", t->warmup_epochs, 0, 100000, &t->warmup_epochs)) ||
        (s = cnn_opt_float(o, "label_smoothing", t->label_smoothing, 0, 1, &t->label_smoothing)) ||
        (s = cnn_opt_int(o, "seed", (int)t->seed, 1, 2147483647, &seed)) ||
        (s = cnn_opt_int(o, "crop_pad", t->crop_pad, 0, 1024, &t->crop_pad)) ||
        (s = cnn_opt_bool(o, "hflip", t->hflip, &t->hflip)) ||
        (s = cnn_opt_float(o, "rotate", t->rotate, 0, 180, &t->rotate)) ||
        (s = cnn_opt_int(o, "translate", t->translate, 0, 1024, &t->translate)) ||
        (s = cnn_opt_float(o, "erase", t->erase, 0, 1, &t->erase)) ||
        (s = cnn_opt_bool(o, "tta_hflip", t->tta_hflip, &t->tta_hflip)) ||
        (s = cnn_opt_float(o, "val_split", t->val_split, 0, 1e9f, &t->val_split)) ||
        (s = cnn_opt_int(o, "patience", t->patience, 0, 100000, &t->patience)) ||
        (s = cnn_opt_int(o, "checkpoint_every", t->checkpoint_every, 0, 1 << 30,
                         &t->checkpoint_every)) ||
        (s = cnn_opt_int(o, "log_every", t->log_every, 0, 1 << 30, &t->log_every)) ||
        (s = parse_choice(o, "data_parallel", splits, (int)t->data_parallel, &split)))
        return s;
    if (t->val_split >= 1 && t->val_split != (float)(int)t->val_split)
        return cnn_fail(CNN_ERR_PARSE,
                        "%s:%d: train: val_split=%g: expected a fraction below 1 or a whole count",
                        o->file, o->line, t->val_split);
    if (t->nesterov && (t->momentum <= 0 || t->dampening != 0))
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: train: nesterov needs momentum > 0 and dampening 0",
                        o->file, o->line);
    t->optimizer = (cnn_optimizer_kind)opt;
    t->schedule = (cnn_schedule_kind)sched;
    t->seed = (uint64_t)seed;
    t->data_parallel = (cnn_data_parallel_kind)split;
    return cnn_opts_check_unused(o);
}

/* One line of a model (comment stripped), against the net being described. */
static cnn_status parse_line(cnn_net *net, char *line, const char *file, int lineno) {
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *type;
    cnn_opts o;
    cnn_status s = tokenize(line, file, lineno, &type, &o);
    if (s != CNN_OK || !type) return s;
    if (!strcmp(type, "input")) return parse_input(net, &o);
    if (!strcmp(type, "train")) return cnn_parse_train_opts(&o, &net->train);
    if (!net->in_shape.c)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: the first line must be 'input shape=CxHxW'", file,
                        lineno);
    return cnn_net_add_layer(net, &o, type);
}

cnn_status cnn_net_add(cnn_net *net, const char *line) {
    char buf[4096];
    if (!net || !line) return cnn_fail(CNN_ERR_ARG, "cnn_net_add: NULL argument");
    if (strlen(line) >= sizeof buf || strchr(line, '\n'))
        return cnn_fail(CNN_ERR_ARG, "cnn_net_add: expected one line of at most %zu characters",
                        sizeof buf - 1);
    snprintf(buf, sizeof buf, "%s", line);
    return parse_line(net, buf, net->filename, ++net->api_lines);
}

cnn_status cnn_net_parse(cnn_net **out, const char *text, const char *filename, uint64_t seed) {
    *out = NULL;
    if (!text || !filename) return cnn_fail(CNN_ERR_ARG, "cnn_net_parse: NULL argument");
    cnn_net *net;
    cnn_status s = cnn_net_create(&net);
    if (s != CNN_OK) return s;
    snprintf(net->filename, sizeof net->filename, "%s", filename);
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy) {
        cnn_net_free(net);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", filename);
    }
    memcpy(copy, text, len + 1);
    int lineno = 0;
    for (char *p = copy; s == CNN_OK && p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        s = parse_line(net, p, net->filename, lineno);
        p = nl ? nl + 1 : NULL;
    }
    free(copy);
    if (s == CNN_OK) s = cnn_net_build(net, seed);
    if (s != CNN_OK) {
        cnn_net_free(net);
        return s;
    }
    *out = net;
    return CNN_OK;
}

cnn_status cnn_net_load_model(cnn_net **out, const char *path, uint64_t seed) {
    *out = NULL;
    size_t plen = path ? strlen(path) : 0;
    if (plen > 5 && !strcasecmp(path + plen - 5, ".onnx")) return cnn_net_load_onnx(out, path);
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    char *text = malloc(MAX_MODEL_BYTES + 1);
    if (!text) {
        fclose(f);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, MAX_MODEL_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    cnn_status s = CNN_OK;
    if (err) s = cnn_fail(CNN_ERR_IO, "%s: read error", path);
    else if (n > MAX_MODEL_BYTES)
        s = cnn_fail(CNN_ERR_PARSE, "%s: larger than %u bytes; not a model file", path,
                     MAX_MODEL_BYTES);
    else if (memchr(text, 0, n)) {
        const char *nul = memchr(text, 0, n);
        int line = 1;
        for (const char *p = text; p < nul; p++) line += *p == '\n';
        s = cnn_fail(CNN_ERR_PARSE, "%s:%d: binary data (a NUL byte); not a text model file", path,
                     line);
    }
    if (s == CNN_OK) {
        text[n] = 0;
        s = cnn_net_parse(out, text, path, seed);
    }
    free(text);
    return s;
}
