/* onnx_import.c — ONNX operators to layers (docs/onnx.md).
 *
 * The graph's nodes are visited in file order (ONNX requires a topological
 * order). Each node becomes one model-file line (or none: Identity, Constant,
 * a Dropout of ratio 0, a Pad folded into the next Conv), added to a net in
 * progress so that every output shape is known at once; its constant inputs
 * become named weight tensors. Whatever cannot be computed exactly as ONNX
 * defines it is refused with the operator and the node's name. */
#include "onnx_ctx.h"
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *onnx_node_name(const Onnx__NodeProto *n) {
    return n->name && *n->name ? n->name : "(unnamed)";
}

/* "path: node 'NAME' (Op): message", status CNN_ERR_UNSUPPORTED. */
cnn_status onnx_refuse(ctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: node '%s' (%s): %s", c->path, onnx_node_name(c->node),
                    c->node->op_type, msg);
}

/* ---- values ------------------------------------------------------------ */

value *onnx_find(ctx *c, const char *name) {
    for (int i = c->n_v - 1; i >= 0; i--)
        if (!strcmp(c->v[i].name, name)) return &c->v[i];
    return NULL;
}

/* The value table is sized once (translate_graph), so value pointers stay
 * valid while nodes are translated. */
cnn_status onnx_define(ctx *c, value v) {
    if (c->n_v == c->cap_v) return cnn_fail(CNN_ERR_NOMEM, "%s: too many values", c->path);
    c->v[c->n_v++] = v;
    return CNN_OK;
}

