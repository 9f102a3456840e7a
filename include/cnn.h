/* cnn.h — the public API of libcnn: convolutional neural networks in C.
 *
 * One header, one prefix (cnn_). Every function that can fail returns a
 * cnn_status; on failure cnn_last_error() gives a one-line message naming the
 * file and line or byte offset where that applies. The library never calls
 * exit() and never prints unless asked to (cnn_net_summary).
 *
 * Tensors are float32, NCHW, row-major. A net is described by a model file
 * (docs/model-format.md) or built line by line with cnn_net_add().
 *
 *   cnn_net *net;
 *   if (cnn_net_load_model(&net, "models/lenet5.cnn") != CNN_OK) {
 *       fprintf(stderr, "%s\n", cnn_last_error());
 *       return 1;
 *   }
 */
#ifndef CNN_H
#define CNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum {
    CNN_OK = 0,
    CNN_ERR_ARG,         /* the caller passed something invalid */
    CNN_ERR_NOMEM,       /* an allocation failed or a size is absurd */
    CNN_ERR_IO,          /* a file is missing, unreadable or short */
    CNN_ERR_PARSE,       /* a model file is malformed */
    CNN_ERR_FORMAT,      /* a binary file (weights, IDX, image) is malformed */
    CNN_ERR_SHAPE,       /* shapes do not agree */
    CNN_ERR_NUMERIC,     /* NaN or Inf met */
    CNN_ERR_UNSUPPORTED, /* valid, but not implemented */
} cnn_status;

/* Short name of a status ("parse error", ...). */
const char *cnn_status_str(cnn_status s);
/* The message of the last failure in the calling thread ("" if none). */
const char *cnn_last_error(void);

/* Number of threads used by the compute kernels (OpenMP); n <= 0 means all
 * cores. Results are bit-identical for the same thread count. */
void cnn_set_threads(int n);
int cnn_get_threads(void);

/* ---- nets -------------------------------------------------------------- */

typedef struct cnn_net cnn_net;

/* Training recipe: what `cnn train` uses unless told otherwise. A model file
 * may set it with a `train` line; cnn_train_config_default() fills defaults. */
typedef enum { CNN_OPT_SGD = 0, CNN_OPT_ADAM, CNN_OPT_ADAMW } cnn_optimizer_kind;
typedef enum { CNN_SCHED_CONSTANT = 0, CNN_SCHED_STEP, CNN_SCHED_COSINE } cnn_schedule_kind;
/* How cnn_train_run uses several threads: split each layer's work (OFF), or
 * split each batch into one slice per thread, each run through its own copy
 * of the activations, the gradients summed (ON); AUTO picks (docs/design.md). */
typedef enum { CNN_DP_AUTO = 0, CNN_DP_OFF, CNN_DP_ON } cnn_data_parallel_kind;

typedef struct {
    int epochs;             /* passes over the training set */
    int batch;              /* mini-batch size */
    cnn_optimizer_kind optimizer;
    float lr;               /* base learning rate */
    float momentum;         /* SGD momentum (0 = plain SGD) */
    int nesterov;           /* SGD: Nesterov momentum */
    float dampening;        /* SGD dampening, as torch.optim.SGD */
    float weight_decay;     /* L2 (SGD, Adam) or decoupled (AdamW) */
    float beta1, beta2, eps;/* Adam/AdamW */
    cnn_schedule_kind schedule;
    int step_size;          /* STEP: epochs between decays */
    float gamma;            /* STEP: decay factor */
    float min_lr;           /* COSINE: final learning rate */
    int warmup_epochs;      /* linear warm-up from 0 over this many epochs */
    float label_smoothing;  /* cross-entropy label smoothing, 0..1 */
    uint64_t seed;          /* init, shuffling, dropout, augmentation, validation split */
    /* Augmentation of training batches (validation and test data are never
     * augmented), drawn per batch from a generator seeded by (seed, epoch,
     * batch), so a batch is the same however and whenever it is made. */
    int crop_pad;           /* random crop of the input size from the image zero-padded by N */
    int hflip;              /* horizontal flip with probability 1/2 */
    float rotate;           /* rotation by a uniform angle in [-rotate, rotate] degrees */
    int translate;          /* shift by uniform integers in [-translate, translate] pixels */
    float erase;            /* random erasing with this probability (torchvision RandomErasing) */
    int tta_hflip;          /* evaluate on each image and its mirror (cnn_net_set_eval_hflip) */
    /* The loop (cnn_train_run). */
    float val_split;        /* held out for validation (cnn train splits with cnn_dataset_split):
                             * a fraction (< 1) or a count; 0 = none */
    int patience;           /* stop after N epochs without a better validation accuracy; 0 = never */
    int checkpoint_every;   /* steps between checkpoints besides each epoch's end; 0 = epochs only */
    int log_every;          /* steps between metrics-log lines; 0 = epochs only */
    cnn_data_parallel_kind data_parallel; /* batch slices per thread (nets without batch norm) */
} cnn_train_config;

