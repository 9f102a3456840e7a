/* onnx_pattern.c — what the ONNX importer recognises beyond one node, one
 * layer (docs/onnx.md):
 *
 * - Shapes with a symbolic batch. Shape gives an int64 constant whose first
 *   element is marked as the batch size N (onnx_tensor.sym); Gather,
 *   Unsqueeze, Concat fold it on (onnx_fold.c), and a Reshape accepts a
 *   target that keeps N as axis 0: x.view(x.size(0), -1) is a flatten. A
 *   target that would move N into other axes is refused.
 * - Patterns: several primitive nodes that together compute what one layer
 *   does. Each step is a PENDING value that only the next step of the
 *   pattern may read; anything else reading it is refused, naming the node,
 *   and so is a step whose constants differ from what torch.onnx writes.
 *   torch's LocalResponseNorm (torch.nn.functional.local_response_norm on
 *   4-D input) becomes `lrn`; per-channel x[:, i] * a_i + b_i joined by
 *   Concat (torchvision GoogLeNet's transform_input) becomes `affine`.
 * - If with a condition known at import (torch exports squeeze(1) of an axis
 *   it cannot prove to be 1 as If(shape[1] == 1, Squeeze, Identity)): the
 *   branch taken is translated in its place. */
#include "onnx_ctx.h"
#include <stdlib.h>
#include <string.h>

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
cnn_status onnx_op_shape(ctx *c) {
    cnn_status s;
    if ((s = onnx_check_attrs(c, "start,end"))) return s;
    if (!onnx_has_input(c->node, 0)) return onnx_refuse(c, "input 0 is missing");
    value *x = onnx_find(c, c->node->input[0]);
    if (!x) return onnx_refuse(c, "input '%s' is not defined before its use", c->node->input[0]);
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
    if ((s = onnx_keep_const(c, t))) return s;
    return onnx_define(c, (value){.name = c->node->output[0], .layer = -2, .t = t});
}

static void shape_str(const onnx_tensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < t->count && k < len; i++) {
        if (i < ONNX_MAX_SYM && (t->sym >> i & 1))
            k += (size_t)snprintf(buf + k, len - k, "%sN", i ? "," : "");
        else if (!t->i) /* not an integer tensor (a fuzzed file): no values to show */
            k += (size_t)snprintf(buf + k, len - k, "%s?", i ? "," : "");
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
        return onnx_refuse(c, "the shape must be a 1-D int64 constant of 1 to %d values",
                           ONNX_MAX_DIMS);
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
            return onnx_refuse(c,
                               "the shape %s does not keep the batch as axis 0 (it would mix the "
                               "batch into other axes; the batch size is not known at import)",
                               str);
        }
        if (sym)
            return onnx_refuse(
                c,
                "the shape %s puts the batch size in axis %d: it would mix the batch "
                "into other axes, which is not supported",
                str, j);
        if (v == 0 && !az) {
            if (j >= rin) return onnx_refuse(c, "the shape %s copies an axis the input lacks", str);
            v = in[j];
        } else if (v == -1) {
            if (minus >= 0 || batch_minus)
                return onnx_refuse(c, "the shape %s has several unknown (-1) axes", str);
            minus = j;
            continue;
        } else if (v < 1 || v > (1 << 30)) {
            return onnx_refuse(c, "the shape %s has an invalid axis %d", str, j);
        }
        out[j] = v;
        known *= v;
        if (known > per) break;
    }
    if (minus >= 0) {
        if (known <= 0 || per % known)
            return onnx_refuse(c, "the shape %s does not divide the %lld values of a sample", str,
                               (long long)per);
        out[minus] = per / known;
        known = per;
    }
    if (known != per)
        return onnx_refuse(
            c,
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

cnn_status onnx_op_reshape(ctx *c) {
    value *x, *sh;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "allowzero")) || (s = onnx_input(c, 0, 0, &x)) ||
        (s = onnx_input(c, 1, 1, &sh)))
        return s;
    int64_t in[ONNX_MAX_DIMS], out[ONNX_MAX_DIMS];
    int rin = dims_of(x, in), rout;
    if ((s = reshape_target(c, in, rin, sh->t, out, &rout))) return s;
    if (rout == 2) {
        if (x->rank == 2) return onnx_alias(c, x);
        char name[64];
        onnx_layer_name(c, NULL, name, sizeof name);
        return onnx_emit(c, "flatten", name, &x, 1, 2, "%s", "");
    }
    if (same_dims(in, rin, out, rout)) return onnx_alias(c, x);
    if (rout == 4 && x->rank == 2 && out[2] == 1 && out[3] == 1) {
        value o = *x;
        o.name = c->node->output[0];
        o.rank = 4;
        return onnx_define(c, o);
    }
    char str[160];
    shape_str(sh->t, str, sizeof str);
    return onnx_refuse(c,
                       "only a reshape to (N, -1) (a flatten) or to the same shape is supported, "
                       "not to %s",
                       str);
}

