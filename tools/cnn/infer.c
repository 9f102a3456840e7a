/* infer.c — `cnn infer MODEL --input X.f32 --output Y.f32`: raw float32 in, raw float32 out. */
#include "cli.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cnn infer MODEL --input X.f32 --output Y.f32 [--shape N,C,H,W] [--weights FILE]\n"
    "                 [--batch B] [--threads N]\n"
    "\n"
    "Run MODEL (a model file or an .onnx file) in evaluation mode on raw little-endian\n"
    "float32 NCHW input and write its raw float32 output (N x outputs). The input shape\n"
    "defaults to the model's, with N inferred from the file size; --shape states it.\n"
    "The input is used as it is: no normalisation is applied.\n";

/* "N,C,H,W" or "NxCxHxW". */
static int parse_shape(const char *v, int d[4]) {
    char sep;
    int len = 0;
    if (sscanf(v, "%d%c%d%*[,x]%d%*[,x]%d%n", &d[0], &sep, &d[1], &d[2], &d[3], &len) != 5 ||
        v[len] || (sep != ',' && sep != 'x'))
        return 0;
    for (int i = 0; i < 4; i++)
        if (d[i] < 1 || d[i] > (1 << 24)) return 0;
    return 1;
}

int cmd_infer(int argc, char **argv) {
    const char *model = NULL, *in = NULL, *out = NULL, *weights = NULL, *shape = NULL;
    int batch = 64, threads = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (model) return cli_error("infer", "unexpected argument '%s' (see --help)", a), 2;
            model = a;
            continue;
        }
        if (!v) return cli_error("infer", "%s needs a value (see --help)", a), 2;
        i++;
        if (!strcmp(a, "--input"))
            in = v;
        else if (!strcmp(a, "--output"))
            out = v;
        else if (!strcmp(a, "--weights"))
            weights = v;
        else if (!strcmp(a, "--shape"))
            shape = v;
        else if (!strcmp(a, "--batch")) {
            if ((rc = cli_int("infer", a, v, 1, 1 << 20, &batch))) return rc;
        } else if (!strcmp(a, "--threads")) {
            if ((rc = cli_int("infer", a, v, 1, 1024, &threads))) return rc;
        } else
            return cli_error("infer", "unknown option %s (see --help)", a), 2;
    }
    if (!model || !in || !out) {
        fputs(help, stderr);
        return 2;
    }
    int want[4] = {0};
    if (shape && !parse_shape(shape, want))
        return cli_error("infer", "--shape %s: expected N,C,H,W (four positive integers)", shape),
               2;
    cnn_set_threads(threads);
    cnn_net *net;
    if (cli_load_net(model, weights, &net) != CNN_OK) return cli_lib_error("infer");
    int c, h, w, k, kh, kw;
    cnn_net_input_shape(net, &c, &h, &w);
    cnn_net_output_shape(net, &k, &kh, &kw);
    size_t per_in = (size_t)c * h * w, per_out = (size_t)k * kh * kw;
    float *x = NULL;
    FILE *f = NULL;
    if (shape && (want[1] != c || want[2] != h || want[3] != w)) {
        rc = cli_error("infer", "--shape %s: the model %s takes %dx%dx%d per sample", shape, model,
                       c, h, w);
        goto done;
    }
    if (!(f = fopen(in, "rb"))) {
        rc = cli_error("infer", "%s: %s", in, strerror(errno));
        goto done;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = cli_error("infer", "%s: cannot determine the file size", in);
        goto done;
    }
    size_t bytes = (size_t)size, n = bytes / (per_in * 4);
    if (shape && bytes != (size_t)want[0] * per_in * 4) {
        rc = cli_error("infer", "%s: %zu bytes, but --shape %s needs %zu", in, bytes, shape,
                       (size_t)want[0] * per_in * 4);
        goto done;
    }
    if (bytes == 0 || bytes % (per_in * 4)) {
        rc = cli_error("infer",
                       "%s: %zu bytes is not a whole number of %dx%dx%d float32 samples "
                       "(%zu bytes each)",
                       in, bytes, c, h, w, per_in * 4);
        goto done;
    }
    if (!(x = malloc(bytes))) {
        rc = cli_error("infer", "%s: out of memory reading %zu bytes", in, bytes);
        goto done;
    }
    if (fread(x, 1, bytes, f) != bytes) {
        rc = cli_error("infer", "%s: read error", in);
        goto done;
    }
    fclose(f);
    if (!(f = fopen(out, "wb"))) {
        rc = cli_error("infer", "%s: %s", out, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < n; i += (size_t)batch) {
        int m = n - i < (size_t)batch ? (int)(n - i) : batch;
        const float *y;
        if (cnn_net_forward(net, x + i * per_in, m, 0, &y) != CNN_OK) {
            rc = cli_lib_error("infer");
            goto done;
        }
        if (fwrite(y, sizeof *y, (size_t)m * per_out, f) != (size_t)m * per_out) {
            rc = cli_error("infer", "%s: write error", out);
            goto done;
        }
    }
    if (fclose(f) != 0) rc = cli_error("infer", "%s: write error", out);
    f = NULL;
    if (!rc)
        fprintf(stderr, "%zu samples of %dx%dx%d -> %s (%zu floats each)\n", n, c, h, w, out,
                per_out);
done:
    if (f) fclose(f);
    free(x);
    cnn_net_free(net);
    return rc;
}
