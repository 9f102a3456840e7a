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

/* A bounded reader over the file's bytes. */
typedef struct {
    const unsigned char *p;
    size_t len, off;
    const char *path;
} reader;

static cnn_status take(reader *r, void *dst, size_t n, const char *what) {
    if (n > r->len - r->off)
        return cnn_fail(CNN_ERR_FORMAT,
                        "%s: truncated at offset %zu: %s needs %zu bytes, %zu left (file is %zu "
                        "bytes)",
                        r->path, r->off, what, n, r->len - r->off, r->len);
    memcpy(dst, r->p + r->off, n);
    r->off += n;
    return CNN_OK;
}

/* A tensor's name (u16 length, bytes) into name[1024], NUL-terminated; at is
 * the tensor's offset, for messages. A longer name is refused, not truncated. */
static cnn_status take_name(reader *r, size_t at, char name[1024]) {
    uint16_t nlen;
    cnn_status s = take(r, &nlen, 2, "a tensor name length");
    if (s != CNN_OK) return s;
    if (nlen >= 1024)
        return cnn_fail(CNN_ERR_FORMAT, "%s: offset %zu: a tensor name of %u bytes (at most 1023)",
                        r->path, at, (unsigned)nlen);
    if ((s = take(r, name, nlen, "a tensor name")) != CNN_OK) return s;
    name[nlen] = 0;
    return CNN_OK;
}

static cnn_status read_file(const char *path, unsigned char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return cnn_fail(CNN_ERR_IO, "%s: cannot determine the file size", path);
    }
    if ((size_t)size > MAX_FILE_BYTES) {
        fclose(f);
        return cnn_fail(CNN_ERR_FORMAT, "%s: %ld bytes is larger than any weights file allowed",
                        path, size);
    }
    unsigned char *p = malloc((size_t)size + 1);
    if (!p) {
        fclose(f);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, size);
    }
    size_t got = fread(p, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(p);
        return cnn_fail(CNN_ERR_IO, "%s: read error", path);
    }
    *data = p;
    *len = got;
    return CNN_OK;
}