void cnn_train_config_default(cnn_train_config *cfg);

/* An empty net; add layers with cnn_net_add, then cnn_net_build. */
cnn_status cnn_net_create(cnn_net **out);
/* Add one layer, written as a model-file line, e.g. "conv filters=6 kernel=5". */
cnn_status cnn_net_add(cnn_net *net, const char *line);
/* Parse a whole model file (text), or read and parse one from disk. Both
 * build the net (shapes checked, parameters allocated and initialised with
 * the given seed, or the train line's seed if seed is 0). */
cnn_status cnn_net_parse(cnn_net **out, const char *text, const char *filename, uint64_t seed);
cnn_status cnn_net_load_model(cnn_net **out, const char *path, uint64_t seed);
/* Import an ONNX model (docs/onnx.md): the graph becomes layers, the
 * initializers their weights. An operator or attribute value that cannot be
 * computed exactly is refused, naming the operator and the node.
 * cnn_net_load_model calls this for a path ending in ".onnx". */
cnn_status cnn_net_load_onnx(cnn_net **out, const char *path);
/* Infer and check every shape, allocate parameters and initialise them as
 * PyTorch does by default (Kaiming-uniform), from the seed. */
cnn_status cnn_net_build(cnn_net *net, uint64_t seed);
void cnn_net_free(cnn_net *net); /* accepts NULL */

/* The recipe from the model file's `train` line (defaults if it has none). */
const cnn_train_config *cnn_net_train_config(const cnn_net *net);

int cnn_net_num_layers(const cnn_net *net);
size_t cnn_net_num_params(const cnn_net *net);
/* Per-sample input and output shapes (C,H,W); output of a classifier is (K,1,1). */
void cnn_net_input_shape(const cnn_net *net, int *c, int *h, int *w);
void cnn_net_output_shape(const cnn_net *net, int *c, int *h, int *w);
/* Per-channel normalisation of the input line: pixel/255 -> (v - mean) / std. */
void cnn_net_input_norm(const cnn_net *net, int channel, float *mean, float *std);
/* Multiply-adds of one forward pass of one sample. */
double cnn_net_macs(const cnn_net *net);
/* A table of layers, output shapes, parameter counts and multiply-adds. */
cnn_status cnn_net_summary(const cnn_net *net, FILE *f);

/* The parameters and their gradients: one contiguous block each. */
float *cnn_net_params(cnn_net *net);
float *cnn_net_grads(cnn_net *net);

/* Forward pass over a batch x of shape (n, C, H, W). train selects training
 * behaviour (dropout on, batch statistics). *y points at the net's output
 * (n, K, 1, 1), valid until the next call. Memory is re-planned only when n
 * grows past what was planned. */
cnn_status cnn_net_forward(cnn_net *net, const float *x, int n, int train, const float **y);

/* One training step's math on a batch: forward (train mode), softmax
 * cross-entropy against labels, backward. Gradients are zeroed first, then
 * filled. The net must end in a softmax layer; the loss is computed on its
 * input (fused, log-sum-exp stable). loss gets the mean loss, correct (may be
 * NULL) the number of arg-max hits. NaN/Inf in the loss is CNN_ERR_NUMERIC. */
