/* fuse.c — inference fusion: a layer with an epilogue-capable forward (conv,
 * add) followed by a batch norm and/or a ReLU runs as one pass at inference
 * (cnn_net_forward with train = 0):
 *
 *   conv -> batchnorm -> relu     conv without bias, then per channel
 *                                 y = relu(acc * scale + shift) on each image
 *   conv -> relu, conv -> bn      the same with the parts present
 *   add  -> relu                  the sum and the ReLU in one pass
 *
 * The batch norm is folded as a per-channel scale and shift (its own
 * channel_affine op), computed from the CURRENT parameters and running
 * statistics at every inference forward: O(channels), nothing cached, so an
 * optimizer step, a training forward (running statistics) or a weights load
 * can never leave a stale fold behind. The conv's own weights are not copied
 * or changed (weights are never mutated by a forward pass).
 *
 * A group is only formed from layers that are consecutive in the net's order,
 * where each member's output feeds only the next member (and is not the net's
 * output). The group's result goes straight into the LAST member's output;
 * the outputs of the earlier members are not written by an inference forward
 * (cnn_net_set_fusion(net, 0) or cnn_net_keep_outputs(net, 1) keep every
 * layer's output). For the memory plan (plan.c): a group reads the head's
 * inputs and writes the tail's output at the head's step, so the tail's
 * buffer lives from there (cnn_fuse_tail). Training never uses this path. */
#include "net_internal.h"
#include <stdlib.h>
#include <string.h>

extern const cnn_layer_ops cnn_relu_ops, cnn_leaky_relu_ops;
float cnn_leaky_relu_slope(const cnn_layer *l); /* activation.c */

typedef struct {
    int head, tail;    /* layers [head, tail] run as head's forward_ep into tail's y */
    int bn;            /* the folded batch norm, or -1 */
    const float *bias; /* the head's bias (K), or NULL */
    cnn_act_kind act;
    float slope;          /* leaky_relu */
    float *scale, *shift; /* (K) each, when bn >= 0 */
} fuse_group;

struct cnn_fuse_plan {
    int n_groups;
    fuse_group *groups;
    int *group_at; /* per layer: the group it heads, or -1 */
    float *coef;   /* every group's scale and shift */
};

void cnn_fuse_free(cnn_fuse_plan *p) {
    if (!p) return;
    free(p->groups);
    free(p->group_at);
    cnn_free_floats(p->coef);
    free(p);
}

/* The head's bias tensor (named "bias", one value per output channel), if any. */
static const float *head_bias(const cnn_layer *l) {
    cnn_tensor_desc t[CNN_MAX_TENSORS];
    int k = l->ops->tensors ? l->ops->tensors(l, t) : 0;
    for (int i = 0; i < k; i++)
        if (!t[i].buffer && !strcmp(t[i].suffix, "bias") && t[i].ndim == 1 &&
            t[i].dims[0] == l->out.c)
            return l->params + t[i].offset;
    return NULL;
}

/* Layer j takes exactly layer i's output, and nothing else does. */
static int sole_consumer(const cnn_net *net, const int *uses, int i, int j) {
    if (j >= net->n_layers || uses[i] != 1) return 0;
    const cnn_layer *l = &net->layers[j];
    return l->n_in == 1 && l->in_idx[0] == i;
}

