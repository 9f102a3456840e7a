/* net.c — the net: layers in order, shapes checked at build, one block of
 * parameters and one of gradients, activation memory planned for a batch
 * size, forward and backward over the graph.
 *
 * A layer's inputs are earlier layers (or the net's input), so the order in
 * which layers were added is a topological order and cycles cannot exist.
 * Where one output feeds several layers, backward sums their gradients. */
#include "../kernels/softmax.h"
#include "net_internal.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern const cnn_layer_ops cnn_softmax_ops;

cnn_status cnn_net_create(cnn_net **out) {
    *out = NULL;
    cnn_net *net = calloc(1, sizeof *net);
    if (!net) return cnn_fail(CNN_ERR_NOMEM, "out of memory creating a net");
    cnn_train_config_default(&net->train);
    net->want_input_grad = 1;
    snprintf(net->filename, sizeof net->filename, "<api>");
    for (int c = 0; c < CNN_MAX_CHANNELS; c++)
        net->std[c] = 1.0f;
    *out = net;
    return CNN_OK;
}

static void unplan(cnn_net *net) {
    cnn_free_floats(net->arena);
    net->arena = NULL;
    net->planned_n = 0;
    net->planned_train = 0;
}

void cnn_net_free(cnn_net *net) {
    if (!net) return;
    unplan(net);
    cnn_fuse_free(net->fuse);
    for (int i = 0; i < net->n_layers; i++)
        free(net->layers[i].opt);
    free(net->layers);
    free(net->touched);
    cnn_free_floats(net->params);
    cnn_free_floats(net->grads);
    cnn_free_floats(net->buffers);
    free(net);
}

/* ---- building ---------------------------------------------------------- */

cnn_status cnn_net_add_layer(cnn_net *net, cnn_opts *o, const char *type) {
    if (net->built)
        return cnn_fail(CNN_ERR_ARG, "%s:%d: cannot add a layer to a net that is built", o->file,
                        o->line);
    const cnn_layer_ops *ops = cnn_layer_find(type);
    if (!ops) {
        char known[512] = "";
        size_t len = 0;
        for (const char *const *t = cnn_layer_types(); *t && len < sizeof known; t++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                                    t == cnn_layer_types() ? "" : ", ", *t);
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: unknown layer type '%s' (known: input, train, %s)",
                        o->file, o->line, type, known);
    }
    if (net->n_layers == net->cap_layers) {
        int cap = net->cap_layers ? 2 * net->cap_layers : 16;
        cnn_layer *p = realloc(net->layers, (size_t)cap * sizeof *p);
        if (!p) return cnn_fail(CNN_ERR_NOMEM, "out of memory adding a layer");
        net->layers = p;
        net->cap_layers = cap;
    }
    cnn_layer *l = &net->layers[net->n_layers];
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->line = o->line;
    l->rng = &net->rng;
    o->type = type;

    /* The name: given, or the type and a count ("conv2"), as PyTorch users expect. */
    const char *name, *in;
    cnn_opt_str(o, "name", NULL, &name);
    if (name) {
        if (strlen(name) >= sizeof l->name)
            return cnn_fail(CNN_ERR_PARSE, "%s:%d: name '%s' is longer than %zu characters",
                            o->file, o->line, name, sizeof l->name - 1);
        snprintf(l->name, sizeof l->name, "%s", name);
    } else {
        int count = 1;
        for (int i = 0; i < net->n_layers; i++)
            if (net->layers[i].ops == ops) count++;
        snprintf(l->name, sizeof l->name, "%s%d", ops->type, count);
    }
    if (!strcmp(l->name, "input"))
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: the name 'input' is reserved for the net's input",
                        o->file, o->line);
    for (int i = 0; i < net->n_layers; i++)
        if (!strcmp(net->layers[i].name, l->name))
            return cnn_fail(CNN_ERR_PARSE, "%s:%d: duplicate layer name '%s' (first on line %d)",
                            o->file, o->line, l->name, net->layers[i].line);

    /* Inputs: named earlier layers, or by default the previous layer. */
    cnn_opt_str(o, "in", NULL, &in);
    if (in) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", in);
        for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (l->n_in == CNN_MAX_INPUTS)
                return cnn_fail(CNN_ERR_PARSE, "%s:%d: more than %d inputs", o->file, o->line,
                                CNN_MAX_INPUTS);
            int idx = -2;
            if (!strcmp(tok, "input")) idx = -1;
            for (int i = 0; i < net->n_layers && idx == -2; i++)
                if (!strcmp(net->layers[i].name, tok)) idx = i;
            if (idx == -2)
                return cnn_fail(CNN_ERR_PARSE,
                                "%s:%d: in=%s: no earlier layer is named '%s' (a layer can only "
                                "take inputs defined above it)",
                                o->file, o->line, in, tok);
            l->in_idx[l->n_in++] = idx;
        }
    } else {
        l->n_in = 1;
        l->in_idx[0] = net->n_layers - 1;
    }
    if (l->n_in < ops->min_inputs || l->n_in > ops->max_inputs)
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s takes %d to %d inputs, got %d", o->file, o->line,
                        ops->type, ops->min_inputs, ops->max_inputs, l->n_in);

    if (ops->opt_size) {
        l->opt = calloc(1, ops->opt_size);
        if (!l->opt) return cnn_fail(CNN_ERR_NOMEM, "out of memory");
    }
    cnn_status s = ops->configure ? ops->configure(l, o) : CNN_OK;
    if (s == CNN_OK)
        s = cnn_opts_check_unused(o);
    else if (cnn_opts_misspelled(o) != CNN_OK)
        s = CNN_ERR_PARSE;
    if (s != CNN_OK) {
        free(l->opt);
        return s;
    }
    net->n_layers++;
    return CNN_OK;
}