cnn_status cnn_net_load_weights(cnn_net *net, const char *path) {
    if (!net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is not built", path);
    unsigned char *bytes = NULL;
    size_t len = 0;
    cnn_status s = read_file(path, &bytes, &len);
    if (s != CNN_OK) return s;
    tensor_ref *t = NULL;
    int n = 0;
    float *params = cnn_alloc_floats(net->n_params), *buffers = cnn_alloc_floats(net->n_buffers);
    unsigned char *found = NULL;
    reader r = {bytes, len, 0, path};
    char magic[8];
    uint32_t version, count;
    if (!params || !buffers) s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    if (s == CNN_OK && (s = take(&r, magic, 8, "the magic number")) == CNN_OK &&
        memcmp(magic, MAGIC, 8) != 0)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: offset 0: not a cnn weights file (bad magic number)",
                     path);
    if (s == CNN_OK && (s = take(&r, &version, 4, "the version")) == CNN_OK && version != VERSION)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: offset 8: version %u, this library reads version %u",
                     path, version, VERSION);
    if (s == CNN_OK) s = take(&r, &count, 4, "the tensor count");
    if (s == CNN_OK) {
        uint32_t stored;
        if (len < 20) {
            s = cnn_fail(CNN_ERR_FORMAT, "%s: truncated: %zu bytes", path, len);
        } else {
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
    }
    if (s == CNN_OK) s = net_tensors(net, &t, &n);
    if (s == CNN_OK && !(found = calloc((size_t)n + 1, 1)))
        s = cnn_fail(CNN_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < count && s == CNN_OK; i++) {
        size_t at = r.off;
        uint8_t kind, ndim;
        uint32_t dims[4];
        char name[1024];
        if ((s = take_name(&r, at, name))) break;
        if ((s = take(&r, &kind, 1, "a tensor kind")) || (s = take(&r, &ndim, 1, "a tensor rank")))
            break;
        if (ndim < 1 || ndim > 4 || kind > 2) {
            s = cnn_fail(CNN_ERR_FORMAT, "%s: offset %zu: tensor '%s': bad rank %u or kind %u", path,
                         at, name, ndim, kind);
            break;
        }
        if ((s = take(&r, dims, 4u * ndim, "tensor dimensions"))) break;
        size_t elems = 1;
        for (int m = 0; m < ndim; m++)
            if (!cnn_mul_size(elems, dims[m], &elems) || elems > len) {
                s = cnn_fail(CNN_ERR_FORMAT, "%s: offset %zu: tensor '%s' declares more values "
                             "than the file holds", path, at, name);
                break;
            }
        if (s != CNN_OK) break;
        if (elems * 4 > r.len - r.off) {
            s = cnn_fail(CNN_ERR_FORMAT,
                         "%s: truncated: tensor '%s' needs %zu bytes at offset %zu, %zu left", path,
                         name, elems * 4, r.off, r.len - r.off);
            break;
        }
        const unsigned char *data = bytes + r.off;
        r.off += elems * 4;
        if (kind == 2) continue; /* optimizer state and the like: not weights */
        int j = 0;
        while (j < n && strcmp(t[j].name, name)) j++;
        if (j == n) {
            s = cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' is not in the model %s", path, name,
                         net->filename);
            break;
        }
        int same = ndim == t[j].d.ndim && kind == (uint8_t)t[j].d.buffer;
        for (int m = 0; m < ndim && same; m++) same = dims[m] == (uint32_t)t[j].d.dims[m];
        if (!same) {
            char want[64], got[64];
            int a = 0, b = 0;
            for (int m = 0; m < t[j].d.ndim; m++)
                a += snprintf(want + a, sizeof want - (size_t)a, "%s%d", m ? "x" : "", t[j].d.dims[m]);
            for (int m = 0; m < ndim; m++)
                b += snprintf(got + b, sizeof got - (size_t)b, "%s%u", m ? "x" : "", dims[m]);
            s = cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' has shape %s, the model %s expects %s",
                         path, name, got, net->filename, want);
            break;
        }
        if (found[j]) {
            s = cnn_fail(CNN_ERR_FORMAT, "%s: tensor '%s' appears twice", path, name);
            break;
        }
        found[j] = 1;
        float *dst = (t[j].d.buffer ? buffers : params) + (t[j].data - (t[j].d.buffer ? net->buffers : net->params));
        memcpy(dst, data, elems * 4);
        for (size_t k = 0; k < elems; k++)
            if (!isfinite(dst[k])) {
                s = cnn_fail(CNN_ERR_NUMERIC, "%s: tensor '%s' holds NaN or Inf at index %zu "
                             "(offset %zu)", path, name, k, (size_t)(data - bytes) + 4 * k);
                break;
            }
    }
    if (s == CNN_OK && r.off != r.len)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: %zu unexpected bytes after the last tensor at offset %zu",
                     path, r.len - r.off, r.off);
    for (int j = 0; j < n && s == CNN_OK; j++)
        if (!found[j])
            s = cnn_fail(CNN_ERR_SHAPE, "%s: tensor '%s' of the model %s is missing", path,
                         t[j].name, net->filename);
    if (s == CNN_OK) {
        memcpy(net->params, params, net->n_params * sizeof(float));
        memcpy(net->buffers, buffers, net->n_buffers * sizeof(float));
    }
    free(found);
    free(t);
    cnn_free_floats(params);
    cnn_free_floats(buffers);
    free(bytes);
    return s;
}

