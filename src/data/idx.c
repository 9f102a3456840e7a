/* idx.c — MNIST-style IDX files (images 0x00000803, labels 0x00000801),
 * raw or gzip-compressed, read into a cnn_dataset.
 *
 * The format is big-endian: 2 zero bytes, a type byte (0x08 = unsigned byte),
 * a dimension count, then one uint32 per dimension, then the data. Every
 * declared size is checked against a ceiling and against the bytes that are
 * really there before anything large is allocated; for gzip the buffer grows
 * with the decompressed data, so a lying header cannot make us allocate more
 * than the stream delivers. Any error names the file and, where it applies,
 * the byte offset (in the decompressed data for gzip). */
#include "../core/core.h"
#include "data.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* A dataset larger than this is refused as absurd (pixels or labels). */
#define IDX_MAX_BYTES (((size_t)1 << 31) - 1) /* also keeps counts within int */
#define IDX_MAX_DIM 16384                     /* height and width */

/* A byte source over a raw or gzip file; offsets are in the decompressed data. */
typedef struct {
    const char *path;
    FILE *f;
    int gz;
    int gz_end; /* the gzip stream has ended */
    z_stream z;
    uint64_t pos;  /* (decompressed) bytes delivered so far */
    int len_known; /* a regular file: file_len is its length */
    uint64_t file_len;
    uint64_t file_read; /* bytes read from disk */
    size_t pending;     /* raw: bytes of in[] not yet delivered (the sniffed magic) */
    size_t pending_at;
    unsigned char in[1 << 16];
} idx_reader;

/* Compressed offset of the next byte the decoder will look at. */
static uint64_t comp_pos(const idx_reader *r) {
    return r->file_read - r->z.avail_in;
}

static cnn_status reader_open(idx_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->f = fopen(path, "rb");
    if (!r->f) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(r->f), &st) != 0 || S_ISDIR(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        fclose(r->f);
        r->f = NULL;
        return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(e));
    }
    r->len_known = S_ISREG(st.st_mode);
    r->file_len = (uint64_t)st.st_size;
    /* Sniff the gzip magic; the bytes stay in in[] for whoever reads next,
     * so pipes work as well as files. */
    size_t got = fread(r->in, 1, 2, r->f);
    if (ferror(r->f)) {
        int e = errno;
        fclose(r->f);
        r->f = NULL;
        return cnn_fail(CNN_ERR_IO, "%s: read error at offset 0: %s", path, strerror(e));
    }
    r->file_read = got;
    r->gz = got == 2 && r->in[0] == 0x1f && r->in[1] == 0x8b;
    if (!r->gz) {
        r->pending = got;
        return CNN_OK;
    }
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)got;
    if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) {
        fclose(r->f);
        r->f = NULL;
        r->gz = 0;
        return cnn_fail(CNN_ERR_NOMEM, "%s: cannot initialise zlib", path);
    }
    return CNN_OK;
}

static void reader_close(idx_reader *r) {
    if (r->gz) inflateEnd(&r->z);
    if (r->f) fclose(r->f);
    r->f = NULL;
    r->gz = 0;
}

static cnn_status read_raw(idx_reader *r, unsigned char *out, size_t n, size_t *got) {
    while (r->pending > 0 && *got < n) {
        out[(*got)++] = r->in[r->pending_at++];
        r->pending--;
        r->pos++;
    }
    size_t k = fread(out + *got, 1, n - *got, r->f);
    *got += k;
    r->pos += k;
    r->file_read += k;
    if (*got < n && ferror(r->f))
        return cnn_fail(CNN_ERR_IO, "%s: read error at offset %" PRIu64 ": %s", r->path, r->pos,
                        strerror(errno));
    return CNN_OK;
}