cnn_status onnx_keep_const(ctx *c, onnx_tensor *t) {
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

int onnx_has_input(const Onnx__NodeProto *n, size_t k) {
    return k < n->n_input && n->input[k] && n->input[k][0];
}

/* Input k of the node: an activation (want_const 0) or a constant (1). */
cnn_status onnx_input(ctx *c, size_t k, int want_const, value **out) {
    *out = NULL;
    if (!onnx_has_input(c->node, k)) return onnx_refuse(c, "input %zu is missing", k);
    value *v = onnx_find(c, c->node->input[k]);
    if (!v) return onnx_refuse(c, "input '%s' is not defined before its use", c->node->input[k]);
    if (v->layer == PENDING)
        return onnx_refuse(
            c,
            "input %zu ('%s') is an intermediate value of the %s pattern that starts "
            "at node '%s'; only the exact subgraph torch.onnx exports is supported",
            k, v->name, v->pat == PAT_LRN ? "LocalResponseNorm" : "per-channel Gather", v->start);
    if (want_const && v->layer != -2)
        return onnx_refuse(c,
                           "input %zu ('%s') must be a constant (an initializer); computed inputs "
                           "are not supported here",
                           k, v->name);
    if (!want_const && v->layer == -2)
        return onnx_refuse(c, "input %zu ('%s') is a constant; a computed tensor is expected", k,
                           v->name);
    if (want_const && v->t->sym && strcmp(c->node->op_type, "Reshape"))
        return onnx_refuse(
            c,
            "input %zu ('%s') holds the batch size, which is not known when the model "
            "is imported",
            k, v->name);
    if (!want_const && (v->pad[0] || v->pad[1] || v->pad[2] || v->pad[3]) &&
        strcmp(c->node->op_type, "Conv") && strcmp(c->node->op_type, "AveragePool"))
        return onnx_refuse(
            c, "input '%s' comes from a Pad that only a Conv or an AveragePool can absorb",
            v->name);
    *out = v;
    return CNN_OK;
}

/* Fail on any attribute not in the comma-separated list: an attribute we do
 * not read could change the result. */
cnn_status onnx_check_attrs(ctx *c, const char *known) {
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
        if (!ok) return onnx_refuse(c, "attribute '%s' is not supported", a);
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
                    return onnx_refuse(c,
                                       "output %zu ('%s') is used by node '%s'; only the first "
                                       "output is supported",
                                       k, o, onnx_node_name(c->g->node[i]));
        for (size_t i = 0; i < c->g->n_output; i++)
            if (!strcmp(c->g->output[i]->name, o))
                return onnx_refuse(c,
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
void onnx_layer_name(ctx *c, const value *weight, char *buf, size_t len) {
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
cnn_status onnx_emit(ctx *c, const char *type, const char *name, value *const *ins, int n_in,
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
    if ((size_t)k >= sizeof line) return onnx_refuse(c, "model line too long");
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
        cnn_error_prefix("%s: node '%s' (%s) as '%s'", c->path, onnx_node_name(c->node),
                         c->node->op_type, line);
        return s;
    }
    if ((s = append_text(c, line)) != CNN_OK) return s;
    value out = {.name = c->node->output[0],
                 .layer = c->net->n_layers - 1,
                 .rank = rank,
                 .shape = c->net->layers[c->net->n_layers - 1].out};
    return onnx_define(c, out);
}

/* Store a weight tensor "<layer>.<suffix>"; takes ownership of data. */
cnn_status onnx_add_weight(ctx *c, const char *layer, const char *suffix, float *data,
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

cnn_status onnx_emit_affine(ctx *c, value *x, int rank, float *sc, float *sh, int ch) {
    char name[64];
    cnn_status s;
    onnx_layer_name(c, NULL, name, sizeof name);
    if ((s = onnx_emit(c, "affine", name, &x, 1, rank, "%s", "")) != CNN_OK) {
        free(sc);
        free(sh);
        return s;
    }
    if ((s = onnx_add_weight(c, name, "scale", sc, (size_t)ch))) {
        free(sh);
        return s;
    }
    return onnx_add_weight(c, name, "shift", sh, (size_t)ch);
}

static cnn_status add_weight_copy(ctx *c, const char *layer, const char *suffix, const float *src,
                                  size_t count) {
    float *d = malloc(count ? count * sizeof *d : 1);
    if (!d) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    memcpy(d, src, count * sizeof *d);
    return onnx_add_weight(c, layer, suffix, d, count);
}

/* ---- shared attribute logic ------------------------------------------- */

cnn_status onnx_float_const(ctx *c, const value *v, const char *what) {
    if (v->t->is_int) return onnx_refuse(c, "%s must be float32", what);
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
    if (x->rank != 4) return onnx_refuse(c, "the input must be 4-D (N,C,H,W)");
    if ((n = onnx_attr_ints(c->node, "kernel_shape", v, 8)) != 0) {
        if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
            return onnx_refuse(c, "kernel_shape must be 2 positive values");
        if (kh && (v[0] != kh || v[1] != kw))
            return onnx_refuse(c, "kernel_shape %lldx%lld disagrees with the weight's %dx%d",
                               (long long)v[0], (long long)v[1], kh, kw);
        w->kh = (int)v[0];
        w->kw = (int)v[1];
    } else if (!kh) {
        return onnx_refuse(c, "kernel_shape is required");
    }
    if ((n = onnx_attr_ints(c->node, "strides", v, 8)) != 0) {
        if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
            return onnx_refuse(c, "strides must be 2 positive values");
        w->sh = (int)v[0];
        w->sw = (int)v[1];
    }
    if ((n = onnx_attr_ints(c->node, "dilations", v, 8)) != 0) {
        if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 4096 || v[1] > 4096)
            return onnx_refuse(c, "dilations must be 2 positive values");
        w->dh = (int)v[0];
        w->dw = (int)v[1];
    }
    char ap[32];
    onnx_attr_str(c->node, "auto_pad", ap, sizeof ap);
    if ((n = onnx_attr_ints(c->node, "pads", v, 8)) != 0) {
        if (n != 4) return onnx_refuse(c, "pads must be 4 values");
        for (int i = 0; i < 4; i++) {
            if (v[i] < 0 || v[i] > 4096) return onnx_refuse(c, "pads must be from 0 to 4096");
            w->p[i] = (int)v[i];
        }
        if (ap[0] && strcmp(ap, "NOTSET")) return onnx_refuse(c, "pads given with auto_pad=%s", ap);
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
        return onnx_refuse(c, "auto_pad=%s is not supported", ap);
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
    onnx_layer_name(c, NULL, name, sizeof name - 4);
    strcat(name, "_pad");
    snprintf(opts, sizeof opts, "padding=%d,%d,%d,%d value=%.9g", p[1], p[3], p[0], p[2], value_);
    cnn_status s = onnx_emit(c, "pad", name, x, 1, 4, "%s", opts);
    if (s == CNN_OK) *x = &c->v[c->n_v - 1];
    return s;
}

/* ---- operators ---------------------------------------------------------- */

static cnn_status op_conv(ctx *c) {
    value *x, *wv, *bv = NULL;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "auto_pad,dilations,group,kernel_shape,pads,strides")) ||
        (s = onnx_input(c, 0, 0, &x)) || (s = onnx_input(c, 1, 1, &wv)) ||
        (s = onnx_float_const(c, wv, "W")))
        return s;
    if (onnx_has_input(c->node, 2) &&
        ((s = onnx_input(c, 2, 1, &bv)) || (s = onnx_float_const(c, bv, "B"))))
        return s;
    const onnx_tensor *w = wv->t;
    if (w->ndim != 4) return onnx_refuse(c, "only 2-D convolution (a 4-D weight) is supported");
    int64_t group = onnx_attr_int(c->node, "group", 1);
    if (group < 1 || group > x->shape.c || w->dims[1] * group != x->shape.c)
        return onnx_refuse(
            c, "weight %lldx%lldx%lldx%lld with group=%lld does not fit %d input channels",
            (long long)w->dims[0], (long long)w->dims[1], (long long)w->dims[2],
            (long long)w->dims[3], (long long)group, x->shape.c);
    if (bv && (bv->t->count != (size_t)w->dims[0]))
        return onnx_refuse(c, "bias has %zu values for %lld filters", bv->t->count,
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
    onnx_layer_name(c, wv, name, sizeof name);
    if ((s = onnx_emit(
             c, "conv", name, &x, 1, 4,
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
    if ((s = onnx_check_attrs(
             c, "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides")) ||
        (s = extra_outputs_unused(c)) || (s = onnx_input(c, 0, 0, &x)) ||
        (s = read_window(c, x, 0, 0, 1, &k)))
        return s;
    if (!symmetric(k.p))
        return onnx_refuse(c, "asymmetric pads [%d,%d,%d,%d] are not supported for max pooling",
                           k.p[0], k.p[1], k.p[2], k.p[3]);
    int ceil = (int)onnx_attr_int(c->node, "ceil_mode", 0);
    char name[64];
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, "maxpool", name, &x, 1, 4,
                     "kernel=%dx%d stride=%dx%d padding=%dx%d dilation=%dx%d ceil_mode=%d", k.kh,
                     k.kw, k.sh, k.sw, k.p[0], k.p[1], k.dh, k.dw, ceil != 0);
}

static cnn_status op_avgpool(ctx *c) {
    value *x;
    cnn_status s;
    window k;
    if ((s = onnx_check_attrs(c,
                              "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides")) ||
        (s = onnx_input(c, 0, 0, &x)) || (s = read_window(c, x, 0, 0, 1, &k)))
        return s;
    int ceil = onnx_attr_int(c->node, "ceil_mode", 0) != 0;
    int cip = onnx_attr_int(c->node, "count_include_pad", 0) != 0;
    int own = k.p[0] || k.p[1] || k.p[2] || k.p[3];
    int pending = x->pad[0] || x->pad[1] || x->pad[2] || x->pad[3];
    if (pending || !symmetric(k.p)) {
        /* The padded zeros count in the average: only the same as
         * count_include_pad=1 when no window runs past the padding (no ceil). */
        if (ceil)
            return onnx_refuse(c, "%s with ceil_mode=1 is not supported",
                               pending ? "a Pad before an AveragePool" : "asymmetric pads");
        if (own && !cip)
            return onnx_refuse(c, "%s with count_include_pad=0 is not supported",
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
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, "avgpool", name, &x, 1, 4,
                     "kernel=%dx%d stride=%dx%d padding=%dx%d ceil_mode=%d count_include_pad=%d",
                     k.kh, k.kw, k.sh, k.sw, k.p[0], k.p[1], ceil, cip);
}

static cnn_status op_simple(ctx *c, const char *type, const char *attrs, const char *opts) {
    value *x;
    cnn_status s;
    if ((s = onnx_check_attrs(c, attrs)) || (s = onnx_input(c, 0, 0, &x))) return s;
    char name[64];
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, type, name, &x, 1, x->rank, "%s", opts);
}

cnn_status onnx_alias(ctx *c, value *x) {
    value out = *x;
    out.name = c->node->output[0];
    return onnx_define(c, out);
}

static cnn_status op_identity(ctx *c) {
    cnn_status s = onnx_check_attrs(c, "");
    if (s) return s;
    if (!onnx_has_input(c->node, 0)) return onnx_refuse(c, "input 0 is missing");
    value *x = onnx_find(c, c->node->input[0]);
    if (!x) return onnx_refuse(c, "input '%s' is not defined before its use", c->node->input[0]);
    return onnx_alias(c, x);
}

static cnn_status op_constant(ctx *c) {
    cnn_status s;
    if ((s = onnx_check_attrs(c, "value,value_float,value_int,value_ints,value_floats"))) return s;
    onnx_tensor *t = NULL;
    const Onnx__AttributeProto *a;
    char what[256];
    snprintf(what, sizeof what, "node '%s' (Constant)", onnx_node_name(c->node));
    if ((a = onnx_attr(c->node, "value")) && a->t) {
        if ((s = onnx_tensor_decode(a->t, c->path, what, &t))) return s;
    } else {
        a = c->node->n_attribute ? c->node->attribute[0] : NULL;
        size_t n = !a ? 0 : a->has_f || a->has_i ? 1 : a->n_floats ? a->n_floats : a->n_ints;
        if (!a || !n) return onnx_refuse(c, "no value");
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
    if ((s = onnx_keep_const(c, t))) return s;
    return onnx_define(c, (value){.name = c->node->output[0], .layer = -2, .t = t});
}

static cnn_status op_dropout(ctx *c) {
    value *x, *r;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "ratio,seed")) || (s = extra_outputs_unused(c)) ||
        (s = onnx_input(c, 0, 0, &x)))
        return s;
    float p = onnx_attr_float(c->node, "ratio", 0.5f);
    if (onnx_has_input(c->node, 1)) {
        if ((s = onnx_input(c, 1, 1, &r)) || (s = onnx_float_const(c, r, "ratio"))) return s;
        if (r->t->count != 1) return onnx_refuse(c, "ratio must be a scalar");
        p = r->t->f[0];
    }
    if (!(p >= 0 && p < 1)) return onnx_refuse(c, "ratio %g is outside [0, 1)", p);
    if (p == 0) return onnx_alias(c, x);
    char name[64], opts[32];
    onnx_layer_name(c, NULL, name, sizeof name);
    snprintf(opts, sizeof opts, "p=%.9g", p);
    return onnx_emit(c, "dropout", name, &x, 1, x->rank, "%s", opts);
}

static cnn_status op_clip(ctx *c) {
    value *x, *b;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "min,max")) || (s = onnx_input(c, 0, 0, &x))) return s;
    const Onnx__AttributeProto *amin = onnx_attr(c->node, "min"), *amax = onnx_attr(c->node, "max");
    int has_lo = amin != NULL, has_hi = amax != NULL;
    float lo = amin ? amin->f : 0, hi = amax ? amax->f : 0;
    for (int k = 1; k <= 2; k++) {
        if (!onnx_has_input(c->node, (size_t)k)) continue;
        if ((s = onnx_input(c, (size_t)k, 1, &b)) ||
            (s = onnx_float_const(c, b, k == 1 ? "min" : "max")))
            return s;
        if (b->t->count != 1) return onnx_refuse(c, "%s must be a scalar", k == 1 ? "min" : "max");
        if (k == 1)
            has_lo = 1, lo = b->t->f[0];
        else
            has_hi = 1, hi = b->t->f[0];
    }
    char name[64], opts[96] = "";
    onnx_layer_name(c, NULL, name, sizeof name);
    if (has_lo && lo == 0 && !has_hi) return onnx_emit(c, "relu", name, &x, 1, x->rank, "%s", "");
    if (!has_lo && !has_hi) return onnx_alias(c, x);
    if ((has_lo && !isfinite(lo)) || (has_hi && !isfinite(hi)) || (has_lo && has_hi && lo > hi))
        return onnx_refuse(c, "bounds [%g, %g] are not finite and ordered", lo, hi);
    int k = 0;
    if (has_lo) k += snprintf(opts + k, sizeof opts - (size_t)k, "min=%.9g", lo);
    if (has_hi) snprintf(opts + k, sizeof opts - (size_t)k, "%smax=%.9g", k ? " " : "", hi);
    return onnx_emit(c, "clip", name, &x, 1, x->rank, "%s", opts);
}

