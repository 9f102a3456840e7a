/* fuzz_image.c — PNG and JPEG decoding: cnn_image_load for two nets, one
 * grey 28x28 (MNIST-like: shrink) and one RGB 9x13 with normalisation (odd
 * sizes: stretch one axis, shrink the other), so the decoders, the channel
 * conversion and the bilinear resize all see every input. */
#include "fuzz.h"

static cnn_net *grey, *rgb;
static float out_grey[1 * 28 * 28], out_rgb[3 * 9 * 13];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!grey) {
        cnn_set_threads(1);
        if (cnn_net_parse(&grey, "input shape=1x28x28\nflatten\n", "grey.cnn", 1) != CNN_OK ||
            cnn_net_parse(&rgb, "input shape=3x9x13 mean=0.5,0.4,0.3 std=0.2\nrelu\n", "rgb.cnn",
                          1) != CNN_OK) {
            fprintf(stderr, "fuzz_image: %s\n", cnn_last_error());
            abort();
        }
    }
    if (size > (1 << 20)) return 0;
    char path[64];
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    cnn_error_clear();
    cnn_status s = cnn_image_load(path, grey, out_grey);
    if (s != CNN_OK) FUZZ_CHECK_MESSAGE(s);
    cnn_error_clear();
    s = cnn_image_load(path, rgb, out_rgb);
    if (s != CNN_OK) FUZZ_CHECK_MESSAGE(s);
    close(fd);
    return 0;
}
