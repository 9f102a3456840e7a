/* prefetch.h — training batches made ahead, in a background thread.
 *
 * Batch b of an epoch is a pure function of (the epoch's sample order, b, the
 * epoch number and the recipe's seed): the augmentation generator is seeded
 * from (seed, epoch, b), never carried over from the batch before. So the
 * batches are the same whichever thread makes them and whenever, and a run
 * resumed at batch b sees exactly the batches an uninterrupted run saw. Two
 * slots: the thread fills batch b+1 while the caller trains on batch b. */
#ifndef CNN_TRAIN_PREFETCH_H
#define CNN_TRAIN_PREFETCH_H

#include "../core/core.h"
#include <pthread.h>

typedef struct {
    /* What the batches are made from (set by cnn_prefetch_init). */
    const cnn_dataset *ds;
    const cnn_train_config *cfg;
    float (*table)[256]; /* per-channel normalisation tables */
    uint8_t *stage;      /* one sample read from a dataset's file */
    int batch, batches;
    /* The epoch being made (set by cnn_prefetch_start). */
    const int *order;
    int epoch;
    /* Two slots of (batch size, C, H, W) floats and labels. */
    float *x[2];
    uint8_t *labels[2];
    int n[2];
    int ready[2]; /* the batch index a slot holds, or -1 */
    int threaded, running, stop, next, sync;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} cnn_prefetch;

cnn_status cnn_prefetch_init(cnn_prefetch *p, const cnn_dataset *ds, const cnn_net *net,
                             const cnn_train_config *cfg, int batch, int threaded);
/* Start making batches first..batches-1 of an epoch in the given order. */
cnn_status cnn_prefetch_start(cnn_prefetch *p, const int *order, int epoch, int first);
/* Wait for batch b (in start order) and point at it; valid until cnn_prefetch_release. */
void cnn_prefetch_get(cnn_prefetch *p, int b, const float **x, const uint8_t **labels, int *n);
void cnn_prefetch_release(cnn_prefetch *p, int b);
/* End the epoch early or normally: stops and joins the thread. */
void cnn_prefetch_finish(cnn_prefetch *p);
void cnn_prefetch_free(cnn_prefetch *p);

/* Make batch b of an epoch into x/labels: what the thread does. */
void cnn_prefetch_make(const cnn_prefetch *p, int b, float *x, uint8_t *labels, int *n);

#endif
