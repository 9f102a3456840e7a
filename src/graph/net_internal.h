/* net_internal.h — the net's struct, for the files of src/graph and src/formats. */
#ifndef CNN_NET_INTERNAL_H
#define CNN_NET_INTERNAL_H

#include "net.h"

#define CNN_MAX_CHANNELS 64

typedef struct cnn_fuse_plan cnn_fuse_plan; /* fuse.c */

/* The options of a `train` line into t (also used by the CLI for overrides). */
cnn_status cnn_parse_train_opts(cnn_opts *o, cnn_train_config *t);

struct cnn_net {
    char filename[256]; /* model file, for messages */
    cnn_shape in_shape; /* per-sample input (C,H,W) */
    float mean[CNN_MAX_CHANNELS], std[CNN_MAX_CHANNELS];
    cnn_train_config train; /* the recipe of the `train` line */
    int n_layers, cap_layers;
    cnn_layer *layers;
    int built;
    float *params, *grads, *buffers; /* one block each */
    size_t n_params, n_buffers;
    cnn_rng rng; /* dropout */
    /* The plan (plan.c): every activation buffer for a batch of planned_n. */
    float *arena, *scratch, *fanout, *dx_in;
    int planned_n, planned_threads, planned_train, planned_keep;
    size_t plan_floats;
    int keep_outputs;       /* every output its own buffer, kept after forward */
    unsigned char *touched; /* backward: which outputs got a gradient */
    int want_input_grad;
    int api_lines; /* lines added with cnn_net_add */
    /* The last forward, for backward. */
    const float *x_last;
    int n_last, last_train;
    cnn_fuse_plan *fuse; /* inference fusion groups (fuse.c) */
    int fusion_off;      /* cnn_net_set_fusion(net, 0) */
    int eval_hflip;      /* cnn_net_set_eval_hflip */
};

/* Plan the activation memory for batches of up to n (plan.c): training
 * (gradients, and what backward reads kept alive) or inference only. */
cnn_status cnn_net_plan(cnn_net *net, int n, int train);
/* Inference fusion (fuse.c): groups of conv/add -> batchnorm -> relu run as
 * one pass when cnn_net_forward has train = 0. Built by cnn_net_build. */
cnn_status cnn_fuse_build(cnn_net *net);
void cnn_fuse_free(cnn_fuse_plan *p);
/* The inference forward of every layer with the groups fused (plan ready). */
void cnn_fuse_forward(cnn_net *net, const float *x, int n);
/* The last layer of the inference group layer i heads, or -1. */
int cnn_fuse_tail(const cnn_net *net, int i);

/* Add a layer of `type` with the options o (file and line set). */
cnn_status cnn_net_add_layer(cnn_net *net, cnn_opts *o, const char *type);

#endif
