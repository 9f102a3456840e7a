/* onnx_import.c — ONNX operators to layers (docs/onnx.md).
 *
 * The graph's nodes are visited in file order (ONNX requires a topological
 * order). Each node becomes one model-file line (or none: Identity, Constant,
 * a Dropout of ratio 0, a Pad folded into the next Conv), added to a net in
 * progress so that every output shape is known at once; its constant inputs
 * become named weight tensors. Whatever cannot be computed exactly as ONNX
 * defines it is refused with the operator and the node's name. */
#include "onnx_internal.h"
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

static const char *node_name(const Onnx__NodeProto *n) {
    return n->name && *n->name ? n->name : "(unnamed)";
}

/* "path: node 'NAME' (Op): message", status CNN_ERR_UNSUPPORTED. */
static cnn_status refuse(ctx *c, const char *fmt, ...) CNN_PRINTF(2, 3);
static cnn_status refuse(ctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: node '%s' (%s): %s", c->path, node_name(c->node),
                    c->node->op_type, msg);
}

/* ---- values ------------------------------------------------------------ */

static value *find(ctx *c, const char *name) {
    for (int i = c->n_v - 1; i >= 0; i--)
        if (!strcmp(c->v[i].name, name)) return &c->v[i];
    return NULL;
}

/* The value table is sized once (translate_graph), so value pointers stay
 * valid while nodes are translated. */
static cnn_status define(ctx *c, value v) {
    if (c->n_v == c->cap_v) return cnn_fail(CNN_ERR_NOMEM, "%s: too many values", c->path);
    c->v[c->n_v++] = v;
    return CNN_OK;
}

static cnn_status keep_const(ctx *c, onnx_tensor *t) {
    if (c->n_c == c->cap_c) {
        int cap = c->cap_c ? 2 * c->cap_c : 64;
        onnx_tensor **p = realloc(c->consts, (size_t)cap * sizeof *p);
        if (!p) {
            onnx_tensor_free(t);
            return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
        }
        c->consts = p;
        c->cap_c = cap;
    }
    c->consts[c->n_c++] = t;
    return CNN_OK;
}

static int has_input(const Onnx__NodeProto *n, size_t k) {
    return k < n->n_input && n->input[k] && n->input[k][0];
}

/* Input k of the node: an activation (want_const 0) or a constant (1). */
static cnn_status input(ctx *c, size_t k, int want_const, value **out) {
    *out = NULL;
    if (!has_input(c->node, k)) return refuse(c, "input %zu is missing", k);
    value *v = find(c, c->node->input[k]);
    if (!v) return refuse(c, "input '%s' is not defined before its use", c->node->input[k]);
    if (v->layer == PENDING)
        return refuse(c,
                      "input %zu ('%s') is an intermediate value of the %s pattern that starts "
                      "at node '%s'; only the exact subgraph torch.onnx exports is supported",
                      k, v->name, v->pat == PAT_LRN ? "LocalResponseNorm" : "per-channel Gather",
                      v->start);
    if (want_const && v->layer != -2)
        return refuse(c,
                      "input %zu ('%s') must be a constant (an initializer); computed inputs "
                      "are not supported here",
                      k, v->name);
    if (!want_const && v->layer == -2)
        return refuse(c, "input %zu ('%s') is a constant; a computed tensor is expected", k,
                      v->name);
    if (want_const && v->t->sym && strcmp(c->node->op_type, "Reshape"))
        return refuse(c,
                      "input %zu ('%s') holds the batch size, which is not known when the model "
                      "is imported",
                      k, v->name);
    if (!want_const && (v->pad[0] || v->pad[1] || v->pad[2] || v->pad[3]) &&
        strcmp(c->node->op_type, "Conv") && strcmp(c->node->op_type, "AveragePool"))
        return refuse(c,
                      "input '%s' comes from a Pad that only a Conv or an AveragePool can absorb",
                      v->name);
    *out = v;
    return CNN_OK;
}

/* Fail on any attribute not in the comma-separated list: an attribute we do
 * not read could change the result. */
static cnn_status check_attrs(ctx *c, const char *known) {
    for (size_t i = 0; i < c->node->n_attribute; i++) {
        const char *a = c->node->attribute[i]->name;
        size_t len = strlen(a);
        int ok = 0;
        for (const char *p = known; *p && !ok;) {
            const char *e = strchr(p, ',');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            ok = k == len && !strncmp(p, a, len);
            p = e ? e + 1 : p + k;
        }
        if (!ok) return refuse(c, "attribute '%s' is not supported", a);
    }
    return CNN_OK;
}

/* The node's outputs after the first must be unused (Dropout's mask,
 * MaxPool's indices, BatchNormalization's running statistics). */
static cnn_status extra_outputs_unused(ctx *c) {
    for (size_t k = 1; k < c->node->n_output; k++) {
        const char *o = c->node->output[k];
        if (!o || !*o) continue;
        for (size_t i = 0; i < c->g->n_node; i++)
            for (size_t j = 0; j < c->g->node[i]->n_input; j++)
                if (!strcmp(c->g->node[i]->input[j], o))
                    return refuse(c,
                                  "output %zu ('%s') is used by node '%s'; only the first "
                                  "output is supported",
                                  k, o, node_name(c->g->node[i]));
        for (size_t i = 0; i < c->g->n_output; i++)
            if (!strcmp(c->g->output[i]->name, o))
                return refuse(c,
                              "output %zu ('%s') is a graph output; only the first output is "
                              "supported",
                              k, o);
    }
    return CNN_OK;
}

/* ---- emitting layers --------------------------------------------------- */

static cnn_status append_text(ctx *c, const char *line) {
    size_t k = strlen(line);
    if (c->m->len + k + 2 > c->m->cap) {
        size_t cap = c->m->cap ? 2 * c->m->cap : 4096;
        while (cap < c->m->len + k + 2)
            cap *= 2;
        char *p = realloc(c->m->text, cap);
        if (!p) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
        c->m->text = p;
        c->m->cap = cap;
    }
    memcpy(c->m->text + c->m->len, line, k);
    c->m->len += k;
    c->m->text[c->m->len++] = '\n';
    c->m->text[c->m->len] = 0;
    return CNN_OK;
}

/* A layer name from the weight's initializer ("features.0.weight" ->
 * "features.0", as PyTorch's state_dict) or else the node's name
 * ("/features/features.1/Relu" -> "features.features.1.Relu"); made unique. */
