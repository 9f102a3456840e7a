/* loop.c — the training loop and evaluation.
 *
 * Seeded: the shuffling order comes from cfg->seed, augmentation from a
 * generator seeded per batch (prefetch.h), the dropout masks from the net's
 * generator (seeded at build), so the same seed and thread count give
 * bit-identical weights. Batches are made by a background thread into two
 * buffers allocated before the first step.
 *
 * A checkpoint (RUN_DIR/checkpoint.cnnw, checkpoint.c) holds everything the
 * rest of the run depends on: weights and buffers, the optimizer's state and
 * step count, the epoch and the number of batches done in it, the epoch's
 * sample order, the shuffling and dropout generators, the epoch's running
 * sums, the best validation accuracy and the early-stopping count. Resuming
 * from it replays nothing and skips nothing, so the weights at the end are
 * bit-identical to an uninterrupted run's. */
#include "../data/data.h"
#include "../graph/net_internal.h"
#include "../kernels/finite.h"
#include "../kernels/softmax.h"
#include "checkpoint.h"
#include "optim.h"
#include "prefetch.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const cnn_layer_ops cnn_softmax_ops;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The layer whose output are the class scores: the input of the final softmax. */
static cnn_status logits_layer(cnn_net *net, cnn_layer **out) {
    *out = NULL;
    cnn_layer *last = &net->layers[net->n_layers - 1];
    if (last->ops != &cnn_softmax_ops || last->in_idx[0] < 0)
        return cnn_fail(CNN_ERR_ARG, "%s: training and evaluation need a net ending in softmax",
                        net->filename);
    *out = &net->layers[last->in_idx[0]];
    return CNN_OK;
}

cnn_status cnn_evaluate(cnn_net *net, const cnn_dataset *ds, int batch, float *loss,
                        float *accuracy) {
    if (net && net->eval_hflip) { /* the two-pass evaluation lives in metrics.c */
        cnn_metrics m;
        cnn_status s = cnn_evaluate_metrics(net, ds, batch, &m, NULL, NULL);
        if (s != CNN_OK) return s;
        if (loss) *loss = cnn_metrics_loss(&m);
        if (accuracy) *accuracy = cnn_metrics_top1(&m);
        cnn_metrics_free(&m);
        return CNN_OK;
    }
    cnn_layer *logits = NULL;
    cnn_status s = logits_layer(net, &logits);
    if (s == CNN_OK) s = cnn_dataset_check(ds, net, "evaluation set");
    if (s != CNN_OK) return s;
    if (batch <= 0) batch = 256;
    if (batch > ds->n) batch = ds->n;
    size_t in = cnn_shape_size(net->in_shape);
    float *x = cnn_alloc_floats(in * (size_t)batch);
    uint8_t *labels = malloc((size_t)batch);
    if (!x || !labels) s = cnn_fail(CNN_ERR_NOMEM, "out of memory for an evaluation batch");
    double total_loss = 0;
    long hits = 0;
    for (int first = 0; first < ds->n && s == CNN_OK; first += batch) {
        int n = ds->n - first < batch ? ds->n - first : batch;
        cnn_dataset_batch(ds, net, NULL, first, n, x, labels);
        s = cnn_dataset_read_status(ds);
        if (s == CNN_OK) s = cnn_net_forward(net, x, n, 0, NULL);
        float l = 0;
        int c = 0;
        if (s == CNN_OK)
            s = cnn_softmax_xent(logits->y, labels, n, logits->out.c, 0.0f, NULL, &l, &c);
        total_loss += (double)l * n;
        hits += c;
    }
    cnn_free_floats(x);
    free(labels);
    if (s != CNN_OK) return s;
    if (loss) *loss = (float)(total_loss / ds->n);
    if (accuracy) *accuracy = (float)hits / ds->n;
    return CNN_OK;
}

/* ---- NaN/Inf: which layer ---------------------------------------------- */