/* ---- patterns ------------------------------------------------------------- */

/* A scalar float constant operand of node input k, or refuse. */
static cnn_status scalar_operand(ctx *c, size_t k, const char *what, float *v) {
    value *cv;
    cnn_status s;
    if ((s = onnx_input(c, k, 1, &cv)) || (s = onnx_float_const(c, cv, what))) return s;
    if (cv->t->count != 1) return onnx_refuse(c, "%s must be a single value", what);
    *v = cv->t->f[0];
    return CNN_OK;
}

/* Axes [1], from the attribute (opset < 13) or a constant input. */
static int axes_are_one(ctx *c) {
    int64_t a[ONNX_MAX_DIMS];
    int n = onnx_attr_ints(c->node, "axes", a, ONNX_MAX_DIMS);
    if (onnx_has_input(c->node, 1)) {
        value *v = onnx_find(c, c->node->input[1]);
        if (n || !v || v->layer != -2 || !v->t->is_int || v->t->sym || v->t->count != 1) return 0;
        a[0] = v->t->i[0];
        n = 1;
    }
    return n == 1 && a[0] == 1;
}

static cnn_status pattern_refuse(ctx *c, const value *p, const char *expect) {
    return onnx_refuse(
        c,
        "reads '%s', an intermediate value of the %s pattern that starts at node '%s'; "
        "as torch.onnx exports it, the pattern continues here with %s",
        p->name, p->pat == PAT_LRN ? "LocalResponseNorm" : "per-channel Gather", p->start, expect);
}

static cnn_status next_step(ctx *c, const value *p, int step) {
    value o = *p;
    o.name = c->node->output[0];
    o.step = step;
    return onnx_define(c, o);
}

/* A constant Pad of the 5-D LRN value with pads [0,0,b,0,0, 0,0,e,0,0]:
 * b, e in pb, pe. */
static cnn_status lrn_pads(ctx *c, int *pb, int *pe) {
    value *pv;
    cnn_status s;
    char mode[32];
    if ((s = onnx_check_attrs(c, "mode,pads,value"))) return s;
    onnx_attr_str(c->node, "mode", mode, sizeof mode);
    if (mode[0] && strcmp(mode, "constant")) return onnx_refuse(c, "mode=%s", mode);
    int64_t p[10];
    int n;
    float val = onnx_attr_float(c->node, "value", 0);
    if (onnx_has_input(c->node, 1)) {
        if ((s = onnx_input(c, 1, 1, &pv))) return s;
        if (!pv->t->is_int || pv->t->count != 10) return onnx_refuse(c, "pads must be 10 integers");
        n = 10;
        for (int i = 0; i < 10; i++)
            p[i] = pv->t->i[i];
    } else {
        n = onnx_attr_ints(c->node, "pads", p, 10);
    }
    if (onnx_has_input(c->node, 2) && (s = scalar_operand(c, 2, "constant_value", &val))) return s;
    if (onnx_has_input(c->node, 3)) return onnx_refuse(c, "the axes input is not supported");
    if (n != 10 || val != 0) return onnx_refuse(c, "expected 10 pads and the value 0");
    for (int i = 0; i < 10; i++)
        if (i != 2 && i != 7 && p[i])
            return onnx_refuse(c, "pads must be 0 except on the channel axis (2) of the 5-D value");
    if (p[2] < 0 || p[7] < 0 || p[2] > 4096 || p[7] > 4096)
        return onnx_refuse(c, "channel pads must be from 0 to 4096");
    *pb = (int)p[2];
    *pe = (int)p[7];
    return CNN_OK;
}

