/* replica.c — data-parallel training steps across the threads of one process.
 *
 * The net's own forward and backward split each layer's work across the
 * threads: one OpenMP region per layer and direction, a dozen or more per
 * step. At small batches of a small net a region holds only a few
 * microseconds of work per thread, and with OMP_WAIT_POLICY=passive (the
 * right setting on a shared machine, docs/benchmarks.md) every region start
 * is a futex wake-up: two threads ran mnist_fast's recipe at batch 8 no
 * faster than one.
 *
 * Here each of T threads gets a replica of the net: its own layers (options
 * copied), activation plan, gradient block (replica 0's is the master's) and
 * dropout generator. Parameters and buffers are the master's, only read
 * during the step. A step runs slice
 * t of the batch through replica t inside one parallel region, the kernels
 * on one thread each (omp_set_num_threads(1) in the region; OpenBLAS's
 * OpenMP build runs single-threaded inside an active region), then, in the
 * same region after a barrier, sums the slices' gradients weighted by their
 * sizes into replica 0's block and scans them for NaN/Inf (cnn_sum_finite).
 * Two barriers a step instead of dozens.
 *
 * The result is the gradient of the whole batch's mean loss, as without
 * replicas, up to the order of the float sums. Batch norm's statistics
 * would be the slice's, not the batch's, so a net with batch norm in
 * training is not split (cnn_replicas_usable). Dropout: every replica starts
 * the step from the master's generator state and tells its layers where its
 * slice starts (l->batch_first); dropout draws each sample's mask from the
 * pass's seed and the sample's index in the batch (dropout.c), so the masks
 * are those of the unsplit batch, and the master's generator then takes
 * replica 0's state (every replica draws the same numbers from it). The run
 * therefore depends on the thread count only through the order of float
 * sums, and a resumed run (the master's state is in the checkpoint)
 * continues exactly. */
#include "../kernels/finite.h"
#include "../kernels/softmax.h"
#include "net_internal.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern const cnn_layer_ops cnn_softmax_ops;
extern const cnn_layer_ops cnn_batchnorm_ops;

#define MAX_REPLICAS 64

struct cnn_replicas {
    cnn_net *master;
    int n; /* replicas (threads) */
    cnn_net *r[MAX_REPLICAS];
    char error[MAX_REPLICAS][1024]; /* a failing thread's message */
    cnn_status status[MAX_REPLICAS];
    float loss[MAX_REPLICAS];
    int hits[MAX_REPLICAS];
};

int cnn_replicas_usable(const cnn_net *net, const char **why) {
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops == &cnn_batchnorm_ops) {
            if (why) *why = "batch norm's statistics would be a slice's, not the batch's";
            return 0;
        }
    if (why) *why = NULL;
    return 1;
}

/* AUTO splits where it was measured to pay (docs/benchmarks.md): two or
 * more threads, a net without batch norm, at most DP_AUTO_MAX_PARAMS
 * parameters (each replica holds its own gradient block), and at least two
 * images per slice. */
#define DP_AUTO_MAX_PARAMS ((size_t)1 << 24)

cnn_status cnn_replicas_choose(const cnn_net *net, cnn_data_parallel_kind mode, int batch,
                               int threads, int *split) {
    const char *why = NULL;
    const int usable = cnn_replicas_usable(net, &why);
    *split = 0;
    if (threads > MAX_REPLICAS) threads = MAX_REPLICAS;
    if (mode == CNN_DP_OFF || threads < 2 || batch < 2) return CNN_OK;
    if (mode == CNN_DP_ON) {
        if (!usable) return cnn_fail(CNN_ERR_ARG, "%s: data_parallel=on: %s", net->filename, why);
        *split = threads < batch ? threads : batch;
        return CNN_OK;
    }
    if (usable && net->n_params <= DP_AUTO_MAX_PARAMS && batch >= 2 * threads) *split = threads;
    return CNN_OK;
}

static void replica_free(cnn_net *r, const cnn_net *m) {
    if (!r) return;
    cnn_free_floats(r->arena);
    for (int i = 0; r->layers && i < r->n_layers; i++)
        free(r->layers[i].opt);
    free(r->layers);
    free(r->touched);
    if (r->grads != m->grads) cnn_free_floats(r->grads);
    free(r);
}

void cnn_replicas_free(cnn_replicas *rs) {
    if (!rs) return;
    for (int t = 0; t < rs->n; t++)
        replica_free(rs->r[t], rs->master);
    free(rs);
}

/* A replica of m: layers and options copied, parameters and buffers shared,
 * its own gradient block; no plan yet (made in the region, on one thread). */
static cnn_status replica_make(cnn_net *m, int first, cnn_net **out) {
    cnn_net *r = calloc(1, sizeof *r);
    *out = r;
    if (!r) return cnn_fail(CNN_ERR_NOMEM, "out of memory for a training replica");
    memcpy(r->filename, m->filename, sizeof r->filename);
    r->in_shape = m->in_shape;
    memcpy(r->mean, m->mean, sizeof r->mean);
    memcpy(r->std, m->std, sizeof r->std);
    r->train = m->train;
    r->layers = malloc((size_t)m->n_layers * sizeof *r->layers);
    r->touched = calloc((size_t)m->n_layers, 1);
    /* Replica 0 sums into the master's block (cnn_net_grads after a step). */
    r->grads = first ? m->grads : cnn_alloc_floats(m->n_params ? m->n_params : 1);
    if (!r->layers || !r->touched || !r->grads)
        return cnn_fail(CNN_ERR_NOMEM, "out of memory for a training replica");
    memcpy(r->layers, m->layers, (size_t)m->n_layers * sizeof *r->layers);
    for (int i = 0; i < m->n_layers; i++) {
        cnn_layer *l = &r->layers[i];
        l->opt = NULL;
        l->y = l->dy = l->state = NULL;
        l->rng = &r->rng;
        l->grads = r->grads + (m->layers[i].grads - m->grads);
    }
    r->n_layers = r->cap_layers = m->n_layers; /* set now: replica_free walks them */
    for (int i = 0; i < m->n_layers; i++) {
        const cnn_layer *ml = &m->layers[i];
        if (!ml->ops->opt_size) continue;
        r->layers[i].opt = malloc(ml->ops->opt_size);
        if (!r->layers[i].opt)
            return cnn_fail(CNN_ERR_NOMEM, "out of memory for a training replica");
        memcpy(r->layers[i].opt, ml->opt, ml->ops->opt_size);
    }
    r->params = m->params; /* shared: the replica never frees them */
    r->buffers = m->buffers;
    r->n_params = m->n_params;
    r->n_buffers = m->n_buffers;
    r->want_input_grad = 0;
    r->built = 1;
    return CNN_OK;
}