cnn_status cnn_net_build(cnn_net *net, uint64_t seed) {
    if (net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is already built", net->filename);
    if (net->in_shape.c <= 0)
        return cnn_fail(CNN_ERR_PARSE, "%s: no input line (e.g. 'input shape=1x28x28')",
                        net->filename);
    if (net->n_layers == 0)
        return cnn_fail(CNN_ERR_PARSE, "%s: the net has no layers", net->filename);
    if (seed == 0) seed = net->train.seed;
    size_t np = 0, nb = 0;
    for (int i = 0; i < net->n_layers; i++) {
        cnn_layer *l = &net->layers[i];
        for (int j = 0; j < l->n_in; j++)
            l->in[j] = l->in_idx[j] < 0 ? net->in_shape : net->layers[l->in_idx[j]].out;
        cnn_status s = l->ops->shape(l);
        if (s != CNN_OK) {
            cnn_error_prefix("%s:%d: %s (%s)", net->filename, l->line, l->name, l->ops->type);
            return s;
        }
        size_t sz = cnn_shape_size(l->out);
        if (l->out.c <= 0 || l->out.h <= 0 || l->out.w <= 0 || sz > CNN_MAX_SAMPLE)
            return cnn_fail(CNN_ERR_SHAPE, "%s:%d: %s: output shape %dx%dx%d is empty or too large",
                            net->filename, l->line, l->name, l->out.c, l->out.h, l->out.w);
        if (!cnn_add_size(np, l->n_params, &np) || !cnn_add_size(nb, l->n_buffers, &nb) ||
            np > CNN_MAX_PARAMS || nb > CNN_MAX_PARAMS)
            return cnn_fail(CNN_ERR_NOMEM,
                            "%s:%d: %s: the net would have more than %zu parameters (the limit)",
                            net->filename, l->line, l->name, (size_t)CNN_MAX_PARAMS);
    }
    net->params = cnn_alloc_floats(np);
    net->grads = cnn_alloc_floats(np);
    net->buffers = cnn_alloc_floats(nb);
    net->touched = calloc((size_t)net->n_layers, 1);
    if (!net->params || !net->grads || !net->buffers || !net->touched)
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory for %zu parameters", net->filename, np);
    net->n_params = np;
    net->n_buffers = nb;
    cnn_rng init_rng;
    cnn_rng_seed(&init_rng, seed);
    np = nb = 0;
    for (int i = 0; i < net->n_layers; i++) {
        cnn_layer *l = &net->layers[i];
        l->params = net->params + np;
        l->grads = net->grads + np;
        l->buffers = net->buffers + nb;
        np += l->n_params;
        nb += l->n_buffers;
        if (l->ops->init) l->ops->init(l, &init_rng);
    }
    cnn_rng_seed(&net->rng, seed ^ 0x5eed0d15ea5eULL);
    cnn_status s = cnn_fuse_build(net);
    if (s != CNN_OK) return s;
    net->built = 1;
    return CNN_OK;
}

/* ---- memory plan (plan.c) --------------------------------------------- */

/* A plan for batches up to n: a training plan also serves inference, but an
 * inference pass larger than the training batch gets an inference plan (a
 * training plan at that batch would be several times larger). */
static cnn_status ensure_plan(cnn_net *net, int n, int train) {
    if (!net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is not built", net->filename);
    if (n <= 0) return cnn_fail(CNN_ERR_ARG, "batch size must be positive, got %d", n);
    if (n > net->planned_n || omp_get_max_threads() != net->planned_threads ||
        (train && !net->planned_train) || net->keep_outputs != net->planned_keep) {
        int keep_train = net->planned_train && n <= net->planned_n;
        return cnn_net_plan(net, n > net->planned_n ? n : net->planned_n, train || keep_train);
    }
    return CNN_OK;
}

/* ---- forward and backward ---------------------------------------------- */

cnn_status cnn_net_forward(cnn_net *net, const float *x, int n, int train, const float **y) {
    cnn_status s = ensure_plan(net, n, train);
    if (s != CNN_OK) return s;
    if (!train && net->fuse && !net->fusion_off && !net->keep_outputs) {
        cnn_fuse_forward(net, x, n);
    } else {
        for (int i = 0; i < net->n_layers; i++) {
            cnn_layer *l = &net->layers[i];
            const float *xs[CNN_MAX_INPUTS];
            for (int j = 0; j < l->n_in; j++)
                xs[j] = l->in_idx[j] < 0 ? x : net->layers[l->in_idx[j]].y;
            l->ops->forward(l, xs, n, train, net->scratch);
        }
    }
    net->x_last = x;
    net->n_last = n;
    net->last_train = train;
    if (y) *y = net->layers[net->n_layers - 1].y;
    return CNN_OK;
}

/* Backward from layer `top` down, its dy already filled. */
static void backward_from(cnn_net *net, int top) {
    int n = net->n_last;
    memset(net->grads, 0, net->n_params * sizeof(float));
    memset(net->touched, 0, (size_t)net->n_layers);
    int input_touched = 0;
    net->touched[top] = 1;
    for (int i = top; i >= 0; i--) {
        cnn_layer *l = &net->layers[i];
        size_t out = cnn_shape_size(l->out) * (size_t)n;
        if (!net->touched[i]) memset(l->dy, 0, out * sizeof(float)); /* output unused */
        const float *xs[CNN_MAX_INPUTS];
        float *dxs[CNN_MAX_INPUTS], *target[CNN_MAX_INPUTS];
        float *tmp = net->fanout;
        int needed = 0;
        for (int j = 0; j < l->n_in; j++) {
            int p = l->in_idx[j];
            size_t sz = cnn_shape_size(l->in[j]) * (size_t)n;
            xs[j] = p < 0 ? net->x_last : net->layers[p].y;
            target[j] = p < 0 ? (net->want_input_grad ? net->dx_in : NULL) : net->layers[p].dy;
            int seen = p < 0 ? input_touched : net->touched[p];
            for (int k = 0; k < j; k++)
                seen |= l->in_idx[k] == p; /* same input twice */
            if (!target[j]) {
                dxs[j] = NULL;
            } else if (seen) { /* a gradient is there already: compute apart, then add */
                dxs[j] = tmp;
                tmp += sz;
            } else {
                dxs[j] = target[j];
            }
            if (p < 0)
                input_touched = 1;
            else
                net->touched[p] = 1;
            needed |= dxs[j] != NULL;
        }
        if (!needed && l->n_params == 0) continue;
        l->ops->backward(l, xs, dxs, n, net->scratch);
        for (int j = 0; j < l->n_in; j++)
            if (dxs[j] && dxs[j] != target[j]) {
                size_t sz = cnn_shape_size(l->in[j]) * (size_t)n;
                for (size_t k = 0; k < sz; k++)
                    target[j][k] += dxs[j][k];
            }
    }
    if (!input_touched && net->want_input_grad)
        memset(net->dx_in, 0, cnn_shape_size(net->in_shape) * (size_t)n * sizeof(float));
}

cnn_status cnn_net_backward(cnn_net *net, const float *dy, int n) {
    if (!net->arena || n != net->n_last || !net->last_train)
        return cnn_fail(CNN_ERR_ARG, "backward needs a training-mode forward of the same batch");
    cnn_layer *last = &net->layers[net->n_layers - 1];
    memcpy(last->dy, dy, cnn_shape_size(last->out) * (size_t)n * sizeof(float));
    backward_from(net, net->n_layers - 1);
    return CNN_OK;
}

cnn_status cnn_net_train_step(cnn_net *net, const float *x, const uint8_t *labels, int n,
                              float label_smoothing, float *loss, int *correct) {
    if (!net->built) return cnn_fail(CNN_ERR_ARG, "%s: the net is not built", net->filename);
    cnn_layer *last = &net->layers[net->n_layers - 1];
    if (last->ops != &cnn_softmax_ops || net->n_layers < 2 || last->in_idx[0] < 0)
        return cnn_fail(CNN_ERR_ARG,
                        "%s: training needs the net to end in a softmax layer after another layer",
                        net->filename);
    cnn_layer *logits = &net->layers[last->in_idx[0]];
    if (logits->out.h * logits->out.w != 1)
        return cnn_fail(CNN_ERR_SHAPE,
                        "%s: training needs class scores of shape Kx1x1, got %dx%dx%d",
                        net->filename, logits->out.c, logits->out.h, logits->out.w);
    cnn_status s = cnn_net_forward(net, x, n, 1, NULL);
    if (s != CNN_OK) return s;
    int hits = 0;
    float l = 0;
    s = cnn_softmax_xent(logits->y, labels, n, logits->out.c, label_smoothing, logits->dy, &l,
                         &hits);
    if (s != CNN_OK) return s;
    if (isfinite(l)) {
        backward_from(net, (int)(logits - net->layers));
    } else { /* keep the forward's outputs for the diagnosis; no gradient */
        for (size_t i = 0; i < net->n_params; i++)
            net->grads[i] = NAN;
    }
    if (loss) *loss = l;
    if (correct) *correct = hits;
    return CNN_OK;
}

const float *cnn_net_input_grad(const cnn_net *net) {
    return net->dx_in;
}

/* ---- accessors --------------------------------------------------------- */

int cnn_net_num_layers(const cnn_net *net) {
    return net->n_layers;
}
size_t cnn_net_num_params(const cnn_net *net) {
    return net->n_params;
}
float *cnn_net_params(cnn_net *net) {
    return net->params;
}
float *cnn_net_grads(cnn_net *net) {
    return net->grads;
}
float *cnn_net_buffers(cnn_net *net) {
    return net->buffers;
}
size_t cnn_net_num_buffers(const cnn_net *net) {
    return net->n_buffers;
}
cnn_layer *cnn_net_layer(cnn_net *net, int i) {
    return &net->layers[i];
}
const cnn_layer *cnn_net_layer_const(const cnn_net *net, int i) {
    return &net->layers[i];
}
const char *cnn_net_filename(const cnn_net *net) {
    return net->filename;
}
cnn_rng *cnn_net_rng(cnn_net *net) {
    return &net->rng;
}
const cnn_train_config *cnn_net_train_config(const cnn_net *net) {
    return &net->train;
}

void cnn_net_input_shape(const cnn_net *net, int *c, int *h, int *w) {
    *c = net->in_shape.c;
    *h = net->in_shape.h;
    *w = net->in_shape.w;
}

void cnn_net_output_shape(const cnn_net *net, int *c, int *h, int *w) {
    cnn_shape s = net->n_layers ? net->layers[net->n_layers - 1].out : net->in_shape;
    *c = s.c;
    *h = s.h;
    *w = s.w;
}

void cnn_net_input_norm(const cnn_net *net, int channel, float *mean, float *std) {
    int c = channel < 0 || channel >= CNN_MAX_CHANNELS ? 0 : channel;
    *mean = net->mean[c];
    *std = net->std[c];
}

double cnn_net_macs(const cnn_net *net) {
    double m = 0;
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops->macs) m += net->layers[i].ops->macs(&net->layers[i]);
    return m;
}

void cnn_net_set_input_grad(cnn_net *net, int on) {
    net->want_input_grad = on;
}

void cnn_net_set_eval_hflip(cnn_net *net, int on) {
    net->eval_hflip = on != 0;
}

void cnn_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int cnn_get_threads(void) {
    return omp_get_max_threads();
}
