/* test_resume.c — a training run killed with SIGKILL at random moments and
 * resumed each time ends with the same weights, byte for byte, as the same
 * run left alone; and the log it leaves matches too (times aside).
 *
 * The run is small but exercises every piece of state a checkpoint carries:
 * Adam's moments and step count, a warm-up + cosine schedule, dropout (the
 * net's generator), augmentation (crop, flip, rotation, erasing), a
 * validation split with best-model tracking, mid-epoch checkpoints and the
 * background batch thread. Each training session is a fresh process (this
 * program re-executed with "child"), so OpenMP never crosses a fork. The
 * seed of the kill delays is printed, and can be fixed with RESUME_SEED.
 *
 * Also: a NaN stops training naming the layer and keeps the checkpoint; and
 * early stopping with patience. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *model_text =
    "input shape=1x12x12 mean=0.2 std=0.3\n"
    "train epochs=3 batch=16 optimizer=adam lr=0.01 schedule=cosine warmup=1 seed=7 "
    "crop_pad=1 hflip=1 rotate=10 erase=0.25 val_split=0.2 checkpoint_every=3 log_every=4\n"
    "conv name=c1 filters=6 kernel=3 padding=1\n"
    "relu\n"
    "maxpool kernel=2\n"
    "dropout p=0.2\n"
    "dense name=fc units=4\n"
    "softmax\n";

static char self_path[4096];
static char tmpdir[256];

/* 4 classes: a bright bar in one of four places, plus noise. */
static void make_data(cnn_dataset *ds, int n, uint64_t seed) {
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    ds->n = n;
    ds->c = 1;
    ds->h = ds->w = 12;
    ds->classes = 4;
    ds->images = malloc((size_t)n * 144);
    ds->labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        int k = (int)(cnn_rng_u64(&r) % 4);
        uint8_t *p = ds->images + (size_t)i * 144;
        for (int j = 0; j < 144; j++)
            p[j] = (uint8_t)(cnn_rng_u64(&r) % 90);
        for (int j = 0; j < 12; j++) {
            int at = 2 + 3 * (k & 1) + (cnn_rng_u64(&r) % 2);
            if (k < 2)
                p[at * 12 + j] = 250;
            else
                p[j * 12 + at] = 250;
        }
        ds->labels[i] = (uint8_t)k;
    }
}

/* One training session in run_dir (resuming if a checkpoint is there). */
static int session(const char *run_dir, int resume) {
    cnn_set_threads(2);
    cnn_net *net;
    if (cnn_net_parse(&net, model_text, "resume.cnn", 0) != CNN_OK) {
        fprintf(stderr, "%s\n", cnn_last_error());
        return 1;
    }
    cnn_train_config cfg = *cnn_net_train_config(net);
    cnn_dataset all = {0}, train, val;
    make_data(&all, 240, 99);
    int rc = 0;
    if (cnn_dataset_split(&all, cfg.val_split, cfg.seed, &train, &val) != CNN_OK) return 1;
    cnn_train_options o = {0};
    o.train = &train;
    o.val = &val;
    o.run_dir = run_dir;
    o.resume = resume;
    if (cnn_train_run(net, &cfg, &o) != CNN_OK) {
        fprintf(stderr, "train: %s\n", cnn_last_error());
        rc = 1;
    }
    cnn_dataset_free(&all);
    cnn_dataset_free(&train);
    cnn_dataset_free(&val);
    cnn_net_free(net);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Run a session in a fresh process; kill it with SIGKILL after delay seconds
 * (delay < 0: let it finish). Returns 1 if it was killed, 0 if it finished. */
static int child(const char *run_dir, double delay) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self_path, self_path, "child", run_dir, (char *)NULL);
        _exit(127);
    }
    int status;
    if (delay >= 0) {
        struct timespec ts = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return 1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return 0;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 22);
    *len = fread(buf, 1, (1 << 22) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* The log without its "time" values. */
static void strip_times(char *s) {
    char *p;
    while ((p = strstr(s, ",\"time\":"))) {
        char *e = p + 8;
        while (*e && *e != ',' && *e != '}')
            e++;
        memmove(p, e, strlen(e) + 1);
    }
}

static void test_kill_and_resume(void **state) {
    (void)state;
    char ref[512], run[512], a[600], b[600];
    snprintf(ref, sizeof ref, "%s/ref", tmpdir);
    snprintf(run, sizeof run, "%s/killed", tmpdir);
    mkdir(ref, 0700);
    mkdir(run, 0700);
    double t0 = now_s();
    assert_int_equal(child(ref, -1), 0);
    double took = now_s() - t0;
    unsigned seed = getenv("RESUME_SEED") ? (unsigned)atoi(getenv("RESUME_SEED"))
                                          : (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("uninterrupted run: %.2f s; kill delays seeded with RESUME_SEED=%u\n", took, seed);
    srand(seed);
    /* On a loaded machine a session may finish before its kill: then start the
     * killed run over with shorter delays, until at least one kill landed. */
    int kills = 0;
    double scale = 1.0;
    for (int round = 0; round < 8 && kills == 0; round++, scale *= 0.5) {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", run, run);
        assert_int_equal(system(cmd), 0);
        for (int attempt = 0; attempt < 4; attempt++) {
            double delay = scale * took * (0.1 + 0.8 * rand() / (double)RAND_MAX);
            int killed = child(run, delay);
            printf("round %d session %d: %s after %.3f s\n", round + 1, attempt + 1,
                   killed ? "killed" : "finished", delay);
            kills += killed;
            if (!killed) break;
        }
    }
    assert_true(kills > 0);
    assert_int_equal(child(run, -1), 0); /* resume to the end (or find it finished) */
    size_t la, lb;
    snprintf(a, sizeof a, "%s/final.weights", ref);
    snprintf(b, sizeof b, "%s/final.weights", run);
    char *wa = slurp(a, &la), *wb = slurp(b, &lb);
    assert_non_null(wa);
    assert_non_null(wb);
    assert_int_equal(la, lb);
    assert_memory_equal(wa, wb, la);
    printf("final weights: %zu bytes, identical after %d kill(s)\n", la, kills);
    free(wa);
    free(wb);
    snprintf(a, sizeof a, "%s/best.weights", ref);
    snprintf(b, sizeof b, "%s/best.weights", run);
    wa = slurp(a, &la);
    wb = slurp(b, &lb);
    assert_non_null(wa);
    assert_non_null(wb);
    assert_int_equal(la, lb);
    assert_memory_equal(wa, wb, la);
    free(wa);
    free(wb);
    snprintf(a, sizeof a, "%s/metrics.jsonl", ref);
    snprintf(b, sizeof b, "%s/metrics.jsonl", run);
    wa = slurp(a, &la);
    wb = slurp(b, &lb);
    assert_non_null(wa);
    assert_non_null(wb);
    strip_times(wa);
    strip_times(wb);
    assert_string_equal(wa, wb);
    assert_non_null(strstr(wa, "\"type\":\"epoch\",\"epoch\":3"));
    free(wa);
    free(wb);
}

/* A learning rate that blows the weights up: training stops with
 * CNN_ERR_NUMERIC naming a layer, and the checkpoint written before stays. */
static void test_nan_stops(void **state) {
    (void)state;
    char dir[512], ck[600];
    snprintf(dir, sizeof dir, "%s/nan", tmpdir);
    mkdir(dir, 0700);
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, model_text, "resume.cnn", 0), CNN_OK);
    cnn_train_config cfg = *cnn_net_train_config(net);
    cfg.optimizer = CNN_OPT_SGD;
    cfg.schedule = CNN_SCHED_CONSTANT;
    cfg.warmup_epochs = 0;
    cfg.lr = 1e30f;
    cfg.checkpoint_every = 1;
    cnn_dataset all = {0};
    make_data(&all, 320, 5);
    cnn_train_options o = {0};
    o.train = &all;
    o.run_dir = dir;
    cnn_status s = cnn_train_run(net, &cfg, &o);
    printf("%s\n", cnn_last_error());
    assert_int_equal(s, CNN_ERR_NUMERIC);
    assert_non_null(strstr(cnn_last_error(), "layer '"));
    assert_non_null(strstr(cnn_last_error(), "checkpoint.cnnw is kept"));
    snprintf(ck, sizeof ck, "%s/checkpoint.cnnw", dir);
    assert_int_equal(cnn_net_load_weights(net, ck), CNN_OK); /* finite: the last good one */
    cnn_dataset_free(&all);
    cnn_net_free(net);
}