cnn_status cnn_net_train_step(cnn_net *net, const float *x, const uint8_t *labels, int n,
                              float label_smoothing, float *loss, int *correct);

/* Gradient of the last cnn_net_train_step w.r.t. its input x (n, C, H, W),
 * valid until the next call: for adversarial examples and saliency. */
const float *cnn_net_input_grad(const cnn_net *net);

/* ---- weights ----------------------------------------------------------- */

/* Binary, versioned, checksummed; names and shapes of every tensor. Save ->
 * load round-trips bit-exactly. A file that does not match the net is
 * refused with the tensor and the reason. */
cnn_status cnn_net_save_weights(const cnn_net *net, const char *path);
cnn_status cnn_net_load_weights(cnn_net *net, const char *path);

/* ---- optimizers -------------------------------------------------------- */

typedef struct cnn_optim cnn_optim;

/* An optimizer for n parameters with torch.optim semantics (SGD with
 * momentum/dampening/Nesterov and L2 weight decay; Adam; AdamW). */
cnn_status cnn_optim_create(cnn_optim **out, const cnn_train_config *cfg, size_t n);
void cnn_optim_free(cnn_optim *opt);
/* params -= update(grads) at learning rate lr. */
void cnn_optim_step(cnn_optim *opt, float *params, const float *grads, float lr);
/* Learning rate at the 0-based optimizer step (warm-up, then the schedule). */
float cnn_schedule_lr(const cnn_train_config *cfg, int step, int steps_per_epoch);

/* ---- data -------------------------------------------------------------- */

/* A labelled image set held as uint8 (n, c, h, w); converted to float per
 * batch. The images are in memory, or (cnn_dataset_open_idx) stay in their
 * file and are read when a batch is formed. */
typedef struct {
    int n, c, h, w;
    uint8_t *images; /* n*c*h*w bytes; NULL when the images stay in their file */
    uint8_t *labels; /* n bytes */
    int classes;     /* 1 + the largest label */
    struct cnn_dataset_file *file; /* the open images file (used only when images is NULL) */
} cnn_dataset;

/* IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed (detected by magic).
 * Checks magic, dimensions and the file's length; labels are checked against a
 * net by the trainer (cnn_train, cnn_evaluate). */
cnn_status cnn_dataset_load_idx(cnn_dataset *ds, const char *images_path, const char *labels_path);
/* The same checks, but a raw (uncompressed) images file is kept open and not
 * read into memory: each batch reads its samples (pread), so the process
 * holds only the labels (MNIST's training set: 60 KB instead of 47 MB). A
 * gzip file is loaded as by cnn_dataset_load_idx. A read error while forming
 * a batch fails the training or evaluation that asked for it, naming the file
 * and offset. Free with cnn_dataset_free. */
cnn_status cnn_dataset_open_idx(cnn_dataset *ds, const char *images_path, const char *labels_path);
void cnn_dataset_free(cnn_dataset *ds); /* frees the arrays, keeps ds; accepts zeros */

/* Convert samples idx[0..n) of ds to float (n, c, h, w) with the net's input
 * normalisation. idx NULL means samples first..first+n. */
void cnn_dataset_batch(const cnn_dataset *ds, const cnn_net *net, const int *idx, int first, int n,
                       float *x, uint8_t *labels);

/* CIFAR-10/100 binary batches (data_batch_1.bin ... or test_batch.bin; for
 * CIFAR-100 train.bin / test.bin). Each record is one label byte (CIFAR-100:
 * a coarse label byte, then the fine label) and 3072 pixel bytes (3x32x32,
 * planar RGB). fine selects CIFAR-100's layout (its fine label). paths is a
 * list of n files, concatenated in order. Checks every file's length is a
 * whole number of records and every label; errors name the file and offset. */
