/* file.c — read a whole file into memory, with its size checked first. */
#include "core.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cnn_status cnn_read_file(const char *path, size_t max_bytes, const char *what,
                         unsigned char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return cnn_fail(CNN_ERR_IO, "%s: cannot determine the file size", path);
    }
    if ((size_t)size > max_bytes) {
        fclose(f);
        return cnn_fail(CNN_ERR_FORMAT, "%s: %ld bytes is larger than any %s allowed", path, size,
                        what);
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