static cnn_status op_flatten(ctx *c) {
    value *x;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "axis")) || (s = onnx_input(c, 0, 0, &x))) return s;
    int64_t axis = onnx_attr_int(c->node, "axis", 1);
    if (axis != 1 && !(x->rank == 4 && axis == -3) && !(x->rank == 2 && axis == -1))
        return onnx_refuse(c, "axis=%lld: only axis=1 (keep the batch) is supported",
                           (long long)axis);
    if (x->rank == 2) return onnx_alias(c, x);
    char name[64];
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, "flatten", name, &x, 1, 2, "%s", "");
}

/* Gemm: Y = alpha * A B' + beta * C with A (N,K) -> dense. MatMul: A B. */
static cnn_status op_gemm(ctx *c, int matmul) {
    value *x, *bv, *cv = NULL;
    cnn_status s;
    if ((s = onnx_check_attrs(c, matmul ? "" : "alpha,beta,transA,transB")) ||
        (s = onnx_input(c, 0, 0, &x)) || (s = onnx_input(c, 1, 1, &bv)) ||
        (s = onnx_float_const(c, bv, "B")))
        return s;
    if (!matmul && onnx_has_input(c->node, 2) &&
        ((s = onnx_input(c, 2, 1, &cv)) || (s = onnx_float_const(c, cv, "C"))))
        return s;
    if (x->rank != 2) return onnx_refuse(c, "the input must be 2-D (N,K); flatten it first");
    if (onnx_attr_int(c->node, "transA", 0)) return onnx_refuse(c, "transA=1 is not supported");
    int transb = matmul ? 0 : onnx_attr_int(c->node, "transB", 0) != 0;
    float alpha = onnx_attr_float(c->node, "alpha", 1), beta = onnx_attr_float(c->node, "beta", 1);
    const onnx_tensor *b = bv->t;
    int64_t kin = x->shape.c;
    if (b->ndim != 2) return onnx_refuse(c, "B must be a 2-D constant");
    int64_t units = transb ? b->dims[0] : b->dims[1], kb = transb ? b->dims[1] : b->dims[0];
    if (kb != kin)
        return onnx_refuse(c, "B has %lld inputs, the input has %lld", (long long)kb,
                           (long long)kin);
    if (cv &&
        !(cv->t->count == 1 || (cv->t->count == (size_t)units &&
                                (cv->t->ndim == 1 || (cv->t->ndim == 2 && cv->t->dims[0] == 1)))))
        return onnx_refuse(c, "C must be a scalar, (M) or (1,M) constant");
    char name[64];
    onnx_layer_name(c, bv, name, sizeof name);
    int bias = cv != NULL && beta != 0;
    if ((s = onnx_emit(c, "dense", name, &x, 1, 2, "units=%lld bias=%d", (long long)units, bias)))
        return s;
    float *w = malloc((size_t)units * (size_t)kin * sizeof *w);
    if (!w) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    for (int64_t u = 0; u < units; u++) /* ours is (units, K) */
        for (int64_t k = 0; k < kin; k++)
            w[u * kin + k] = alpha * (transb ? b->f[u * kin + k] : b->f[k * units + u]);
    if ((s = onnx_add_weight(c, name, "weight", w, (size_t)(units * kin)))) return s;
    if (!bias) return CNN_OK;
    float *bb = malloc((size_t)units * sizeof *bb);
    if (!bb) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", c->path);
    for (int64_t u = 0; u < units; u++)
        bb[u] = beta * cv->t->f[cv->t->count == 1 ? 0 : u];
    return onnx_add_weight(c, name, "bias", bb, (size_t)units);
}

