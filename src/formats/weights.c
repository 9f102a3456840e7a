/* weights.c — the binary weights / checkpoint file (docs/weights-format.md).
 *
 *   offset 0   "CNNWEIGH"                      8 bytes magic
 *          8   u32 version (1)
 *         12   u32 tensor count
 *         16   tensors, each:
 *                u16 name length, name bytes ("conv1.weight")
 *                u8 kind (0 parameter, 1 buffer, 2 extra state, ignored by weight loading)
 *                u8 ndim (1..4), u32 dims[ndim]
 *                f32 data[prod(dims)]
 *        end   u32 CRC-32 (zlib) of every byte before it
 *
 * All integers and floats little-endian. Saving writes a temporary file and
 * renames it over the target, so a crash never leaves half a file. Loading
 * checks everything into a copy first: on any error the net is unchanged. */
#include "../graph/net_internal.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "weights.c assumes a little-endian host"
#endif

#define MAGIC "CNNWEIGH"
#define VERSION 1u
#define MAX_FILE_BYTES ((size_t)16 << 30)

typedef struct {
    char name[128];
    cnn_tensor_desc d;
    float *data; /* where the values live in the net */
    size_t count;
} tensor_ref;

/* Every tensor of the net, in order. *out is malloc'd. */
static cnn_status net_tensors(const cnn_net *net, tensor_ref **out, int *count) {
    int n = 0, cap = net->n_layers * CNN_MAX_TENSORS + 1;
    tensor_ref *t = calloc((size_t)cap, sizeof *t);
    if (!t) return cnn_fail(CNN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < net->n_layers; i++) {
        const cnn_layer *l = &net->layers[i];
        cnn_tensor_desc d[CNN_MAX_TENSORS];
        int k = l->ops->tensors ? l->ops->tensors(l, d) : 0;
        for (int j = 0; j < k; j++) {
            tensor_ref *r = &t[n++];
            snprintf(r->name, sizeof r->name, "%s.%s", l->name, d[j].suffix);
            r->d = d[j];
            r->count = 1;
            for (int m = 0; m < d[j].ndim; m++) r->count *= (size_t)d[j].dims[m];
            r->data = (d[j].buffer ? l->buffers : l->params) + d[j].offset;
        }
    }
    *out = t;
    *count = n;
    return CNN_OK;
}

static int put(FILE *f, const void *p, size_t n, uLong *crc) {
    *crc = crc32(*crc, p, (uInt)n);
    return fwrite(p, 1, n, f) == n;
}

cnn_status cnn_net_save_weights(const cnn_net *net, const char *path) {
    return cnn_net_save_weights_extra(net, path, NULL, 0);
}

