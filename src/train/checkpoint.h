/* checkpoint.h — the training state saved in RUN_DIR/checkpoint.cnnw. */
#ifndef CNN_TRAIN_CHECKPOINT_H
#define CNN_TRAIN_CHECKPOINT_H

#include "../core/core.h"

/* Where a run is, besides the weights and the optimizer. */
typedef struct {
    int epoch;         /* the epoch in progress or just finished (0: none started) */
    int batch;         /* batches of it done */
    int epoch_done;    /* its end (evaluation, best model, checkpoint) is done */
    int finished;      /* the run is over (last epoch, or early stopping) */
    long step, images; /* optimizer steps and images so far */
    double sum_loss;   /* the epoch's running sums */
    long hits, seen;
    double elapsed;     /* wall time so far, over all sessions */
    float best_val_acc; /* best validation accuracy and its epoch (0: none) */
    int best_epoch, bad_epochs;
    float lr;         /* of the last step */
    cnn_rng data_rng; /* shuffling, after this epoch's shuffle */
    cnn_rng net_rng;  /* dropout, after the last step */
    uint64_t recipe;  /* cnn_recipe_hash of the run */
    int batches;      /* per epoch */
} cnn_train_state;

/* A hash of everything in the recipe that changes the numbers (not the
 * checkpoint or log intervals), and the data sizes. */
uint64_t cnn_recipe_hash(const cnn_train_config *cfg, int n_train, int n_val);

/* Write weights, buffers, the optimizer state and st with the epoch's order
 * (n ints) atomically to path (temporary file, fsync, rename, fsync of the
 * folder). */
cnn_status cnn_checkpoint_save(const char *path, const cnn_net *net, cnn_optim *opt,
                               const cnn_train_state *st, const int *order, int n);
/* Read them back into a net and an optimizer built from the same model and
 * recipe; st->recipe and st->batches must be set to the current run's and
 * are checked against the file's. Nothing is changed on failure. */
cnn_status cnn_checkpoint_load(const char *path, cnn_net *net, cnn_optim *opt, cnn_train_state *st,
                               int *order, int n);

#endif