static void layer_name(ctx *c, const value *weight, char *buf, size_t len) {
    char base[64] = "";
    const char *w = weight ? weight->name : NULL;
    size_t wl = w ? strlen(w) : 0;
    if (w && wl > 7 && wl - 7 < sizeof base && !strcmp(w + wl - 7, ".weight") && !strstr(w, "::")) {
        memcpy(base, w, wl - 7);
        base[wl - 7] = 0;
    } else {
        const char *s = c->node->name && *c->node->name ? c->node->name : c->node->op_type;
        while (*s == '/')
            s++;
        snprintf(base, sizeof base - 8, "%s", s);
    }
    for (char *p = base; *p; p++)
        if (*p == '/')
            *p = '.';
        else if (!(*p == '_' || *p == '.' || *p == '-' || (*p >= '0' && *p <= '9') ||
                   (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            *p = '_';
    if (!base[0] || !strcmp(base, "input")) snprintf(base, sizeof base, "%s", c->node->op_type);
    snprintf(buf, len, "%s", base);
    for (int k = 2;; k++) {
        int dup = 0;
        for (int i = 0; i < c->net->n_layers && !dup; i++)
            dup = !strcmp(c->net->layers[i].name, buf);
        if (!dup) return;
        snprintf(buf, len, "%s_%d", base, k);
    }
}

static const char *in_name(ctx *c, const value *v) {
    return v->layer < 0 ? "input" : c->net->layers[v->layer].name;
}

/* Add "TYPE name=NAME in=... OPTS" to the net and the text, compute its
 * shape, and define the node's first output as its result. */
static cnn_status emit(ctx *c, const char *type, const char *name, value *const *ins, int n_in,
                       int rank, const char *fmt, ...) CNN_PRINTF(7, 8);
static cnn_status emit(ctx *c, const char *type, const char *name, value *const *ins, int n_in,
                       int rank, const char *fmt, ...) {
    char line[2048], opts[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(opts, sizeof opts, fmt, ap);
    va_end(ap);
    int k = snprintf(line, sizeof line, "%-9s name=%s in=", type, name);
    for (int i = 0; i < n_in; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, "%s%s", i ? "," : "", in_name(c, ins[i]));
    if (*opts) k += snprintf(line + k, sizeof line - (size_t)k, " %s", opts);
    if ((size_t)k >= sizeof line) return refuse(c, "model line too long");
    cnn_status s = cnn_net_add(c->net, line);
    if (s == CNN_OK) {
        cnn_layer *l = &c->net->layers[c->net->n_layers - 1];
        for (int j = 0; j < l->n_in; j++)
            l->in[j] = l->in_idx[j] < 0 ? c->net->in_shape : c->net->layers[l->in_idx[j]].out;
        s = l->ops->shape(l);
        if (s == CNN_OK && (l->out.c <= 0 || l->out.h <= 0 || l->out.w <= 0))
            s = cnn_fail(CNN_ERR_SHAPE, "empty output %dx%dx%d", l->out.c, l->out.h, l->out.w);
    }
    if (s != CNN_OK) {
        cnn_error_prefix("%s: node '%s' (%s) as '%s'", c->path, node_name(c->node),
                         c->node->op_type, line);
        return s;
    }
    if ((s = append_text(c, line)) != CNN_OK) return s;
    value out = {.name = c->node->output[0],
                 .layer = c->net->n_layers - 1,
                 .rank = rank,
                 .shape = c->net->layers[c->net->n_layers - 1].out};
    return define(c, out);
}

/* Store a weight tensor "<layer>.<suffix>"; takes ownership of data. */
static cnn_status add_weight(ctx *c, const char *layer, const char *suffix, float *data,
                             size_t count) {
    cnn_onnx_model *m = c->m;
    if (m->n_w == m->cap_w) {
        int cap = m->cap_w ? 2 * m->cap_w : 64;
        cnn_onnx_weight *p = realloc(m->w, (size_t)cap * sizeof *p);
        if (!p) {
            free(data);
            return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
        }
        m->w = p;
        m->cap_w = cap;
    }
    cnn_onnx_weight *w = &m->w[m->n_w++];
    snprintf(w->name, sizeof w->name, "%s.%s", layer, suffix);
    w->data = data;
    w->count = count;
    return CNN_OK;
}

static cnn_status add_weight_copy(ctx *c, const char *layer, const char *suffix, const float *src,
                                  size_t count) {
    float *d = malloc(count ? count * sizeof *d : 1);
    if (!d) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    memcpy(d, src, count * sizeof *d);
    return add_weight(c, layer, suffix, d, count);
}

/* ---- shared attribute logic ------------------------------------------- */

static cnn_status float_const(ctx *c, const value *v, const char *what) {
    if (v->t->is_int) return refuse(c, "%s must be float32", what);
    return CNN_OK;
}

/* kernel, strides, dilations, pads (top, left, bottom, right) and auto_pad
 * of a 2-D Conv or pooling node on input x. */
typedef struct {
    int kh, kw, sh, sw, dh, dw;
    int p[4]; /* top, left, bottom, right */
} window;

static cnn_status read_window(ctx *c, const value *x, int kh, int kw, int def_stride, window *w) {
    int64_t v[8];
    int n;
    *w = (window){kh, kw, def_stride, def_stride, 1, 1, {0, 0, 0, 0}};
    if (x->rank != 4) return refuse(c, "the input must be 4-D (N,C,H,W)");
    if ((n = onnx_attr_ints(c->node, "kernel_shape", v, 8)) != 0) {
        if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
            return refuse(c, "kernel_shape must be 2 positive values");
        if (kh && (v[0] != kh || v[1] != kw))
            return refuse(c, "kernel_shape %lldx%lld disagrees with the weight's %dx%d",
                          (long long)v[0], (long long)v[1], kh, kw);
        w->kh = (int)v[0];
        w->kw = (int)v[1];
    } else if (!kh) {
        return refuse(c, "kernel_shape is required");
    }
    if ((n = onnx_attr_ints(c->node, "strides", v, 8)) != 0) {
        if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
            return refuse(c, "strides must be 2 positive values");
        w->sh = (int)v[0];
        w->sw = (int)v[1];
    }
    if ((n = onnx_attr_ints(c->node, "dilations", v, 8)) != 0) {
        if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
            return refuse(c, "dilations must be 2 positive values");
        w->dh = (int)v[0];
        w->dw = (int)v[1];
    }
    char ap[32];
    onnx_attr_str(c->node, "auto_pad", ap, sizeof ap);
    if ((n = onnx_attr_ints(c->node, "pads", v, 8)) != 0) {
        if (n != 4) return refuse(c, "pads must be 4 values");
        for (int i = 0; i < 4; i++) {
            if (v[i] < 0 || v[i] > 4096) return refuse(c, "pads must be from 0 to 4096");
            w->p[i] = (int)v[i];
        }
        if (ap[0] && strcmp(ap, "NOTSET")) return refuse(c, "pads given with auto_pad=%s", ap);
    }
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        /* output = ceil(in / stride); the odd one of an odd total goes at the
         * end (UPPER) or at the start (LOWER). */
        int in[2] = {x->shape.h, x->shape.w}, k[2] = {w->kh, w->kw}, s[2] = {w->sh, w->sw},
            d[2] = {w->dh, w->dw};
        for (int i = 0; i < 2; i++) {
            long out = (in[i] + s[i] - 1) / s[i];
            long total = (out - 1) * s[i] + (long)(k[i] - 1) * d[i] + 1 - in[i];
            if (total < 0) total = 0;
            int lo = (int)(total / 2), hi = (int)(total - total / 2);
            w->p[i] = ap[5] == 'U' ? lo : hi;
            w->p[i + 2] = ap[5] == 'U' ? hi : lo;
        }
    } else if (ap[0] && strcmp(ap, "NOTSET") && strcmp(ap, "VALID")) {
        return refuse(c, "auto_pad=%s is not supported", ap);
    }
    return CNN_OK;
}

static int symmetric(const int p[4]) {
    return p[0] == p[2] && p[1] == p[3];
}

/* A `pad` layer on x (top, left, bottom, right; value), named after the
 * node; *x becomes its output. */
static cnn_status emit_pad(ctx *c, value **x, const int p[4], float value_) {
    char name[64], opts[128];
    layer_name(c, NULL, name, sizeof name - 4);
    strcat(name, "_pad");
    snprintf(opts, sizeof opts, "padding=%d,%d,%d,%d value=%.9g", p[1], p[3], p[0], p[2], value_);
    cnn_status s = emit(c, "pad", name, x, 1, 4, "%s", opts);
    if (s == CNN_OK) *x = &c->v[c->n_v - 1];
    return s;
}

/* ---- operators ---------------------------------------------------------- */

static cnn_status op_conv(ctx *c) {
    value *x, *wv, *bv = NULL;
    cnn_status s;
    if ((s = check_attrs(c, "auto_pad,dilations,group,kernel_shape,pads,strides")) ||
        (s = input(c, 0, 0, &x)) || (s = input(c, 1, 1, &wv)) || (s = float_const(c, wv, "W")))
        return s;
    if (has_input(c->node, 2) && ((s = input(c, 2, 1, &bv)) || (s = float_const(c, bv, "B"))))
        return s;
    const onnx_tensor *w = wv->t;
    if (w->ndim != 4) return refuse(c, "only 2-D convolution (a 4-D weight) is supported");
    int64_t group = onnx_attr_int(c->node, "group", 1);
    if (group < 1 || group > x->shape.c || w->dims[1] * group != x->shape.c)
        return refuse(c,
                      "weight %lldx%lldx%lldx%lld with group=%lld does not fit %d input channels",
                      (long long)w->dims[0], (long long)w->dims[1], (long long)w->dims[2],
                      (long long)w->dims[3], (long long)group, x->shape.c);
    if (bv && (bv->t->count != (size_t)w->dims[0]))
        return refuse(c, "bias has %zu values for %lld filters", bv->t->count,
                      (long long)w->dims[0]);
    window k;
    if ((s = read_window(c, x, (int)w->dims[2], (int)w->dims[3], 1, &k))) return s;
    for (int i = 0; i < 4; i++)
        k.p[i] += x->pad[i]; /* a zero Pad before it */
    if (!symmetric(k.p)) {   /* explicit zero padding, then no padding */
        value *src = x;
        value base = *x;
        memset(base.pad, 0, sizeof base.pad);
        src = &base;
        if ((s = emit_pad(c, &src, k.p, 0))) return s;
        x = src;
        memset(k.p, 0, sizeof k.p);
    }
    char name[64];
    layer_name(c, wv, name, sizeof name);
    if ((s = emit(c, "conv", name, &x, 1, 4,
                  "filters=%lld kernel=%dx%d stride=%dx%d padding=%dx%d dilation=%dx%d groups=%lld "
                  "bias=%d",
                  (long long)w->dims[0], k.kh, k.kw, k.sh, k.sw, k.p[0], k.p[1], k.dh, k.dw,
                  (long long)group, bv != NULL)))
        return s;
    if ((s = add_weight_copy(c, name, "weight", w->f, w->count))) return s;
    return bv ? add_weight_copy(c, name, "bias", bv->t->f, bv->t->count) : CNN_OK;
}

static cnn_status op_maxpool(ctx *c) {
    value *x;
    cnn_status s;
    window k;
    if ((s = check_attrs(c,
                         "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides")) ||
        (s = extra_outputs_unused(c)) || (s = input(c, 0, 0, &x)) ||
        (s = read_window(c, x, 0, 0, 1, &k)))
        return s;
    if (!symmetric(k.p))
        return refuse(c, "asymmetric pads [%d,%d,%d,%d] are not supported for max pooling", k.p[0],
                      k.p[1], k.p[2], k.p[3]);
    int ceil = (int)onnx_attr_int(c->node, "ceil_mode", 0);
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, "maxpool", name, &x, 1, 4,
                "kernel=%dx%d stride=%dx%d padding=%dx%d dilation=%dx%d ceil_mode=%d", k.kh, k.kw,
                k.sh, k.sw, k.p[0], k.p[1], k.dh, k.dw, ceil != 0);
}

static cnn_status op_avgpool(ctx *c) {
    value *x;
    cnn_status s;
    window k;
    if ((s = check_attrs(c, "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides")) ||
        (s = input(c, 0, 0, &x)) || (s = read_window(c, x, 0, 0, 1, &k)))
        return s;
    int ceil = onnx_attr_int(c->node, "ceil_mode", 0) != 0;
    int cip = onnx_attr_int(c->node, "count_include_pad", 0) != 0;
    int own = k.p[0] || k.p[1] || k.p[2] || k.p[3];
    int pending = x->pad[0] || x->pad[1] || x->pad[2] || x->pad[3];
    if (pending || !symmetric(k.p)) {
        /* The padded zeros count in the average: only the same as
         * count_include_pad=1 when no window runs past the padding (no ceil). */
        if (ceil)
            return refuse(c, "%s with ceil_mode=1 is not supported",
                          pending ? "a Pad before an AveragePool" : "asymmetric pads");
        if (own && !cip)
            return refuse(c, "%s with count_include_pad=0 is not supported",
                          pending ? "a Pad before an AveragePool with its own pads"
                                  : "asymmetric pads");
        for (int i = 0; i < 4; i++)
            k.p[i] += x->pad[i];
        cip = 1;
        if (!symmetric(k.p)) {
            value base = *x, *src = &base;
            memset(base.pad, 0, sizeof base.pad);
            if ((s = emit_pad(c, &src, k.p, 0))) return s;
            x = src;
            memset(k.p, 0, sizeof k.p);
        }
    }
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, "avgpool", name, &x, 1, 4,
                "kernel=%dx%d stride=%dx%d padding=%dx%d ceil_mode=%d count_include_pad=%d", k.kh,
                k.kw, k.sh, k.sw, k.p[0], k.p[1], ceil, cip);
}

static cnn_status op_simple(ctx *c, const char *type, const char *attrs, const char *opts) {
    value *x;
    cnn_status s;
    if ((s = check_attrs(c, attrs)) || (s = input(c, 0, 0, &x))) return s;
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, type, name, &x, 1, x->rank, "%s", opts);
}