static cnn_status numeric_failure(cnn_net *net, int grads, int n, int epoch, int b,
                                  const char *run_dir) {
    int bad = -1;
    for (int i = 0; i < net->n_layers && bad < 0; i++) {
        cnn_layer *l = &net->layers[i];
        if (grads ? !cnn_all_finite(l->grads, l->n_params)
                  : !cnn_all_finite(l->y, cnn_shape_size(l->out) * (size_t)n))
            bad = i;
    }
    char keep[4200] = "";
    if (run_dir)
        snprintf(keep, sizeof keep, "; the last good checkpoint %s/checkpoint.cnnw is kept",
                 run_dir);
    if (bad < 0)
        return cnn_fail(CNN_ERR_NUMERIC, "epoch %d, batch %d: the loss is NaN or Inf%s", epoch,
                        b + 1, keep);
    cnn_layer *l = &net->layers[bad];
    return cnn_fail(CNN_ERR_NUMERIC,
                    "epoch %d, batch %d: NaN or Inf in the %s of layer '%s' (%s, %s:%d)%s%s", epoch,
                    b + 1, grads ? "gradients" : "output", l->name, l->ops->type, net->filename,
                    l->line, grads ? "" : " in the forward pass", keep);
}

/* ---- the metrics log ----------------------------------------------------- */

static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.6g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

/* Keep only lines of the log at or before `step` (a resumed run rewrites
 * what the interrupted one logged after its checkpoint). */
static cnn_status log_truncate(const char *path, long step) {
    FILE *f = fopen(path, "rb");
    if (!f) return CNN_OK;
    char *kept = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&kept, &len);
    if (!out) {
        fclose(f);
        return cnn_fail(CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"step\":");
        if (p && strtol(p + 7, NULL, 10) <= step && strchr(line, '\n')) fputs(line, out);
    }
    fclose(f);
    fclose(out);
    /* Through a temporary file and a rename: a run killed right here (as a
     * resumed run can be) must not lose the lines before its checkpoint. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    cnn_status s = CNN_OK;
    if (!f || fwrite(kept, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0)
        s = cnn_fail(CNN_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (f && fclose(f) != 0 && s == CNN_OK)
        s = cnn_fail(CNN_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (s == CNN_OK && rename(tmp, path) != 0)
        s = cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    if (s != CNN_OK) unlink(tmp);
    free(kept);
    return s;
}

/* ---- the loop ----------------------------------------------------------- */

typedef struct {
    cnn_net *net;
    const cnn_train_config *cfg;
    const cnn_train_options *o;
    cnn_layer *logits;
    cnn_optim *opt;
    cnn_replicas *rep; /* data-parallel steps (replica.c), or NULL */
    cnn_prefetch pf;
    cnn_train_state st;
    int *order;
    int batch, batches;
    FILE *log;
    char path[4096];
    double start;
} run;

static const char *run_file(run *r, const char *name) {
    snprintf(r->path, sizeof r->path, "%s/%s", r->o->run_dir, name);
    return r->path;
}

static cnn_status save_checkpoint(run *r) {
    if (!r->o->run_dir) return CNN_OK;
    r->st.elapsed = now_s() - r->start;
    return cnn_checkpoint_save(run_file(r, "checkpoint.cnnw"), r->net, r->opt, &r->st, r->order,
                               r->o->train->n);
}

/* Evaluated in batches of the training batch size, so the activation arena
 * planned for training serves evaluation too instead of growing to a larger
 * batch (the accuracy does not depend on the batch size). */
static cnn_status eval_set(cnn_net *net, const cnn_dataset *ds, int batch, float *loss, float *acc,
                           float *top5) {
    cnn_metrics m;
    cnn_status s = cnn_evaluate_metrics(net, ds, batch, &m, NULL, NULL);
    if (s != CNN_OK) return s;
    *loss = cnn_metrics_loss(&m);
    *acc = cnn_metrics_top1(&m);
    *top5 = cnn_metrics_top5(&m);
    cnn_metrics_free(&m);
    return CNN_OK;
}

