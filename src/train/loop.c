/* loop.c — the training loop and evaluation.
 *
 * Seeded: the shuffling order comes from cfg->seed, the dropout masks from
 * the net's generator (seeded at build), so the same seed and thread count
 * give bit-identical weights. Every batch converts uint8 samples to float
 * into one buffer allocated before the first step. */
#include "../data/data.h"
#include "../graph/net_internal.h"
#include "../kernels/softmax.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const cnn_layer_ops cnn_softmax_ops;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The layer whose output are the class scores: the input of the final softmax. */
static cnn_status logits_layer(cnn_net *net, cnn_layer **out) {
    cnn_layer *last = &net->layers[net->n_layers - 1];
    if (last->ops != &cnn_softmax_ops || last->in_idx[0] < 0)
        return cnn_fail(CNN_ERR_ARG, "%s: training and evaluation need a net ending in softmax",
                        net->filename);
    *out = &net->layers[last->in_idx[0]];
    return CNN_OK;
}

cnn_status cnn_evaluate(cnn_net *net, const cnn_dataset *ds, int batch, float *loss,
                        float *accuracy) {
    cnn_layer *logits = NULL;
    cnn_status s = logits_layer(net, &logits);
    if (s == CNN_OK) s = cnn_dataset_check(ds, net, "evaluation set");
    if (s != CNN_OK) return s;
    if (batch <= 0) batch = 256;
    if (batch > ds->n) batch = ds->n;
    size_t in = cnn_shape_size(net->in_shape);
    float *x = cnn_alloc_floats(in * (size_t)batch);
    uint8_t *labels = malloc((size_t)batch);
    if (!x || !labels) s = cnn_fail(CNN_ERR_NOMEM, "out of memory for an evaluation batch");
    double total_loss = 0;
    long hits = 0;
    for (int first = 0; first < ds->n && s == CNN_OK; first += batch) {
        int n = ds->n - first < batch ? ds->n - first : batch;
        cnn_dataset_batch(ds, net, NULL, first, n, x, labels);
        s = cnn_net_forward(net, x, n, 0, NULL);
        float l = 0;
        int c = 0;
        if (s == CNN_OK)
            s = cnn_softmax_xent(logits->y, labels, n, logits->out.c, 0.0f, NULL, &l, &c);
        total_loss += (double)l * n;
        hits += c;
    }
    cnn_free_floats(x);
    free(labels);
    if (s != CNN_OK) return s;
    if (loss) *loss = (float)(total_loss / ds->n);
    if (accuracy) *accuracy = (float)hits / ds->n;
    return CNN_OK;
}

cnn_status cnn_train(cnn_net *net, const cnn_train_config *cfg, const cnn_dataset *train,
                     const cnn_dataset *test, cnn_progress_fn progress, cnn_epoch_fn on_epoch,
                     void *user) {
    cnn_layer *logits = NULL;
    cnn_status s = logits_layer(net, &logits);
    if (s == CNN_OK) s = cnn_dataset_check(train, net, "training set");
    if (s == CNN_OK && test) s = cnn_dataset_check(test, net, "test set");
    if (s != CNN_OK) return s;
    if (cfg->batch <= 0 || cfg->epochs <= 0)
        return cnn_fail(CNN_ERR_ARG, "epochs and batch must be positive");
    int batch = cfg->batch < train->n ? cfg->batch : train->n;
    int batches = (train->n + batch - 1) / batch;
    size_t in = cnn_shape_size(net->in_shape);
    float *x = cnn_alloc_floats(in * (size_t)batch);
    uint8_t *labels = malloc((size_t)batch);
    int *order = malloc((size_t)train->n * sizeof *order);
    cnn_optim *opt = NULL;
    if (!x || !labels || !order) s = cnn_fail(CNN_ERR_NOMEM, "out of memory for a training batch");
    if (s == CNN_OK) s = cnn_optim_create(&opt, cfg, net->n_params);
    cnn_rng data_rng;
    cnn_rng_seed(&data_rng, cfg->seed * 0x9e3779b97f4a7c15ULL + 7);
    for (int i = 0; i < train->n && order; i++) order[i] = i;
    cnn_net_set_input_grad(net, 0);
    double start = now_s();
    long images = 0;
    for (int epoch = 1; epoch <= cfg->epochs && s == CNN_OK; epoch++) {
        cnn_rng_shuffle(&data_rng, order, train->n);
        double sum_loss = 0;
        long hits = 0, seen = 0;
        for (int b = 0; b < batches && s == CNN_OK; b++) {
            int first = b * batch, n = train->n - first < batch ? train->n - first : batch;
            int step = (epoch - 1) * batches + b;
            float lr = cnn_schedule_lr(cfg, step, batches), loss;
            int correct;
            cnn_dataset_batch(train, net, order + first, 0, n, x, labels);
            s = cnn_net_train_step(net, x, labels, n, cfg->label_smoothing, &loss, &correct);
            if (s != CNN_OK) {
                cnn_error_prefix("epoch %d, batch %d", epoch, b + 1);
                break;
            }
            cnn_optim_step(opt, net->params, net->grads, lr);
            sum_loss += (double)loss * n;
            hits += correct;
            seen += n;
            images += n;
            if (progress) {
                double t = now_s() - start;
                cnn_progress p = {epoch, cfg->epochs, b + 1, batches, (float)(sum_loss / seen),
                                  (float)hits / seen, lr, t > 0 ? images / t : 0, t};
                if (progress(&p, user)) {
                    epoch = cfg->epochs; /* stop after this batch */
                    break;
                }
            }
        }
        if (s == CNN_OK && on_epoch) {
            float tl = 0, ta = 0;
            if (test) s = cnn_evaluate(net, test, 256, &tl, &ta);
            if (s == CNN_OK)
                on_epoch(epoch, (float)(sum_loss / (seen ? seen : 1)),
                         (float)hits / (seen ? seen : 1), tl, ta, user);
        }
    }
    cnn_net_set_input_grad(net, 1);
    cnn_optim_free(opt);
    cnn_free_floats(x);
    free(labels);
    free(order);
    return s;
}