cnn_status cnn_dataset_load_cifar(cnn_dataset *ds, const char *const *paths, int n, int cifar100);

/* An image folder: one sub-folder per class (sorted by name: class 0, 1, ...),
 * PNG or JPEG files in each, decoded, converted to c channels (1 grey, 3 RGB)
 * and resized to h x w (PIL bilinear) and kept as uint8. class_names, if not
 * NULL, receives a malloc'd array of `classes` malloc'd names (free with
 * cnn_class_names_free). Fails naming the first bad file. */
cnn_status cnn_dataset_load_folder(cnn_dataset *ds, const char *dir, int c, int h, int w,
                                   char ***class_names);
void cnn_class_names_free(char **names, int n);

/* Split src into a training part and a held-out validation part of
 * `val` samples (val < 1: that fraction of src, rounded down; at least 1),
 * chosen by a permutation seeded by seed; each part keeps src's order.
 * Both outputs are new datasets (free them); src is unchanged. */
cnn_status cnn_dataset_split(const cnn_dataset *src, double val, uint64_t seed, cnn_dataset *train,
                             cnn_dataset *valid);

/* Copy the first n samples (or all if n <= 0 or n > ds->n) into a new dataset. */
cnn_status cnn_dataset_copy(cnn_dataset *dst, const cnn_dataset *src, int n);

/* Decode a PNG or JPEG file into float (c, h, w) for a net: converted to grey
 * (c == 1) or RGB (c == 3), resized bilinearly to h x w, and normalised with
 * the net's input normalisation. */
cnn_status cnn_image_load(const char *path, const cnn_net *net, float *out);

/* ---- seeded random numbers (xoshiro256**) ----------------------------- */

typedef struct { uint64_t s[4]; } cnn_rng;
void cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_u64(cnn_rng *r);
float cnn_rng_uniform(cnn_rng *r);           /* [0, 1) */
void cnn_rng_shuffle(cnn_rng *r, int *a, int n); /* Fisher-Yates */

/* ---- training loop ----------------------------------------------------- */

typedef struct {
    int epoch, epochs;     /* 1-based epoch */
    int batch, batches;    /* 1-based batch within the epoch */
    float loss;            /* running mean loss of the epoch */
    float accuracy;        /* running training accuracy of the epoch */
    float lr;
    double images_per_s;
    double elapsed_s;
} cnn_progress;

/* Called after every batch; return non-zero to stop training. */
typedef int (*cnn_progress_fn)(const cnn_progress *p, void *user);
/* Called after every epoch with the test result (test may be NULL). */
typedef void (*cnn_epoch_fn)(int epoch, float train_loss, float train_acc, float test_loss,
                             float test_acc, void *user);

/* Train with cfg on train, evaluating on test (may be NULL) after each epoch. */
cnn_status cnn_train(cnn_net *net, const cnn_train_config *cfg, const cnn_dataset *train,
                     const cnn_dataset *test, cnn_progress_fn progress, cnn_epoch_fn on_epoch,
                     void *user);

/* Mean loss and accuracy (0..1) over a dataset, in eval mode. Either output may be NULL. */
cnn_status cnn_evaluate(cnn_net *net, const cnn_dataset *ds, int batch, float *loss, float *accuracy);

/* What cnn_train_run reports after every epoch. */
typedef struct {
    int epoch, epochs;
    long step;                   /* optimizer steps so far */
    float train_loss, train_acc; /* running means over the epoch (augmented batches) */
    int has_val, has_test;
    float val_loss, val_acc, val_top5;
    float test_loss, test_acc, test_top5;
    int best_epoch;              /* epoch with the best validation accuracy so far (0: none) */
    float best_val_acc;
    int improved;                /* this epoch is the new best (best.weights written) */
    int stopping;                /* early stopping ends the run after this epoch */
    float lr;                    /* learning rate of the epoch's last step */
    double elapsed_s;            /* wall time of the run, across resumes */
} cnn_epoch_stats;

/* Return non-zero to stop training after this epoch. */
typedef int (*cnn_epoch_stats_fn)(const cnn_epoch_stats *e, void *user);

