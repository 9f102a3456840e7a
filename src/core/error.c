/* error.c — the per-thread last error message and status names. */
#include "core.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *cnn_status_str(cnn_status s) {
    switch (s) {
    case CNN_OK: return "ok";
    case CNN_ERR_ARG: return "invalid argument";
    case CNN_ERR_NOMEM: return "out of memory";
    case CNN_ERR_IO: return "i/o error";
    case CNN_ERR_PARSE: return "parse error";
    case CNN_ERR_FORMAT: return "format error";
    case CNN_ERR_SHAPE: return "shape error";
    case CNN_ERR_NUMERIC: return "numeric error";
    case CNN_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

const char *cnn_last_error(void) { return last_error; }

void cnn_error_clear(void) { last_error[0] = 0; }

cnn_status cnn_fail(cnn_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

void cnn_error_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t k = strlen(prefix);
    if (k + 2 >= sizeof last_error) k = sizeof last_error - 3;
    memcpy(last_error, prefix, k);
    memcpy(last_error + k, ": ", 2);
    size_t rest = strlen(old);
    if (rest > sizeof last_error - k - 3) rest = sizeof last_error - k - 3;
    memcpy(last_error + k + 2, old, rest);
    last_error[k + 2 + rest] = 0;
}