/* AveragePool over (size,1,1) windows with stride 1, no padding, no ceil. */
static cnn_status lrn_avgpool(ctx *c, const value *p) {
    cnn_status s;
    int64_t k[8], st[8], pd[8];
    char ap[32];
    if ((s = onnx_check_attrs(c, "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides")))
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
        return onnx_refuse(
            c,
            "the channel padding (%d before, %d after) is not torch's LocalResponseNorm "
            "padding for size %d (%d, %d)",
            p->pb, p->pe, size, size / 2, (size - 1) / 2);
    value o = *p;
    o.name = c->node->output[0];
    o.step = L_AVG;
    o.size = size;
    return onnx_define(c, o);
}

/* Reshape of a pattern value: must give exactly `want` (rank rw). */
static cnn_status pattern_reshape(ctx *c, const value *p, int rw, int step) {
    value *sh;
    cnn_status s;
    if ((s = onnx_check_attrs(c, "allowzero")) || (s = onnx_input(c, 1, 1, &sh))) return s;
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
        if ((s = onnx_check_attrs(c, "axes"))) return s;
        if (!axes_are_one(c)) return pattern_refuse(c, p, "an Unsqueeze of axis 1");
        return next_step(c, p, L_UNSQ);
    case L_UNSQ:
        if (strcmp(op, "Reshape")) break;
        return pattern_reshape(c, p, 5, L_R5);
    case L_R5:
    case L_PAD: {
        if (p->step == L_PAD && !strcmp(op, "AveragePool")) return lrn_avgpool(c, p);
        if (strcmp(op, "Pad")) break;
        int pb = 0, pe = 0;
        if ((s = lrn_pads(c, &pb, &pe))) return s;
        if (p->step == L_PAD && (pb || pe))
            return pattern_refuse(c, p, "a Pad of zeros or an AveragePool");
        value o = *p;
        o.name = c->node->output[0];
        o.step = L_PAD;
        if (p->step == L_R5) o.pb = pb, o.pe = pe;
        return onnx_define(c, o);
    }
    case L_AVG:
    case L_SQZ:
        if (p->step == L_AVG && !strcmp(op, "Squeeze")) {
            if ((s = onnx_check_attrs(c, "axes"))) return s;
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
        if ((s = onnx_check_attrs(c, ""))) return s;
        if ((s = scalar_operand(c, 1 - pi, p->step == L_R4 ? "alpha" : "k", &v))) return s;
        if (p->step == L_ADD && pi != 0) break;
        value o = *p;
        o.name = c->node->output[0];
        o.step = p->step + 1;
        if (p->step == L_R4) o.a = v;
        if (p->step == L_MUL) o.k = v;
        if (p->step == L_ADD) o.b = v;
        return onnx_define(c, o);
    }
    case L_POW: {
        if (strcmp(op, "Div") || pi != 1) break;
        value *x;
        if ((s = onnx_check_attrs(c, "")) || (s = onnx_input(c, 0, 0, &x))) return s;
        if (x->layer != p->src->layer || x->rank != 4)
            return onnx_refuse(c, "divides '%s', not the pattern's input '%s'", x->name,
                               p->src->name);
        char name[64];
        onnx_layer_name(c, NULL, name, sizeof name);
        return onnx_emit(c, "lrn", name, &x, 1, 4, "size=%d alpha=%.9g beta=%.9g k=%.9g", p->size,
                         p->a, p->b, p->k);
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
        if ((s = onnx_check_attrs(c, "axes"))) return s;
        if (!axes_are_one(c)) return pattern_refuse(c, p, "an Unsqueeze of axis 1");
        return next_step(c, p, C_UNSQ);
    }
    int mul = !strcmp(op, "Mul"), add = !strcmp(op, "Add"), sub = !strcmp(op, "Sub") && pi == 0;
    if ((mul && p->step == C_UNSQ) || ((add || sub) && p->step != C_ADD)) {
        if ((s = onnx_check_attrs(c, "")) ||
            (s = scalar_operand(c, 1 - pi, mul ? "the factor" : "the term", &v)))
            return s;
        value o = *p;
        o.name = c->node->output[0];
        o.step = mul ? C_MUL : C_ADD;
        if (mul)
            o.a = v;
        else
            o.b = sub ? -v : v; /* x - v is exactly x + (-v) */
        return onnx_define(c, o);
    }
    return pattern_refuse(c, p,
                          "at most one Mul by a constant, then at most one Add or Sub of a "
                          "constant, then a Concat of every channel in order");
}

