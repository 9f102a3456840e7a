/* onnx_internal.h — shared by the two halves of the ONNX importer:
 * onnx_load.c (protobuf decoding, tensors, attributes) and onnx_import.c
 * (operators to layers). Needs the header protoc-c generates. */
#ifndef CNN_ONNX_INTERNAL_H
#define CNN_ONNX_INTERNAL_H

#include "onnx.h"
#include "onnx.pb-c.h"

#define ONNX_MAX_DIMS 8

/* Elements of an integer constant that can stand for the batch size. */
#define ONNX_MAX_SYM 64

/* A constant: an initializer or a Constant node's value: float32, or
 * int64 / int32 / bool held as int64. An integer constant computed from a
 * Shape node can hold the batch size N, which is not known when the model
 * is imported: bit k of sym marks element k as N (its i[k] is meaningless). */
typedef struct {
    int ndim;
    int64_t dims[ONNX_MAX_DIMS];
    size_t count;
    int is_int;
    float *f;     /* float32 data (is_int == 0) */
    int64_t *i;   /* int64 data (is_int == 1) */
    uint64_t sym; /* elements that are the batch size N (is_int == 1, k < ONNX_MAX_SYM) */
} onnx_tensor;

cnn_status onnx_read(const char *path, Onnx__ModelProto **out);
cnn_status onnx_tensor_decode(const Onnx__TensorProto *p, const char *path, const char *what,
                              onnx_tensor **out);
void onnx_tensor_free(onnx_tensor *t);
/* A new zeroed tensor of the given type and dims, or NULL if empty dims are
 * negative or it would hold more than 2^20 values (or out of memory). */
onnx_tensor *onnx_tensor_new(int is_int, int ndim, const int64_t *dims);

/* Evaluate node n on constant inputs in[0..n_in) (NULL for an empty input):
 * ConstantOfShape, Cast, Concat, Reshape, Transpose, Slice, Gather,
 * Unsqueeze, Squeeze, Equal. Elements that are the batch size (sym) are
 * moved, never computed with: an input that would be is refused. On failure
 * returns CNN_ERR_UNSUPPORTED with the reason in err. */
cnn_status onnx_fold(const Onnx__NodeProto *n, const onnx_tensor *const *in, int n_in,
                     onnx_tensor **out, char *err, size_t errlen);

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);
int64_t onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def);
float onnx_attr_float(const Onnx__NodeProto *n, const char *name, float def);
/* Copies up to max ints; returns the count, 0 if absent, -1 if more than max. */
int onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int max);
void onnx_attr_str(const Onnx__NodeProto *n, const char *name, char *buf, size_t len);

#endif
