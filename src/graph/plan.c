/* plan.c — the activation memory plan: one arena for a batch of n, laid out
 * by liveness.
 *
 * Time runs over the forward steps 0..L-1 (layer i at step i) and, in a
 * training plan, the backward steps L..2L-1 (layer i at 2L-1-i). Every
 * buffer — a layer's output y, its gradient dy, its state — lives from the
 * step that first writes it to the last step that reads it:
 *
 *   y_i      from i to its last consumer's forward; in training also to
 *            layer i's backward (unless its type has CNN_MEM_NO_Y) and to
 *            the backward of every consumer that reads its x (unless
 *            CNN_MEM_NO_X). The class scores (the final softmax's input)
 *            and the net's output live to the end.
 *   dy_i     from the backward of its last consumer (the first to write
 *            it) to layer i's backward.
 *   state_i  from i to layer i's backward (training), step i (inference).
 *
 * A CNN_MEM_INPLACE layer (ReLU, dropout, flatten) whose input is the sole
 * use of an earlier layer's output writes its output over that input and its
 * input gradient over its own output gradient: the two share one buffer.
 * In training the earlier layer's backward must then not read the shared
 * buffer (CNN_MEM_NO_Y, and CNN_MEM_NO_X if it is itself in place).
 *
 * Buffers whose lifetimes overlap get disjoint memory, the others share it:
 * placed largest first, each at the lowest offset free over its lifetime
 * (the greedy-by-size heuristic of TFLite's arena planner). The shared
 * scratch, the fan-out sums and the input gradient follow, live throughout.
 *
 * An inference plan is smaller (no gradients, nothing kept for backward); a
 * training plan also serves inference. cnn_net_keep_outputs(net, 1) gives
 * every output its own buffer, kept after forward, for tools that show
 * intermediate outputs. */
#include "../kernels/softmax.h"
#include "net_internal.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern const cnn_layer_ops cnn_softmax_ops;

typedef struct {
    size_t size;    /* floats, rounded up to 16 */
    int start, end; /* inclusive steps */
    size_t offset;  /* floats from the arena's start */
    int placed;
} buf;

/* Union-find over buffer ids: in-place layers share their input's buffer. */
static int root(int *parent, int b) {
    while (parent[b] != b)
        b = parent[b] = parent[parent[b]];
    return b;
}

static bool round16(size_t count, size_t *out) {
    size_t r;
    if (!cnn_add_size(count, 15, &r)) return false;
    *out = r & ~(size_t)15;
    return true;
}

static void use(buf *b, int t) {
    if (t < b->start) b->start = t;
    if (t > b->end) b->end = t;
}

static int by_size(const void *a, const void *b) {
    const buf *x = *(buf *const *)a, *y = *(buf *const *)b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->start - y->start;
}