cnn_status cnn_net_save_weights_extra(const cnn_net *net, const char *path,
                                      const cnn_extra_tensor *extra, int n_extra) {
    if (!net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is not built", path);
    tensor_ref *t;
    int n;
    cnn_status s = net_tensors(net, &t, &n);
    if (s != CNN_OK) return s;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(t);
        return cnn_fail(CNN_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    uLong crc = crc32(0, NULL, 0);
    uint32_t version = VERSION, count = (uint32_t)(n + n_extra);
    int ok = put(f, MAGIC, 8, &crc) && put(f, &version, 4, &crc) && put(f, &count, 4, &crc);
    for (int i = 0; i < n && ok; i++) {
        uint16_t len = (uint16_t)strlen(t[i].name);
        uint8_t kind = (uint8_t)t[i].d.buffer, ndim = (uint8_t)t[i].d.ndim;
        uint32_t dims[4];
        for (int m = 0; m < ndim; m++) dims[m] = (uint32_t)t[i].d.dims[m];
        ok = put(f, &len, 2, &crc) && put(f, t[i].name, len, &crc) && put(f, &kind, 1, &crc) &&
             put(f, &ndim, 1, &crc) && put(f, dims, 4u * ndim, &crc);
        /* crc32 takes uInt lengths: feed the data in chunks. */
        for (size_t off = 0; off < t[i].count && ok; off += (1u << 26)) {
            size_t m = t[i].count - off < (1u << 26) ? t[i].count - off : (1u << 26);
            ok = put(f, t[i].data + off, m * sizeof(float), &crc);
        }
    }
    for (int i = 0; i < n_extra && ok; i++) {
        uint16_t len = (uint16_t)strlen(extra[i].name);
        uint8_t kind = 2, ndim = 1;
        uint32_t dim = extra[i].words;
        ok = put(f, &len, 2, &crc) && put(f, extra[i].name, len, &crc) && put(f, &kind, 1, &crc) &&
             put(f, &ndim, 1, &crc) && put(f, &dim, 4, &crc);
        for (size_t off = 0; off < dim && ok; off += (1u << 26)) {
            size_t m = dim - off < (1u << 26) ? dim - off : (1u << 26);
            ok = put(f, (const uint32_t *)extra[i].data + off, m * 4, &crc);
        }
    }
    uint32_t c32 = (uint32_t)crc;
    ok = ok && fwrite(&c32, 4, 1, f) == 1 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    free(t);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cnn_fail(CNN_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return CNN_OK;
}

/* A bounded reader over the file's bytes; size is the whole file, for messages. */
typedef struct {
    const unsigned char *p;
    size_t len, off, size;
    const char *path;
} reader;

static cnn_status take(reader *r, void *dst, size_t n, const char *what) {
    if (n > r->len - r->off)
        return cnn_fail(CNN_ERR_FORMAT,
                        "%s: truncated at offset %zu: %s needs %zu bytes, %zu left (file is %zu "
                        "bytes)",
                        r->path, r->off, what, n, r->len - r->off, r->size);
    memcpy(dst, r->p + r->off, n);
    r->off += n;
    return CNN_OK;
}


/* One tensor record of a file, as the parser hands it to a visitor. */
typedef struct {
    char name[1024];
    uint8_t kind, ndim;
    uint32_t dims[4];
    size_t elems;
    size_t offset;              /* of the record, for messages */
    const unsigned char *data;  /* elems little-endian floats */
    size_t data_offset;
} record;

typedef cnn_status (*visit_fn)(void *ctx, const record *rec);

/* Read path and check it whole (magic, version, checksum, every record's
 * bounds, nothing trailing), calling visit for each tensor in order. */
static cnn_status parse_file(const char *path, visit_fn visit, void *ctx) {
    unsigned char *bytes = NULL;
    size_t len = 0;
    cnn_status s = cnn_read_file(path, MAX_FILE_BYTES, "weights file", &bytes, &len);
    if (s != CNN_OK) return s;
    reader r = {bytes, len, 0, len, path};
    char magic[8];
    uint32_t version, count = 0, stored;
    if ((s = take(&r, magic, 8, "the magic number")) == CNN_OK && memcmp(magic, MAGIC, 8) != 0)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: offset 0: not a cnn weights file (bad magic number)",
                     path);
    if (s == CNN_OK && (s = take(&r, &version, 4, "the version")) == CNN_OK && version != VERSION)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: offset 8: version %u, this library reads version %u",
                     path, version, VERSION);
    if (s == CNN_OK) s = take(&r, &count, 4, "the tensor count");
    if (s == CNN_OK && len < 20) s = cnn_fail(CNN_ERR_FORMAT, "%s: truncated: %zu bytes", path, len);
    if (s == CNN_OK) {
        memcpy(&stored, bytes + len - 4, 4);
        uLong crc = crc32(0, NULL, 0);
        for (size_t off = 0; off < len - 4; off += (1u << 30)) {
            size_t m = len - 4 - off < (1u << 30) ? len - 4 - off : (1u << 30);
            crc = crc32(crc, bytes + off, (uInt)m);
        }
        r.len = len - 4; /* the tensors end before the checksum */
        if ((uint32_t)crc != stored)
            s = cnn_fail(CNN_ERR_FORMAT,
                         "%s: checksum mismatch (stored %08x, computed %08x): the file is "
                         "corrupt or truncated",
                         path, stored, (uint32_t)crc);
    }
    record rec;
    for (uint32_t i = 0; i < count && s == CNN_OK; i++) {
        uint16_t nlen;
        rec.offset = r.off;
        if ((s = take(&r, &nlen, 2, "a tensor name length"))) break;
        if (nlen >= sizeof rec.name) {
            s = cnn_fail(CNN_ERR_FORMAT, "%s: offset %zu: a tensor name of %u bytes (at most %zu)",
                         path, rec.offset, (unsigned)nlen, sizeof rec.name - 1);
            break;
        }
        if ((s = take(&r, rec.name, nlen, "a tensor name"))) break;
        rec.name[nlen] = 0;
        if ((s = take(&r, &rec.kind, 1, "a tensor kind")) ||
            (s = take(&r, &rec.ndim, 1, "a tensor rank")))
            break;
        if (rec.ndim < 1 || rec.ndim > 4 || rec.kind > 2) {
            s = cnn_fail(CNN_ERR_FORMAT, "%s: offset %zu: tensor '%s': bad rank %u or kind %u", path,
                         rec.offset, rec.name, rec.ndim, rec.kind);
            break;
        }
        if ((s = take(&r, rec.dims, 4u * rec.ndim, "tensor dimensions"))) break;
        rec.elems = 1;
        for (int m = 0; m < rec.ndim && s == CNN_OK; m++)
            if (!cnn_mul_size(rec.elems, rec.dims[m], &rec.elems) || rec.elems > len)
                s = cnn_fail(CNN_ERR_FORMAT,
                             "%s: offset %zu: tensor '%s' declares more values than the file holds",
                             path, rec.offset, rec.name);
        if (s == CNN_OK && rec.elems * 4 > r.len - r.off)
            s = cnn_fail(CNN_ERR_FORMAT,
                         "%s: truncated: tensor '%s' needs %zu bytes at offset %zu, %zu left", path,
                         rec.name, rec.elems * 4, r.off, r.len - r.off);
        if (s != CNN_OK) break;
        rec.data = bytes + r.off;
        rec.data_offset = r.off;
        r.off += rec.elems * 4;
        s = visit(ctx, &rec);
    }
    if (s == CNN_OK && r.off != r.len)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: %zu unexpected bytes after the last tensor at offset %zu",
                     path, r.len - r.off, r.off);
    free(bytes);
    return s;
}

