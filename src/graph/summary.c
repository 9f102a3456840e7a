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

cnn_status cnn_net_summary(const cnn_net *net, FILE *f) {
    char a[40], b[40], shape[40], desc[64], inputs[80];
    fprintf(f, "%-16s %-10s %-18s %-14s %-12s %12s %14s\n", "layer", "type", "options", "inputs",
            "output", "params", "mult-adds");
    snprintf(shape, sizeof shape, "%dx%dx%d", net->in_shape.c, net->in_shape.h, net->in_shape.w);
    fprintf(f, "%-16s %-10s %-18s %-14s %-12s %12s %14s\n", "input", "input", "", "", shape, "0",
            "0");
    for (int i = 0; i < net->n_layers; i++) {
        const cnn_layer *l = &net->layers[i];
        desc[0] = 0;
        if (l->ops->describe) l->ops->describe(l, desc, sizeof desc);
        size_t len = 0;
        inputs[0] = 0;
        for (int j = 0; j < l->n_in && len < sizeof inputs; j++)
            len += (size_t)snprintf(inputs + len, sizeof inputs - len, "%s%s", j ? "," : "",
                                    l->in_idx[j] < 0 ? "input" : net->layers[l->in_idx[j]].name);
        if (l->n_in == 1 && l->in_idx[0] == i - 1) snprintf(inputs, sizeof inputs, "-");
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out.c, l->out.h, l->out.w);
        fprintf(f, "%-16s %-10s %-18s %-14s %-12s %12s %14s\n", l->name, l->ops->type, desc,
                inputs, shape, grouped((double)l->n_params, a, sizeof a),
                grouped(l->ops->macs ? l->ops->macs(l) : 0, b, sizeof b));
    }
    double macs = cnn_net_macs(net);
    fprintf(f, "total: %s parameters (%.2f MB float32), %s multiply-adds per image (%.3f M)\n",
            grouped((double)net->n_params, a, sizeof a), net->n_params * 4.0 / 1e6,
            grouped(macs, b, sizeof b), macs / 1e6);
    return ferror(f) ? cnn_fail(CNN_ERR_IO, "write error") : CNN_OK;
}
