/* layer.h — what a layer is: a small struct and an ops table.
 *
 * One file per layer type in src/layers/ defines a `const cnn_layer_ops` and
 * registers it in registry.c. A layer knows its shapes and its math; it never
 * opens files, allocates in forward/backward, or knows about training loops.
 * The net (src/graph/) owns every buffer a layer points at. */
#ifndef CNN_LAYER_H
#define CNN_LAYER_H

#include "../core/core.h"
#include "../kernels/epilogue.h"

#define CNN_MAX_INPUTS 8
#define CNN_MAX_TENSORS 4

typedef struct cnn_layer cnn_layer;

/* One named parameter or buffer tensor of a layer, for weights files. */
typedef struct {
    const char *suffix; /* "weight", "bias", "running_mean", ... */
    int ndim;
    int dims[4];
    int buffer;    /* 0: in params (trained), 1: in buffers (not trained) */
    size_t offset; /* floats from the start of l->params or l->buffers */
} cnn_tensor_desc;

/* Memory hints of a layer type for the activation plan (src/graph/plan.c).
 * 0 is always safe: the plan then keeps x and y alive until the backward. */
enum {
    CNN_MEM_NO_X = 1, /* backward does not read x */
    CNN_MEM_NO_Y = 2, /* backward does not read l->y */
    /* One input of the output's size; forward works with l->y == x[0] and
     * backward with dx[0] == l->dy (elementwise), and backward gives the same
     * result when x[0] holds l->y instead of the input (ReLU: y > 0 iff x > 0). */
    CNN_MEM_INPLACE = 4,
};

typedef struct cnn_layer_ops {
    const char *type; /* model-file name, e.g. "conv" */
    unsigned mem;     /* CNN_MEM_* hints for the memory plan */
    size_t opt_size;  /* bytes of the type's options struct at l->opt */
    int min_inputs, max_inputs;
    /* Read options from o into l->opt (zeroed). Unread keys are an error,
     * checked by the caller. May be NULL for layers without options. */
    cnn_status (*configure)(cnn_layer *l, cnn_opts *o);
    /* From l->in[0..n_in) set l->out, l->n_params and l->n_buffers; fail with a
     * message (without file:line, the caller adds it) on bad shapes. */
    cnn_status (*shape)(cnn_layer *l);
    /* Initialise l->params / l->buffers as torch.nn does by default. NULL if none. */
    void (*init)(cnn_layer *l, cnn_rng *rng);
    /* Floats kept from forward to backward for a batch of n (at l->state). NULL = 0. */
    size_t (*state_size)(const cnn_layer *l, int n);
    /* Temporary floats for forward or backward of a batch of n run with
     * nthreads threads; shared by all layers. NULL = 0. */
    size_t (*scratch_size)(const cnn_layer *l, int n, int nthreads);
    /* l->y (n, out) = f(x[0..n_in)), each x[i] is (n, in[i]). */
    void (*forward)(cnn_layer *l, const float *const *x, int n, int train, float *scratch);
    /* From l->dy (n, out) and the forward's x, l->y and l->state: write dx[i]
     * (n, in[i]) — overwrite, dx[i] NULL means not needed — and ACCUMULATE
     * parameter gradients into l->grads (zeroed by the net). */
    void (*backward)(cnn_layer *l, const float *const *x, float *const *dx, int n, float *scratch);
    /* Multiply-adds of one sample's forward pass. NULL = 0. */
    double (*macs)(const cnn_layer *l);
    /* Describe the parameter tensors (at most CNN_MAX_TENSORS); returns how many. NULL = 0. */
    int (*tensors)(const cnn_layer *l, cnn_tensor_desc *t);
    /* A few words on the options for the summary ("5x5/1 pad 2"). May be NULL. */
    void (*describe)(const cnn_layer *l, char *buf, size_t len);
    /* Inference fusion (src/graph/fuse.c); both may be NULL. */
    /* The inference-mode output as a per-channel map of the input from the
     * current parameters and buffers: y[c] = x[c] * scale[c] + shift[c]
     * (scale and shift have out.c entries). Batch norm folded into a conv. */
    void (*channel_affine)(const cnn_layer *l, float *scale, float *shift);
    /* Inference forward with an epilogue, to y (which need not be l->y):
     * y = epilogue(f(x)). The layer's own per-channel terms (a conv's bias) are
     * folded into e by the caller (see fuse.c), so the layer ignores them. */
    void (*forward_ep)(cnn_layer *l, const float *const *x, int n, const cnn_epilogue *e, float *y,
                       float *scratch);
} cnn_layer_ops;

struct cnn_layer {
    const cnn_layer_ops *ops;
    void *opt; /* the type's options struct */
    char name[64];
    int line; /* line in the model file, for messages */
    int n_in;
    int in_idx[CNN_MAX_INPUTS];   /* producing layer, -1 = the net's input */
    cnn_shape in[CNN_MAX_INPUTS]; /* per-sample input shapes */
    cnn_shape out;                /* per-sample output shape */
    size_t n_params, n_buffers;
    float *params, *grads; /* views into the net's blocks */
    float *buffers;        /* untrained state saved with the weights */
    float *y, *dy;         /* output and its gradient, (batch, out) */
    float *state;          /* kept from forward to backward */
    cnn_rng *rng;          /* the net's generator (dropout) */
    int batch_first;       /* index in the whole batch of this pass's first sample: a
                            * replica's slice (src/graph/replica.c), else 0 */
};

/* Kaiming-uniform as torch.nn.Conv2d / Linear reset_parameters(): weight and
 * bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void cnn_init_uniform(float *p, size_t n, float bound, cnn_rng *rng);

/* The registry: look a type up by its model-file name (or alias). */
const cnn_layer_ops *cnn_layer_find(const char *type);
/* All known type names, NULL-terminated, for messages and docs. */
const char *const *cnn_layer_types(void);

#endif