/* Add/Sub/Mul/Div. Two computed tensors of one shape: add (Add only). One
 * constant, scalar or per channel: a fixed affine layer. */
static cnn_status op_arith(ctx *c, char op) {
    cnn_status s;
    if ((s = onnx_check_attrs(c, ""))) return s;
    if (!onnx_has_input(c->node, 0) || !onnx_has_input(c->node, 1))
        return onnx_refuse(c, "needs two inputs");
    value *a = onnx_find(c, c->node->input[0]), *b = onnx_find(c, c->node->input[1]);
    if (!a || !b) return onnx_refuse(c, "an input is not defined before its use");
    if (a->layer != -2 && b->layer != -2) {
        if ((s = onnx_input(c, 0, 0, &a)) || (s = onnx_input(c, 1, 0, &b))) return s;
        if (op != '+') return onnx_refuse(c, "of two computed tensors: only Add is supported");
        if (a->rank != b->rank || a->shape.c != b->shape.c || a->shape.h != b->shape.h ||
            a->shape.w != b->shape.w)
            return onnx_refuse(
                c, "shapes %dx%dx%d and %dx%dx%d differ; broadcasting is not supported", a->shape.c,
                a->shape.h, a->shape.w, b->shape.c, b->shape.h, b->shape.w);
        value *ins[2] = {a, b};
        char name[64];
        onnx_layer_name(c, NULL, name, sizeof name);
        return onnx_emit(c, "add", name, ins, 2, a->rank, "%s", "");
    }
    if (a->layer == -2 && b->layer == -2) return onnx_refuse(c, "both inputs are constants");
    int const_first = a->layer == -2;
    value *x, *k;
    if ((s = onnx_input(c, const_first ? 1 : 0, 0, &x)) ||
        (s = onnx_input(c, const_first ? 0 : 1, 1, &k)) ||
        (s = onnx_float_const(c, k, "the constant operand")))
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
            return onnx_refuse(c, "the constant operand '%s' does not broadcast per channel",
                               k->name);
    } else {
        return onnx_refuse(
            c,
            "the constant operand '%s' has %zu values; only a scalar or one value per "
            "channel (%d) is supported",
            k->name, t->count, ch);
    }
    if (t->ndim > x->rank)
        return onnx_refuse(c, "the constant operand has more dimensions than the input");
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
            return onnx_refuse(c, const_first ? "a constant divided by a tensor is not supported"
                                              : "division by zero");
        }
    }
    return onnx_emit_affine(c, x, x->rank, sc, sh, ch);
}