/* After the last batch of an epoch: evaluate, log, keep the best, checkpoint. */
static cnn_status end_epoch(run *r, int *stop) {
    const cnn_train_options *o = r->o;
    cnn_train_state *st = &r->st;
    cnn_epoch_stats e = {0};
    e.epoch = st->epoch;
    e.epochs = r->cfg->epochs;
    e.step = st->step;
    e.train_loss = (float)(st->sum_loss / (st->seen ? st->seen : 1));
    e.train_acc = (float)st->hits / (st->seen ? st->seen : 1);
    e.lr = st->lr;
    cnn_status s = CNN_OK;
    if (o->val) {
        e.has_val = 1;
        s = eval_set(r->net, o->val, r->batch, &e.val_loss, &e.val_acc, &e.val_top5);
    }
    if (s == CNN_OK && o->test) {
        e.has_test = 1;
        s = eval_set(r->net, o->test, r->batch, &e.test_loss, &e.test_acc, &e.test_top5);
    }
    if (s != CNN_OK) return s;
    if (e.has_val) {
        if (st->best_epoch == 0 || e.val_acc > st->best_val_acc) {
            st->best_val_acc = e.val_acc;
            st->best_epoch = st->epoch;
            st->bad_epochs = 0;
            e.improved = 1;
            if (o->run_dir) s = cnn_net_save_weights(r->net, run_file(r, "best.weights"));
        } else {
            st->bad_epochs++;
        }
        if (r->cfg->patience > 0 && st->bad_epochs >= r->cfg->patience) e.stopping = 1;
    }
    e.best_epoch = st->best_epoch;
    e.best_val_acc = st->best_val_acc;
    e.elapsed_s = now_s() - r->start;
    if (s == CNN_OK && r->log) {
        fprintf(r->log, "{\"type\":\"epoch\",\"epoch\":%d,\"step\":%ld", e.epoch, e.step);
        json_num(r->log, "train_loss", e.train_loss);
        json_num(r->log, "train_acc", e.train_acc);
        if (e.has_val) {
            json_num(r->log, "val_loss", e.val_loss);
            json_num(r->log, "val_acc", e.val_acc);
            json_num(r->log, "val_top5", e.val_top5);
        }
        if (e.has_test) {
            json_num(r->log, "test_loss", e.test_loss);
            json_num(r->log, "test_acc", e.test_acc);
            json_num(r->log, "test_top5", e.test_top5);
        }
        json_num(r->log, "lr", e.lr);
        fprintf(r->log, ",\"best_epoch\":%d", e.best_epoch);
        json_num(r->log, "time", e.elapsed_s);
        fputs("}\n", r->log);
        fflush(r->log);
    }
    st->epoch_done = 1;
    if (e.stopping || st->epoch >= r->cfg->epochs) st->finished = 1;
    if (s == CNN_OK) s = save_checkpoint(r);
    if (s == CNN_OK && o->on_epoch && o->on_epoch(&e, o->user)) *stop = 1;
    if (st->finished) *stop = 1;
    return s;
}