cnn_status cnn_fuse_build(cnn_net *net) {
    cnn_fuse_free(net->fuse);
    net->fuse = NULL;
    const int L = net->n_layers;
    cnn_fuse_plan *p = calloc(1, sizeof *p);
    int *uses = calloc((size_t)L, sizeof *uses);
    if (p) p->groups = calloc((size_t)L, sizeof *p->groups);
    if (p) p->group_at = malloc((size_t)L * sizeof *p->group_at);
    if (!p || !uses || !p->groups || !p->group_at) {
        free(uses);
        cnn_fuse_free(p);
        return cnn_fail(CNN_ERR_NOMEM, "out of memory planning inference fusion");
    }
    for (int i = 0; i < L; i++) {
        p->group_at[i] = -1;
        for (int j = 0; j < net->layers[i].n_in; j++)
            if (net->layers[i].in_idx[j] >= 0) uses[net->layers[i].in_idx[j]]++;
    }
    uses[L - 1]++; /* the net's output */
    size_t coef = 0;
    for (int i = 0; i < L; i++) {
        const cnn_layer *l = &net->layers[i];
        if (!l->ops->forward_ep) continue;
        fuse_group g = {.head = i, .tail = i, .bn = -1, .act = CNN_ACT_NONE};
        if (sole_consumer(net, uses, g.tail, g.tail + 1) &&
            net->layers[g.tail + 1].ops->channel_affine)
            g.bn = ++g.tail;
        if (sole_consumer(net, uses, g.tail, g.tail + 1)) {
            const cnn_layer *a = &net->layers[g.tail + 1];
            if (a->ops == &cnn_relu_ops) {
                g.act = CNN_ACT_RELU;
                g.tail++;
            } else if (a->ops == &cnn_leaky_relu_ops) {
                g.act = CNN_ACT_LEAKY_RELU;
                g.slope = cnn_leaky_relu_slope(a);
                g.tail++;
            }
        }
        if (g.tail == i) continue;
        g.bias = head_bias(l);
        if (g.bn >= 0) coef += 2 * (size_t)l->out.c;
        p->group_at[i] = p->n_groups;
        p->groups[p->n_groups++] = g;
        i = g.tail;
    }
    free(uses);
    if (coef && !(p->coef = cnn_alloc_floats(coef))) {
        cnn_fuse_free(p);
        return cnn_fail(CNN_ERR_NOMEM, "out of memory planning inference fusion");
    }
    coef = 0;
    for (int k = 0; k < p->n_groups; k++) {
        fuse_group *g = &p->groups[k];
        if (g->bn < 0) continue;
        size_t c = (size_t)net->layers[g->head].out.c;
        g->scale = p->coef + coef;
        g->shift = g->scale + c;
        coef += 2 * c;
    }
    net->fuse = p;
    return CNN_OK;
}

/* The group's epilogue from the current parameters and buffers. */
static cnn_epilogue group_epilogue(const cnn_net *net, const fuse_group *g) {
    cnn_epilogue e = {.scale = NULL, .shift = g->bias, .act = g->act, .slope = g->slope};
    if (g->bn >= 0) {
        const cnn_layer *bn = &net->layers[g->bn];
        bn->ops->channel_affine(bn, g->scale, g->shift);
        if (g->bias)
            for (int k = 0; k < bn->out.c; k++)
                g->shift[k] += g->bias[k] * g->scale[k];
        e.scale = g->scale;
        e.shift = g->shift;
    }
    return e;
}

void cnn_fuse_forward(cnn_net *net, const float *x, int n) {
    const cnn_fuse_plan *p = net->fuse;
    for (int i = 0; i < net->n_layers; i++) {
        cnn_layer *l = &net->layers[i];
        const float *xs[CNN_MAX_INPUTS];
        for (int j = 0; j < l->n_in; j++)
            xs[j] = l->in_idx[j] < 0 ? x : net->layers[l->in_idx[j]].y;
        if (p->group_at[i] < 0) {
            l->ops->forward(l, xs, n, 0, net->scratch);
            continue;
        }
        const fuse_group *g = &p->groups[p->group_at[i]];
        cnn_epilogue e = group_epilogue(net, g);
        l->ops->forward_ep(l, xs, n, &e, net->layers[g->tail].y, net->scratch);
        i = g->tail;
    }
}

int cnn_fuse_tail(const cnn_net *net, int i) {
    const cnn_fuse_plan *p = net->fuse;
    return p && p->group_at[i] >= 0 ? p->groups[p->group_at[i]].tail : -1;
}

int cnn_fuse_groups(const cnn_net *net) {
    return net->fuse ? net->fuse->n_groups : 0;
}

void cnn_net_set_fusion(cnn_net *net, int on) {
    net->fusion_off = !on;
}