static cnn_status op_concat(ctx *c) {
    cnn_status s;
    if ((s = onnx_check_attrs(c, "axis"))) return s;
    if (c->node->n_input < 1 || c->node->n_input > CNN_MAX_INPUTS)
        return onnx_refuse(c, "%zu inputs (1 to %d supported)", c->node->n_input, CNN_MAX_INPUTS);
    value *ins[CNN_MAX_INPUTS];
    for (size_t i = 0; i < c->node->n_input; i++)
        if ((s = onnx_input(c, i, 0, &ins[i]))) return s;
    int rank = ins[0]->rank;
    int64_t axis = onnx_attr_int(c->node, "axis", 1);
    if (!(axis == 1 || (rank == 4 && axis == -3) || (rank == 2 && axis == -1)))
        return onnx_refuse(c, "axis=%lld: only the channel axis (1) is supported", (long long)axis);
    for (size_t i = 1; i < c->node->n_input; i++)
        if (ins[i]->rank != rank) return onnx_refuse(c, "inputs of different ranks");
    char name[64];
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, "concat", name, ins, (int)c->node->n_input, rank, "%s", "");
}

static cnn_status op_batchnorm(ctx *c) {
    value *x, *p[4];
    cnn_status s;
    if ((s = onnx_check_attrs(c, "epsilon,momentum,training_mode,spatial")) ||
        (s = extra_outputs_unused(c)) || (s = onnx_input(c, 0, 0, &x)))
        return s;
    if (onnx_attr_int(c->node, "spatial", 1) != 1)
        return onnx_refuse(c, "spatial=0 is not supported");
    static const char *const names[4] = {"scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 4; i++) {
        if ((s = onnx_input(c, (size_t)i + 1, 1, &p[i])) ||
            (s = onnx_float_const(c, p[i], names[i])))
            return s;
        if (p[i]->t->count != (size_t)x->shape.c)
            return onnx_refuse(c, "%s has %zu values for %d channels", names[i], p[i]->t->count,
                               x->shape.c);
    }
    float eps = onnx_attr_float(c->node, "epsilon", 1e-5f);
    float mom = onnx_attr_float(c->node, "momentum", 0.9f);
    if (!(eps > 0) || !(mom >= 0 && mom <= 1))
        return onnx_refuse(c, "epsilon or momentum out of range");
    char name[64];
    onnx_layer_name(c, p[0], name, sizeof name);
    /* ONNX: running = running * momentum + batch * (1 - momentum); torch's momentum is 1 - that. */
    if ((s = onnx_emit(c, "batchnorm", name, &x, 1, x->rank, "eps=%.9g momentum=%.6g", eps,
                       1.0 - mom)))
        return s;
    static const char *const suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        if ((s = add_weight_copy(c, name, suffix[i], p[i]->t->f, p[i]->t->count))) return s;
    return CNN_OK;
}

