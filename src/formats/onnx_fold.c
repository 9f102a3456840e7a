/* onnx_fold.c — evaluate small nodes whose inputs are all constants.
 *
 * PyTorch exports some attributes as little subgraphs on constants rather
 * than as constants: nn.ZeroPad2d / F.pad at opset >= 11 compute Pad's pads
 * with ConstantOfShape, Concat, Reshape, Slice, Transpose and Cast, and
 * x.view(x.size(0), -1) computes its shape with Shape, Gather, Unsqueeze and
 * Concat. The importer folds such nodes into constants here, exactly (they
 * only move, compare or convert integers), so the node that reads them sees
 * a constant. The batch size is not known at import: an element that holds
 * it (onnx_tensor.sym) can be moved but never computed with. */
#include "onnx_internal.h"
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLD_MAX_ELEMS (1u << 20)

onnx_tensor *onnx_tensor_new(int is_int, int ndim, const int64_t *dims) {
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0 || dims[d] > FOLD_MAX_ELEMS) return NULL;
        count *= (size_t)dims[d];
        if (count > FOLD_MAX_ELEMS) return NULL;
    }
    onnx_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->count = count;
    t->is_int = is_int;
    if (is_int)
        t->i = calloc(count ? count : 1, sizeof *t->i);
    else
        t->f = calloc(count ? count : 1, sizeof *t->f);
    if (!t->i && !t->f) {
        free(t);
        return NULL;
    }
    return t;
}

static int is_sym(const onnx_tensor *t, size_t k) {
    return t->is_int && k < ONNX_MAX_SYM && (t->sym >> k & 1);
}

/* dst[di] = src[si], the batch-size mark included (onnx_fold refuses a
 * result with marks past ONNX_MAX_SYM). */
static void copy_elem(onnx_tensor *dst, size_t di, const onnx_tensor *src, size_t si) {
    if (dst->is_int) {
        dst->i[di] = src->i[si];
        if (is_sym(src, si) && di < ONNX_MAX_SYM) dst->sym |= (uint64_t)1 << di;
    } else {
        dst->f[di] = src->f[si];
    }
}

/* Axes from the attribute (older opsets) or input 1, normalised to [0, rank). */
static int read_axes(const Onnx__NodeProto *n, const onnx_tensor *const *in, int n_in, int rank,
                     int64_t *axes) {
    int k;
    if (n_in > 1 && in[1]) {
        if (!in[1]->is_int || in[1]->ndim > 1 || in[1]->count > ONNX_MAX_DIMS) return -1;
        k = (int)in[1]->count;
        for (int j = 0; j < k; j++)
            axes[j] = in[1]->i[j];
    } else {
        k = onnx_attr_ints(n, "axes", axes, ONNX_MAX_DIMS);
        if (k < 0) return -1;
    }
    for (int j = 0; j < k; j++) {
        if (axes[j] < 0) axes[j] += rank;
        if (axes[j] < 0 || axes[j] >= rank) return -1;
        for (int q = 0; q < j; q++)
            if (axes[q] == axes[j]) return -1;
    }
    return k;
}

/* Row-major strides of t. */
static void strides(const onnx_tensor *t, int64_t *s) {
    int64_t acc = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        s[d] = acc;
        acc *= t->dims[d];
    }
}

static int ints_of(const onnx_tensor *t, int64_t *out, int max) {
    if (!t || !t->is_int || t->ndim > 1 || t->count > (size_t)max) return -1;
    for (size_t k = 0; k < t->count; k++)
        out[k] = t->i[k];
    return (int)t->count;
}

static cnn_status fail(char *err, size_t len, const char *fmt, ...) CNN_PRINTF(3, 4);
static cnn_status fail(char *err, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return CNN_ERR_UNSUPPORTED;
}

