/* fuzz.h — shared helpers of the libFuzzer targets in fuzz/.
 *
 * Every target defines LLVMFuzzerTestOneInput and checks, besides what the
 * sanitizers catch, the library's promises: a failure always leaves a
 * message, and never touches what it was asked to fill. The same sources
 * build into a plain replay program (replay.c) that the test suite runs over
 * the seed and regression corpora with gcc, with and without sanitizers. */
#ifndef CNN_FUZZ_H
#define CNN_FUZZ_H

#include "../src/core/core.h"
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

/* A net that built: summarise it and, when it is cheap, run a forward pass
 * and a training step on a batch of 2, so that the shapes inferred at build
 * are checked against the kernels' real memory accesses. */
static inline void fuzz_exercise_net(cnn_net *net) {
    static FILE *devnull;
    if (!devnull) devnull = fopen("/dev/null", "w");
    cnn_error_clear();
    cnn_status s = cnn_net_summary(net, devnull);
    FUZZ_CHECK(s == CNN_OK, "summary: %s", cnn_last_error());
    int c, h, w, k, kh, kw;
    cnn_net_input_shape(net, &c, &h, &w);
    cnn_net_output_shape(net, &k, &kh, &kw);
    size_t in = (size_t)c * h * w;
    if (cnn_net_macs(net) > 2e5 || in > 65536 || cnn_net_num_params(net) > 1000000) return;
    enum { N = 2 };
    float *x = malloc(N * in * sizeof *x);
    if (!x) return;
    for (size_t i = 0; i < N * in; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500 - 1;
    const float *y;
    cnn_error_clear();
    s = cnn_net_forward(net, x, N, 0, &y);
    if (s != CNN_OK) FUZZ_CHECK_MESSAGE(s);
    uint8_t labels[N] = {0, (uint8_t)(k > 1 ? 1 : 0)};
    float loss;
    cnn_error_clear();
    s = cnn_net_train_step(net, x, labels, N, 0.1f, &loss, NULL);
    if (s != CNN_OK) FUZZ_CHECK_MESSAGE(s);
    free(x);
}

#endif
