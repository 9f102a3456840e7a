/* fuzz_onnx.c — ONNX import: cnn_net_load_onnx (the protobuf-c decoder,
 * generated from the committed onnx.proto and instrumented like our code,
 * then the translation of nodes, attributes and initializers into layers and
 * weights, then the build). A model that imports is exercised like a model
 * file (fuzz_exercise_net). Seeds: the small parity models and the refusals
 * of tests/parity. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init++) cnn_set_threads(1);
    if (size > (1 << 20)) return 0;
    char path[64];
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    cnn_net *net = NULL;
    cnn_error_clear();
    cnn_status s = cnn_net_load_onnx(&net, path);
    close(fd);
    if (s != CNN_OK) {
        FUZZ_CHECK_MESSAGE(s);
        FUZZ_CHECK(net == NULL, "a failed import returned a net");
        return 0;
    }
    FUZZ_CHECK(net != NULL, "import succeeded without a net");
    fuzz_exercise_net(net);
    cnn_net_free(net);
    return 0;
}