/* Everything around a training run besides the recipe. */
typedef struct {
    const cnn_dataset *train;
    const cnn_dataset *val;  /* validation after every epoch, best model, early stopping; may be NULL */
    const cnn_dataset *test; /* evaluated after every epoch for the log; may be NULL */
    /* Run directory (must exist), or NULL for no files. The loop writes there:
     *   checkpoint.cnnw  weights + optimizer state + schedule and data position +
     *                    RNG states (docs/training.md), atomically, every
     *                    cfg->checkpoint_every steps and at each epoch's end
     *   best.weights     the weights of the best validation accuracy
     *   final.weights    the weights at the end of the run
     *   metrics.jsonl    one JSON object per epoch and per cfg->log_every steps */
    const char *run_dir;
    int resume;              /* continue from run_dir/checkpoint.cnnw if it exists */
    int no_prefetch;         /* make batches in the calling thread (the results are the same) */
    long stop_after_steps;   /* stop (as if interrupted) after this many steps in total; 0 = never */
    cnn_progress_fn progress;
    cnn_epoch_stats_fn on_epoch;
    void *user;
} cnn_train_options;

/* The full loop: seeded shuffling and augmentation, a background thread that
 * makes the next batch while the current one computes, validation, best
 * model, early stopping, checkpoints and exact resume (same seed and thread
 * count: bit-identical weights to an uninterrupted run), and a stop naming
 * the layer when the loss or a gradient is NaN or Inf (CNN_ERR_NUMERIC; the
 * last checkpoint is kept). */
cnn_status cnn_train_run(cnn_net *net, const cnn_train_config *cfg, const cnn_train_options *opt);

/* ---- metrics ----------------------------------------------------------- */

/* Classification metrics over a dataset, in eval mode. */
typedef struct {
    int classes;       /* K */
    long n;            /* samples seen */
    double loss_sum;   /* summed cross-entropy */
    long top1, top5;   /* hits */
    long *confusion;   /* K x K counts, row = true class, column = predicted */
} cnn_metrics;

cnn_status cnn_metrics_init(cnn_metrics *m, int classes);
void cnn_metrics_free(cnn_metrics *m); /* accepts zeros */
/* Add one batch of probabilities or scores p (n, K) with labels to the hit
 * counts and the confusion matrix (not to loss_sum: add the batch's summed
 * loss yourself); writes each sample's predicted class to pred if not NULL. */
void cnn_metrics_add(cnn_metrics *m, const float *p, const uint8_t *labels, int n, int *pred);
float cnn_metrics_loss(const cnn_metrics *m);
float cnn_metrics_top1(const cnn_metrics *m);
float cnn_metrics_top5(const cnn_metrics *m);
/* Per-class precision (of predictions of class k, the share that are k) and
 * recall (of samples of class k, the share predicted k); 0 when undefined. */
float cnn_metrics_precision(const cnn_metrics *m, int k);
float cnn_metrics_recall(const cnn_metrics *m, int k);
/* Loss, top-1, top-5, a per-class table and the confusion matrix, as text. */
void cnn_metrics_print(const cnn_metrics *m, FILE *f);

/* Evaluate net on ds into m (initialised here with the net's output count;
 * free it). pred and prob, if not NULL, receive each sample's predicted class
 * and that class's probability (ds->n entries). */
/* Test-time augmentation for cnn_evaluate and cnn_evaluate_metrics: with on,
 * each image's class probabilities are the mean of the image's and its
 * horizontal mirror's (two forward passes), and the loss is -log of that
 * mean at the label. Off by default; the train line's tta_hflip=1 turns it
 * on for the validation and test evaluations of a run. */
void cnn_net_set_eval_hflip(cnn_net *net, int on);
cnn_status cnn_evaluate_metrics(cnn_net *net, const cnn_dataset *ds, int batch, cnn_metrics *m,
                                int *pred, float *prob);

#ifdef __cplusplus
}
#endif
#endif /* CNN_H */