static cnn_status op_alias(ctx *c, value *x) {
    value out = *x;
    out.name = c->node->output[0];
    return define(c, out);
}

static cnn_status op_identity(ctx *c) {
    cnn_status s = check_attrs(c, "");
    if (s) return s;
    if (!has_input(c->node, 0)) return refuse(c, "input 0 is missing");
    value *x = find(c, c->node->input[0]);
    if (!x) return refuse(c, "input '%s' is not defined before its use", c->node->input[0]);
    return op_alias(c, x);
}

static cnn_status op_constant(ctx *c) {
    cnn_status s;
    if ((s = check_attrs(c, "value,value_float,value_int,value_ints,value_floats"))) return s;
    onnx_tensor *t = NULL;
    const Onnx__AttributeProto *a;
    char what[256];
    snprintf(what, sizeof what, "node '%s' (Constant)", node_name(c->node));
    if ((a = onnx_attr(c->node, "value")) && a->t) {
        if ((s = onnx_tensor_decode(a->t, c->path, what, &t))) return s;
    } else {
        a = c->node->n_attribute ? c->node->attribute[0] : NULL;
        size_t n = !a ? 0 : a->has_f || a->has_i ? 1 : a->n_floats ? a->n_floats : a->n_ints;
        if (!a || !n) return refuse(c, "no value");
        t = calloc(1, sizeof *t);
        if (!t) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
        t->count = n;
        t->ndim = a->has_f || a->has_i ? 0 : 1;
        t->dims[0] = (int64_t)n;
        t->is_int = a->has_i || a->n_ints;
        if (t->is_int)
            t->i = malloc(n * sizeof *t->i);
        else
            t->f = malloc(n * sizeof *t->f);
        if (!t->i && !t->f) {
            free(t);
            return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
        }
        for (size_t i = 0; i < n; i++)
            if (t->is_int)
                t->i[i] = a->has_i ? a->i : a->ints[i];
            else
                t->f[i] = a->has_f ? a->f : a->floats[i];
    }
    if ((s = keep_const(c, t))) return s;
    return define(c, (value){.name = c->node->output[0], .layer = -2, .t = t});
}

static cnn_status op_dropout(ctx *c) {
    value *x, *r;
    cnn_status s;
    if ((s = check_attrs(c, "ratio,seed")) || (s = extra_outputs_unused(c)) ||
        (s = input(c, 0, 0, &x)))
        return s;
    float p = onnx_attr_float(c->node, "ratio", 0.5f);
    if (has_input(c->node, 1)) {
        if ((s = input(c, 1, 1, &r)) || (s = float_const(c, r, "ratio"))) return s;
        if (r->t->count != 1) return refuse(c, "ratio must be a scalar");
        p = r->t->f[0];
    }
    if (!(p >= 0 && p < 1)) return refuse(c, "ratio %g is outside [0, 1)", p);
    if (p == 0) return op_alias(c, x);
    char name[64], opts[32];
    layer_name(c, NULL, name, sizeof name);
    snprintf(opts, sizeof opts, "p=%.9g", p);
    return emit(c, "dropout", name, &x, 1, x->rank, "%s", opts);
}

static cnn_status op_clip(ctx *c) {
    value *x, *b;
    cnn_status s;
    if ((s = check_attrs(c, "min,max")) || (s = input(c, 0, 0, &x))) return s;
    const Onnx__AttributeProto *amin = onnx_attr(c->node, "min"), *amax = onnx_attr(c->node, "max");
    int has_lo = amin != NULL, has_hi = amax != NULL;
    float lo = amin ? amin->f : 0, hi = amax ? amax->f : 0;
    for (int k = 1; k <= 2; k++) {
        if (!has_input(c->node, (size_t)k)) continue;
        if ((s = input(c, (size_t)k, 1, &b)) || (s = float_const(c, b, k == 1 ? "min" : "max")))
            return s;
        if (b->t->count != 1) return refuse(c, "%s must be a scalar", k == 1 ? "min" : "max");
        if (k == 1)
            has_lo = 1, lo = b->t->f[0];
        else
            has_hi = 1, hi = b->t->f[0];
    }
    char name[64], opts[96] = "";
    layer_name(c, NULL, name, sizeof name);
    if (has_lo && lo == 0 && !has_hi) return emit(c, "relu", name, &x, 1, x->rank, "%s", "");
    if (!has_lo && !has_hi) return op_alias(c, x);
    if ((has_lo && !isfinite(lo)) || (has_hi && !isfinite(hi)) || (has_lo && has_hi && lo > hi))
        return refuse(c, "bounds [%g, %g] are not finite and ordered", lo, hi);
    int k = 0;
    if (has_lo) k += snprintf(opts + k, sizeof opts - (size_t)k, "min=%.9g", lo);
    if (has_hi) snprintf(opts + k, sizeof opts - (size_t)k, "%smax=%.9g", k ? " " : "", hi);
    return emit(c, "clip", name, &x, 1, x->rank, "%s", opts);
}

static cnn_status op_flatten(ctx *c) {
    value *x;
    cnn_status s;
    if ((s = check_attrs(c, "axis")) || (s = input(c, 0, 0, &x))) return s;
    int64_t axis = onnx_attr_int(c->node, "axis", 1);
    if (axis != 1 && !(x->rank == 4 && axis == -3) && !(x->rank == 2 && axis == -1))
        return refuse(c, "axis=%lld: only axis=1 (keep the batch) is supported", (long long)axis);
    if (x->rank == 2) return op_alias(c, x);
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, "flatten", name, &x, 1, 2, "%s", "");
}

/* Gemm: Y = alpha * A B' + beta * C with A (N,K) -> dense. MatMul: A B. */
static cnn_status op_gemm(ctx *c, int matmul) {
    value *x, *bv, *cv = NULL;
    cnn_status s;
    if ((s = check_attrs(c, matmul ? "" : "alpha,beta,transA,transB")) ||
        (s = input(c, 0, 0, &x)) || (s = input(c, 1, 1, &bv)) || (s = float_const(c, bv, "B")))
        return s;
    if (!matmul && has_input(c->node, 2) &&
        ((s = input(c, 2, 1, &cv)) || (s = float_const(c, cv, "C"))))
        return s;
    if (x->rank != 2) return refuse(c, "the input must be 2-D (N,K); flatten it first");
    if (onnx_attr_int(c->node, "transA", 0)) return refuse(c, "transA=1 is not supported");
    int transb = matmul ? 0 : onnx_attr_int(c->node, "transB", 0) != 0;
    float alpha = onnx_attr_float(c->node, "alpha", 1), beta = onnx_attr_float(c->node, "beta", 1);
    const onnx_tensor *b = bv->t;
    int64_t kin = x->shape.c;
    if (b->ndim != 2) return refuse(c, "B must be a 2-D constant");
    int64_t units = transb ? b->dims[0] : b->dims[1], kb = transb ? b->dims[1] : b->dims[0];
    if (kb != kin)
        return refuse(c, "B has %lld inputs, the input has %lld", (long long)kb, (long long)kin);
    if (cv &&
        !(cv->t->count == 1 || (cv->t->count == (size_t)units &&
                                (cv->t->ndim == 1 || (cv->t->ndim == 2 && cv->t->dims[0] == 1)))))
        return refuse(c, "C must be a scalar, (M) or (1,M) constant");
    char name[64];
    layer_name(c, bv, name, sizeof name);
    int bias = cv != NULL && beta != 0;
    if ((s = emit(c, "dense", name, &x, 1, 2, "units=%lld bias=%d", (long long)units, bias)))
        return s;
    float *w = malloc((size_t)units * (size_t)kin * sizeof *w);
    if (!w) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    for (int64_t u = 0; u < units; u++) /* ours is (units, K) */
        for (int64_t k = 0; k < kin; k++)
            w[u * kin + k] = alpha * (transb ? b->f[u * kin + k] : b->f[k * units + u]);
    if ((s = add_weight(c, name, "weight", w, (size_t)(units * kin)))) return s;
    if (!bias) return CNN_OK;
    float *bb = malloc((size_t)units * sizeof *bb);
    if (!bb) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    for (int64_t u = 0; u < units; u++)
        bb[u] = beta * cv->t->f[cv->t->count == 1 ? 0 : u];
    return add_weight(c, name, "bias", bb, (size_t)units);
}

/* Add/Sub/Mul/Div. Two computed tensors of one shape: add (Add only). One
 * constant, scalar or per channel: a fixed affine layer. */