static cnn_status op_softmax(ctx *c) {
    value *x;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "axis")) || (s = onnx_input(c, 0, 0, &x))) return s;
    int old = c->m->opset < 13;
    int64_t axis = onnx_attr_int(c->node, "axis", old ? 1 : -1);
    if (axis < 0) axis += x->rank;
    int ok = axis == 1 && (x->rank == 2 || !old || (x->shape.h == 1 && x->shape.w == 1));
    if (!ok)
        return onnx_refuse(c,
                           "axis=%lld on a %d-D input: only the softmax over channels is supported",
                           (long long)onnx_attr_int(c->node, "axis", old ? 1 : -1), x->rank);
    char name[64];
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, "softmax", name, &x, 1, x->rank, "%s", "");
}

static cnn_status op_lrn(ctx *c) {
    value *x;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "alpha,beta,bias,size")) || (s = onnx_input(c, 0, 0, &x)))
        return s;
    int64_t size = onnx_attr_int(c->node, "size", 0);
    if (size < 1 || size > 4096) return onnx_refuse(c, "size must be given and positive");
    /* ONNX's channel window is [c - floor((size-1)/2), c + ceil((size-1)/2)], torch's
     * (and our lrn's) [c - floor(size/2), c + floor((size-1)/2)]: the same for odd
     * sizes, mirrored for even ones. */
    if (size % 2 == 0)
        return onnx_refuse(c,
                           "size=%lld: an even LRN window is placed differently in ONNX than "
                           "in this library's lrn layer (torch's)",
                           (long long)size);
    char name[64];
    onnx_layer_name(c, NULL, name, sizeof name);
    return onnx_emit(c, "lrn", name, &x, 1, x->rank, "size=%lld alpha=%.9g beta=%.9g k=%.9g",
                     (long long)size, onnx_attr_float(c->node, "alpha", 1e-4f),
                     onnx_attr_float(c->node, "beta", 0.75f),
                     onnx_attr_float(c->node, "bias", 1.0f));
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
    if ((s = onnx_check_attrs(c, "mode,pads,value")) || (s = onnx_input(c, 0, 0, &x))) return s;
    char mode[32];
    onnx_attr_str(c->node, "mode", mode, sizeof mode);
    if (mode[0] && strcmp(mode, "constant"))
        return onnx_refuse(c, "mode=%s is not supported", mode);
    int64_t p[8];
    int n;
    float value_ = onnx_attr_float(c->node, "value", 0);
    if (onnx_has_input(c->node, 1)) {
        if ((s = onnx_input(c, 1, 1, &pv))) return s;
        if (!pv->t->is_int || pv->t->count > 8) return onnx_refuse(c, "pads must be int64");
        n = (int)pv->t->count;
        for (int i = 0; i < n; i++)
            p[i] = pv->t->i[i];
    } else {
        n = onnx_attr_ints(c->node, "pads", p, 8);
    }
    if (onnx_has_input(c->node, 2)) {
        if ((s = onnx_input(c, 2, 1, &cv)) || (s = onnx_float_const(c, cv, "constant_value")))
            return s;
        if (cv->t->count != 1) return onnx_refuse(c, "constant_value must be a scalar");
        value_ = cv->t->f[0];
    }
    if (onnx_has_input(c->node, 3)) return onnx_refuse(c, "the axes input is not supported");
    if (!isfinite(value_)) return onnx_refuse(c, "padding with %g is not supported", value_);
    if (x->rank != 4 || n != 8) return onnx_refuse(c, "only 4-D inputs with 8 pads are supported");
    if (p[0] || p[1] || p[4] || p[5])
        return onnx_refuse(c, "padding the batch or channel axis is not supported");
    for (int i = 0; i < 8; i++)
        if (p[i] < 0 || p[i] > 4096) return onnx_refuse(c, "pads must be from 0 to 4096");
    int q[4] = {(int)p[2], (int)p[3], (int)p[6], (int)p[7]}; /* top, left, bottom, right */
    if (!q[0] && !q[1] && !q[2] && !q[3]) return onnx_alias(c, x);
    if (value_ == 0 && pad_foldable(c, c->node->output[0])) {
        value out = *x;
        out.name = c->node->output[0];
        for (int i = 0; i < 4; i++)
            out.pad[i] += q[i];
        return onnx_define(c, out);
    }
    return emit_pad(c, &x, q, value_);
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
        if (!onnx_has_input(n, k)) continue;
        value *v = onnx_find(c, n->input[k]);
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
        *s = onnx_refuse(c, "on constants: %s", err);
        return 1;
    }
    if ((*s = onnx_keep_const(c, t)) == CNN_OK)
        *s = onnx_define(c, (value){.name = n->output[0], .layer = -2, .t = t});
    return 1;
}