static int stops_seen;
static int on_epoch(const cnn_epoch_stats *e, void *user) {
    (void)user;
    stops_seen = e->epoch;
    return 0;
}

/* lr 0: validation accuracy never improves after epoch 1, so patience 2
 * stops after epoch 3 of 10, with epoch 1 the best. */
static void test_early_stopping(void **state) {
    (void)state;
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net, model_text, "resume.cnn", 0), CNN_OK);
    cnn_train_config cfg = *cnn_net_train_config(net);
    cfg.lr = 0;
    cfg.epochs = 10;
    cfg.patience = 2;
    cnn_dataset all = {0}, train, val;
    make_data(&all, 320, 5);
    assert_int_equal(cnn_dataset_split(&all, 64, 3, &train, &val), CNN_OK);
    assert_int_equal(val.n, 64);
    assert_int_equal(train.n, 256);
    cnn_train_options o = {0};
    o.train = &train;
    o.val = &val;
    o.on_epoch = on_epoch;
    assert_int_equal(cnn_train_run(net, &cfg, &o), CNN_OK);
    assert_int_equal(stops_seen, 3);
    cnn_dataset_free(&all);
    cnn_dataset_free(&train);
    cnn_dataset_free(&val);
    cnn_net_free(net);
}

/* Batches made by the background thread or by the training thread: the same
 * weights, bit for bit. */
static void test_prefetch_same(void **state) {
    (void)state;
    cnn_set_threads(2);
    float *w[2];
    size_t n = 0;
    cnn_dataset all = {0};
    make_data(&all, 256, 11);
    for (int k = 0; k < 2; k++) {
        cnn_net *net;
        assert_int_equal(cnn_net_parse(&net, model_text, "resume.cnn", 0), CNN_OK);
        cnn_train_config cfg = *cnn_net_train_config(net);
        cfg.epochs = 2;
        cnn_train_options o = {0};
        o.train = &all;
        o.no_prefetch = k;
        assert_int_equal(cnn_train_run(net, &cfg, &o), CNN_OK);
        n = cnn_net_num_params(net);
        w[k] = malloc(n * sizeof(float));
        memcpy(w[k], cnn_net_params(net), n * sizeof(float));
        cnn_net_free(net);
    }
    assert_memory_equal(w[0], w[1], n * sizeof(float));
    free(w[0]);
    free(w[1]);
    cnn_dataset_free(&all);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "child")) return session(argv[2], 1);
    if (!realpath("/proc/self/exe", self_path))
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cnn_resume_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_nan_stops),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_prefetch_same),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!failed) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) return 1;
    }
    return failed ? 1 : 0;
}
