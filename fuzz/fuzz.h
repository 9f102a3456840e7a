/* fuzz.h — shared helpers of the libFuzzer targets in fuzz/.
 *
 * Every target defines LLVMFuzzerTestOneInput and checks, besides what the
 * sanitizers catch, the library's promises: a failure always leaves a
 * message, and never touches what it was asked to fill. The same sources
 * build into a plain replay program (replay.c) that the test suite runs over
 * the seed and regression corpora with gcc, with and without sanitizers. */
#ifndef CNN_FUZZ_H
#define CNN_FUZZ_H

#include "cnn.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a finding for libFuzzer, a failure for the replay) with a reason. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An anonymous in-memory file holding data; path gets "/proc/self/fd/N", a
 * name the library's fopen-based loaders accept. Returns the descriptor to
 * close, or -1. The loaders see a regular file, as they would on disk.
 * (memfd_create needs _GNU_SOURCE: the Makefile defines it for fuzz/.) */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char path[64]) {
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)k;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* A failed call must explain itself. */
#define FUZZ_CHECK_MESSAGE(status)                                                                 \
    FUZZ_CHECK(cnn_last_error()[0] != 0, "status %d (%s) without a message", (int)(status),        \
               cnn_status_str(status))

#endif
