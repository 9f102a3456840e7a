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

#endif
