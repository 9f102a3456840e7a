/* net.h — internal view of a net, for the trainer, the formats and the tests. */
#ifndef CNN_NET_H
#define CNN_NET_H

#include "../layers/layer.h"

/* Backward from an arbitrary output gradient dy (n, out), after a
 * cnn_net_forward(train=1) with the same n. Zeroes and fills the parameter
 * gradients and the input gradient (cnn_net_input_grad). */
cnn_status cnn_net_backward(cnn_net *net, const float *dy, int n);

cnn_layer *cnn_net_layer(cnn_net *net, int i);
const cnn_layer *cnn_net_layer_const(const cnn_net *net, int i);
/* The buffers block (running statistics): saved with weights, not trained. */
float *cnn_net_buffers(cnn_net *net);
size_t cnn_net_num_buffers(const cnn_net *net);
/* The model file name and the net's own generator. */
const char *cnn_net_filename(const cnn_net *net);
cnn_rng *cnn_net_rng(cnn_net *net);
/* Compute the input gradient in backward (default on; the trainer turns it off). */
void cnn_net_set_input_grad(cnn_net *net, int on);

/* Give every layer's output its own buffer, valid after forward (for tools
 * that show intermediate outputs); by default buffers are reused once dead. */
void cnn_net_keep_outputs(cnn_net *net, int on);
/* Bytes of the current activation plan (0 before the first forward). */
size_t cnn_net_plan_bytes(const cnn_net *net);
/* Inference fusion (src/graph/fuse.c), on by default: with train = 0,
 * conv/add -> batchnorm -> relu groups run as one pass and only the group's
 * last layer's output is written. Off (or cnn_net_keep_outputs(net, 1)): every
 * layer's output is written, at the cost of the extra passes. */
void cnn_net_set_fusion(cnn_net *net, int on);
/* How many fused groups the net has (0 before it is built). */
int cnn_fuse_groups(const cnn_net *net);

/* Extra state stored with the weights as kind-2 tensors (checkpoints): a
 * rank-1 tensor of `words` raw 32-bit little-endian words, which weight
 * loading skips. The meaning of the words is the writer's (see
 * src/train/checkpoint.c). */
typedef struct {
    const char *name;
    const void *data;
    uint32_t words;
} cnn_extra_tensor;
cnn_status cnn_net_save_weights_extra(const cnn_net *net, const char *path,
                                      const cnn_extra_tensor *extra, int n_extra);

/* Read named kind-2 tensors of a weights file into slots (each must have
 * exactly `words` words); a missing one that is not optional is an error. */
typedef struct {
    const char *name;
    void *data;
    uint32_t words;
    int optional;
    int found; /* set by the reader */
} cnn_extra_slot;
cnn_status cnn_weights_read_extra(const char *path, cnn_extra_slot *slots, int n_slots);

#endif