/* Read up to n bytes; *got < n only at the end of the data. */
static cnn_status reader_read(idx_reader *r, void *buf, size_t n, size_t *got) {
    unsigned char *out = buf;
    *got = 0;
    if (!r->gz) return read_raw(r, out, n, got);
    while (*got < n && !r->gz_end) {
        if (r->z.avail_in == 0) {
            size_t k = fread(r->in, 1, sizeof r->in, r->f);
            if (k == 0) {
                if (ferror(r->f))
                    return cnn_fail(CNN_ERR_IO, "%s: read error at offset %" PRIu64 ": %s", r->path,
                                    r->file_read, strerror(errno));
                return cnn_fail(CNN_ERR_FORMAT,
                                "%s: corrupt gzip: compressed data ends early at offset %" PRIu64
                                " (decompressed offset %" PRIu64 ")",
                                r->path, r->file_read, r->pos);
            }
            r->file_read += k;
            r->z.next_in = r->in;
            r->z.avail_in = (uInt)k;
        }
        size_t want = n - *got;
        if (want > UINT32_MAX) want = UINT32_MAX;
        r->z.next_out = out + *got;
        r->z.avail_out = (uInt)want;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        size_t made = want - r->z.avail_out;
        *got += made;
        r->pos += made;
        if (rc == Z_STREAM_END) {
            /* Another gzip member may follow (concatenated gzip is valid). */
            if (r->z.avail_in == 0) {
                int c = fgetc(r->f);
                if (c == EOF) {
                    r->gz_end = 1;
                    break;
                }
                r->file_read++;
                r->in[0] = (unsigned char)c;
                r->z.next_in = r->in;
                r->z.avail_in = 1;
            }
            if (r->z.next_in[0] != 0x1f)
                return cnn_fail(
                    CNN_ERR_FORMAT,
                    "%s: corrupt gzip: garbage after the gzip stream at offset %" PRIu64, r->path,
                    comp_pos(r));
            inflateReset(&r->z);
        } else if (rc == Z_MEM_ERROR) {
            return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory in zlib", r->path);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return cnn_fail(CNN_ERR_FORMAT,
                            "%s: corrupt gzip near offset %" PRIu64 " (decompressed offset %" PRIu64
                            "): %s",
                            r->path, comp_pos(r), r->pos, r->z.msg ? r->z.msg : "bad data");
        }
    }
    return CNN_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *kind(uint32_t magic) {
    if (magic == 0x00000803) return " (an IDX image file)";
    if (magic == 0x00000801) return " (an IDX label file)";
    return "";
}

/* Read the header of an IDX file with the given magic: ndim uint32 dims. */
static cnn_status read_header(idx_reader *r, uint32_t magic, int ndim, uint32_t *dims) {
    unsigned char h[4 + 4 * 3];
    size_t len = 4 + 4 * (size_t)ndim, got;
    cnn_status s = reader_read(r, h, len, &got);
    if (s != CNN_OK) return s;
    if (got >= 4 && be32(h) != magic)
        return cnn_fail(CNN_ERR_FORMAT,
                        "%s: wrong magic 0x%08" PRIx32 "%s at offset 0, expected 0x%08" PRIx32 "%s",
                        r->path, be32(h), kind(be32(h)), magic, kind(magic));
    if (got < len)
        return cnn_fail(CNN_ERR_FORMAT, "%s: truncated: the IDX header needs %zu bytes, %s has %zu",
                        r->path, len, r->gz ? "the decompressed file" : "the file", got);
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(h + 4 + 4 * i);
    return CNN_OK;
}

/* Read exactly `bytes` bytes of payload starting at offset `off`, then make
 * sure nothing follows. `what` describes the declaration for messages. */
