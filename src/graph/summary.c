/* summary.c — `cnn info`: a table of layers like Keras' model.summary(). */
#include "net_internal.h"
#include <string.h>

/* 1234567 -> "1,234,567" */
static const char *grouped(double v, char *buf, size_t len) {
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t n = strlen(digits), j = 0;
    for (size_t i = 0; i < n && j + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = 0;
    return buf;
}

/* The inputs column of layer i: "-" for the previous layer, else the names. */
static void inputs_of(const cnn_net *net, int i, char *buf, size_t len) {
    const cnn_layer *l = &net->layers[i];
    size_t n = 0;
    buf[0] = 0;
    if (l->n_in == 1 && l->in_idx[0] == i - 1) {
        snprintf(buf, len, "-");
        return;
    }
    for (int j = 0; j < l->n_in && n < len; j++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", j ? "," : "",
                              l->in_idx[j] < 0 ? "input" : net->layers[l->in_idx[j]].name);
}

static int max_int(int a, int b) {
    return a > b ? a : b;
}

cnn_status cnn_net_summary(const cnn_net *net, FILE *f) {
    char a[40], b[40], shape[40], desc[64], inputs[CNN_MAX_INPUTS * 65];
    /* Columns as wide as their longest entry (layer names such as
     * inception4e.branch2.1.conv); a long list of inputs (a concat's) may
     * overflow its column rather than widen every line. */
    int wn = 16, wt = 10, wi = 14;
    for (int i = 0; i < net->n_layers; i++) {
        inputs_of(net, i, inputs, sizeof inputs);
        wn = max_int(wn, (int)strlen(net->layers[i].name));
        wt = max_int(wt, (int)strlen(net->layers[i].ops->type));
        wi = max_int(wi, (int)strlen(inputs));
    }
    if (wi > 30) wi = 30;
    fprintf(f, "%-*s %-*s %-18s %-*s %-12s %12s %14s\n", wn, "layer", wt, "type", "options", wi,
            "inputs", "output", "params", "mult-adds");
    snprintf(shape, sizeof shape, "%dx%dx%d", net->in_shape.c, net->in_shape.h, net->in_shape.w);
    fprintf(f, "%-*s %-*s %-18s %-*s %-12s %12s %14s\n", wn, "input", wt, "input", "", wi, "",
            shape, "0", "0");
    for (int i = 0; i < net->n_layers; i++) {
        const cnn_layer *l = &net->layers[i];
        desc[0] = 0;
        if (l->ops->describe) l->ops->describe(l, desc, sizeof desc);
        inputs_of(net, i, inputs, sizeof inputs);
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out.c, l->out.h, l->out.w);
        fprintf(f, "%-*s %-*s %-18s %-*s %-12s %12s %14s\n", wn, l->name, wt, l->ops->type, desc,
                wi, inputs, shape, grouped((double)l->n_params, a, sizeof a),
                grouped(l->ops->macs ? l->ops->macs(l) : 0, b, sizeof b));
    }
    double macs = cnn_net_macs(net);
    fprintf(f, "total: %s parameters (%.2f MB float32), %s multiply-adds per image (%.3f M)\n",
            grouped((double)net->n_params, a, sizeof a), net->n_params * 4.0 / 1e6,
            grouped(macs, b, sizeof b), macs / 1e6);
    return ferror(f) ? cnn_fail(CNN_ERR_IO, "write error") : CNN_OK;
}
