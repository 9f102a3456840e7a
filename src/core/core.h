/* core.h — internal basics shared by every part of libcnn: error reporting,
 * checked allocation, overflow-safe sizes, option lists from model-file lines.
 * Depends on nothing else in src/. */
#ifndef CNN_CORE_H
#define CNN_CORE_H

#include "cnn.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CNN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNN_PRINTF(a, b)
#endif

/* Record a failure for cnn_last_error() and return s, so callers can write
 * `return cnn_fail(CNN_ERR_IO, "%s: cannot open", path);`. */
cnn_status cnn_fail(cnn_status s, const char *fmt, ...) CNN_PRINTF(2, 3);
/* Prefix the current message with "prefix: " (to add context on the way up). */
void cnn_error_prefix(const char *fmt, ...) CNN_PRINTF(1, 2);
void cnn_error_clear(void);

/* Overflow-safe size arithmetic: false when the result would not fit. */
bool cnn_mul_size(size_t a, size_t b, size_t *out);
bool cnn_add_size(size_t a, size_t b, size_t *out);

/* Ceilings on what a model may ask for, checked before anything is allocated
 * (docs/security.md). A build may lower them: the fuzzers do, so that they
 * explore inputs instead of filling memory; the checks are the same code. */
#ifndef CNN_MAX_PARAMS
#define CNN_MAX_PARAMS ((size_t)1 << 30) /* floats of parameters (4 GiB; gradients as much) */
#endif
#ifndef CNN_MAX_PLAN_BYTES
#define CNN_MAX_PLAN_BYTES ((size_t)1 << 36) /* activation memory of one planned batch */
#endif
#define CNN_MAX_SAMPLE ((size_t)1 << 31) /* floats of one sample's input or layer output */

/* Zeroed, 64-byte aligned allocations of floats; NULL on failure or overflow. */
float *cnn_alloc_floats(size_t n);
void cnn_free_floats(float *p);

/* Read a whole file (at most max_bytes, else a format error naming `what`,
 * e.g. "weights file"). *data is malloc'd, one spare byte at the end. */
cnn_status cnn_read_file(const char *path, size_t max_bytes, const char *what,
                         unsigned char **data, size_t *len);

/* ---- per-sample shapes ------------------------------------------------- */

typedef struct { int c, h, w; } cnn_shape; /* one sample; the batch is separate */
static inline size_t cnn_shape_size(cnn_shape s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

/* ---- options of one model-file line: key=value pairs ------------------- */

#define CNN_MAX_OPTS 32
#define CNN_MAX_KEYS 32

typedef struct {
    const char *file; /* for messages */
    int line;
    const char *type; /* the layer type, for messages */
    int n;
    char *key[CNN_MAX_OPTS];
    char *val[CNN_MAX_OPTS];
    bool used[CNN_MAX_OPTS];
    int n_known; /* keys asked for, to list in "unknown option" messages */
    const char *known[CNN_MAX_KEYS];
} cnn_opts;

/* Each getter leaves *out = def when the key is absent and fails with a
 * "file:line: ..." message when the value is malformed or out of [lo, hi]. */
cnn_status cnn_opt_int(cnn_opts *o, const char *key, int def, int lo, int hi, int *out);
cnn_status cnn_opt_float(cnn_opts *o, const char *key, float def, float lo, float hi, float *out);
cnn_status cnn_opt_bool(cnn_opts *o, const char *key, int def, int *out);
/* "3" -> (3,3); "3x5" or "3,5" -> (3,5). */
cnn_status cnn_opt_pair(cnn_opts *o, const char *key, int def, int lo, int hi, int *a, int *b);
/* A string value, or def; the pointer lives as long as o. */
cnn_status cnn_opt_str(cnn_opts *o, const char *key, const char *def, const char **out);
/* Fails naming the first key nobody asked for, listing the known ones. */
cnn_status cnn_opts_check_unused(cnn_opts *o);
/* After a failed configure: an unread key close to a known one (a typo is
 * the likelier cause than the failure itself). CNN_OK if there is none. */
cnn_status cnn_opts_misspelled(cnn_opts *o);

#endif