static cnn_status train_loop(run *r) {
    const cnn_train_config *cfg = r->cfg;
    const cnn_train_options *o = r->o;
    const cnn_dataset *train = o->train;
    cnn_train_state *st = &r->st;
    cnn_net *net = r->net;
    cnn_status s = CNN_OK;
    int stop = st->finished;
    while (!stop && s == CNN_OK) {
        if (st->epoch_done || st->epoch == 0) {
            st->epoch++;
            st->batch = 0;
            st->epoch_done = 0;
            st->sum_loss = 0;
            st->hits = st->seen = 0;
            cnn_rng_shuffle(&st->data_rng, r->order, train->n);
        }
        if ((s = cnn_prefetch_start(&r->pf, r->order, st->epoch, st->batch)) != CNN_OK) break;
        while (st->batch < r->batches && s == CNN_OK) {
            int b = st->batch, n;
            const float *x;
            const uint8_t *labels;
            float lr = cnn_schedule_lr(cfg, (int)st->step, r->batches), loss = 0;
            int correct = 0;
            cnn_prefetch_get(&r->pf, b, &x, &labels, &n);
            s = cnn_dataset_read_status(train); /* a dataset read from its file */
            cnn_net *bad = NULL; /* the net to diagnose, and what: 0 outputs, 1 gradients */
            int bad_grads = 0;
            if (s == CNN_OK && r->rep) {
                int slice, finite;
                s = cnn_replicas_step(r->rep, x, labels, n, cfg->label_smoothing, &loss, &correct,
                                      &slice, &finite);
                if (s == CNN_OK && slice >= 0)
                    bad = cnn_replicas_net(r->rep, slice);
                else if (s == CNN_OK && !finite)
                    bad = cnn_replicas_net(r->rep, 0), bad_grads = 1;
            } else if (s == CNN_OK) {
                s = cnn_net_train_step(net, x, labels, n, cfg->label_smoothing, &loss, &correct);
                if (s == CNN_ERR_NUMERIC || (s == CNN_OK && !isfinite(loss)))
                    bad = net, s = CNN_OK;
                else if (s == CNN_OK && !cnn_all_finite(net->grads, net->n_params))
                    bad = net, bad_grads = 1;
            }
            cnn_prefetch_release(&r->pf, b);
            if (s != CNN_OK) {
                cnn_error_prefix("epoch %d, batch %d", st->epoch, b + 1);
                break;
            }
            if (bad) {
                s = numeric_failure(bad, bad_grads, bad->n_last, st->epoch, b, o->run_dir);
                break;
            }
            cnn_optim_step(r->opt, net->params, net->grads, lr);
            st->sum_loss += (double)loss * n;
            st->hits += correct;
            st->seen += n;
            st->images += n;
            st->step++;
            st->batch++;
            st->lr = lr;
            st->net_rng = net->rng;
            double t = now_s() - r->start;
            if (r->log && cfg->log_every > 0 && st->step % cfg->log_every == 0) {
                fprintf(r->log, "{\"type\":\"step\",\"epoch\":%d,\"step\":%ld,\"batch\":%d",
                        st->epoch, st->step, st->batch);
                json_num(r->log, "loss", st->sum_loss / st->seen);
                json_num(r->log, "acc", (double)st->hits / st->seen);
                json_num(r->log, "lr", lr);
                json_num(r->log, "time", t);
                fputs("}\n", r->log);
                fflush(r->log);
            }
            /* The epoch's end writes its own checkpoint. */
            if (cfg->checkpoint_every > 0 && st->step % cfg->checkpoint_every == 0 &&
                st->batch < r->batches)
                s = save_checkpoint(r);
            if (s != CNN_OK) break;
            if (o->stop_after_steps > 0 && st->step >= o->stop_after_steps) {
                stop = 2; /* as if killed: nothing more is written */
                break;
            }
            if (o->progress) {
                cnn_progress p = {st->epoch,
                                  cfg->epochs,
                                  st->batch,
                                  r->batches,
                                  (float)(st->sum_loss / st->seen),
                                  (float)st->hits / st->seen,
                                  lr,
                                  t > 0 ? st->images / t : 0,
                                  t};
                if (o->progress(&p, o->user)) {
                    if (st->batch < r->batches) s = save_checkpoint(r);
                    stop = 1;
                    break;
                }
            }
        }
        cnn_prefetch_finish(&r->pf);
        if (s != CNN_OK || stop == 2) break;
        if (st->batch == r->batches) s = end_epoch(r, &stop);
    }
    if (s == CNN_OK && stop != 2 && o->run_dir)
        s = cnn_net_save_weights(net, run_file(r, "final.weights"));
    return s;
}