cnn_status cnn_weights_read_extra(const char *path, cnn_extra_slot *slots, int n_slots) {
    unsigned char *bytes;
    size_t len;
    cnn_status s = read_file(path, &bytes, &len);
    if (s != CNN_OK) return s;
    for (int i = 0; i < n_slots; i++) slots[i].found = 0;
    reader r = {bytes, len, 0, path};
    char magic[8];
    uint32_t version, count, stored;
    if (len < 20) s = cnn_fail(CNN_ERR_FORMAT, "%s: truncated: %zu bytes", path, len);
    if (s == CNN_OK && ((s = take(&r, magic, 8, "the magic number")) == CNN_OK) &&
        memcmp(magic, MAGIC, 8) != 0)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: offset 0: not a cnn weights file (bad magic number)",
                     path);
    if (s == CNN_OK && (s = take(&r, &version, 4, "the version")) == CNN_OK && version != VERSION)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: offset 8: version %u, this library reads version %u",
                     path, version, VERSION);
    if (s == CNN_OK) s = take(&r, &count, 4, "the tensor count");
    if (s == CNN_OK) {
        memcpy(&stored, bytes + len - 4, 4);
        uLong crc = crc32(0, NULL, 0);
        for (size_t off = 0; off < len - 4; off += (1u << 30)) {
            size_t m = len - 4 - off < (1u << 30) ? len - 4 - off : (1u << 30);
            crc = crc32(crc, bytes + off, (uInt)m);
        }
        r.len = len - 4;
        if ((uint32_t)crc != stored)
            s = cnn_fail(CNN_ERR_FORMAT,
                         "%s: checksum mismatch (stored %08x, computed %08x): the file is corrupt "
                         "or truncated",
                         path, stored, (uint32_t)crc);
    }
    for (uint32_t i = 0; i < count && s == CNN_OK; i++) {
        size_t at = r.off;
        uint8_t kind, ndim;
        uint32_t dims[4];
        char name[1024];
        if ((s = take_name(&r, at, name))) break;
        if ((s = take(&r, &kind, 1, "a tensor kind")) || (s = take(&r, &ndim, 1, "a tensor rank")))
            break;
        if (ndim < 1 || ndim > 4 || kind > 2) {
            s = cnn_fail(CNN_ERR_FORMAT, "%s: offset %zu: tensor '%s': bad rank %u or kind %u", path,
                         at, name, ndim, kind);
            break;
        }
        if ((s = take(&r, dims, 4u * ndim, "tensor dimensions"))) break;
        size_t elems = 1;
        for (int m = 0; m < ndim && s == CNN_OK; m++)
            if (!cnn_mul_size(elems, dims[m], &elems) || elems > len)
                s = cnn_fail(CNN_ERR_FORMAT,
                             "%s: offset %zu: tensor '%s' declares more values than the file holds",
                             path, at, name);
        if (s == CNN_OK && elems * 4 > r.len - r.off)
            s = cnn_fail(CNN_ERR_FORMAT,
                         "%s: truncated: tensor '%s' needs %zu bytes at offset %zu, %zu left", path,
                         name, elems * 4, r.off, r.len - r.off);
        if (s != CNN_OK) break;
        const unsigned char *data = bytes + r.off;
        r.off += elems * 4;
        if (kind != 2) continue;
        for (int j = 0; j < n_slots; j++) {
            if (strcmp(slots[j].name, name)) continue;
            if (ndim != 1 || dims[0] != slots[j].words) {
                s = cnn_fail(CNN_ERR_FORMAT,
                             "%s: tensor '%s' at offset %zu has %zu values, expected %u", path,
                             name, at, elems, slots[j].words);
                break;
            }
            memcpy(slots[j].data, data, elems * 4);
            slots[j].found = 1;
        }
    }
    for (int j = 0; j < n_slots && s == CNN_OK; j++)
        if (!slots[j].found && !slots[j].optional)
            s = cnn_fail(CNN_ERR_FORMAT, "%s: no tensor '%s' (not a checkpoint?)", path,
                         slots[j].name);
    free(bytes);
    return s;
}