static cnn_status op_arith(ctx *c, char op) {
    cnn_status s;
    if ((s = check_attrs(c, ""))) return s;
    if (!has_input(c->node, 0) || !has_input(c->node, 1)) return refuse(c, "needs two inputs");
    value *a = find(c, c->node->input[0]), *b = find(c, c->node->input[1]);
    if (!a || !b) return refuse(c, "an input is not defined before its use");
    if (a->layer != -2 && b->layer != -2) {
        if ((s = input(c, 0, 0, &a)) || (s = input(c, 1, 0, &b))) return s;
        if (op != '+') return refuse(c, "of two computed tensors: only Add is supported");
        if (a->rank != b->rank || a->shape.c != b->shape.c || a->shape.h != b->shape.h ||
            a->shape.w != b->shape.w)
            return refuse(c, "shapes %dx%dx%d and %dx%dx%d differ; broadcasting is not supported",
                          a->shape.c, a->shape.h, a->shape.w, b->shape.c, b->shape.h, b->shape.w);
        value *ins[2] = {a, b};
        char name[64];
        layer_name(c, NULL, name, sizeof name);
        return emit(c, "add", name, ins, 2, a->rank, "%s", "");
    }
    if (a->layer == -2 && b->layer == -2) return refuse(c, "both inputs are constants");
    int const_first = a->layer == -2;
    value *x, *k;
    if ((s = input(c, const_first ? 1 : 0, 0, &x)) || (s = input(c, const_first ? 0 : 1, 1, &k)) ||
        (s = float_const(c, k, "the constant operand")))
        return s;
    const onnx_tensor *t = k->t;
    int ch = x->shape.c;
    /* Per channel: dims (C,1,1) / (1,C,1,1) for 4-D, (C) / (1,C) for 2-D; or one value. */
    int per_channel = 0;
    if (t->count == 1) {
        per_channel = 0;
    } else if (t->count == (size_t)ch) {
        int chan_axis = x->rank == 4 ? t->ndim - 3 : t->ndim - 1; /* right-aligned */
        per_channel = chan_axis >= 0;
        for (int d = 0; d < t->ndim && per_channel; d++)
            if (d != chan_axis && t->dims[d] != 1) per_channel = 0;
        if (!per_channel)
            return refuse(c, "the constant operand '%s' does not broadcast per channel", k->name);
    } else {
        return refuse(c,
                      "the constant operand '%s' has %zu values; only a scalar or one value per "
                      "channel (%d) is supported",
                      k->name, t->count, ch);
    }
    if (t->ndim > x->rank)
        return refuse(c, "the constant operand has more dimensions than the input");
    float *sc = malloc((size_t)ch * sizeof *sc), *sh = malloc((size_t)ch * sizeof *sh);
    if (!sc || !sh) {
        free(sc);
        free(sh);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    }
    for (int i = 0; i < ch; i++) {
        float v = t->f[per_channel ? i : 0];
        sc[i] = 1;
        sh[i] = 0;
        if (op == '+')
            sh[i] = v;
        else if (op == '-' && !const_first)
            sh[i] = -v;
        else if (op == '-')
            sc[i] = -1, sh[i] = v;
        else if (op == '*')
            sc[i] = v;
        else if (op == '/' && !const_first && v != 0)
            sc[i] = 1.0f / v;
        else {
            free(sc);
            free(sh);
            return refuse(c, const_first ? "a constant divided by a tensor is not supported"
                                         : "division by zero");
        }
    }
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    if ((s = emit(c, "affine", name, &x, 1, x->rank, "%s", "")) != CNN_OK) {
        free(sc);
        free(sh);
        return s;
    }
    if ((s = add_weight(c, name, "scale", sc, (size_t)ch))) {
        free(sh);
        return s;
    }
    return add_weight(c, name, "shift", sh, (size_t)ch);
}

static cnn_status op_concat(ctx *c) {
    cnn_status s;
    if ((s = check_attrs(c, "axis"))) return s;
    if (c->node->n_input < 1 || c->node->n_input > CNN_MAX_INPUTS)
        return refuse(c, "%zu inputs (1 to %d supported)", c->node->n_input, CNN_MAX_INPUTS);
    value *ins[CNN_MAX_INPUTS];
    for (size_t i = 0; i < c->node->n_input; i++)
        if ((s = input(c, i, 0, &ins[i]))) return s;
    int rank = ins[0]->rank;
    int64_t axis = onnx_attr_int(c->node, "axis", 1);
    if (!(axis == 1 || (rank == 4 && axis == -3) || (rank == 2 && axis == -1)))
        return refuse(c, "axis=%lld: only the channel axis (1) is supported", (long long)axis);
    for (size_t i = 1; i < c->node->n_input; i++)
        if (ins[i]->rank != rank) return refuse(c, "inputs of different ranks");
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, "concat", name, ins, (int)c->node->n_input, rank, "%s", "");
}

static cnn_status op_batchnorm(ctx *c) {
    value *x, *p[4];
    cnn_status s;
    if ((s = check_attrs(c, "epsilon,momentum,training_mode,spatial")) ||
        (s = extra_outputs_unused(c)) || (s = input(c, 0, 0, &x)))
        return s;
    if (onnx_attr_int(c->node, "spatial", 1) != 1) return refuse(c, "spatial=0 is not supported");
    static const char *const names[4] = {"scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 4; i++) {
        if ((s = input(c, (size_t)i + 1, 1, &p[i])) || (s = float_const(c, p[i], names[i])))
            return s;
        if (p[i]->t->count != (size_t)x->shape.c)
            return refuse(c, "%s has %zu values for %d channels", names[i], p[i]->t->count,
                          x->shape.c);
    }
    float eps = onnx_attr_float(c->node, "epsilon", 1e-5f);
    float mom = onnx_attr_float(c->node, "momentum", 0.9f);
    if (!(eps > 0) || !(mom >= 0 && mom <= 1)) return refuse(c, "epsilon or momentum out of range");
    char name[64];
    layer_name(c, p[0], name, sizeof name);
    /* ONNX: running = running * momentum + batch * (1 - momentum); torch's momentum is 1 - that. */
    if ((s = emit(c, "batchnorm", name, &x, 1, x->rank, "eps=%.9g momentum=%.6g", eps, 1.0 - mom)))
        return s;
    static const char *const suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        if ((s = add_weight_copy(c, name, suffix[i], p[i]->t->f, p[i]->t->count))) return s;
    return CNN_OK;
}

static cnn_status op_softmax(ctx *c) {
    value *x;
    cnn_status s;
    if ((s = check_attrs(c, "axis")) || (s = input(c, 0, 0, &x))) return s;
    int old = c->m->opset < 13;
    int64_t axis = onnx_attr_int(c->node, "axis", old ? 1 : -1);
    if (axis < 0) axis += x->rank;
    int ok = axis == 1 && (x->rank == 2 || !old || (x->shape.h == 1 && x->shape.w == 1));
    if (!ok)
        return refuse(c, "axis=%lld on a %d-D input: only the softmax over channels is supported",
                      (long long)onnx_attr_int(c->node, "axis", old ? 1 : -1), x->rank);
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, "softmax", name, &x, 1, x->rank, "%s", "");
}

static cnn_status op_lrn(ctx *c) {
    value *x;
    cnn_status s;
    if ((s = check_attrs(c, "alpha,beta,bias,size")) || (s = input(c, 0, 0, &x))) return s;
    int64_t size = onnx_attr_int(c->node, "size", 0);
    if (size < 1 || size > 4096) return refuse(c, "size must be given and positive");
    /* ONNX's channel window is [c - floor((size-1)/2), c + ceil((size-1)/2)], torch's
     * (and our lrn's) [c - floor(size/2), c + floor((size-1)/2)]: the same for odd
     * sizes, mirrored for even ones. */
    if (size % 2 == 0)
        return refuse(c,
                      "size=%lld: an even LRN window is placed differently in ONNX than "
                      "in this library's lrn layer (torch's)",
                      (long long)size);
    char name[64];
    layer_name(c, NULL, name, sizeof name);
    return emit(c, "lrn", name, &x, 1, x->rank, "size=%lld alpha=%.9g beta=%.9g k=%.9g",
                (long long)size, onnx_attr_float(c->node, "alpha", 1e-4f),
                onnx_attr_float(c->node, "beta", 0.75f), onnx_attr_float(c->node, "bias", 1.0f));
}

/* Can every reader of value `name` absorb a zero padding itself? Conv
 * always; AveragePool without ceil_mode. */
static int pad_foldable(ctx *c, const char *name) {
    int readers = 0;
    for (size_t i = 0; i < c->g->n_node; i++) {
        const Onnx__NodeProto *n = c->g->node[i];
        for (size_t j = 0; j < n->n_input; j++) {
            if (strcmp(n->input[j], name)) continue;
            readers++;
            if (j != 0) return 0;
            if (!strcmp(n->op_type, "Conv")) continue;
            if (!strcmp(n->op_type, "AveragePool") && !onnx_attr_int(n, "ceil_mode", 0)) continue;
            return 0;
        }
    }
    for (size_t i = 0; i < c->g->n_output; i++)
        if (!strcmp(c->g->output[i]->name, name)) return 0;
    return readers > 0;
}

/* Pad with a constant on H and W: folded into the Conv / AveragePool that
 * reads it when the constant is 0, else a `pad` layer. */
static cnn_status op_pad(ctx *c) {
    value *x, *pv, *cv;
    cnn_status s;
    if ((s = check_attrs(c, "mode,pads,value")) || (s = input(c, 0, 0, &x))) return s;
    char mode[32];
    onnx_attr_str(c->node, "mode", mode, sizeof mode);
    if (mode[0] && strcmp(mode, "constant")) return refuse(c, "mode=%s is not supported", mode);
    int64_t p[8];
    int n;
    float value_ = onnx_attr_float(c->node, "value", 0);
    if (has_input(c->node, 1)) {
        if ((s = input(c, 1, 1, &pv))) return s;
        if (!pv->t->is_int || pv->t->count > 8) return refuse(c, "pads must be int64");
        n = (int)pv->t->count;
        for (int i = 0; i < n; i++)
            p[i] = pv->t->i[i];
    } else {
        n = onnx_attr_ints(c->node, "pads", p, 8);
    }
    if (has_input(c->node, 2)) {
        if ((s = input(c, 2, 1, &cv)) || (s = float_const(c, cv, "constant_value"))) return s;
        if (cv->t->count != 1) return refuse(c, "constant_value must be a scalar");
        value_ = cv->t->f[0];
    }
    if (has_input(c->node, 3)) return refuse(c, "the axes input is not supported");
    if (!isfinite(value_)) return refuse(c, "padding with %g is not supported", value_);
    if (x->rank != 4 || n != 8) return refuse(c, "only 4-D inputs with 8 pads are supported");
    if (p[0] || p[1] || p[4] || p[5])
        return refuse(c, "padding the batch or channel axis is not supported");
    for (int i = 0; i < 8; i++)
        if (p[i] < 0 || p[i] > 4096) return refuse(c, "pads must be from 0 to 4096");
    int q[4] = {(int)p[2], (int)p[3], (int)p[6], (int)p[7]}; /* top, left, bottom, right */
    if (!q[0] && !q[1] && !q[2] && !q[3]) return op_alias(c, x);
    if (value_ == 0 && pad_foldable(c, c->node->output[0])) {
        value out = *x;
        out.name = c->node->output[0];
        for (int i = 0; i < 4; i++)
            out.pad[i] += q[i];
        return define(c, out);
    }
    return emit_pad(c, &x, q, value_);
}

