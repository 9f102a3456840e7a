/* onnx_ctx.h — the translation state shared by onnx_import.c (operators to
 * layers) and onnx_pattern.c (shapes with a symbolic batch, multi-node
 * patterns, If on a constant condition). Private to the importer. */
#ifndef CNN_ONNX_CTX_H
#define CNN_ONNX_CTX_H

#include "onnx_internal.h"

/* A pattern of primitive nodes that becomes one layer once complete
 * (onnx_pattern.c's comment): torch's LocalResponseNorm, or a per-channel
 * affine map written channel by channel (GoogLeNet's transform_input). */
enum { PAT_LRN = 1, PAT_CHAN };
/* LocalResponseNorm steps: x*x, Unsqueeze(1), Reshape (N,1,C,H,W), Pad the
 * channels, AveragePool (size,1,1), Squeeze(1), Reshape (N,C,H,W), * alpha,
 * + k, ^ beta; then x / that. */
enum { L_SQ = 1, L_UNSQ, L_R5, L_PAD, L_AVG, L_SQZ, L_R4, L_MUL, L_ADD, L_POW };
/* Channel steps: Gather(axis 1), Unsqueeze(1), * scale, + shift; then Concat. */
enum { C_GATHER = 1, C_UNSQ, C_MUL, C_ADD };

#define PENDING (-3)

/* A value of the graph: an activation (the net's input or a layer's output),
 * a constant, or a step of a pattern (PENDING). Activations are rank 4
 * (N,C,H,W) or rank 2 (N,K) = K x 1 x 1. */
typedef struct value {
    const char *name; /* ONNX name, owned by the protobuf */
    int layer;        /* producing layer, -1 = the net's input, -2 = a constant, PENDING */
    int rank;
    cnn_shape shape;      /* of the activation, or of the pattern's input */
    const onnx_tensor *t; /* constant */
    int pad[4];           /* a pending zero Pad (top, left, bottom, right) on it */
    /* PENDING: */
    int pat, step;
    const struct value *src; /* the pattern's input activation */
    const char *start;       /* the node that began the pattern */
    int size, pb, pe;        /* LRN: window, channel padding before and after */
    int ch;                  /* CHAN: the channel */
    float a, b, k;           /* LRN: alpha, k; CHAN: scale, shift */
} value;

typedef struct {
    const char *path;
    const Onnx__GraphProto *g;
    cnn_onnx_model *m;
    cnn_net *net;
    value *v;
    int n_v, cap_v;
    onnx_tensor **consts;
    int n_c, cap_c;
    const Onnx__NodeProto *node; /* the node being translated, for messages */
    int64_t batch;               /* the graph input's fixed N, 0 if symbolic */
    int depth;                   /* of If branches being inlined */
} ctx;

const char *onnx_node_name(const Onnx__NodeProto *n);
/* "path: node 'NAME' (Op): message", status CNN_ERR_UNSUPPORTED. */
cnn_status onnx_refuse(ctx *c, const char *fmt, ...) CNN_PRINTF(2, 3);
value *onnx_find(ctx *c, const char *name);
cnn_status onnx_define(ctx *c, value v);
/* Keep t (owned from now on, freed with the context). */
cnn_status onnx_keep_const(ctx *c, onnx_tensor *t);
int onnx_has_input(const Onnx__NodeProto *n, size_t k);
/* Input k of the node: an activation (want_const 0) or a constant (1). */
cnn_status onnx_input(ctx *c, size_t k, int want_const, value **out);
/* Fail on any attribute not in the comma-separated list. */
cnn_status onnx_check_attrs(ctx *c, const char *known);
void onnx_layer_name(ctx *c, const value *weight, char *buf, size_t len);
/* Add "TYPE name=NAME in=... OPTS" to the net and define the node's first
 * output as its result. */
cnn_status onnx_emit(ctx *c, const char *type, const char *name, value *const *ins, int n_in,
                     int rank, const char *fmt, ...) CNN_PRINTF(7, 8);
/* Store a weight tensor "<layer>.<suffix>"; takes ownership of data. */
cnn_status onnx_add_weight(ctx *c, const char *layer, const char *suffix, float *data,
                           size_t count);
/* Emit an `affine` layer y = x * scale[ch] + shift[ch] on x (rank dims) with
 * the node's name; takes ownership of sc and sh (ch floats each). */
cnn_status onnx_emit_affine(ctx *c, value *x, int rank, float *sc, float *sh, int ch);
cnn_status onnx_float_const(ctx *c, const value *v, const char *what);
/* Define the node's first output as x. */
cnn_status onnx_alias(ctx *c, value *x);
cnn_status onnx_translate_node(ctx *c);

/* onnx_pattern.c */
cnn_status onnx_op_shape(ctx *c);
cnn_status onnx_op_reshape(ctx *c);
cnn_status onnx_op_if(ctx *c);
/* A node that begins or continues a pattern: 1 if handled (*s the result). */
int onnx_pattern_node(ctx *c, cnn_status *s);

#endif