cnn_status cnn_train_run(cnn_net *net, const cnn_train_config *cfg, const cnn_train_options *o) {
    if (!net || !cfg || !o || !o->train)
        return cnn_fail(CNN_ERR_ARG, "cnn_train_run: NULL argument");
    run r;
    memset(&r, 0, sizeof r);
    r.net = net;
    r.cfg = cfg;
    r.o = o;
    cnn_net_set_eval_hflip(net, cfg->tta_hflip);
    cnn_status s = logits_layer(net, &r.logits);
    if (s == CNN_OK) s = cnn_dataset_check(o->train, net, "training set");
    if (s == CNN_OK && o->val) s = cnn_dataset_check(o->val, net, "validation set");
    if (s == CNN_OK && o->test) s = cnn_dataset_check(o->test, net, "test set");
    if (s != CNN_OK) return s;
    if (cfg->batch <= 0 || cfg->epochs <= 0)
        return cnn_fail(CNN_ERR_ARG, "epochs and batch must be positive");
    const cnn_dataset *train = o->train;
    r.batch = cfg->batch < train->n ? cfg->batch : train->n;
    r.batches = (train->n + r.batch - 1) / r.batch;
    r.order = malloc((size_t)train->n * sizeof *r.order);
    if (!r.order) return cnn_fail(CNN_ERR_NOMEM, "out of memory for a training order");
    s = cnn_optim_create(&r.opt, cfg, net->n_params);
    int split = 0;
    if (s == CNN_OK)
        s = cnn_replicas_choose(net, cfg->data_parallel, r.batch, omp_get_max_threads(), &split);
    if (s == CNN_OK && split) s = cnn_replicas_create(&r.rep, net, split);
    if (s == CNN_OK) s = cnn_prefetch_init(&r.pf, train, net, cfg, r.batch, !o->no_prefetch);
    /* The starting state: a fresh run, or the checkpoint. */
    for (int i = 0; i < train->n; i++)
        r.order[i] = i;
    cnn_rng_seed(&r.st.data_rng, cfg->seed * 0x9e3779b97f4a7c15ULL + 7);
    r.st.recipe = cnn_recipe_hash(cfg, train->n, o->val ? o->val->n : 0);
    r.st.batches = r.batches;
    int resumed = 0;
    if (s == CNN_OK && o->run_dir && o->resume &&
        access(run_file(&r, "checkpoint.cnnw"), F_OK) == 0) {
        s = cnn_checkpoint_load(r.path, net, r.opt, &r.st, r.order, train->n);
        if (s == CNN_OK) {
            net->rng = r.st.net_rng;
            resumed = 1;
        }
    }
    r.st.net_rng = net->rng;
    r.start = now_s() - r.st.elapsed;
    if (s == CNN_OK && o->run_dir) {
        const char *log = run_file(&r, "metrics.jsonl");
        if (resumed) s = log_truncate(log, r.st.step);
        if (s == CNN_OK && !(r.log = fopen(log, resumed ? "ab" : "wb")))
            s = cnn_fail(CNN_ERR_IO, "%s: %s", log, strerror(errno));
    }
    cnn_net_set_input_grad(net, 0);
    if (s == CNN_OK) s = train_loop(&r);
    cnn_net_set_input_grad(net, 1);
    if (r.log) fclose(r.log);
    cnn_prefetch_free(&r.pf);
    cnn_replicas_free(r.rep);
    cnn_optim_free(r.opt);
    free(r.order);
    return s;
}

/* ---- the original entry: no files, test set evaluated every epoch -------- */

typedef struct {
    cnn_progress_fn progress;
    cnn_epoch_fn on_epoch;
    void *user;
} compat;

static int compat_epoch(const cnn_epoch_stats *e, void *user) {
    const compat *c = user;
    if (c->on_epoch)
        c->on_epoch(e->epoch, e->train_loss, e->train_acc, e->test_loss, e->test_acc, c->user);
    return 0;
}

static int compat_progress(const cnn_progress *p, void *user) {
    const compat *c = user;
    return c->progress(p, c->user);
}

cnn_status cnn_train(cnn_net *net, const cnn_train_config *cfg, const cnn_dataset *train,
                     const cnn_dataset *test, cnn_progress_fn progress, cnn_epoch_fn on_epoch,
                     void *user) {
    compat c = {progress, on_epoch, user};
    cnn_train_options o = {0};
    o.train = train;
    o.test = on_epoch ? test : NULL;
    o.progress = progress ? compat_progress : NULL;
    o.on_epoch = compat_epoch;
    o.user = &c;
    return cnn_train_run(net, cfg, &o);
}