/* ---- shapes: Shape, Reshape with the batch as a symbol ------------------- */

/* The dims of value v with d[0] the batch (its value is meaningless): the
 * rank. A pattern step has the dims of what it computes. */
static int dims_of(const value *v, int64_t *d) {
    d[0] = -1;
    if (v->layer == -2) {
        for (int i = 0; i < v->t->ndim; i++)
            d[i] = v->t->dims[i];
        return v->t->ndim;
    }
    cnn_shape s = v->pat ? v->src->shape : v->shape;
    if (v->pat == PAT_CHAN) {
        d[1] = v->step == C_GATHER ? s.h : 1;
        d[2] = v->step == C_GATHER ? s.w : s.h;
        d[3] = s.w;
        return v->step == C_GATHER ? 3 : 4;
    }
    if (v->pat == PAT_LRN && v->step >= L_UNSQ && v->step <= L_AVG) {
        d[1] = 1;
        d[2] = s.c + (v->step == L_PAD ? v->pb + v->pe : 0);
        d[3] = s.h;
        d[4] = s.w;
        return 5;
    }
    if (!v->pat && v->rank == 2) {
        d[1] = s.c;
        return 2;
    }
    d[1] = s.c;
    d[2] = s.h;
    d[3] = s.w;
    return 4;
}

/* Shape: the dims as an int64 constant whose first element is the batch
 * (onnx_tensor.sym), for Gather / Concat / Reshape to move around. */
static cnn_status op_shape(ctx *c) {
    cnn_status s;
    if ((s = check_attrs(c, "start,end"))) return s;
    if (!has_input(c->node, 0)) return refuse(c, "input 0 is missing");
    value *x = find(c, c->node->input[0]);
    if (!x) return refuse(c, "input '%s' is not defined before its use", c->node->input[0]);
    int64_t d[ONNX_MAX_DIMS];
    int rank = dims_of(x, d);
    int64_t lo = onnx_attr_int(c->node, "start", 0), hi = onnx_attr_int(c->node, "end", rank);
    if (lo < 0) lo += rank;
    if (hi < 0) hi += rank;
    lo = lo < 0 ? 0 : lo > rank ? rank : lo;
    hi = hi < lo ? lo : hi > rank ? rank : hi;
    int64_t len = hi - lo;
    onnx_tensor *t = onnx_tensor_new(1, 1, &len);
    if (!t) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    for (int64_t i = lo; i < hi; i++)
        t->i[i - lo] = d[i];
    if (x->layer != -2 && lo == 0 && len > 0) t->sym = 1;
    if ((s = keep_const(c, t))) return s;
    return define(c, (value){.name = c->node->output[0], .layer = -2, .t = t});
}

static void shape_str(const onnx_tensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < t->count && k < len; i++) {
        if (i < ONNX_MAX_SYM && (t->sym >> i & 1))
            k += (size_t)snprintf(buf + k, len - k, "%sN", i ? "," : "");
        else
            k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", (long long)t->i[i]);
    }
    if (k < len) snprintf(buf + k, len - k, "]");
}

/* The result of reshaping dims in[0..rin) (in[0] the batch) to the Reshape
 * target t: out[1..*rout) per sample, the batch staying axis 0. A target
 * that would move the batch into other axes is refused: the batch size is
 * not known when the model is imported. */
static cnn_status reshape_target(ctx *c, const int64_t *in, int rin, const onnx_tensor *t,
                                 int64_t *out, int *rout) {
    char str[160];
    shape_str(t, str, sizeof str);
    if (!t->is_int || t->ndim != 1 || t->count < 1 || t->count > ONNX_MAX_DIMS)
        return refuse(c, "the shape must be a 1-D int64 constant of 1 to %d values", ONNX_MAX_DIMS);
    int az = onnx_attr_int(c->node, "allowzero", 0) != 0, m = (int)t->count, minus = -1;
    int64_t per = 1, known = 1;
    for (int i = 1; i < rin; i++)
        per *= in[i];
    int batch_minus = 0; /* the batch written as -1, the rest fixed */
    for (int j = 0; j < m; j++) {
        int sym = j < ONNX_MAX_SYM && (t->sym >> j & 1);
        int64_t v = t->i[j];
        if (j == 0) {
            if (sym || (v == 0 && !az) || (c->batch > 0 && v == c->batch)) continue;
            if (v == -1) {
                batch_minus = 1;
                continue;
            }
            return refuse(c,
                          "the shape %s does not keep the batch as axis 0 (it would mix the "
                          "batch into other axes; the batch size is not known at import)",
                          str);
        }
        if (sym)
            return refuse(c,
                          "the shape %s puts the batch size in axis %d: it would mix the batch "
                          "into other axes, which is not supported",
                          str, j);
        if (v == 0 && !az) {
            if (j >= rin) return refuse(c, "the shape %s copies an axis the input lacks", str);
            v = in[j];
        } else if (v == -1) {
            if (minus >= 0 || batch_minus)
                return refuse(c, "the shape %s has several unknown (-1) axes", str);
            minus = j;
            continue;
        } else if (v < 1 || v > (1 << 30)) {
            return refuse(c, "the shape %s has an invalid axis %d", str, j);
        }
        out[j] = v;
        known *= v;
        if (known > per) break;
    }
    if (minus >= 0) {
        if (known <= 0 || per % known)
            return refuse(c, "the shape %s does not divide the %lld values of a sample", str,
                          (long long)per);
        out[minus] = per / known;
        known = per;
    }
    if (known != per)
        return refuse(c,
                      "the shape %s holds %lld values per sample, the input %lld: it would mix "
                      "the batch into other axes, which is not supported",
                      str, (long long)known, (long long)per);
    out[0] = -1;
    *rout = m;
    return CNN_OK;
}