cnn_status onnx_fold(const Onnx__NodeProto *n, const onnx_tensor *const *in, int n_in,
                     onnx_tensor **out, char *err, size_t errlen) {
    const char *op = n->op_type;
    onnx_tensor *t = NULL;
    int64_t dims[ONNX_MAX_DIMS];
    *out = NULL;
    /* Inputs from this one on are parameters (a shape, indices, axes): they
     * must be known numbers, not the batch size. */
    int arith =
        !strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div");
    int first_param =
        !strcmp(op, "ConstantOfShape") || !strcmp(op, "Equal") || arith ? 0
        : !strcmp(op, "Concat") || !strcmp(op, "Transpose")             ? n_in
        : !strcmp(op, "Cast")
            ? (onnx_attr_int(n, "to", 0) == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? n_in : 0)
            : 1;
    uint64_t any_sym = 0;
    for (int k = 0; k < n_in; k++) {
        if (!in[k] || !in[k]->sym) continue;
        if (k >= first_param)
            return fail(err, errlen,
                        "input %d holds the batch size, which is not known when the model is "
                        "imported; it can be moved (Shape, Gather, Unsqueeze, Concat) but not "
                        "computed with",
                        k);
        any_sym |= in[k]->sym;
    }
    if (!strcmp(op, "ConstantOfShape")) {
        int nd = ints_of(in[0], dims, ONNX_MAX_DIMS);
        if (nd < 0) return fail(err, errlen, "the shape must be a 1-D int64 constant");
        const Onnx__AttributeProto *a = onnx_attr(n, "value");
        onnx_tensor *val = NULL;
        if (a && a->t) {
            cnn_status s = onnx_tensor_decode(a->t, "", "value", &val);
            if (s != CNN_OK || val->count != 1) {
                onnx_tensor_free(val);
                return fail(err, errlen, "value must be one float32 or integer");
            }
        }
        t = onnx_tensor_new(val ? val->is_int : 0, nd, dims);
        for (size_t k = 0; t && val && k < t->count; k++)
            copy_elem(t, k, val, 0);
        onnx_tensor_free(val);
    } else if (!strcmp(op, "Cast")) {
        int64_t to = onnx_attr_int(n, "to", 0);
        if (to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
            to != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
            return fail(err, errlen, "only casts to float32 or int64 are folded");
        int to_int = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        if (!in[0]->is_int && to_int)
            return fail(err, errlen, "a float to int64 cast is not folded");
        t = onnx_tensor_new(to_int, in[0]->ndim, in[0]->dims);
        for (size_t k = 0; t && k < t->count; k++) {
            if (to_int)
                copy_elem(t, k, in[0], k);
            else
                t->f[k] = in[0]->is_int ? (float)in[0]->i[k] : in[0]->f[k];
        }
    } else if (!strcmp(op, "Concat")) {
        int64_t axis = onnx_attr_int(n, "axis", 0), total = 0;
        for (int k = 0; k < n_in; k++) {
            if (!in[k]) return fail(err, errlen, "an empty input name");
            if (in[k]->ndim != 1 || in[k]->is_int != in[0]->is_int)
                return fail(err, errlen, "only 1-D constants of one type are folded");
            total += in[k]->dims[0];
        }
        if (axis != 0 && axis != -1) return fail(err, errlen, "axis must be 0");
        t = onnx_tensor_new(in[0]->is_int, 1, &total);
        size_t at = 0;
        for (int k = 0; t && k < n_in; k++)
            for (size_t e = 0; e < in[k]->count; e++)
                copy_elem(t, at++, in[k], e);
    } else if (!strcmp(op, "Reshape")) {
        int nd = ints_of(in[1], dims, ONNX_MAX_DIMS);
        if (nd < 0) return fail(err, errlen, "the shape must be a 1-D int64 constant");
        int64_t known = 1;
        int minus = -1;
        for (int d = 0; d < nd; d++) {
            if (dims[d] == 0 && d < in[0]->ndim && !onnx_attr_int(n, "allowzero", 0))
                dims[d] = in[0]->dims[d];
            if (dims[d] == -1) {
                if (minus >= 0) return fail(err, errlen, "two -1 in the shape");
                minus = d;
            } else if (dims[d] < 0) {
                return fail(err, errlen, "a negative dimension");
            } else if (dims[d] > FOLD_MAX_ELEMS ||
                       (dims[d] && known > (int64_t)FOLD_MAX_ELEMS / dims[d])) {
                return fail(err, errlen, "the shape is too large to fold");
            } else {
                known *= dims[d];
            }
        }
        if (minus >= 0) dims[minus] = known ? (int64_t)in[0]->count / known : 0;
        t = onnx_tensor_new(in[0]->is_int, nd, dims);
        if (t && t->count != in[0]->count) {
            onnx_tensor_free(t);
            return fail(err, errlen, "the shape does not hold the same number of values");
        }
        for (size_t k = 0; t && k < t->count; k++)
            copy_elem(t, k, in[0], k);
    } else if (!strcmp(op, "Transpose")) {
        int64_t perm[ONNX_MAX_DIMS], s[ONNX_MAX_DIMS];
        int nd = in[0]->ndim, np = onnx_attr_ints(n, "perm", perm, ONNX_MAX_DIMS);
        if (np == 0)
            for (int d = 0; d < nd; d++)
                perm[d] = nd - 1 - d, np = nd;
        if (np != nd) return fail(err, errlen, "perm does not match the rank");
        int seen = 0;
        for (int d = 0; d < nd; d++) {
            if (perm[d] < 0 || perm[d] >= nd || (seen >> perm[d] & 1))
                return fail(err, errlen, "perm is not a permutation");
            seen |= 1 << perm[d];
            dims[d] = in[0]->dims[perm[d]];
        }
        strides(in[0], s);
        t = onnx_tensor_new(in[0]->is_int, nd, dims);
        for (size_t k = 0; t && k < t->count; k++) {
            size_t rem = k, src = 0;
            for (int d = nd - 1; d >= 0; d--) {
                src += (size_t)((int64_t)(rem % (size_t)dims[d]) * s[perm[d]]);
                rem /= (size_t)dims[d];
            }
            copy_elem(t, k, in[0], src);
        }
    } else if (!strcmp(op, "Slice")) {
        /* opset >= 10: data, starts, ends[, axes[, steps]] as inputs. */
        const onnx_tensor *x = in[0];
        int nd = x->ndim;
        int64_t st[ONNX_MAX_DIMS], en[ONNX_MAX_DIMS], ax[ONNX_MAX_DIMS], sp[ONNX_MAX_DIMS];
        int64_t start[ONNX_MAX_DIMS], step[ONNX_MAX_DIMS], s[ONNX_MAX_DIMS];
        if (n_in < 3) return fail(err, errlen, "starts and ends must be inputs (opset >= 10)");
        int k = ints_of(in[1], st, ONNX_MAX_DIMS);
        if (k < 0 || ints_of(in[2], en, ONNX_MAX_DIMS) != k ||
            (n_in > 3 && in[3] && ints_of(in[3], ax, ONNX_MAX_DIMS) != k) ||
            (n_in > 4 && in[4] && ints_of(in[4], sp, ONNX_MAX_DIMS) != k))
            return fail(err, errlen,
                        "starts, ends, axes and steps must be 1-D int64 of one length");
        for (int d = 0; d < nd; d++)
            start[d] = 0, step[d] = 1, dims[d] = x->dims[d];
        for (int j = 0; j < k; j++) {
            int64_t a = n_in > 3 && in[3] ? ax[j] : j, stp = n_in > 4 && in[4] ? sp[j] : 1;
            if (a < 0) a += nd;
            if (a < 0 || a >= nd || stp == 0) return fail(err, errlen, "bad axis or step");
            int64_t dim = x->dims[a], b = st[j], e = en[j];
            if (stp > dim) stp = dim + 1; /* the same slice, without overflow below */
            if (stp < -dim) stp = -dim - 1;
            if (b < 0) b += dim;
            if (e < 0 && e > INT64_MIN / 2) e += dim;
            if (stp > 0) {
                b = b < 0 ? 0 : b > dim ? dim : b;
                e = e < 0 ? 0 : e > dim ? dim : e;
                dims[a] = e > b ? (e - b + stp - 1) / stp : 0;
            } else {
                b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
                e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
                dims[a] = b > e ? (b - e - stp - 1) / -stp : 0;
            }
            start[a] = b;
            step[a] = stp;
        }
        strides(x, s);
        t = onnx_tensor_new(x->is_int, nd, dims);
        for (size_t q = 0; t && q < t->count; q++) {
            size_t rem = q;
            int64_t src = 0;
            for (int d = nd - 1; d >= 0; d--) {
                src += (start[d] + (int64_t)(rem % (size_t)dims[d]) * step[d]) * s[d];
                rem /= (size_t)dims[d];
            }
            copy_elem(t, q, x, (size_t)src);
        }
    } else if (!strcmp(op, "Gather")) {
        /* out = data.dims[:axis] + indices.dims + data.dims[axis+1:] */
        const onnx_tensor *x = in[0], *ix = n_in > 1 ? in[1] : NULL;
        int64_t axis = onnx_attr_int(n, "axis", 0), s[ONNX_MAX_DIMS];
        if (!ix || !ix->is_int) return fail(err, errlen, "the indices must be integers");
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis >= x->ndim) return fail(err, errlen, "axis is out of range");
        int nd = x->ndim - 1 + ix->ndim;
        if (nd > ONNX_MAX_DIMS) return fail(err, errlen, "the result has too many dimensions");
        for (int d = 0; d < axis; d++)
            dims[d] = x->dims[d];
        for (int d = 0; d < ix->ndim; d++)
            dims[axis + d] = ix->dims[d];
        for (int d = (int)axis + 1; d < x->ndim; d++)
            dims[d - 1 + ix->ndim] = x->dims[d];
        int64_t dim = x->dims[axis];
        for (size_t k = 0; k < ix->count; k++)
            if (ix->i[k] < -dim || ix->i[k] >= dim)
                return fail(err, errlen, "an index is out of range");
        strides(x, s);
        size_t inner = (size_t)s[axis], outer = x->count / (size_t)(dim ? dim * s[axis] : 1);
        t = onnx_tensor_new(x->is_int, nd, dims);
        size_t q = 0;
        for (size_t o = 0; t && dim && o < outer; o++)
            for (size_t k = 0; k < ix->count; k++) {
                int64_t j = ix->i[k] < 0 ? ix->i[k] + dim : ix->i[k];
                for (size_t e = 0; e < inner; e++)
                    copy_elem(t, q++, x, (o * (size_t)dim + (size_t)j) * inner + e);
            }
    } else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) {
        const onnx_tensor *x = in[0];
        int64_t axes[ONNX_MAX_DIMS];
        int unsq = op[0] == 'U', nd;
        if (unsq) {
            int k = n_in > 1 && in[1] ? (int)in[1]->count
                                      : onnx_attr_ints(n, "axes", axes, ONNX_MAX_DIMS);
            nd = x->ndim + k;
            if (k < 1 || nd > ONNX_MAX_DIMS || read_axes(n, in, n_in, nd, axes) != k)
                return fail(err, errlen,
                            "axes must be given, distinct and within the result's rank");
            for (int d = 0, from = 0; d < nd; d++) {
                int ins = 0;
                for (int j = 0; j < k; j++)
                    ins |= axes[j] == d;
                dims[d] = ins ? 1 : x->dims[from++];
            }
        } else {
            int k = (n_in > 1 && in[1]) || onnx_attr(n, "axes")
                        ? read_axes(n, in, n_in, x->ndim, axes)
                        : 0;
            if (k < 0)
                return fail(err, errlen, "axes must be distinct and within the input's rank");
            nd = 0;
            for (int d = 0; d < x->ndim; d++) {
                int drop = k == 0 && x->dims[d] == 1;
                for (int j = 0; j < k; j++)
                    drop |= axes[j] == d;
                if (drop && x->dims[d] != 1) return fail(err, errlen, "a squeezed axis is not 1");
                if (!drop) dims[nd++] = x->dims[d];
            }
        }
        t = onnx_tensor_new(x->is_int, nd, dims);
        for (size_t k = 0; t && k < t->count; k++)
            copy_elem(t, k, x, k);
    } else if (arith) {
        /* integers only (sizes computed from Shape: x.size(1) * x.size(2)) */
        const onnx_tensor *a = in[0], *b = n_in > 1 ? in[1] : NULL;
        if (!b || !a->is_int || !b->is_int) return fail(err, errlen, "only integers are folded");
        const onnx_tensor *big = b->count > a->count ? b : a;
        if ((a->count != 1 && a != big) || (b->count != 1 && b != big) ||
            (a->count != 1 && b->count != 1 &&
             (a->ndim != b->ndim || memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof *a->dims))))
            return fail(err, errlen, "only equal shapes or a single value are folded");
        int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
        for (int d = 0; d < nd; d++)
            dims[d] = 1;
        memcpy(dims + nd - big->ndim, big->dims, (size_t)big->ndim * sizeof *dims);
        t = onnx_tensor_new(1, nd, dims);
        for (size_t k = 0; t && k < t->count; k++) {
            int64_t u = a->i[a->count == 1 ? 0 : k], v = b->i[b->count == 1 ? 0 : k], r = 0;
            int bad = 0;
            switch (op[0]) {
            case 'A':
                bad = __builtin_add_overflow(u, v, &r);
                break;
            case 'S':
                bad = __builtin_sub_overflow(u, v, &r);
                break;
            case 'M':
                bad = __builtin_mul_overflow(u, v, &r);
                break;
            default: /* C truncates, numpy floors: the same for these only */
                bad = v <= 0 || u < 0;
                r = bad ? 0 : u / v;
            }
            if (bad) {
                onnx_tensor_free(t);
                return fail(err, errlen,
                            "integer overflow, or a division of a negative number or by a "
                            "number below 1");
            }
            t->i[k] = r;
        }
    } else if (!strcmp(op, "Equal")) {
        const onnx_tensor *a = in[0], *b = n_in > 1 ? in[1] : NULL;
        if (!b || a->is_int != b->is_int) return fail(err, errlen, "needs two inputs of one type");
        if (b->count == 1 && a->count != 1) {
            const onnx_tensor *tmp = a;
            a = b;
            b = tmp;
        }
        /* a is a single value or b's shape */
        if (a->count != 1 &&
            (a->ndim != b->ndim || memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof *a->dims)))
            return fail(err, errlen, "only equal shapes or a single value are compared");
        int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
        for (int d = 0; d < nd; d++)
            dims[d] = 1;
        memcpy(dims + nd - b->ndim, b->dims, (size_t)b->ndim * sizeof *dims);
        t = onnx_tensor_new(1, nd, dims);
        for (size_t k = 0; t && k < t->count; k++) {
            size_t ka = a->count == 1 ? 0 : k;
            t->i[k] = a->is_int ? a->i[ka] == b->i[k] : a->f[ka] == b->f[k];
        }
    } else {
        return fail(err, errlen, "not foldable");
    }
    if (!t) return fail(err, errlen, "the result is empty or too large");
    if (any_sym && t->count > ONNX_MAX_SYM) {
        onnx_tensor_free(t);
        return fail(err, errlen, "a result holding the batch size has too many values");
    }
    *out = t;
    return CNN_OK;
}
