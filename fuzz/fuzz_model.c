/* fuzz_model.c — the text model format: cnn_net_parse (tokenizer, options,
 * layer configuration, graph edges, shape inference, parameter allocation
 * and initialisation). A net that builds and is small is also summarised
 * and run forward and, when it ends in softmax, through one training step,
 * so shape inference is checked against the kernels' real memory accesses. */
#include "fuzz.h"

#define MAX_INPUT (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) return 0;
    static int init;
    if (!init++) cnn_set_threads(1);
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    cnn_net *net = NULL;
    cnn_error_clear();
    cnn_status s = cnn_net_parse(&net, text, "fuzz.cnn", 1);
    free(text);
    if (s != CNN_OK) {
        FUZZ_CHECK_MESSAGE(s);
        FUZZ_CHECK(net == NULL, "a failed parse returned a net");
        return 0;
    }
    FUZZ_CHECK(net != NULL, "parse succeeded without a net");
    fuzz_exercise_net(net);
    cnn_net_free(net);
    return 0;
}