static int same_dims(const int64_t *a, int ra, const int64_t *b, int rb) {
    if (ra != rb) return 0;
    for (int i = 1; i < ra; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static cnn_status op_reshape(ctx *c) {
    value *x, *sh;
    cnn_status s;
    if ((s = check_attrs(c, "allowzero")) || (s = input(c, 0, 0, &x)) || (s = input(c, 1, 1, &sh)))
        return s;
    int64_t in[ONNX_MAX_DIMS], out[ONNX_MAX_DIMS];
    int rin = dims_of(x, in), rout;
    if ((s = reshape_target(c, in, rin, sh->t, out, &rout))) return s;
    if (rout == 2) {
        if (x->rank == 2) return op_alias(c, x);
        char name[64];
        layer_name(c, NULL, name, sizeof name);
        return emit(c, "flatten", name, &x, 1, 2, "%s", "");
    }
    if (same_dims(in, rin, out, rout)) return op_alias(c, x);
    if (rout == 4 && x->rank == 2 && out[2] == 1 && out[3] == 1) {
        value o = *x;
        o.name = c->node->output[0];
        o.rank = 4;
        return define(c, o);
    }
    char str[160];
    shape_str(sh->t, str, sizeof str);
    return refuse(c,
                  "only a reshape to (N, -1) (a flatten) or to the same shape is supported, "
                  "not to %s",
                  str);
}

/* ---- patterns ------------------------------------------------------------- */

/* A scalar float constant operand of node input k, or refuse. */
static cnn_status scalar_operand(ctx *c, size_t k, const char *what, float *v) {
    value *cv;
    cnn_status s;
    if ((s = input(c, k, 1, &cv)) || (s = float_const(c, cv, what))) return s;
    if (cv->t->count != 1) return refuse(c, "%s must be a single value", what);
    *v = cv->t->f[0];
    return CNN_OK;
}

/* Axes [1], from the attribute (opset < 13) or a constant input. */
static int axes_are_one(ctx *c) {
    int64_t a[ONNX_MAX_DIMS];
    int n = onnx_attr_ints(c->node, "axes", a, ONNX_MAX_DIMS);
    if (has_input(c->node, 1)) {
        value *v = find(c, c->node->input[1]);
        if (n || !v || v->layer != -2 || !v->t->is_int || v->t->sym || v->t->count != 1) return 0;
        a[0] = v->t->i[0];
        n = 1;
    }
    return n == 1 && a[0] == 1;
}

static cnn_status pattern_refuse(ctx *c, const value *p, const char *expect) {
    return refuse(c,
                  "reads '%s', an intermediate value of the %s pattern that starts at node '%s'; "
                  "as torch.onnx exports it, the pattern continues here with %s",
                  p->name, p->pat == PAT_LRN ? "LocalResponseNorm" : "per-channel Gather", p->start,
                  expect);
}

static cnn_status next_step(ctx *c, const value *p, int step) {
    value o = *p;
    o.name = c->node->output[0];
    o.step = step;
    return define(c, o);
}

/* A constant Pad of the 5-D LRN value with pads [0,0,b,0,0, 0,0,e,0,0]:
 * b, e in pb, pe. */
static cnn_status lrn_pads(ctx *c, int *pb, int *pe) {
    value *pv;
    cnn_status s;
    char mode[32];
    if ((s = check_attrs(c, "mode,pads,value"))) return s;
    onnx_attr_str(c->node, "mode", mode, sizeof mode);
    if (mode[0] && strcmp(mode, "constant")) return refuse(c, "mode=%s", mode);
    int64_t p[10];
    int n;
    float val = onnx_attr_float(c->node, "value", 0);
    if (has_input(c->node, 1)) {
        if ((s = input(c, 1, 1, &pv))) return s;
        if (!pv->t->is_int || pv->t->count != 10) return refuse(c, "pads must be 10 integers");
        n = 10;
        for (int i = 0; i < 10; i++)
            p[i] = pv->t->i[i];
    } else {
        n = onnx_attr_ints(c->node, "pads", p, 10);
    }
    if (has_input(c->node, 2) && (s = scalar_operand(c, 2, "constant_value", &val))) return s;
    if (has_input(c->node, 3)) return refuse(c, "the axes input is not supported");
    if (n != 10 || val != 0) return refuse(c, "expected 10 pads and the value 0");
    for (int i = 0; i < 10; i++)
        if (i != 2 && i != 7 && p[i])
            return refuse(c, "pads must be 0 except on the channel axis (2) of the 5-D value");
    if (p[2] < 0 || p[7] < 0 || p[2] > 4096 || p[7] > 4096)
        return refuse(c, "channel pads must be from 0 to 4096");
    *pb = (int)p[2];
    *pe = (int)p[7];
    return CNN_OK;
}

/* AveragePool over (size,1,1) windows with stride 1, no padding, no ceil. */
static cnn_status lrn_avgpool(ctx *c, const value *p) {
    cnn_status s;
    int64_t k[8], st[8], pd[8];
    char ap[32];
    if ((s = check_attrs(c, "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides")))
        return s;
    onnx_attr_str(c->node, "auto_pad", ap, sizeof ap);
    int nk = onnx_attr_ints(c->node, "kernel_shape", k, 8);
    int ns = onnx_attr_ints(c->node, "strides", st, 8);
    int np = onnx_attr_ints(c->node, "pads", pd, 8);
    int ok = nk == 3 && k[1] == 1 && k[2] == 1 && k[0] >= 1 && k[0] <= 4096 &&
             (ns == 0 || (ns == 3 && st[0] == 1 && st[1] == 1 && st[2] == 1)) &&
             (np == 0 || np == 6) && !onnx_attr_int(c->node, "ceil_mode", 0) &&
             (!ap[0] || !strcmp(ap, "NOTSET") || !strcmp(ap, "VALID"));
    for (int i = 0; ok && i < np; i++)
        ok = pd[i] == 0;
    if (!ok)
        return pattern_refuse(c, p,
                              "an AveragePool with kernel_shape [size,1,1], strides 1, no pads "
                              "and ceil_mode 0");
    int size = (int)k[0];
    if (p->pb != size / 2 || p->pe != (size - 1) / 2)
        return refuse(c,
                      "the channel padding (%d before, %d after) is not torch's LocalResponseNorm "
                      "padding for size %d (%d, %d)",
                      p->pb, p->pe, size, size / 2, (size - 1) / 2);
    value o = *p;
    o.name = c->node->output[0];
    o.step = L_AVG;
    o.size = size;
    return define(c, o);
}

/* Reshape of a pattern value: must give exactly `want` (rank rw). */
static cnn_status pattern_reshape(ctx *c, const value *p, int rw, int step) {
    value *sh;
    cnn_status s;
    if ((s = check_attrs(c, "allowzero")) || (s = input(c, 1, 1, &sh))) return s;
    int64_t in[ONNX_MAX_DIMS], out[ONNX_MAX_DIMS], want[ONNX_MAX_DIMS];
    int rin = dims_of(p, in), rout;
    if ((s = reshape_target(c, in, rin, sh->t, out, &rout))) return s;
    value tmp = *p;
    tmp.step = step;
    dims_of(&tmp, want);
    if (!same_dims(out, rout, want, rw))
        return pattern_refuse(c, p,
                              rw == 5 ? "a Reshape to (N,1,C,H,W)" : "a Reshape to (N,C,H,W)");
    return next_step(c, p, step);
}

static cnn_status lrn_step(ctx *c, value *p, size_t pi) {
    const char *op = c->node->op_type;
    cnn_status s;
    float v;
    if (pi != 0 && !(p->step == L_POW && !strcmp(op, "Div")) &&
        !(p->step == L_R4 && !strcmp(op, "Mul")) && !(p->step == L_MUL && !strcmp(op, "Add")))
        return pattern_refuse(c, p, "a node reading it as its first input");
    switch (p->step) {
    case L_SQ:
        if (strcmp(op, "Unsqueeze")) break;
        if ((s = check_attrs(c, "axes"))) return s;
        if (!axes_are_one(c)) return pattern_refuse(c, p, "an Unsqueeze of axis 1");
        return next_step(c, p, L_UNSQ);
    case L_UNSQ:
        if (strcmp(op, "Reshape")) break;
        return pattern_reshape(c, p, 5, L_R5);
    case L_R5:
    case L_PAD: {
        if (p->step == L_PAD && !strcmp(op, "AveragePool")) return lrn_avgpool(c, p);
        if (strcmp(op, "Pad")) break;
        int pb, pe;
        if ((s = lrn_pads(c, &pb, &pe))) return s;
        if (p->step == L_PAD && (pb || pe))
            return pattern_refuse(c, p, "a Pad of zeros or an AveragePool");
        value o = *p;
        o.name = c->node->output[0];
        o.step = L_PAD;
        if (p->step == L_R5) o.pb = pb, o.pe = pe;
        return define(c, o);
    }
    case L_AVG:
    case L_SQZ:
        if (p->step == L_AVG && !strcmp(op, "Squeeze")) {
            if ((s = check_attrs(c, "axes"))) return s;
            if (!axes_are_one(c)) return pattern_refuse(c, p, "a Squeeze of axis 1");
            return next_step(c, p, L_SQZ);
        }
        if (strcmp(op, "Reshape")) break;
        return pattern_reshape(c, p, 4, L_R4);
    case L_R4:
    case L_MUL:
    case L_ADD: {
        const char *want = p->step == L_R4 ? "Mul" : p->step == L_MUL ? "Add" : "Pow";
        if (strcmp(op, want)) break;
        if ((s = check_attrs(c, ""))) return s;
        if ((s = scalar_operand(c, 1 - pi, p->step == L_R4 ? "alpha" : "k", &v))) return s;
        if (p->step == L_ADD && pi != 0) break;
        value o = *p;
        o.name = c->node->output[0];
        o.step = p->step + 1;
        if (p->step == L_R4) o.a = v;
        if (p->step == L_MUL) o.k = v;
        if (p->step == L_ADD) o.b = v;
        return define(c, o);
    }
    case L_POW: {
        if (strcmp(op, "Div") || pi != 1) break;
        value *x;
        if ((s = check_attrs(c, "")) || (s = input(c, 0, 0, &x))) return s;
        if (x->layer != p->src->layer || x->rank != 4)
            return refuse(c, "divides '%s', not the pattern's input '%s'", x->name, p->src->name);
        char name[64];
        layer_name(c, NULL, name, sizeof name);
        return emit(c, "lrn", name, &x, 1, 4, "size=%d alpha=%.9g beta=%.9g k=%.9g", p->size, p->a,
                    p->b, p->k);
    }
    }
    static const char *const expect[] = {"",
                                         "an Unsqueeze of axis 1",
                                         "a Reshape to (N,1,C,H,W)",
                                         "a Pad of the channel axis",
                                         "a Pad of zeros or an AveragePool",
                                         "a Squeeze of axis 1 or a Reshape to (N,C,H,W)",
                                         "a Reshape to (N,C,H,W)",
                                         "a Mul by alpha",
                                         "an Add of k",
                                         "a Pow by beta",
                                         "the input divided by it"};
    return pattern_refuse(c, p, expect[p->step]);
}

static cnn_status chan_step(ctx *c, value *p, size_t pi) {
    const char *op = c->node->op_type;
    cnn_status s;
    float v;
    if (p->step == C_GATHER) {
        if (strcmp(op, "Unsqueeze") || pi != 0)
            return pattern_refuse(c, p, "an Unsqueeze of axis 1");
        if ((s = check_attrs(c, "axes"))) return s;
        if (!axes_are_one(c)) return pattern_refuse(c, p, "an Unsqueeze of axis 1");
        return next_step(c, p, C_UNSQ);
    }
    int mul = !strcmp(op, "Mul"), add = !strcmp(op, "Add"), sub = !strcmp(op, "Sub") && pi == 0;
    if ((mul && p->step == C_UNSQ) || ((add || sub) && p->step != C_ADD)) {
        if ((s = check_attrs(c, "")) ||
            (s = scalar_operand(c, 1 - pi, mul ? "the factor" : "the term", &v)))
            return s;
        value o = *p;
        o.name = c->node->output[0];
        o.step = mul ? C_MUL : C_ADD;
        if (mul)
            o.a = v;
        else
            o.b = sub ? -v : v; /* x - v is exactly x + (-v) */
        return define(c, o);
    }
    return pattern_refuse(c, p,
                          "at most one Mul by a constant, then at most one Add or Sub of a "
                          "constant, then a Concat of every channel in order");
}

/* Concat on axis 1 of every channel of one activation, in order, each
 * x[:, i] * a_i + b_i: an affine layer. */
static cnn_status chan_concat(ctx *c) {
    cnn_status s;
    if ((s = check_attrs(c, "axis"))) return s;
    size_t n = c->node->n_input;
    value *first = has_input(c->node, 0) ? find(c, c->node->input[0]) : NULL;
    int64_t axis = onnx_attr_int(c->node, "axis", 1);
    if (!first || first->layer != PENDING || first->pat != PAT_CHAN || first->step == C_GATHER ||
        (axis != 1 && axis != -3) || n != (size_t)first->src->shape.c)
        return refuse(c, "a Concat of channels taken by Gather must join every channel of one "
                         "tensor, in order, on axis 1");
    for (size_t i = 0; i < n; i++) {
        value *v = has_input(c->node, i) ? find(c, c->node->input[i]) : NULL;
        if (!v || v->layer != PENDING || v->pat != PAT_CHAN || v->step == C_GATHER ||
            v->src->layer != first->src->layer || v->ch != (int)i)
            return refuse(c,
                          "input %zu is not channel %zu of '%s' (a Concat of channels taken by "
                          "Gather must join every channel of one tensor, in order)",
                          i, i, first->src->name);
    }
    int ch = (int)n;
    float *sc = malloc((size_t)ch * sizeof *sc), *sh = malloc((size_t)ch * sizeof *sh);
    if (!sc || !sh) {
        free(sc);
        free(sh);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    }
    for (int i = 0; i < ch; i++) {
        const value *v = find(c, c->node->input[i]);
        sc[i] = v->a;
        sh[i] = v->b;
    }
    char name[64];
    value *x = (value *)first->src;
    layer_name(c, NULL, name, sizeof name);
    if ((s = emit(c, "affine", name, &x, 1, 4, "%s", ""))) {
        free(sc);
        free(sh);
        return s;
    }
    if ((s = add_weight(c, name, "scale", sc, (size_t)ch))) {
        free(sh);
        return s;
    }
    return add_weight(c, name, "shift", sh, (size_t)ch);
}

/* Begin a pattern: x*x (LocalResponseNorm) or Gather of one channel. */
static cnn_status pattern_start(ctx *c, int pat) {
    value *x;
    cnn_status s;
    if ((s = check_attrs(c, pat == PAT_CHAN ? "axis" : "")) || (s = input(c, 0, 0, &x))) return s;
    if (x->rank != 4) return refuse(c, "the input must be 4-D (N,C,H,W)");
    value o = {.name = c->node->output[0],
               .layer = PENDING,
               .rank = 4,
               .shape = x->shape,
               .pat = pat,
               .step = pat == PAT_LRN ? L_SQ : C_GATHER,
               .src = x,
               .start = node_name(c->node),
               .a = 1};
    if (pat == PAT_CHAN) {
        value *iv;
        int64_t axis = onnx_attr_int(c->node, "axis", 0);
        if (axis != 1 && axis != -3)
            return refuse(c, "axis=%lld: only a Gather of one channel (axis 1) is supported",
                          (long long)axis);
        if ((s = input(c, 1, 1, &iv))) return s;
        if (!iv->t->is_int || iv->t->ndim != 0 || iv->t->i[0] < -x->shape.c ||
            iv->t->i[0] >= x->shape.c)
            return refuse(c, "the index must be one channel number (a 0-D integer constant)");
        o.ch = (int)(iv->t->i[0] < 0 ? iv->t->i[0] + x->shape.c : iv->t->i[0]);
    }
    return define(c, o);
}

/* Nodes that begin or continue a pattern: 1 if handled (*s the result). */
static int pattern_node(ctx *c, cnn_status *s) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type;
    value *p = NULL, *v;
    size_t pi = 0;
    if (!strcmp(op, "Shape") || !strcmp(op, "Identity")) return 0; /* exact on any value */
    for (size_t k = 0; k < n->n_input && !p; k++)
        if (has_input(n, k) && (v = find(c, n->input[k])) && v->layer == PENDING) p = v, pi = k;
    if (!p) {
        if (!strcmp(op, "Mul") && n->n_input == 2 && has_input(n, 0) && has_input(n, 1) &&
            !strcmp(n->input[0], n->input[1]) && (v = find(c, n->input[0])) && v->layer != -2) {
            *s = pattern_start(c, PAT_LRN);
            return 1;
        }
        if (!strcmp(op, "Gather") && has_input(n, 0) && (v = find(c, n->input[0])) &&
            v->layer != -2) {
            *s = pattern_start(c, PAT_CHAN);
            return 1;
        }
        return 0;
    }
    if (!strcmp(op, "Concat") && p->pat == PAT_CHAN)
        *s = chan_concat(c);
    else
        *s = p->pat == PAT_LRN ? lrn_step(c, p, pi) : chan_step(c, p, pi);
    return 1;
}

/* ---- If on a constant condition ------------------------------------------ */

static cnn_status translate_node(ctx *c);

/* torch.onnx exports squeeze(1) of an axis it cannot prove to be 1 as
 * If(shape[1] == 1, Squeeze, Identity). The condition folds to a constant
 * here, so the branch taken is translated in place of the If. */
static cnn_status op_if(ctx *c) {
    value *cond;
    cnn_status s;
    const Onnx__NodeProto *n = c->node;
    if ((s = check_attrs(c, "then_branch,else_branch")) || (s = input(c, 0, 1, &cond))) return s;
    if (cond->t->count != 1)
        return refuse(c, "the condition must be a single value known when the model is imported");
    int taken = cond->t->is_int ? cond->t->i[0] != 0 : cond->t->f[0] != 0;
    const Onnx__AttributeProto *a = onnx_attr(n, taken ? "then_branch" : "else_branch");
    if (!a || !a->g) return refuse(c, "the %s branch is missing", taken ? "then" : "else");
    const Onnx__GraphProto *g = a->g;
    if (g->n_output != n->n_output || c->depth >= 8)
        return refuse(c, "the branch has %zu outputs for %zu (or Ifs nest deeper than 8)",
                      g->n_output, n->n_output);
    for (size_t i = 0; i < g->n_node; i++) {
        if (!g->node[i]->op_type) return refuse(c, "a branch node without an op_type");
        for (size_t j = 0; j < g->node[i]->n_attribute; j++)
            if (!g->node[i]->attribute[j]->name)
                return refuse(c, "a branch attribute without a name");
    }
    for (size_t i = 0; i < g->n_output; i++)
        if (!g->output[i]->name || !n->output[i]) return refuse(c, "an output without a name");
    if (g->n_initializer || g->n_sparse_initializer)
        return refuse(c, "a branch with initializers is not supported");
    c->depth++;
    for (size_t i = 0; i < g->n_node && s == CNN_OK; i++) {
        c->node = g->node[i];
        s = translate_node(c);
    }
    c->depth--;
    c->node = n;
    if (s) return s;
    for (size_t i = 0; i < g->n_output; i++) {
        value *v = find(c, g->output[i]->name);
        if (!v) return refuse(c, "the branch output '%s' is not computed", g->output[i]->name);
        value o = *v;
        o.name = n->output[i];
        if ((s = define(c, o))) return s;
    }
    return CNN_OK;
}

/* A node of a foldable type whose inputs are all constants becomes a constant
 * (arithmetic only on integers: sizes computed from Shape). */
static int try_fold(ctx *c, cnn_status *s) {
    static const char *const ops[] = {
        "ConstantOfShape", "Cast",  "Concat",    "Reshape", "Slice", "Gather", "Unsqueeze",
        "Squeeze",         "Equal", "Transpose", "Add",     "Sub",   "Mul",    "Div"};
    const Onnx__NodeProto *n = c->node;
    int known = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        known |= !strcmp(n->op_type, ops[i]);
    if (!known || n->n_input < 1 || n->n_input > 8) return 0;
    const onnx_tensor *in[8] = {0}; /* inputs past n_input read as absent, never garbage */
    for (size_t k = 0; k < n->n_input; k++) {
        in[k] = NULL;
        if (!has_input(n, k)) continue;
        value *v = find(c, n->input[k]);
        if (!v || v->layer != -2) return 0;
        in[k] = v->t;
    }
    if (!in[0]) return 0;
    if ((!strcmp(n->op_type, "Add") || !strcmp(n->op_type, "Sub") || !strcmp(n->op_type, "Mul") ||
         !strcmp(n->op_type, "Div")) &&
        !(in[0]->is_int && in[1] && in[1]->is_int))
        return 0; /* float constants: refused as arithmetic on constants */
    char err[160];
    onnx_tensor *t;
    if (onnx_fold(n, in, (int)n->n_input, &t, err, sizeof err) != CNN_OK) {
        *s = refuse(c, "on constants: %s", err);
        return 1;
    }
    if ((*s = keep_const(c, t)) == CNN_OK)
        *s = define(c, (value){.name = n->output[0], .layer = -2, .t = t});
    return 1;
}

static cnn_status translate_node(ctx *c) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return refuse(c, "operator domain '%s' is not supported", n->domain);
    if (n->n_output < 1 || !n->output[0] || !*n->output[0]) return refuse(c, "no output");
    cnn_status folded;
    if (try_fold(c, &folded) || pattern_node(c, &folded)) return folded;
    if (!strcmp(op, "Shape")) return op_shape(c);
    if (!strcmp(op, "If")) return op_if(c);
    if (!strcmp(op, "Conv")) return op_conv(c);
    if (!strcmp(op, "MaxPool")) return op_maxpool(c);
    if (!strcmp(op, "AveragePool")) return op_avgpool(c);
    if (!strcmp(op, "GlobalAveragePool")) return op_simple(c, "gap", "", "");
    if (!strcmp(op, "Relu")) return op_simple(c, "relu", "", "");
    if (!strcmp(op, "Sigmoid")) return op_simple(c, "sigmoid", "", "");
    if (!strcmp(op, "Tanh")) return op_simple(c, "tanh", "", "");
    if (!strcmp(op, "LeakyRelu") || !strcmp(op, "Elu")) {
        int leaky = op[0] == 'L';
        char opts[48];
        snprintf(opts, sizeof opts, "%s=%.9g", leaky ? "slope" : "alpha",
                 onnx_attr_float(n, "alpha", leaky ? 0.01f : 1.0f));
        return op_simple(c, leaky ? "leaky_relu" : "elu", "alpha", opts);
    }
    if (!strcmp(op, "Gemm")) return op_gemm(c, 0);
    if (!strcmp(op, "MatMul")) return op_gemm(c, 1);
    if (!strcmp(op, "Add")) return op_arith(c, '+');
    if (!strcmp(op, "Sub")) return op_arith(c, '-');
    if (!strcmp(op, "Mul")) return op_arith(c, '*');
    if (!strcmp(op, "Div")) return op_arith(c, '/');
    if (!strcmp(op, "Concat")) return op_concat(c);
    if (!strcmp(op, "Flatten")) return op_flatten(c);
    if (!strcmp(op, "Reshape")) return op_reshape(c);
    if (!strcmp(op, "BatchNormalization")) return op_batchnorm(c);
    if (!strcmp(op, "Dropout")) return op_dropout(c);
    if (!strcmp(op, "Softmax")) return op_softmax(c);
    if (!strcmp(op, "LRN")) return op_lrn(c);
    if (!strcmp(op, "Pad")) return op_pad(c);
    if (!strcmp(op, "Identity")) return op_identity(c);
    if (!strcmp(op, "Constant")) return op_constant(c);
    if (!strcmp(op, "Clip")) return op_clip(c);
    return refuse(c, "operator %s is not supported (see docs/onnx.md)", op);
}