cnn_status onnx_translate_node(ctx *c) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return onnx_refuse(c, "operator domain '%s' is not supported", n->domain);
    if (n->n_output < 1 || !n->output[0] || !*n->output[0]) return onnx_refuse(c, "no output");
    cnn_status folded;
    if (try_fold(c, &folded) || onnx_pattern_node(c, &folded)) return folded;
    if (!strcmp(op, "Shape")) return onnx_op_shape(c);
    if (!strcmp(op, "If")) return onnx_op_if(c);
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
    if (!strcmp(op, "Reshape")) return onnx_op_reshape(c);
    if (!strcmp(op, "BatchNormalization")) return op_batchnorm(c);
    if (!strcmp(op, "Dropout")) return op_dropout(c);
    if (!strcmp(op, "Softmax")) return op_softmax(c);
    if (!strcmp(op, "LRN")) return op_lrn(c);
    if (!strcmp(op, "Pad")) return op_pad(c);
    if (!strcmp(op, "Identity")) return op_identity(c);
    if (!strcmp(op, "Constant")) return op_constant(c);
    if (!strcmp(op, "Clip")) return op_clip(c);
    return onnx_refuse(c, "operator %s is not supported (see docs/onnx.md)", op);
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
    return onnx_define(
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
            (s = onnx_keep_const(c, t)) ||
            (s = onnx_define(c, (value){.name = g->initializer[i]->name, .layer = -2, .t = t})))
            return s;
    }
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        if (onnx_find(c, g->input[i]->name)) continue; /* an initializer listed as input */
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
        if ((s = onnx_translate_node(c))) return s;
    }
    if (g->n_output != 1)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; one is supported",
                        c->path, g->n_output);
    value *out = onnx_find(c, g->output[0]->name);
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