static cnn_status read_payload(idx_reader *r, size_t off, size_t bytes, const char *what,
                               uint8_t **out) {
    *out = NULL;
    if (!r->gz && r->len_known) {
        /* The file length is known: check it before allocating anything. */
        uint64_t need = (uint64_t)off + bytes;
        if (r->file_len < need)
            return cnn_fail(CNN_ERR_FORMAT,
                            "%s: truncated: header declares %s = %zu bytes at offset %zu, file "
                            "has %" PRIu64 " bytes",
                            r->path, what, bytes, off, r->file_len);
        if (r->file_len > need)
            return cnn_fail(CNN_ERR_FORMAT,
                            "%s: header declares %s = %zu bytes at offset %zu, but the file has "
                            "%" PRIu64 " bytes (%" PRIu64 " extra at offset %" PRIu64 ")",
                            r->path, what, bytes, off, r->file_len, r->file_len - need, need);
    }
    /* A checked raw file gets its buffer at once; otherwise the buffer grows
     * with the data actually delivered (a gzip header may lie). */
    size_t cap = bytes, have = 0;
    if ((r->gz || !r->len_known) && cap > ((size_t)1 << 20)) cap = (size_t)1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf) return cnn_fail(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes", r->path, cap);
    for (;;) {
        size_t got;
        cnn_status s = reader_read(r, buf + have, cap - have, &got);
        if (s != CNN_OK) {
            free(buf);
            return s;
        }
        have += got;
        if (have < cap) {
            free(buf);
            return cnn_fail(CNN_ERR_FORMAT,
                            "%s: truncated: header declares %s = %zu bytes at offset %zu, %s has "
                            "%zu bytes",
                            r->path, what, bytes, off, r->gz ? "the decompressed file" : "the file",
                            off + have);
        }
        if (have == bytes) break;
        size_t ncap = cap > bytes / 2 ? bytes : cap * 2;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            return cnn_fail(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes", r->path, ncap);
        }
        buf = nb;
        cap = ncap;
    }
    unsigned char extra;
    size_t got;
    cnn_status s = reader_read(r, &extra, 1, &got);
    if (s == CNN_OK && got != 0)
        s = cnn_fail(CNN_ERR_FORMAT,
                     "%s: header declares %s = %zu bytes at offset %zu, but more data follows at "
                     "offset %zu",
                     r->path, what, bytes, off, off + bytes);
    if (s != CNN_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return CNN_OK;
}

/* An images file kept open (cnn_dataset_open_idx): samples are read per batch. */
struct cnn_dataset_file {
    int fd;
    size_t sample;      /* bytes of one sample */
    int failed;         /* a read failed: msg holds the first error */
    pthread_mutex_t mu; /* guards failed and msg (the prefetch thread reads too) */
    char msg[4400];
    char path[4096];
};

/* Keep the file open instead of reading the payload (a raw regular file). */
static cnn_status open_payload(idx_reader *r, size_t bytes, const char *what, size_t sample,
                               struct cnn_dataset_file **out) {
    uint64_t need = 16 + (uint64_t)bytes;
    if (r->file_len < need)
        return cnn_fail(CNN_ERR_FORMAT,
                        "%s: truncated: header declares %s = %zu bytes at offset 16, file has "
                        "%" PRIu64 " bytes",
                        r->path, what, bytes, r->file_len);
    if (r->file_len > need)
        return cnn_fail(CNN_ERR_FORMAT,
                        "%s: header declares %s = %zu bytes at offset 16, but the file has "
                        "%" PRIu64 " bytes (%" PRIu64 " extra at offset %" PRIu64 ")",
                        r->path, what, bytes, r->file_len, r->file_len - need, need);
    struct cnn_dataset_file *f = calloc(1, sizeof *f);
    if (!f) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", r->path);
    f->fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        free(f);
        return cnn_fail(CNN_ERR_IO, "%s: %s", r->path, strerror(errno));
    }
    f->sample = sample;
    snprintf(f->path, sizeof f->path, "%s", r->path);
    pthread_mutex_init(&f->mu, NULL);
    *out = f;
    return CNN_OK;
}