/* Loading weights: each record into a copy of the parameters and buffers. */
typedef struct {
    const cnn_net *net;
    const char *path;
    tensor_ref *t;
    int n;
    unsigned char *found;
    float *params, *buffers;
} weights_ctx;

static void shape_str(char *buf, size_t len, int ndim, const int *dims32, const uint32_t *dimsu) {
    size_t k = 0;
    buf[0] = 0;
    for (int m = 0; m < ndim && k < len; m++)
        k += (size_t)snprintf(buf + k, len - k, "%s%ld", m ? "x" : "",
                              dims32 ? (long)dims32[m] : (long)dimsu[m]);
}

static cnn_status visit_weight(void *p, const record *rec) {
    weights_ctx *c = p;
    if (rec->kind == 2) return CNN_OK; /* optimizer state and the like: not weights */
    int j = 0;
    while (j < c->n && strcmp(c->t[j].name, rec->name)) j++;
    if (j == c->n)
        return cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' is not in the model %s", c->path, rec->name,
                        c->net->filename);
    const cnn_tensor_desc *d = &c->t[j].d;
    if (rec->kind != (uint8_t)d->buffer)
        return cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' is stored as a %s, the model %s has a %s",
                        c->path, rec->name, rec->kind ? "buffer" : "parameter", c->net->filename,
                        d->buffer ? "buffer" : "parameter");
    int same = rec->ndim == d->ndim;
    for (int m = 0; m < rec->ndim && same; m++) same = rec->dims[m] == (uint32_t)d->dims[m];
    if (!same) {
        char want[64], got[64];
        shape_str(want, sizeof want, d->ndim, d->dims, NULL);
        shape_str(got, sizeof got, rec->ndim, NULL, rec->dims);
        return cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' has shape %s, the model %s expects %s",
                        c->path, rec->name, got, c->net->filename, want);
    }
    if (c->found[j]) return cnn_fail(CNN_ERR_FORMAT, "%s: tensor '%s' appears twice", c->path, rec->name);
    c->found[j] = 1;
    const float *base = d->buffer ? c->net->buffers : c->net->params;
    float *dst = (d->buffer ? c->buffers : c->params) + (c->t[j].data - base);
    memcpy(dst, rec->data, rec->elems * 4);
    for (size_t k = 0; k < rec->elems; k++)
        if (!isfinite(dst[k]))
            return cnn_fail(CNN_ERR_NUMERIC, "%s: tensor '%s' holds NaN or Inf at index %zu (offset %zu)",
                            c->path, rec->name, k, rec->data_offset + 4 * k);
    return CNN_OK;
}

