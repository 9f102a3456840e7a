/* fuzz_weights.c — the binary weights file: cnn_net_load_weights into a
 * fixed small net (conv with and without bias, pooling, dense, softmax).
 *
 * Each input is loaded twice: as the whole file, and as the file's body with
 * its correct CRC-32 appended, so mutations get past the checksum and reach
 * the tensor parser (the seeds in fuzz/corpus/weights are bodies without
 * their CRC, except one complete file). A failed load must leave the net's
 * parameters exactly as they were. Each load is followed by
 * cnn_weights_read_extra, the checkpoint's reader of kind-2 tensors, on the
 * same file; seeds with such tensors are in the corpus. */
#include "../src/graph/net.h"
#include "fuzz.h"
#include <zlib.h>

static const char model[] = "input shape=2x6x5\n"
                            "conv name=c1 filters=3 kernel=3 padding=1\n"
                            "relu\n"
                            "conv name=c2 filters=2 kernel=1 bias=0\n"
                            "maxpool kernel=2\n"
                            "dense name=fc units=4\n"
                            "softmax\n";

static cnn_net *net;
static float *saved;

/* The checkpoint's extra tensors (src/train/checkpoint.c) through the same
 * file: cnn_weights_read_extra parses every tensor header again. */
static void read_extra(const char *path) {
    static uint32_t state[64], order[16], optim[10];
    cnn_extra_slot slots[3] = {
        {"train.state", state, 64, 0, 0},
        {"train.order", order, 16, 0, 0},
        {"optim.state", optim, 10, 1, 0},
    };
    cnn_error_clear();
    cnn_status s = cnn_weights_read_extra(path, slots, 3);
    if (s != CNN_OK) FUZZ_CHECK_MESSAGE(s);
}

static void load(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return;
    size_t n = cnn_net_num_params(net);
    memcpy(saved, cnn_net_params(net), n * sizeof(float));
    cnn_error_clear();
    cnn_status s = cnn_net_load_weights(net, path);
    if (s != CNN_OK) FUZZ_CHECK_MESSAGE(s);
    read_extra(path);
    close(fd);
    if (s != CNN_OK) {
        FUZZ_CHECK(memcmp(saved, cnn_net_params(net), n * sizeof(float)) == 0,
                   "a failed load changed the parameters: %s", cnn_last_error());
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!net) {
        cnn_set_threads(1);
        if (cnn_net_parse(&net, model, "fuzz-weights.cnn", 1) != CNN_OK) {
            fprintf(stderr, "fuzz_weights: %s\n", cnn_last_error());
            abort();
        }
        saved = malloc(cnn_net_num_params(net) * sizeof(float));
        if (!saved) abort();
    }
    if (size > (1 << 20)) return 0;
    load(data, size);
    uint8_t *body = malloc(size + 4);
    if (!body) return 0;
    memcpy(body, data, size);
    uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), data, (uInt)size);
    memcpy(body + size, &crc, 4); /* little-endian host, as weights.c */
    load(body, size + 4);
    free(body);
    return 0;
}
