/* onnx.h — ONNX import, internal view (docs/onnx.md).
 *
 * An .onnx file is translated into what the native formats hold: the text of
 * a model file (one line per layer, as docs/model-format.md) and named weight
 * tensors ("conv1.weight"). cnn_net_load_onnx builds a net from the text and
 * copies the tensors in; `cnn convert` writes both out. */
#ifndef CNN_ONNX_H
#define CNN_ONNX_H

#include "../graph/net_internal.h"

typedef struct {
    char name[160]; /* our tensor name: "<layer>.<suffix>" */
    float *data;
    size_t count;
} cnn_onnx_weight;

typedef struct {
    char *text; /* the model file, NUL-terminated */
    size_t len, cap;
    cnn_onnx_weight *w;
    int n_w, cap_w;
    int opset;
} cnn_onnx_model;

/* Read and translate path into m (zeroed first). Refuses, with the operator
 * and the node's name, anything it cannot compute exactly. */
cnn_status cnn_onnx_translate(const char *path, cnn_onnx_model *m);
void cnn_onnx_model_free(cnn_onnx_model *m);
/* Build a net from m's text, plus `extra` lines appended (may be NULL, e.g.
 * "softmax" for training), and copy m's weights into it. */
cnn_status cnn_onnx_model_to_net(const cnn_onnx_model *m, const char *path, const char *extra,
                                 cnn_net **out);

#endif
