/* onnx_load.c — read an .onnx file with protobuf-c and hand back checked
 * constant tensors and attributes (the decoding half of the ONNX importer).
 *
 * Every size is checked before it is used: the file's length before it is
 * read, each tensor's element count against its dims and its data's length. */
#include "onnx_internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_load.c assumes a little-endian host (raw_data is little-endian)"
#endif

#define MAX_ONNX_BYTES ((size_t)2 << 30) /* protobuf's own limit */
#define MAX_TENSOR_ELEMS ((size_t)1 << 31)

/* proto2 leaves an absent string NULL. The names the importer looks up and
 * prints must be there (ONNX requires them): what is missing, or NULL. */
static const char *unnamed(const Onnx__GraphProto *g) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!g->initializer[i]->name) return "an initializer without a name";
    for (size_t i = 0; i < g->n_input; i++)
        if (!g->input[i]->name) return "a graph input without a name";
    for (size_t i = 0; i < g->n_output; i++)
        if (!g->output[i]->name) return "a graph output without a name";
    for (size_t i = 0; i < g->n_node; i++) {
        if (!g->node[i]->op_type) return "a node without an op_type";
        for (size_t j = 0; j < g->node[i]->n_attribute; j++)
            if (!g->node[i]->attribute[j]->name) return "an attribute without a name";
    }
    return NULL;
}

cnn_status onnx_read(const char *path, Onnx__ModelProto **out) {
    *out = NULL;
    uint8_t *buf;
    size_t got;
    cnn_status s = cnn_read_file(path, MAX_ONNX_BYTES, "ONNX model", &buf, &got);
    if (s != CNN_OK) return s;
    if (got == 0) {
        free(buf);
        return cnn_fail(CNN_ERR_FORMAT, "%s: 0 bytes: not a valid ONNX protobuf (empty)", path);
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, got, buf);
    free(buf);
    if (!m) return cnn_fail(CNN_ERR_FORMAT, "%s: not a valid ONNX protobuf", path);
    const char *missing = !m->graph ? "no graph" : !m->has_ir_version ? "no ir_version" : NULL;
    if (!missing) missing = unnamed(m->graph);
    if (missing) {
        onnx__model_proto__free_unpacked(m, NULL);
        return cnn_fail(CNN_ERR_FORMAT, "%s: not a valid ONNX protobuf (%s)", path, missing);
    }
    *out = m;
    return CNN_OK;
}

void onnx_tensor_free(onnx_tensor *t) {
    if (!t) return;
    free(t->f);
    free(t->i);
    free(t);
}

/* Decode a TensorProto of FLOAT or INT64 (the only types our layers read).
 * what names it in messages ("initializer 'fc.weight'"). */
cnn_status onnx_tensor_decode(const Onnx__TensorProto *p, const char *path, const char *what,
                              onnx_tensor **out) {
    *out = NULL;
    if (p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL || p->n_external_data)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: %s keeps its data in an external file; external data is refused "
                        "(export with the weights inside the .onnx file)",
                        path, what);
    if (p->segment)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: %s is segmented; not supported", path, what);
    if (p->n_dims > ONNX_MAX_DIMS)
        return cnn_fail(CNN_ERR_FORMAT, "%s: %s has %zu dimensions (at most %d supported)", path,
                        what, p->n_dims, ONNX_MAX_DIMS);
    int type = p->has_data_type ? p->data_type : 0;
    /* float32 as floats; int64, int32 and bool (shapes, pads, flags) as int64. */
    size_t esize;
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        esize = 4;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        esize = 8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        esize = 4;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        esize = 1;
        break;
    default:
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: %s has data type %d; only float32 (1), int64 (7), int32 (6) and bool "
                        "(9) are supported",
                        path, what, type);
    }
    int is_float = type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    size_t count = 1;
    for (size_t d = 0; d < p->n_dims; d++)
        if (p->dims[d] < 0 || !cnn_mul_size(count, (size_t)p->dims[d], &count) ||
            count > MAX_TENSOR_ELEMS)
            return cnn_fail(CNN_ERR_FORMAT, "%s: %s: dimension %zu is %lld: negative or too large",
                            path, what, d, (long long)p->dims[d]);
    size_t have = p->has_raw_data                                ? p->raw_data.len / esize
                  : is_float                                     ? p->n_float_data
                  : type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? p->n_int64_data
                                                                 : p->n_int32_data;
    if ((p->has_raw_data && p->raw_data.len % esize) || have != count)
        return cnn_fail(CNN_ERR_FORMAT, "%s: %s: its dims hold %zu values but its data has %zu%s",
                        path, what, count, have, p->has_raw_data ? " (raw_data)" : "");
    onnx_tensor *t = calloc(1, sizeof *t);
    if (!t) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    t->ndim = (int)p->n_dims;
    for (int d = 0; d < t->ndim; d++)
        t->dims[d] = p->dims[d];
    t->count = count;
    t->is_int = !is_float;
    if (is_float)
        t->f = malloc(count ? count * 4 : 1);
    else
        t->i = malloc(count ? count * 8 : 1);
    if (!t->f && !t->i) {
        free(t);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory for %s (%zu values)", path, what, count);
    }
    const uint8_t *raw = p->has_raw_data ? p->raw_data.data : NULL;
    for (size_t k = 0; k < count; k++) {
        if (is_float) {
            if (raw)
                memcpy(&t->f[k], raw + 4 * k, 4);
            else
                t->f[k] = p->float_data[k];
        } else if (esize == 8) {
            if (raw)
                memcpy(&t->i[k], raw + 8 * k, 8);
            else
                t->i[k] = p->int64_data[k];
        } else if (esize == 4) {
            int32_t v;
            if (raw)
                memcpy(&v, raw + 4 * k, 4);
            else
                v = p->int32_data[k];
            t->i[k] = v;
        } else {
            t->i[k] = raw ? raw[k] != 0 : p->int32_data[k] != 0;
        }
    }
    *out = t;
    return CNN_OK;
}

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

int64_t onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_i ? a->i : def;
}

float onnx_attr_float(const Onnx__NodeProto *n, const char *name, float def) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_f ? a->f : def;
}

int onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int max) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    if (!a) return 0;
    if (a->n_ints > (size_t)max) return -1;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

/* The string attribute into buf ("" when absent). */
void onnx_attr_str(const Onnx__NodeProto *n, const char *name, char *buf, size_t len) {
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    buf[0] = 0;
    if (a && a->has_s) {
        size_t k = a->s.len < len - 1 ? a->s.len : len - 1;
        memcpy(buf, a->s.data, k);
        buf[k] = 0;
    }
}
