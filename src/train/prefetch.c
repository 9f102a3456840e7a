/* prefetch.c — see prefetch.h. */
#include "prefetch.h"
#include "../data/data.h"
#include <stdlib.h>
#include <string.h>

cnn_status cnn_prefetch_init(cnn_prefetch *p, const cnn_dataset *ds, const cnn_net *net,
                             const cnn_train_config *cfg, int batch, int threaded) {
    memset(p, 0, sizeof *p);
    p->ds = ds;
    p->cfg = cfg;
    p->batch = batch;
    p->batches = (ds->n + batch - 1) / batch;
    p->threaded = threaded;
    size_t sample = (size_t)ds->c * ds->h * ds->w;
    p->table = malloc((size_t)ds->c * sizeof *p->table);
    /* A dataset read from its file: one sample at a time through stage. */
    p->stage = malloc(cnn_dataset_file_of(ds) ? sample : 1);
    for (int i = 0; i < 2; i++) {
        p->x[i] = cnn_alloc_floats(sample * (size_t)batch);
        p->labels[i] = malloc((size_t)batch);
        p->ready[i] = -1;
    }
    if (!p->table || !p->stage || !p->x[0] || !p->x[1] || !p->labels[0] || !p->labels[1]) {
        cnn_prefetch_free(p);
        return cnn_fail(CNN_ERR_NOMEM, "out of memory for training batches");
    }
    for (int c = 0; c < ds->c; c++)
        cnn_data_norm_table(net, c, p->table[c]);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->sync = 1;
    return CNN_OK;
}

void cnn_prefetch_make(const cnn_prefetch *p, int b, float *x, uint8_t *labels, int *n) {
    const cnn_dataset *ds = p->ds;
    int first = b * p->batch, k = ds->n - first < p->batch ? ds->n - first : p->batch;
    size_t plane = (size_t)ds->h * ds->w, sample = (size_t)ds->c * plane;
    if (!cnn_augment_active(p->cfg)) {
        for (int i = 0; i < k; i++) {
            const uint8_t *src = cnn_dataset_sample(ds, p->order[first + i], p->stage);
            float *dst = x + (size_t)i * sample;
            for (int c = 0; c < ds->c; c++)
                for (size_t j = 0; j < plane; j++)
                    dst[(size_t)c * plane + j] = p->table[c][src[(size_t)c * plane + j]];
        }
    } else {
        cnn_rng rng;
        cnn_rng_seed(&rng, p->cfg->seed * 0x9e3779b97f4a7c15ULL ^
                               (uint64_t)p->epoch * 0xbf58476d1ce4e5b9ULL ^
                               (uint64_t)(b + 1) * 0x94d049bb133111ebULL);
        for (int i = 0; i < k; i++)
            cnn_augment_sample(p->cfg, cnn_dataset_sample(ds, p->order[first + i], p->stage), ds->c,
                               ds->h, ds->w, (const float(*)[256])p->table, &rng,
                               x + (size_t)i * sample);
    }
    for (int i = 0; i < k; i++)
        labels[i] = ds->labels[p->order[first + i]];
    *n = k;
}

static void *worker(void *arg) {
    cnn_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->next < p->batches) {
        int b = p->next, slot = b & 1;
        if (p->ready[slot] != -1) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        int n;
        cnn_prefetch_make(p, b, p->x[slot], p->labels[slot], &n);
        pthread_mutex_lock(&p->mu);
        p->n[slot] = n;
        p->ready[slot] = b;
        p->next = b + 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cnn_status cnn_prefetch_start(cnn_prefetch *p, const int *order, int epoch, int first) {
    p->order = order;
    p->epoch = epoch;
    p->next = first;
    p->stop = 0;
    p->ready[0] = p->ready[1] = -1;
    if (!p->threaded) return CNN_OK;
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        p->threaded = 0; /* make them in the caller's thread instead: same batches */
        return CNN_OK;
    }
    p->running = 1;
    return CNN_OK;
}

void cnn_prefetch_get(cnn_prefetch *p, int b, const float **x, const uint8_t **labels, int *n) {
    int slot = b & 1;
    if (!p->running) {
        cnn_prefetch_make(p, b, p->x[slot], p->labels[slot], &p->n[slot]);
    } else {
        pthread_mutex_lock(&p->mu);
        while (p->ready[slot] != b)
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    *x = p->x[slot];
    *labels = p->labels[slot];
    *n = p->n[slot];
}

void cnn_prefetch_release(cnn_prefetch *p, int b) {
    if (!p->running) return;
    pthread_mutex_lock(&p->mu);
    if (p->ready[b & 1] == b) p->ready[b & 1] = -1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void cnn_prefetch_finish(cnn_prefetch *p) {
    if (!p->running) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->running = 0;
}

void cnn_prefetch_free(cnn_prefetch *p) {
    if (!p) return;
    cnn_prefetch_finish(p);
    if (p->sync) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    free(p->table);
    free(p->stage);
    for (int i = 0; i < 2; i++) {
        cnn_free_floats(p->x[i]);
        free(p->labels[i]);
    }
    memset(p, 0, sizeof *p);
}
