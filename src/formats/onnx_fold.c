/* onnx_fold.c — evaluate small nodes whose inputs are all constants.
 *
 * PyTorch exports some attributes as little subgraphs on constants rather
 * than as constants: nn.ZeroPad2d / F.pad at opset >= 11 compute Pad's pads
 * with ConstantOfShape, Concat, Reshape, Slice, Transpose and Cast. The
 * importer folds such nodes into constants here, exactly (they only move or
 * convert integers), so the Pad that reads them sees a constant. */
#include "onnx_internal.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define FOLD_MAX_ELEMS (1u << 20)

static onnx_tensor *new_tensor(int is_int, int ndim, const int64_t *dims) {
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

static void copy_elem(onnx_tensor *dst, size_t di, const onnx_tensor *src, size_t si) {
    if (dst->is_int)
        dst->i[di] = src->i[si];
    else
        dst->f[di] = src->f[si];
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

static cnn_status fail(char *err, size_t len, const char *msg) {
    snprintf(err, len, "%s", msg);
    return CNN_ERR_UNSUPPORTED;
}

cnn_status onnx_fold(const Onnx__NodeProto *n, const onnx_tensor *const *in, int n_in,
                     onnx_tensor **out, char *err, size_t errlen) {
    const char *op = n->op_type;
    onnx_tensor *t = NULL;
    int64_t dims[ONNX_MAX_DIMS];
    *out = NULL;
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
        t = new_tensor(val ? val->is_int : 0, nd, dims);
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
        t = new_tensor(to_int, in[0]->ndim, in[0]->dims);
        for (size_t k = 0; t && k < t->count; k++) {
            if (to_int)
                t->i[k] = in[0]->i[k];
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
        t = new_tensor(in[0]->is_int, 1, &total);
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
        t = new_tensor(in[0]->is_int, nd, dims);
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
        t = new_tensor(in[0]->is_int, nd, dims);
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
        t = new_tensor(x->is_int, nd, dims);
        for (size_t q = 0; t && q < t->count; q++) {
            size_t rem = q;
            int64_t src = 0;
            for (int d = nd - 1; d >= 0; d--) {
                src += (start[d] + (int64_t)(rem % (size_t)dims[d]) * step[d]) * s[d];
                rem /= (size_t)dims[d];
            }
            copy_elem(t, q, x, (size_t)src);
        }
    } else {
        return fail(err, errlen, "not foldable");
    }
    if (!t) return fail(err, errlen, "the result is empty or too large");
    *out = t;
    return CNN_OK;
}
