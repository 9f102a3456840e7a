/* test_net_memory.c — creating, using and freeing a net 1,000 times does not
 * grow memory. Each round parses LeNet-5 (models/lenet5.cnn), builds it, runs
 * a forward pass and a training step (which plan the activation arena) and
 * frees it; a second net is built line by line through cnn_net_add and one
 * parse fails on purpose. After 50 warm-up rounds (OpenBLAS and OpenMP set up
 * their pools once), the heap in use (mallinfo2, or the sanitizer allocator's
 * own count under AddressSanitizer) must not grow by more than 16 KiB over the
 * next 1,000 rounds, and outside the sanitizers the resident set by at most
 * 2 MiB. A leak of one block per round (32 bytes or more) fails. One OpenMP
 * thread: the question is the library's own allocations (every test checks
 * leaks under ASan with threads), and a thousand rounds of short parallel
 * regions on a busy 2-core machine spend their time spinning. */
#include "cnn.h"
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, which gcc does not ship). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define WARMUP 50
#define ROUNDS 1000
#define BATCH 4

static size_t heap_in_use(void) {
#ifdef UNDER_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd; /* small blocks in use + mmap'd blocks */
#endif
}

static size_t rss_bytes(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static char *read_model(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = calloc(1, 1 << 16);
    if (s && fread(s, 1, (1 << 16) - 1, f) == 0) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

/* One round; returns 0 on success. */
static int round_trip(const char *text, const float *x, const uint8_t *labels) {
    cnn_net *net;
    if (cnn_net_parse(&net, text, "lenet5.cnn", 1) != CNN_OK) return 1;
    const float *y;
    float loss;
    int rc = cnn_net_forward(net, x, BATCH, 0, &y) != CNN_OK ||
             cnn_net_train_step(net, x, labels, BATCH, 0.0f, &loss, NULL) != CNN_OK;
    cnn_net_free(net);
    static const char *lines[] = {"input shape=1x28x28", "conv filters=3 kernel=5", "relu",
                                  "maxpool kernel=2", "dense units=10", "softmax"};
    if (cnn_net_create(&net) != CNN_OK) return 1;
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        rc |= cnn_net_add(net, lines[i]) != CNN_OK;
    rc |= cnn_net_build(net, 7) != CNN_OK;
    cnn_net_free(net);
    rc |= cnn_net_parse(&net, "input shape=1x4x4\nconv filters=2 kernal=3\n", "bad.cnn", 1) ==
          CNN_OK;
    return rc;
}

int main(void) {
    cnn_set_threads(1);
    char *text = read_model("models/lenet5.cnn");
    if (!text) {
        fprintf(stderr, "FAIL: cannot read models/lenet5.cnn (run from the repository root)\n");
        return 1;
    }
    static float x[BATCH * 28 * 28];
    uint8_t labels[BATCH] = {1, 7, 3, 9};
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)(i % 17) / 17.0f;
    for (int i = 0; i < WARMUP; i++)
        if (round_trip(text, x, labels)) {
            fprintf(stderr, "FAIL: round %d: %s\n", i, cnn_last_error());
            return 1;
        }
    malloc_trim(0);
    size_t heap0 = heap_in_use(), rss0 = rss_bytes();
    for (int i = 0; i < ROUNDS; i++)
        if (round_trip(text, x, labels)) {
            fprintf(stderr, "FAIL: round %d: %s\n", WARMUP + i, cnn_last_error());
            return 1;
        }
    malloc_trim(0);
    size_t heap1 = heap_in_use(), rss1 = rss_bytes();
    free(text);
    long dheap = (long)heap1 - (long)heap0, drss = (long)rss1 - (long)rss0;
    printf("after %d more rounds: heap in use %+ld bytes (%zu -> %zu), resident %+ld KiB\n", ROUNDS,
           dheap, heap0, heap1, drss / 1024);
    int ok = dheap <= 16 * 1024;
#ifndef UNDER_ASAN
    ok = ok && drss <= 2 * 1024 * 1024;
#endif
    if (!ok) {
        fprintf(stderr, "FAIL: memory grew over %d create/use/free rounds\n", ROUNDS);
        return 1;
    }
    printf("net memory: %d create/use/free rounds without growth\n", ROUNDS);
    return 0;
}