static int by_offset(const void *a, const void *b) {
    const buf *x = *(buf *const *)a, *y = *(buf *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Lay out bufs[0..nb) (sizes and lifetimes set); returns the arena size in floats. */
static size_t place(buf *bufs, int nb, buf **order, buf **live) {
    int k = 0;
    for (int i = 0; i < nb; i++)
        if (bufs[i].size > 0) order[k++] = &bufs[i];
    qsort(order, (size_t)k, sizeof *order, by_size);
    size_t total = 0;
    for (int i = 0; i < k; i++) {
        buf *b = order[i];
        int nl = 0;
        for (int j = 0; j < i; j++)
            if (order[j]->start <= b->end && b->start <= order[j]->end) live[nl++] = order[j];
        qsort(live, (size_t)nl, sizeof *live, by_offset);
        size_t at = 0;
        for (int j = 0; j < nl; j++) {
            if (live[j]->offset >= at + b->size) break; /* the gap before it fits */
            size_t end = live[j]->offset + live[j]->size;
            if (end > at) at = end;
        }
        b->offset = at;
        b->placed = 1;
        if (at + b->size > total) total = at + b->size;
    }
    return total;
}

cnn_status cnn_net_plan(cnn_net *net, int n, int train) {
    const int L = net->n_layers, threads = omp_get_max_threads(), end = 2 * L;
    const int keep = net->keep_outputs;
    /* Buffer ids: y_i = i, dy_i = L + i, state_i = 2L + i. */
    const int nb = 3 * L;
    buf *bufs = calloc((size_t)nb, sizeof *bufs);
    buf **order = malloc((size_t)nb * sizeof *order), **live = malloc((size_t)nb * sizeof *live);
    int *parent = malloc((size_t)nb * sizeof *parent), *uses = calloc((size_t)L, sizeof *uses);
    int *inplace = calloc((size_t)L, sizeof *inplace);
    cnn_status s = CNN_OK;
    if (!bufs || !order || !live || !parent || !uses || !inplace) {
        s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory planning batch %d", net->filename, n);
        goto done;
    }
    for (int b = 0; b < nb; b++) {
        parent[b] = b;
        bufs[b].start = end + 1;
        bufs[b].end = -1;
    }
    int input_uses = 0;
    for (int i = 0; i < L; i++)
        for (int j = 0; j < net->layers[i].n_in; j++)
            if (net->layers[i].in_idx[j] >= 0)
                uses[net->layers[i].in_idx[j]]++;
            else
                input_uses++;
    /* Outputs read after forward: the net's output and the class scores. */
    const cnn_layer *last = &net->layers[L - 1];
    int scores = last->ops == &cnn_softmax_ops && last->in_idx[0] >= 0 ? last->in_idx[0] : L - 1;

    /* Sizes, and which layers run in place. */
    bool ok = true;
    size_t scratch = 0, fanout = 0, in_size = 0, sz;
    ok = cnn_mul_size(cnn_shape_size(net->in_shape), (size_t)n, &in_size) &&
         round16(in_size, &in_size);
    for (int i = 0; i < L && ok; i++) {
        cnn_layer *l = &net->layers[i];
        size_t out = 0, st = 0, sc = 0, fo = 0;
        ok = cnn_mul_size(cnn_shape_size(l->out), (size_t)n, &out) && round16(out, &out);
        if (ok && l->ops->state_size) ok = round16(l->ops->state_size(l, n), &st);
        if (ok && l->ops->scratch_size) sc = l->ops->scratch_size(l, n, threads);
        /* Fan-out sums: only for an output (or the net's input) used more than once. */
        for (int j = 0; j < l->n_in && ok; j++)
            if (l->in_idx[j] < 0 ? input_uses > 1 : uses[l->in_idx[j]] > 1)
                ok = cnn_mul_size(cnn_shape_size(l->in[j]), (size_t)n, &sz) && round16(sz, &sz) &&
                     cnn_add_size(fo, sz, &fo);
        if (sc > scratch) scratch = sc;
        if (fo > fanout) fanout = fo;
        bufs[i].size = out;
        bufs[L + i].size = train ? out : 0;
        bufs[2 * L + i].size = st;
        int p = l->in_idx[0];
        if (!keep && (l->ops->mem & CNN_MEM_INPLACE) && l->n_in == 1 && p >= 0 && uses[p] == 1 &&
            p != scores && cnn_shape_size(l->in[0]) == cnn_shape_size(l->out)) {
            unsigned pm = net->layers[p].ops->mem;
            if (!train || ((pm & CNN_MEM_NO_Y) && (!inplace[p] || (pm & CNN_MEM_NO_X)))) {
                inplace[i] = 1;
                parent[root(parent, i)] = root(parent, p);
                if (train) parent[root(parent, L + p)] = root(parent, L + i);
            }
        }
    }
    ok = ok && round16(scratch, &scratch) && (!train || round16(fanout, &fanout));
    if (!ok) {
        s = cnn_fail(CNN_ERR_NOMEM, "%s: batch %d needs too much memory", net->filename, n);
        goto done;
    }
    if (!train) fanout = 0;

    /* Lifetimes, on each buffer's root. */
    for (int i = 0; i < L; i++) {
        const cnn_layer *l = &net->layers[i];
        int back = end - 1 - i;
        use(&bufs[root(parent, i)], keep ? 0 : i);
        int tail = cnn_fuse_tail(net, i); /* an inference group writes its last output here */
        if (tail > i) use(&bufs[root(parent, tail)], i);
        if (keep || i == scores || i == L - 1) use(&bufs[root(parent, i)], end);
        if (train && !(l->ops->mem & CNN_MEM_NO_Y)) use(&bufs[root(parent, i)], back);
        for (int j = 0; j < l->n_in; j++) {
            int p = l->in_idx[j];
            if (p < 0) continue;
            use(&bufs[root(parent, p)], i);
            if (train && !(l->ops->mem & CNN_MEM_NO_X)) use(&bufs[root(parent, p)], back);
            if (train) use(&bufs[root(parent, L + p)], back); /* written by this backward */
        }
        if (train) use(&bufs[root(parent, L + i)], back);
        use(&bufs[2 * L + i], i);
        if (train) use(&bufs[2 * L + i], back);
    }
    /* Members of a shared buffer take the largest size; the others are not placed. */
    for (int b = 0; b < nb; b++) {
        int r = root(parent, b);
        if (r != b) {
            if (bufs[b].size > bufs[r].size) bufs[r].size = bufs[b].size;
            bufs[b].size = 0;
        }
    }
    size_t total = place(bufs, nb, order, live), base = total;
    ok = cnn_add_size(total, scratch, &total) && cnn_add_size(total, fanout, &total) &&
         (!train || cnn_add_size(total, in_size, &total));
    if (!ok || total > CNN_MAX_PLAN_BYTES / sizeof(float)) {
        s = cnn_fail(CNN_ERR_NOMEM, "%s: batch %d needs too much memory", net->filename, n);
        goto done;
    }
    cnn_free_floats(net->arena);
    net->arena = NULL;
    net->planned_n = 0;
    float *p = cnn_alloc_floats(total > 0 ? total : 16);
    if (!p) {
        s = cnn_fail(CNN_ERR_NOMEM, "%s: out of memory planning %zu MB for batch %d", net->filename,
                     total * sizeof(float) >> 20, n);
        goto done;
    }
    net->arena = p;
    for (int i = 0; i < L; i++) {
        cnn_layer *l = &net->layers[i];
        l->y = p + bufs[root(parent, i)].offset;
        l->dy = train ? p + bufs[root(parent, L + i)].offset : NULL;
        l->state = p + bufs[2 * L + i].offset;
    }
    net->scratch = p + base;
    net->fanout = train ? net->scratch + scratch : NULL;
    net->dx_in = train ? net->fanout + fanout : NULL;
    net->planned_n = n;
    net->planned_threads = threads;
    net->planned_train = train;
    net->planned_keep = keep;
    net->plan_floats = total;

done:
    free(bufs);
    free(order);
    free(live);
    free(parent);
    free(uses);
    free(inplace);
    return s;
}

void cnn_net_keep_outputs(cnn_net *net, int on) {
    net->keep_outputs = on != 0;
}

size_t cnn_net_plan_bytes(const cnn_net *net) {
    return net->plan_floats * sizeof(float);
}