/* ---- the graph ---------------------------------------------------------- */

static cnn_status graph_input(ctx *c, const Onnx__ValueInfoProto *vi) {
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type->shape)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: graph input '%s' is not a tensor of known shape",
                        c->path, vi->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: graph input '%s' has element type %d; only "
                        "float32 is supported",
                        c->path, vi->name, tt->elem_type);
    const Onnx__TensorShapeProto *sp = tt->shape;
    int rank = (int)sp->n_dim, d[4] = {1, 1, 1, 1};
    if (rank != 4 && rank != 2)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: graph input '%s' has rank %d; only (N,C,H,W) or "
                        "(N,K) inputs are supported",
                        c->path, vi->name, rank);
    for (int i = 1; i < rank; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = sp->dim[i];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            dim->dim_value < 1 || dim->dim_value > 65536)
            return cnn_fail(CNN_ERR_UNSUPPORTED,
                            "%s: graph input '%s': dimension %d is not a "
                            "fixed size from 1 to 65536",
                            c->path, vi->name, i);
        d[i] = (int)dim->dim_value;
    }
    const Onnx__TensorShapeProto__Dimension *d0 = sp->dim[0];
    c->batch =
        d0->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d0->dim_value > 0
            ? d0->dim_value
            : 0;
    char line[128];
    snprintf(line, sizeof line, "input shape=%dx%dx%d", d[1], d[2], d[3]);
    cnn_status s = cnn_net_add(c->net, line);
    if (s != CNN_OK) {
        cnn_error_prefix("%s: graph input '%s'", c->path, vi->name);
        return s;
    }
    if ((s = append_text(c, line))) return s;
    return define(
        c, (value){.name = vi->name, .layer = -1, .rank = rank, .shape = {d[1], d[2], d[3]}});
}

