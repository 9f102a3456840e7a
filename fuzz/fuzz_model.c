/* fuzz_model.c — the text model format: cnn_net_parse (tokenizer, options,
 * layer configuration, graph edges, shape inference, parameter allocation
 * and initialisation). A net that builds and is small is also summarised
 * and run forward and, when it ends in softmax, through one training step,
 * so shape inference is checked against the kernels' real memory accesses. */
#include "../src/core/core.h"
#include "fuzz.h"

#define MAX_INPUT (1 << 16)
#define MAX_RUN_MACS 2e5     /* per sample: run only nets this cheap */
#define MAX_RUN_FLOATS 65536 /* input floats per sample */

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) return 0;
    if (!devnull) {
        devnull = fopen("/dev/null", "w");
        cnn_set_threads(1);
    }
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
    FUZZ_CHECK(cnn_net_summary(net, devnull) == CNN_OK, "summary: %s", cnn_last_error());
    int c, h, w, k, kh, kw;
    cnn_net_input_shape(net, &c, &h, &w);
    cnn_net_output_shape(net, &k, &kh, &kw);
    size_t in = (size_t)c * h * w;
    if (cnn_net_macs(net) <= MAX_RUN_MACS && in <= MAX_RUN_FLOATS &&
        cnn_net_num_params(net) <= 1000000) {
        enum { N = 2 };
        float *x = malloc(N * in * sizeof *x);
        if (x) {
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
    }
    cnn_net_free(net);
    return 0;
}