static void file_close(struct cnn_dataset_file *f) {
    if (!f) return;
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const uint8_t *cnn_dataset_sample(const cnn_dataset *ds, int k, uint8_t *buf) {
    struct cnn_dataset_file *f = cnn_dataset_file_of(ds);
    if (!f) return ds->images + (size_t)k * ((size_t)ds->c * ds->h * ds->w);
    off_t at = (off_t)(16 + (uint64_t)k * f->sample);
    size_t done = 0;
    while (done < f->sample) {
        ssize_t got = pread(f->fd, buf + done, f->sample - done, at + (off_t)done);
        if (got > 0) {
            done += (size_t)got;
            continue;
        }
        if (got < 0 && errno == EINTR) continue;
        int e = got < 0 ? errno : 0;
        pthread_mutex_lock(&f->mu);
        if (!f->failed) {
            f->failed = 1;
            snprintf(f->msg, sizeof f->msg, "%s: %s at offset %" PRIu64 " (sample %d)", f->path,
                     e ? strerror(e) : "the file ended early (changed since it was opened?)",
                     (uint64_t)at + done, k);
        }
        pthread_mutex_unlock(&f->mu);
        memset(buf, 0, f->sample);
        break;
    }
    return buf;
}

cnn_status cnn_dataset_read_status(const cnn_dataset *ds) {
    struct cnn_dataset_file *f = cnn_dataset_file_of(ds);
    if (!f) return CNN_OK;
    pthread_mutex_lock(&f->mu);
    cnn_status s = f->failed ? cnn_fail(CNN_ERR_IO, "%s", f->msg) : CNN_OK;
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* Read an images file; with file != NULL a raw regular file is kept open
 * (*file set, *images NULL) instead of read. */
static cnn_status load_images(const char *path, int *n, int *h, int *w, uint8_t **images,
                              struct cnn_dataset_file **file) {
    idx_reader *r = malloc(sizeof *r);
    if (!r) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    cnn_status s = reader_open(r, path);
    if (s != CNN_OK) {
        free(r);
        return s;
    }
    uint32_t d[3] = {0, 0, 0};
    s = read_header(r, 0x00000803, 3, d);
    char what[96];
    snprintf(what, sizeof what, "%" PRIu32 "x%" PRIu32 "x%" PRIu32 " pixels", d[0], d[1], d[2]);
    size_t bytes = 0;
    if (s == CNN_OK && (d[0] == 0 || d[1] == 0 || d[2] == 0))
        s = cnn_fail(CNN_ERR_FORMAT, "%s: empty: header declares %s at offset 4", path, what);
    if (s == CNN_OK && (d[1] > IDX_MAX_DIM || d[2] > IDX_MAX_DIM))
        s = cnn_fail(CNN_ERR_FORMAT,
                     "%s: absurd image size: header declares %s at offset 4 (limit %dx%d)", path,
                     what, IDX_MAX_DIM, IDX_MAX_DIM);
    if (s == CNN_OK && (!cnn_mul_size(d[0], d[1], &bytes) || !cnn_mul_size(bytes, d[2], &bytes) ||
                        bytes > IDX_MAX_BYTES))
        s = cnn_fail(CNN_ERR_FORMAT,
                     "%s: absurd size: header declares %s at offset 4, more than the limit of "
                     "%zu bytes",
                     path, what, IDX_MAX_BYTES);
    if (s == CNN_OK && file && !r->gz && r->len_known)
        s = open_payload(r, bytes, what, (size_t)d[1] * d[2], file);
    else if (s == CNN_OK)
        s = read_payload(r, 16, bytes, what, images);
    reader_close(r);
    free(r);
    if (s != CNN_OK) return s;
    *n = (int)d[0];
    *h = (int)d[1];
    *w = (int)d[2];
    return CNN_OK;
}

static cnn_status load_labels(const char *path, int *n, uint8_t **labels) {
    idx_reader *r = malloc(sizeof *r);
    if (!r) return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    cnn_status s = reader_open(r, path);
    if (s != CNN_OK) {
        free(r);
        return s;
    }
    uint32_t d[1] = {0};
    s = read_header(r, 0x00000801, 1, d);
    char what[64];
    snprintf(what, sizeof what, "%" PRIu32 " labels", d[0]);
    if (s == CNN_OK && d[0] == 0)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: empty: header declares 0 labels at offset 4", path);
    if (s == CNN_OK && d[0] > IDX_MAX_BYTES)
        s = cnn_fail(CNN_ERR_FORMAT,
                     "%s: absurd size: header declares %s at offset 4, more than the limit of %zu",
                     path, what, IDX_MAX_BYTES);
    if (s == CNN_OK) s = read_payload(r, 8, d[0], what, labels);
    reader_close(r);
    free(r);
    if (s != CNN_OK) return s;
    *n = (int)d[0];
    return CNN_OK;
}

static cnn_status load_idx(cnn_dataset *ds, const char *images_path, const char *labels_path,
                           int keep_open) {
    if (!ds || !images_path || !labels_path)
        return cnn_fail(CNN_ERR_ARG, "cnn_dataset_load_idx: NULL argument");
    memset(ds, 0, sizeof *ds);
    int n = 0, h = 0, w = 0, nl = 0;
    uint8_t *images = NULL, *labels = NULL;
    struct cnn_dataset_file *file = NULL;
    cnn_status s = load_images(images_path, &n, &h, &w, &images, keep_open ? &file : NULL);
    if (s != CNN_OK) return s;
    s = load_labels(labels_path, &nl, &labels);
    if (s != CNN_OK) {
        free(images);
        file_close(file);
        return s;
    }
    if (nl != n) {
        free(images);
        file_close(file);
        free(labels);
        return cnn_fail(CNN_ERR_FORMAT, "%s: count mismatch: %d labels, but %s has %d images",
                        labels_path, nl, images_path, n);
    }
    int max = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] > max) max = labels[i];
    ds->n = n;
    ds->c = 1;
    ds->h = h;
    ds->w = w;
    ds->images = images;
    ds->labels = labels;
    ds->classes = max + 1;
    ds->file = file;
    return CNN_OK;
}

cnn_status cnn_dataset_load_idx(cnn_dataset *ds, const char *images_path, const char *labels_path) {
    return load_idx(ds, images_path, labels_path, 0);
}

cnn_status cnn_dataset_open_idx(cnn_dataset *ds, const char *images_path, const char *labels_path) {
    return load_idx(ds, images_path, labels_path, 1);
}

void cnn_dataset_free(cnn_dataset *ds) {
    if (!ds) return;
    file_close(cnn_dataset_file_of(ds));
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}
