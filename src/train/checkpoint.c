/* checkpoint.c — RUN_DIR/checkpoint.cnnw: a weights file (docs/weights-format.md)
 * whose parameters and buffers are followed by kind-2 tensors of raw 32-bit
 * words, which plain weight loading skips (so a checkpoint is also a weights
 * file for `cnn eval --weights`):
 *
 *   train.state   64 words: 32 little-endian u64 fields, below
 *   train.order   n words: the epoch's sample order (u32 indices)
 *   optim.state   the optimizer's state block (f32; absent for plain SGD)
 *
 * train.state fields, by index: 0 magic "CNNCKPT1", 1 recipe hash, 2 epoch,
 * 3 batch, 4 epoch_done, 5 finished, 6 step, 7 images, 8 sum_loss (f64 bits),
 * 9 hits, 10 seen, 11 elapsed (f64 bits), 12 best_val_acc (f32 bits),
 * 13 best_epoch, 14 bad_epochs, 15 lr (f32 bits), 16-19 shuffling generator,
 * 20-23 dropout generator, 24 optimizer steps, 25 batches per epoch, 26 n. */
#include "checkpoint.h"
#include "../graph/net_internal.h"
#include "optim.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_WORDS 64
#define CKPT_MAGIC 0x3154504b434e4e43ULL /* "CNNCKPT1" little-endian */

uint64_t cnn_recipe_hash(const cnn_train_config *c, int n_train, int n_val) {
    char text[1024];
    snprintf(text, sizeof text,
             "epochs=%d batch=%d opt=%d lr=%a mom=%a nest=%d damp=%a wd=%a b1=%a b2=%a eps=%a "
             "sched=%d ss=%d gamma=%a min=%a warm=%d ls=%a seed=%llu crop=%d flip=%d rot=%a "
             "tr=%d erase=%a val=%a pat=%d n=%d nv=%d",
             c->epochs, c->batch, (int)c->optimizer, c->lr, c->momentum, c->nesterov, c->dampening,
             c->weight_decay, c->beta1, c->beta2, c->eps, (int)c->schedule, c->step_size, c->gamma,
             c->min_lr, c->warmup_epochs, c->label_smoothing, (unsigned long long)c->seed,
             c->crop_pad, c->hflip, c->rotate, c->translate, c->erase, c->val_split, c->patience,
             n_train, n_val);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return h;
}

static uint64_t f64_bits(double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}
static double bits_f64(uint64_t u) {
    double v;
    memcpy(&v, &u, 8);
    return v;
}
static uint64_t f32_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}
static float bits_f32(uint64_t u) {
    uint32_t w = (uint32_t)u;
    float v;
    memcpy(&v, &w, 4);
    return v;
}

/* fsync the folder holding path, so the rename itself is durable. */
static void sync_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

cnn_status cnn_checkpoint_save(const char *path, const cnn_net *net, cnn_optim *opt,
                               const cnn_train_state *st, const int *order, int n) {
    uint64_t w[STATE_WORDS / 2] = {0};
    w[0] = CKPT_MAGIC;
    w[1] = st->recipe;
    w[2] = (uint64_t)st->epoch;
    w[3] = (uint64_t)st->batch;
    w[4] = (uint64_t)st->epoch_done;
    w[5] = (uint64_t)st->finished;
    w[6] = (uint64_t)st->step;
    w[7] = (uint64_t)st->images;
    w[8] = f64_bits(st->sum_loss);
    w[9] = (uint64_t)st->hits;
    w[10] = (uint64_t)st->seen;
    w[11] = f64_bits(st->elapsed);
    w[12] = f32_bits(st->best_val_acc);
    w[13] = (uint64_t)st->best_epoch;
    w[14] = (uint64_t)st->bad_epochs;
    w[15] = f32_bits(st->lr);
    for (int i = 0; i < 4; i++) {
        w[16 + i] = st->data_rng.s[i];
        w[20 + i] = st->net_rng.s[i];
    }
    w[24] = (uint64_t)cnn_optim_steps(opt);
    w[25] = (uint64_t)st->batches;
    w[26] = (uint64_t)n;
    cnn_extra_tensor extra[3] = {
        {"train.state", w, STATE_WORDS},
        {"train.order", order, (uint32_t)n},
        {"optim.state", cnn_optim_state(opt), (uint32_t)cnn_optim_state_size(opt)},
    };
    int n_extra = cnn_optim_state_size(opt) ? 3 : 2;
    cnn_status s = cnn_net_save_weights_extra(net, path, extra, n_extra);
    if (s == CNN_OK) sync_dir(path);
    return s;
}

cnn_status cnn_checkpoint_load(const char *path, cnn_net *net, cnn_optim *opt, cnn_train_state *st,
                               int *order, int n) {
    uint64_t w[STATE_WORDS / 2];
    size_t osz = cnn_optim_state_size(opt);
    int *ord = malloc((size_t)n * sizeof *ord + 1);
    float *ostate = malloc(osz * sizeof *ostate + 1);
    if (!ord || !ostate) {
        free(ord);
        free(ostate);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    cnn_extra_slot slots[3] = {
        {"train.state", w, STATE_WORDS, 0, 0},
        {"train.order", ord, (uint32_t)n, 0, 0},
        {"optim.state", ostate, (uint32_t)osz, osz == 0, 0},
    };
    cnn_status s = cnn_weights_read_extra(path, slots, 3);
    if (s == CNN_OK && w[0] != CKPT_MAGIC)
        s = cnn_fail(CNN_ERR_FORMAT, "%s: train.state is not a version 1 checkpoint state", path);
    if (s == CNN_OK &&
        (w[1] != st->recipe || w[25] != (uint64_t)st->batches || w[26] != (uint64_t)n))
        s = cnn_fail(CNN_ERR_ARG,
                     "%s: the checkpoint was made with another recipe or data (epochs, batch, "
                     "optimizer, schedule, augmentation, seed, split or data size differ); resume "
                     "with the same model, data and options",
                     path);
    if (s == CNN_OK && (w[2] > 1000000 || w[3] > w[25] || w[26] != (uint64_t)n))
        s = cnn_fail(CNN_ERR_FORMAT, "%s: train.state holds an impossible position", path);
    for (int i = 0; i < n && s == CNN_OK; i++)
        if (ord[i] < 0 || ord[i] >= n)
            s = cnn_fail(CNN_ERR_FORMAT, "%s: train.order holds index %d, outside 0..%d", path,
                         ord[i], n - 1);
    if (s == CNN_OK) s = cnn_net_load_weights(net, path);
    if (s == CNN_OK) {
        st->epoch = (int)w[2];
        st->batch = (int)w[3];
        st->epoch_done = (int)w[4];
        st->finished = (int)w[5];
        st->step = (long)w[6];
        st->images = (long)w[7];
        st->sum_loss = bits_f64(w[8]);
        st->hits = (long)w[9];
        st->seen = (long)w[10];
        st->elapsed = bits_f64(w[11]);
        st->best_val_acc = bits_f32(w[12]);
        st->best_epoch = (int)w[13];
        st->bad_epochs = (int)w[14];
        st->lr = bits_f32(w[15]);
        for (int i = 0; i < 4; i++) {
            st->data_rng.s[i] = w[16 + i];
            st->net_rng.s[i] = w[20 + i];
        }
        cnn_optim_set_steps(opt, (int64_t)w[24]);
        if (osz) memcpy(cnn_optim_state(opt), ostate, osz * sizeof *ostate);
        memcpy(order, ord, (size_t)n * sizeof *ord);
    }
    free(ord);
    free(ostate);
    return s;
}