/* The nodes of g and of every If branch in it (they are translated inline). */
static size_t count_nodes(const Onnx__GraphProto *g, int depth) {
    size_t n = g->n_node;
    for (size_t i = 0; i < g->n_node && depth < 8; i++)
        for (size_t j = 0; j < g->node[i]->n_attribute; j++)
            if (g->node[i]->attribute[j]->g)
                n += count_nodes(g->node[i]->attribute[j]->g, depth + 1);
    return n;
}

static cnn_status translate_graph(ctx *c, const Onnx__ModelProto *mp) {
    const Onnx__GraphProto *g = mp->graph;
    cnn_status s;
    c->g = g;
    c->m->opset = 0;
    /* every initializer, the input, and at most two values per node (a pad
     * layer and the output; an If: its outputs, counted with its branches) */
    size_t nodes = count_nodes(g, 0);
    c->cap_v = (int)(g->n_initializer + 2 * nodes + 8);
    if (g->n_initializer > (1u << 24) || nodes > (1u << 24) ||
        !(c->v = malloc((size_t)c->cap_v * sizeof *c->v)))
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory for %zu nodes", c->path, g->n_node);
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !*d || !strcmp(d, "ai.onnx")) c->m->opset = (int)mp->opset_import[i]->version;
    }
    if (c->m->opset < 7 || c->m->opset > 18)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: opset %d is not supported (7 to 18; tested 11 "
                        "and 17)",
                        c->path, c->m->opset);
    if (g->n_sparse_initializer)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: sparse initializers are not supported", c->path);
    char what[320];
    for (size_t i = 0; i < g->n_initializer; i++) {
        onnx_tensor *t;
        snprintf(what, sizeof what, "initializer '%s'", g->initializer[i]->name);
        if ((s = onnx_tensor_decode(g->initializer[i], c->path, what, &t)) ||
            (s = keep_const(c, t)) ||
            (s = define(c, (value){.name = g->initializer[i]->name, .layer = -2, .t = t})))
            return s;
    }
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        if (find(c, g->input[i]->name)) continue; /* an initializer listed as input */
        if (in)
            return cnn_fail(CNN_ERR_UNSUPPORTED,
                            "%s: the graph has several inputs ('%s', '%s'); "
                            "one is supported",
                            c->path, in->name, g->input[i]->name);
        in = g->input[i];
    }
    if (!in) return cnn_fail(CNN_ERR_FORMAT, "%s: the graph has no input", c->path);
    if ((s = graph_input(c, in))) return s;
    for (size_t i = 0; i < g->n_node; i++) {
        c->node = g->node[i];
        if ((s = translate_node(c))) return s;
    }
    if (g->n_output != 1)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; one is supported",
                        c->path, g->n_output);
    value *out = find(c, g->output[0]->name);
    if (out && out->layer == PENDING)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: the graph output '%s' is an unfinished %s pattern that starts at node "
                        "'%s'; only the exact subgraph torch.onnx exports is supported",
                        c->path, out->name,
                        out->pat == PAT_LRN ? "LocalResponseNorm" : "per-channel Gather",
                        out->start);
    if (!out || out->layer < 0)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: the graph output '%s' is not computed by a layer",
                        c->path, g->output[0]->name);
    if (out->layer != c->net->n_layers - 1)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: the graph output '%s' is computed by layer '%s', "
                        "not by the last node; not supported",
                        c->path, out->name, c->net->layers[out->layer].name);
    return CNN_OK;
}

void cnn_onnx_model_free(cnn_onnx_model *m) {
    if (!m) return;
    free(m->text);
    for (int i = 0; i < m->n_w; i++)
        free(m->w[i].data);
    free(m->w);
    memset(m, 0, sizeof *m);
}

cnn_status cnn_onnx_translate(const char *path, cnn_onnx_model *m) {
    memset(m, 0, sizeof *m);
    Onnx__ModelProto *mp;
    cnn_status s = onnx_read(path, &mp);
    if (s != CNN_OK) return s;
    ctx c = {.path = path, .m = m};
    s = cnn_net_create(&c.net);
    if (s == CNN_OK) {
        snprintf(c.net->filename, sizeof c.net->filename, "%s", path);
        s = translate_graph(&c, mp);
    }
    cnn_net_free(c.net);
    for (int i = 0; i < c.n_c; i++)
        onnx_tensor_free(c.consts[i]);
    free(c.consts);
    free(c.v);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s != CNN_OK) cnn_onnx_model_free(m);
    return s;
}

/* ---- into a net ---------------------------------------------------------- */

static cnn_status copy_weights(cnn_net *net, const cnn_onnx_model *m, const char *path) {
    int assigned = 0, total = 0;
    for (int i = 0; i < net->n_layers; i++) {
        cnn_layer *l = &net->layers[i];
        cnn_tensor_desc d[CNN_MAX_TENSORS];
        int k = l->ops->tensors ? l->ops->tensors(l, d) : 0;
        for (int j = 0; j < k; j++) {
            char name[160];
            snprintf(name, sizeof name, "%s.%s", l->name, d[j].suffix);
            size_t count = 1;
            for (int e = 0; e < d[j].ndim; e++)
                count *= (size_t)d[j].dims[e];
            total++;
            int w = 0;
            while (w < m->n_w && strcmp(m->w[w].name, name))
                w++;
            if (w == m->n_w)
                return cnn_fail(CNN_ERR_FORMAT, "%s: no ONNX tensor for '%s'", path, name);
            if (m->w[w].count != count)
                return cnn_fail(CNN_ERR_SHAPE,
                                "%s: tensor '%s' has %zu values, the layer expects %zu", path, name,
                                m->w[w].count, count);
            float *dst = (d[j].buffer ? l->buffers : l->params) + d[j].offset;
            memcpy(dst, m->w[w].data, count * sizeof *dst);
            for (size_t e = 0; e < count; e++)
                if (!isfinite(dst[e]))
                    return cnn_fail(CNN_ERR_NUMERIC,
                                    "%s: tensor '%s' holds NaN or Inf at index %zu", path, name, e);
            assigned++;
        }
    }
    if (assigned != m->n_w)
        return cnn_fail(CNN_ERR_FORMAT, "%s: %d ONNX tensors were not used by any layer", path,
                        m->n_w - assigned);
    return CNN_OK;
}

cnn_status cnn_onnx_model_to_net(const cnn_onnx_model *m, const char *path, const char *extra,
                                 cnn_net **out) {
    *out = NULL;
    const char *text = m->text ? m->text : "";
    char *buf = NULL;
    if (extra) {
        size_t a = strlen(text), b = strlen(extra);
        if (!(buf = malloc(a + b + 2))) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
        memcpy(buf, text, a);
        memcpy(buf + a, extra, b);
        buf[a + b] = '\n';
        buf[a + b + 1] = 0;
        text = buf;
    }
    cnn_net *net;
    cnn_status s = cnn_net_parse(&net, text, path, 1);
    free(buf);
    if (s != CNN_OK) return s;
    if ((s = copy_weights(net, m, path)) != CNN_OK) {
        cnn_net_free(net);
        return s;
    }
    *out = net;
    return CNN_OK;
}

cnn_status cnn_net_load_onnx(cnn_net **out, const char *path) {
    *out = NULL;
    if (!path) return cnn_fail(CNN_ERR_ARG, "cnn_net_load_onnx: NULL path");
    cnn_onnx_model m;
    cnn_status s = cnn_onnx_translate(path, &m);
    if (s != CNN_OK) return s;
    s = cnn_onnx_model_to_net(&m, path, NULL, out);
    cnn_onnx_model_free(&m);
    return s;
}