/* Concat on axis 1 of every channel of one activation, in order, each
 * x[:, i] * a_i + b_i: an affine layer. */
static cnn_status chan_concat(ctx *c) {
    cnn_status s;
    if ((s = onnx_check_attrs(c, "axis"))) return s;
    size_t n = c->node->n_input;
    value *first = onnx_has_input(c->node, 0) ? onnx_find(c, c->node->input[0]) : NULL;
    int64_t axis = onnx_attr_int(c->node, "axis", 1);
    if (!first || first->layer != PENDING || first->pat != PAT_CHAN || first->step == C_GATHER ||
        (axis != 1 && axis != -3) || n != (size_t)first->src->shape.c)
        return onnx_refuse(c, "a Concat of channels taken by Gather must join every channel of one "
                              "tensor, in order, on axis 1");
    for (size_t i = 0; i < n; i++) {
        value *v = onnx_has_input(c->node, i) ? onnx_find(c, c->node->input[i]) : NULL;
        if (!v || v->layer != PENDING || v->pat != PAT_CHAN || v->step == C_GATHER ||
            v->src->layer != first->src->layer || v->ch != (int)i)
            return onnx_refuse(
                c,
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
        const value *v = onnx_find(c, c->node->input[i]);
        sc[i] = v->a;
        sh[i] = v->b;
    }
    return onnx_emit_affine(c, (value *)first->src, 4, sc, sh, ch);
}

/* Begin a pattern: x*x (LocalResponseNorm) or Gather of one channel. */
static cnn_status pattern_start(ctx *c, int pat) {
    value *x;
    cnn_status s;
    if ((s = onnx_check_attrs(c, pat == PAT_CHAN ? "axis" : "")) || (s = onnx_input(c, 0, 0, &x)))
        return s;
    if (x->rank != 4) return onnx_refuse(c, "the input must be 4-D (N,C,H,W)");
    value o = {.name = c->node->output[0],
               .layer = PENDING,
               .rank = 4,
               .shape = x->shape,
               .pat = pat,
               .step = pat == PAT_LRN ? L_SQ : C_GATHER,
               .src = x,
               .start = onnx_node_name(c->node),
               .a = 1};
    if (pat == PAT_CHAN) {
        value *iv;
        int64_t axis = onnx_attr_int(c->node, "axis", 0);
        if (axis != 1 && axis != -3)
            return onnx_refuse(c, "axis=%lld: only a Gather of one channel (axis 1) is supported",
                               (long long)axis);
        if ((s = onnx_input(c, 1, 1, &iv))) return s;
        if (!iv->t->is_int || iv->t->ndim != 0 || iv->t->i[0] < -x->shape.c ||
            iv->t->i[0] >= x->shape.c)
            return onnx_refuse(c, "the index must be one channel number (a 0-D integer constant)");
        o.ch = (int)(iv->t->i[0] < 0 ? iv->t->i[0] + x->shape.c : iv->t->i[0]);
    }
    return onnx_define(c, o);
}

/* Nodes that begin or continue a pattern: 1 if handled (*s the result). */
int onnx_pattern_node(ctx *c, cnn_status *s) {
    const Onnx__NodeProto *n = c->node;
    const char *op = n->op_type;
    value *p = NULL, *v;
    size_t pi = 0;
    if (!strcmp(op, "Shape") || !strcmp(op, "Identity")) return 0; /* exact on any value */
    for (size_t k = 0; k < n->n_input && !p; k++)
        if (onnx_has_input(n, k) && (v = onnx_find(c, n->input[k])) && v->layer == PENDING)
            p = v, pi = k;
    if (!p) {
        if (!strcmp(op, "Mul") && n->n_input == 2 && onnx_has_input(n, 0) && onnx_has_input(n, 1) &&
            !strcmp(n->input[0], n->input[1]) && (v = onnx_find(c, n->input[0])) &&
            v->layer != -2) {
            *s = pattern_start(c, PAT_LRN);
            return 1;
        }
        if (!strcmp(op, "Gather") && onnx_has_input(n, 0) && (v = onnx_find(c, n->input[0])) &&
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

/* torch.onnx exports squeeze(1) of an axis it cannot prove to be 1 as
 * If(shape[1] == 1, Squeeze, Identity). The condition folds to a constant
 * here, so the branch taken is translated in place of the If. */
cnn_status onnx_op_if(ctx *c) {
    value *cond;
    cnn_status s;
    const Onnx__NodeProto *n = c->node;
    if ((s = onnx_check_attrs(c, "then_branch,else_branch")) || (s = onnx_input(c, 0, 1, &cond)))
        return s;
    if (cond->t->count != 1)
        return onnx_refuse(c,
                           "the condition must be a single value known when the model is imported");
    int taken = cond->t->is_int ? cond->t->i[0] != 0 : cond->t->f[0] != 0;
    const Onnx__AttributeProto *a = onnx_attr(n, taken ? "then_branch" : "else_branch");
    if (!a || !a->g) return onnx_refuse(c, "the %s branch is missing", taken ? "then" : "else");
    const Onnx__GraphProto *g = a->g;
    if (g->n_output != n->n_output || c->depth >= 8)
        return onnx_refuse(c, "the branch has %zu outputs for %zu (or Ifs nest deeper than 8)",
                           g->n_output, n->n_output);
    for (size_t i = 0; i < g->n_node; i++) {
        if (!g->node[i]->op_type) return onnx_refuse(c, "a branch node without an op_type");
        for (size_t j = 0; j < g->node[i]->n_attribute; j++)
            if (!g->node[i]->attribute[j]->name)
                return onnx_refuse(c, "a branch attribute without a name");
    }
    for (size_t i = 0; i < g->n_output; i++)
        if (!g->output[i]->name || !n->output[i]) return onnx_refuse(c, "an output without a name");
    if (g->n_initializer || g->n_sparse_initializer)
        return onnx_refuse(c, "a branch with initializers is not supported");
    c->depth++;
    for (size_t i = 0; i < g->n_node && s == CNN_OK; i++) {
        c->node = g->node[i];
        s = onnx_translate_node(c);
    }
    c->depth--;
    c->node = n;
    if (s) return s;
    for (size_t i = 0; i < g->n_output; i++) {
        value *v = onnx_find(c, g->output[i]->name);
        if (!v) return onnx_refuse(c, "the branch output '%s' is not computed", g->output[i]->name);
        value o = *v;
        o.name = n->output[i];
        if ((s = onnx_define(c, o))) return s;
    }
    return CNN_OK;
}
