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

/* Data-parallel training steps across threads (replica.c). */
typedef struct cnn_replicas cnn_replicas;
/* 1 when a training step of net may be split into slices (0 and the reason
 * otherwise: batch norm). */
int cnn_replicas_usable(const cnn_net *net, const char **why);
/* How many slices a training step of batch on `threads` threads runs in
 * with data_parallel `mode`: 0 for the unsplit step; fails for ON with a net
 * that cannot be split. */
cnn_status cnn_replicas_choose(const cnn_net *net, cnn_data_parallel_kind mode, int batch,
                               int threads, int *split);
/* One replica per thread (threads >= 2) sharing net's parameters and buffers. */
cnn_status cnn_replicas_create(cnn_replicas **out, cnn_net *net, int threads);
void cnn_replicas_free(cnn_replicas *rs);
int cnn_replicas_count(const cnn_replicas *rs);
cnn_net *cnn_replicas_net(cnn_replicas *rs, int t);
/* A training step of batch x (n, in) with labels as cnn_net_train_step, one
 * slice per replica: loss is the batch's mean, correct its hits, and the
 * gradient of the mean loss is left in the master's gradient block
 * (cnn_net_grads), into which replica 0 sums. *bad_slice is the first replica whose loss is NaN or
 * Inf (-1 if none; diagnose it with its own outputs), *grads_finite whether
 * every summed gradient is finite. */
cnn_status cnn_replicas_step(cnn_replicas *rs, const float *x, const uint8_t *labels, int n,
                             float label_smoothing, float *loss, int *correct, int *bad_slice,
                             int *grads_finite);

#endif