cnn_status cnn_replicas_create(cnn_replicas **out, cnn_net *net, int threads) {
    *out = NULL;
    if (!net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is not built", net->filename);
    if (threads < 2 || threads > MAX_REPLICAS)
        return cnn_fail(CNN_ERR_ARG, "data-parallel training needs 2 to %d threads, got %d",
                        MAX_REPLICAS, threads);
    cnn_replicas *rs = calloc(1, sizeof *rs);
    if (!rs) return cnn_fail(CNN_ERR_NOMEM, "out of memory for training replicas");
    rs->master = net;
    cnn_status s = CNN_OK;
    for (int t = 0; t < threads && s == CNN_OK; t++) {
        s = replica_make(net, t == 0, &rs->r[t]);
        rs->n = t + 1;
    }
    if (s != CNN_OK) {
        cnn_replicas_free(rs);
        return s;
    }
    *out = rs;
    return CNN_OK;
}

int cnn_replicas_count(const cnn_replicas *rs) {
    return rs->n;
}

cnn_net *cnn_replicas_net(cnn_replicas *rs, int t) {
    return rs->r[t];
}

/* Images [lo, hi) of a batch of n for slice t of k. */
static void slice(int n, int t, int k, int *lo, int *hi) {
    *lo = (int)((long)n * t / k);
    *hi = (int)((long)n * (t + 1) / k);
}

cnn_status cnn_replicas_step(cnn_replicas *rs, const float *x, const uint8_t *labels, int n,
                             float label_smoothing, float *loss, int *correct, int *bad_slice,
                             int *grads_finite) {
    cnn_net *m = rs->master;
    const int k = n < rs->n ? n : rs->n; /* slices in use */
    const size_t in = cnn_shape_size(m->in_shape);
    int finite = 1;
    float w[MAX_REPLICAS];
    const float *src[MAX_REPLICAS];
    for (int t = 0; t < k; t++) {
        int lo, hi;
        slice(n, t, k, &lo, &hi);
        w[t] = (float)(hi - lo) / (float)n;
        src[t] = rs->r[t]->grads;
        rs->status[t] = CNN_OK;
    }
    float *sum = rs->r[0]->grads;
    const size_t np = m->n_params;
#pragma omp parallel num_threads(k) reduction(&& : finite)
    {
        /* Slices by thread number, in a loop in case the region got fewer
         * threads than asked (a nested call, OMP_THREAD_LIMIT). */
        const int id = omp_get_thread_num(), nt = omp_get_num_threads();
        omp_set_num_threads(1); /* this thread's kernels: no nested teams */
        for (int t = id; t < k; t += nt) {
            cnn_net *r = rs->r[t];
            int lo, hi;
            slice(n, t, k, &lo, &hi);
            r->rng = m->rng;
            for (int i = 0; i < r->n_layers; i++)
                r->layers[i].batch_first = lo;
            cnn_status s = cnn_net_train_step(r, x + in * (size_t)lo, labels + lo, hi - lo,
                                              label_smoothing, &rs->loss[t], &rs->hits[t]);
            rs->status[t] = s;
            if (s != CNN_OK) snprintf(rs->error[t], sizeof rs->error[t], "%s", cnn_last_error());
        }
#pragma omp barrier
        int ok = 1;
        for (int u = 0; u < k; u++)
            ok &= rs->status[u] == CNN_OK;
        for (int t = id; ok && t < k; t += nt) { /* share t of the parameters */
            size_t a = np * (size_t)t / (size_t)k, b = np * (size_t)(t + 1) / (size_t)k;
            const float *part[MAX_REPLICAS];
            for (int u = 0; u < k; u++)
                part[u] = src[u] + a;
            finite = cnn_sum_finite(sum + a, part, w, k, b - a) && finite;
        }
    }
    m->rng = rs->r[0]->rng;
    /* A NaN/Inf loss (CNN_ERR_NUMERIC from the cross-entropy, or a
     * non-finite value) is the caller's to diagnose; other failures are
     * returned with the failing thread's message. */
    *bad_slice = -1;
    for (int t = 0; t < k; t++)
        if (rs->status[t] == CNN_ERR_NUMERIC ||
            (rs->status[t] == CNN_OK && !isfinite(rs->loss[t]))) {
            if (*bad_slice < 0) *bad_slice = t;
        } else if (rs->status[t] != CNN_OK) {
            return cnn_fail(rs->status[t], "%s", rs->error[t]);
        }
    double l = 0;
    int hits = 0;
    for (int t = 0; t < k; t++) {
        l += (double)w[t] * rs->loss[t];
        hits += rs->hits[t];
    }
    *grads_finite = finite && *bad_slice < 0;
    if (loss) *loss = *bad_slice < 0 ? (float)l : NAN;
    if (correct) *correct = hits;
    return CNN_OK;
}
