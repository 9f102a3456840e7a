/* convert.c — `cnn convert MODEL.onnx --model OUT.cnn --weights OUT.weights`. */
#include "../../src/formats/onnx.h"
#include "cli.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: cnn convert MODEL.onnx --model OUT.cnn --weights OUT.weights\n"
    "\n"
    "Translate an ONNX model into the native model file and weights file\n"
    "(docs/onnx.md lists the operators supported). The result loads with\n"
    "'cnn info OUT.cnn' and 'cnn infer OUT.cnn --weights OUT.weights ...'.\n";

int cmd_convert(int argc, char **argv) {
    const char *onnx = NULL, *model = NULL, *weights = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (onnx) return cli_error("convert", "unexpected argument '%s' (see --help)", a), 2;
            onnx = a;
            continue;
        }
        if (!v) return cli_error("convert", "%s needs a value (see --help)", a), 2;
        i++;
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--weights"))
            weights = v;
        else
            return cli_error("convert", "unknown option %s (see --help)", a), 2;
    }
    if (!onnx || !model || !weights) {
        fputs(help, stderr);
        return 2;
    }
    cnn_onnx_model m;
    cnn_net *net = NULL;
    if (cnn_onnx_translate(onnx, &m) != CNN_OK) return cli_lib_error("convert");
    int rc = 0;
    if (cnn_onnx_model_to_net(&m, onnx, NULL, &net) != CNN_OK) {
        rc = cli_lib_error("convert");
        goto done;
    }
    FILE *f = fopen(model, "w");
    if (!f) {
        rc = cli_error("convert", "%s: %s", model, strerror(errno));
        goto done;
    }
    int ok = fprintf(f, "# converted from %s by cnn convert (opset %d)\n", onnx, m.opset) > 0 &&
             fputs(m.text, f) >= 0;
    if (fclose(f) != 0 || !ok) {
        rc = cli_error("convert", "%s: write error", model);
        goto done;
    }
    if (cnn_net_save_weights(net, weights) != CNN_OK) {
        rc = cli_lib_error("convert");
        goto done;
    }
    printf("%s -> %s (%d layers), %s (%zu parameters)\n", onnx, model, cnn_net_num_layers(net),
           weights, cnn_net_num_params(net));
done:
    cnn_net_free(net);
    cnn_onnx_model_free(&m);
    return rc;
}