cnn_status cnn_net_load_weights(cnn_net *net, const char *path) {
    if (!net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is not built", path);
    weights_ctx c = {net, path, NULL, 0, NULL, cnn_alloc_floats(net->n_params),
                     cnn_alloc_floats(net->n_buffers)};
    cnn_status s = CNN_OK;
    if (!c.params || !c.buffers) s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    if (s == CNN_OK) s = net_tensors(net, &c.t, &c.n);
    if (s == CNN_OK && !(c.found = calloc((size_t)c.n + 1, 1)))
        s = cnn_fail(CNN_ERR_NOMEM, "out of memory");
    if (s == CNN_OK) s = parse_file(path, visit_weight, &c);
    for (int j = 0; j < c.n && s == CNN_OK; j++)
        if (!c.found[j])
            s = cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' of the model %s is missing", path,
                         c.t[j].name, net->filename);
    if (s == CNN_OK) { /* everything checked: only now is the net touched */
        memcpy(net->params, c.params, net->n_params * sizeof(float));
        memcpy(net->buffers, c.buffers, net->n_buffers * sizeof(float));
    }
    free(c.found);
    free(c.t);
    cnn_free_floats(c.params);
    cnn_free_floats(c.buffers);
    return s;
}

/* Reading the extra (kind 2) tensors of a checkpoint into slots. */
typedef struct {
    const char *path;
    cnn_extra_slot *slots;
    int n_slots;
} extra_ctx;

static cnn_status visit_extra(void *p, const record *rec) {
    extra_ctx *c = p;
    if (rec->kind != 2) return CNN_OK;
    for (int j = 0; j < c->n_slots; j++) {
        if (strcmp(c->slots[j].name, rec->name)) continue;
        if (rec->ndim != 1 || rec->dims[0] != c->slots[j].words)
            return cnn_fail(CNN_ERR_FORMAT, "%s: tensor '%s' at offset %zu has %zu values, expected %u",
                            c->path, rec->name, rec->offset, rec->elems, c->slots[j].words);
        memcpy(c->slots[j].data, rec->data, rec->elems * 4);
        c->slots[j].found = 1;
    }
    return CNN_OK;
}

cnn_status cnn_weights_read_extra(const char *path, cnn_extra_slot *slots, int n_slots) {
    for (int i = 0; i < n_slots; i++) slots[i].found = 0;
    extra_ctx c = {path, slots, n_slots};
    cnn_status s = parse_file(path, visit_extra, &c);
    for (int j = 0; j < n_slots && s == CNN_OK; j++)
        if (!slots[j].found && !slots[j].optional)
            s = cnn_fail(CNN_ERR_FORMAT, "%s: no tensor '%s' (not a checkpoint?)", path,
                         slots[j].name);
    return s;
}
