/* test_optim.c — optimizers and learning-rate schedules against PyTorch 1.13.
 *
 * tests/golden/optim.txt (from scripts/gen_optim_golden.py) holds, per case,
 * the starting parameters, five (lr, gradient) steps and torch.optim's
 * parameters after each step; and the learning rates torch.optim.lr_scheduler
 * gives over whole runs. A value passes when |ours - torch| <= max(1e-6 *
 * |torch|, 1e-7). Usage: test_optim [path/to/optim.txt], run from the repo root.
 * Also: checkpoint/resume through the state accessors, the threaded path for
 * large n, argument checks and schedule edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four headers it needs */

#include "cnn.h"
#include "train/optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-6
#define ABS_TOL 1e-7
#define MAX_CASES 32

typedef struct {
    char name[64];
    cnn_train_config cfg;
    int n, steps;
    float *params; /* n */
    float *lr;     /* steps */
    float *grad;   /* steps x n */
    float *expect; /* steps x n */
} optim_case;

typedef struct {
    char name[64];
    char source[16];
    cnn_train_config cfg;
    int steps_per_epoch, count;
    double *lrs; /* count */
} sched_case;

static const char *golden_path = "tests/golden/optim.txt";
static optim_case optims[MAX_CASES];
static sched_case scheds[MAX_CASES];
static int n_optims, n_scheds;
static double worst_rel; /* largest relative error over all compared values */

/* ---- fixture ----------------------------------------------------------- */

static int expect_word(FILE *f, const char *word) {
    char tok[64];
    if (fscanf(f, "%63s", tok) != 1 || strcmp(tok, word) != 0) {
        fprintf(stderr, "%s: expected '%s', got '%s'\n", golden_path, word, tok);
        return 0;
    }
    return 1;
}

static int read_floats(FILE *f, const char *word, float *x, int n) {
    if (word && !expect_word(f, word)) return 0;
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%f", &x[i]) != 1) return 0;
    return 1;
}

/* "key value" pairs in the order written by the generator. */
static int read_key_f(FILE *f, const char *key, float *v) {
    return expect_word(f, key) && fscanf(f, "%f", v) == 1;
}
static int read_key_i(FILE *f, const char *key, int *v) {
    return expect_word(f, key) && fscanf(f, "%d", v) == 1;
}

static int read_optim(FILE *f, optim_case *c) {
    char kind[16];
    cnn_train_config_default(&c->cfg);
    if (fscanf(f, "%63s %15s", c->name, kind) != 2) return 0;
    c->cfg.optimizer = !strcmp(kind, "sgd")    ? CNN_OPT_SGD
                       : !strcmp(kind, "adam") ? CNN_OPT_ADAM
                                               : CNN_OPT_ADAMW;
    if (!read_key_i(f, "n", &c->n) || !read_key_i(f, "steps", &c->steps) ||
        !read_key_f(f, "momentum", &c->cfg.momentum) ||
        !read_key_f(f, "dampening", &c->cfg.dampening) ||
        !read_key_i(f, "nesterov", &c->cfg.nesterov) ||
        !read_key_f(f, "weight_decay", &c->cfg.weight_decay) ||
        !read_key_f(f, "beta1", &c->cfg.beta1) || !read_key_f(f, "beta2", &c->cfg.beta2) ||
        !read_key_f(f, "eps", &c->cfg.eps))
        return 0;
    if (c->n <= 0 || c->steps <= 0) return 0;
    size_t n = (size_t)c->n, s = (size_t)c->steps;
    c->params = malloc(n * sizeof(float));
    c->lr = malloc(s * sizeof(float));
    c->grad = malloc(s * n * sizeof(float));
    c->expect = malloc(s * n * sizeof(float));
    if (!c->params || !c->lr || !c->grad || !c->expect) return 0;
    if (!read_floats(f, "params", c->params, c->n)) return 0;
    for (size_t k = 0; k < s; k++)
        if (!read_floats(f, "step", &c->lr[k], 1) ||
            !read_floats(f, "grad", c->grad + k * n, c->n) ||
            !read_floats(f, "expect", c->expect + k * n, c->n))
            return 0;
    return 1;
}

static int read_sched(FILE *f, sched_case *c) {
    char kind[16];
    cnn_train_config_default(&c->cfg);
    if (fscanf(f, "%63s %15s", c->name, kind) != 2) return 0;
    c->cfg.schedule = !strcmp(kind, "constant") ? CNN_SCHED_CONSTANT
                      : !strcmp(kind, "step")   ? CNN_SCHED_STEP
                                                : CNN_SCHED_COSINE;
    if (!read_key_f(f, "lr", &c->cfg.lr) || !read_key_i(f, "epochs", &c->cfg.epochs) ||
        !read_key_i(f, "steps_per_epoch", &c->steps_per_epoch) ||
        !read_key_i(f, "step_size", &c->cfg.step_size) || !read_key_f(f, "gamma", &c->cfg.gamma) ||
        !read_key_f(f, "min_lr", &c->cfg.min_lr) ||
        !read_key_i(f, "warmup_epochs", &c->cfg.warmup_epochs) || !expect_word(f, "source") ||
        fscanf(f, "%15s", c->source) != 1 || !read_key_i(f, "count", &c->count) ||
        !expect_word(f, "lrs") || c->count <= 0)
        return 0;
    c->lrs = malloc((size_t)c->count * sizeof(double));
    if (!c->lrs) return 0;
    for (int i = 0; i < c->count; i++)
        if (fscanf(f, "%lf", &c->lrs[i]) != 1) return 0;
    return 1;
}

static int load_fixture(void **state) {
    (void)state;
    FILE *f = fopen(golden_path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open (run from the repo root or pass the path)\n", golden_path);
        return -1;
    }
    char tok[64];
    int ok = 1;
    while (ok && fscanf(f, "%63s", tok) == 1) {
        if (tok[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
        } else if (!strcmp(tok, "optim") && n_optims < MAX_CASES) {
            ok = read_optim(f, &optims[n_optims++]);
        } else if (!strcmp(tok, "schedule") && n_scheds < MAX_CASES) {
            ok = read_sched(f, &scheds[n_scheds++]);
        } else if (!strcmp(tok, "end")) {
            break;
        } else {
            ok = 0;
        }
    }
    fclose(f);
    if (!ok || strcmp(tok, "end") != 0) {
        fprintf(stderr, "%s: malformed near '%s'\n", golden_path, tok);
        return -1;
    }
    return 0;
}

static int free_fixture(void **state) {
    (void)state;
    for (int i = 0; i < n_optims; i++) {
        free(optims[i].params);
        free(optims[i].lr);
        free(optims[i].grad);
        free(optims[i].expect);
    }
    for (int i = 0; i < n_scheds; i++)
        free(scheds[i].lrs);
    print_message("worst relative error vs torch over all cases: %.3g\n", worst_rel);
    return 0;
}

/* ---- comparison -------------------------------------------------------- */

/* Fails the test if got and want differ beyond the tolerance; returns the
 * largest relative error (over nonzero wants) for the report. */
static double compare(const char *what, int step, const float *got, const double *want_d,
                      const float *want_f, int n) {
    double rel = 0.0;
    for (int i = 0; i < n; i++) {
        double want = want_d ? want_d[i] : (double)want_f[i];
        double err = fabs((double)got[i] - want);
        double tol = fmax(REL_TOL * fabs(want), ABS_TOL);
        if (want != 0.0 && err / fabs(want) > rel) rel = err / fabs(want);
        if (!(err <= tol))
            fail_msg("%s step %d [%d]: got %.9g, torch %.9g (error %.3g > %.3g)", what, step, i,
                     (double)got[i], want, err, tol);
    }
    if (rel > worst_rel) worst_rel = rel;
    return rel;
}

/* ---- golden cases ------------------------------------------------------ */

static const optim_case *find_optim(const char *name) {
    for (int i = 0; i < n_optims; i++)
        if (!strcmp(optims[i].name, name)) return &optims[i];
    fail_msg("no optimizer case '%s' in %s", name, golden_path);
    return NULL;
}

static const sched_case *find_sched(const char *name) {
    for (int i = 0; i < n_scheds; i++)
        if (!strcmp(scheds[i].name, name)) return &scheds[i];
    fail_msg("no schedule case '%s' in %s", name, golden_path);
    return NULL;
}

/* Five torch.optim steps from the same start, every step's params compared. */
static void test_optim_case(void **state) {
    const optim_case *c = find_optim((const char *)*state);
    size_t n = (size_t)c->n;
    cnn_optim *opt;
    assert_int_equal(cnn_optim_create(&opt, &c->cfg, n), CNN_OK);
    float *p = malloc(n * sizeof(float));
    assert_non_null(p);
    memcpy(p, c->params, n * sizeof(float));
    double rel = 0.0;
    int exact = 1;
    for (int k = 0; k < c->steps; k++) {
        cnn_optim_step(opt, p, c->grad + (size_t)k * n, c->lr[k]);
        const float *want = c->expect + (size_t)k * n;
        rel = fmax(rel, compare(c->name, k + 1, p, NULL, want, c->n));
        exact = exact && memcmp(p, want, n * sizeof(float)) == 0;
    }
    assert_int_equal(cnn_optim_steps(opt), c->steps);
    print_message("%-18s max rel error %.3g%s\n", c->name, rel, exact ? " (bit-exact)" : "");
    free(p);
    cnn_optim_free(opt);
}

/* The lr at every optimizer step of a run, vs torch's schedulers. */
static void test_sched_case(void **state) {
    const sched_case *c = find_sched((const char *)*state);
    float *got = malloc((size_t)c->count * sizeof(float));
    assert_non_null(got);
    for (int s = 0; s < c->count; s++)
        got[s] = cnn_schedule_lr(&c->cfg, s, c->steps_per_epoch);
    double rel = compare(c->name, 0, got, c->lrs, NULL, c->count);
    print_message("%-18s max rel error %.3g over %d steps (vs %s)\n", c->name, rel, c->count,
                  c->source);
    free(got);
}

/* Every case of the fixture is run by a test in the list (none skipped). */
static const struct CMUnitTest *test_list;
static size_t test_count;

static int has_test(void (*fn)(void **), const char *name) {
    for (size_t t = 0; t < test_count; t++)
        if (test_list[t].test_func == fn && !strcmp((const char *)test_list[t].initial_state, name))
            return 1;
    return 0;
}

static void test_fixture_covered(void **state) {
    (void)state;
    for (int i = 0; i < n_optims; i++)
        if (!has_test(test_optim_case, optims[i].name))
            fail_msg("fixture case optim %s has no test", optims[i].name);
    for (int i = 0; i < n_scheds; i++)
        if (!has_test(test_sched_case, scheds[i].name))
            fail_msg("fixture case schedule %s has no test", scheds[i].name);
}

/* ---- properties -------------------------------------------------------- */

static void fill(float *x, size_t n, uint32_t seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = scale * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
}

/* Two steps, state saved and copied into a fresh optimizer, three more steps:
 * bit-identical to five uninterrupted steps, for each kind. */
static void test_checkpoint_resume(void **state) {
    (void)state;
    enum { N = 1000, STEPS = 5 };
    static float p0[N], p1[N], p2[N], g[STEPS][N];
    fill(p0, N, 1, 2.0f);
    for (int k = 0; k < STEPS; k++)
        fill(g[k], N, 100 + k, 1.0f);
    for (int kind = CNN_OPT_SGD; kind <= CNN_OPT_ADAMW; kind++) {
        cnn_train_config cfg;
        cnn_train_config_default(&cfg);
        cfg.optimizer = (cnn_optimizer_kind)kind;
        cfg.weight_decay = 0.01f;
        cnn_optim *a, *b, *c;
        assert_int_equal(cnn_optim_create(&a, &cfg, N), CNN_OK);
        assert_int_equal(cnn_optim_create(&b, &cfg, N), CNN_OK);
        assert_int_equal(cnn_optim_create(&c, &cfg, N), CNN_OK);
        memcpy(p1, p0, sizeof p0);
        memcpy(p2, p0, sizeof p0);
        for (int k = 0; k < STEPS; k++)
            cnn_optim_step(a, p1, g[k], 0.01f);
        for (int k = 0; k < 2; k++)
            cnn_optim_step(b, p2, g[k], 0.01f);
        assert_int_equal(cnn_optim_state_size(b), cnn_optim_state_size(c));
        memcpy(cnn_optim_state(c), cnn_optim_state(b), cnn_optim_state_size(b) * sizeof(float));
        cnn_optim_set_steps(c, cnn_optim_steps(b));
        for (int k = 2; k < STEPS; k++)
            cnn_optim_step(c, p2, g[k], 0.01f);
        assert_memory_equal(p1, p2, sizeof p1);
        assert_int_equal(cnn_optim_steps(c), STEPS);
        cnn_optim_free(a);
        cnn_optim_free(b);
        cnn_optim_free(c);
    }
}

/* A step over many parameters (the OpenMP path) equals steps over slices of
 * them (the serial path), bit for bit. */
static void test_parallel_matches_serial(void **state) {
    (void)state;
    const size_t n = 200003, part = 1000;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *q = malloc(n * sizeof(float));
    assert_true(p && g && q);
    fill(p, n, 7, 1.0f);
    fill(g, n, 8, 1.0f);
    memcpy(q, p, n * sizeof(float));
    for (int kind = CNN_OPT_SGD; kind <= CNN_OPT_ADAMW; kind++) {
        cnn_train_config cfg;
        cnn_train_config_default(&cfg);
        cfg.optimizer = (cnn_optimizer_kind)kind;
        cfg.nesterov = 1;
        cfg.weight_decay = 1e-3f;
        cnn_optim *big, *small;
        assert_int_equal(cnn_optim_create(&big, &cfg, n), CNN_OK);
        for (int k = 0; k < 3; k++)
            cnn_optim_step(big, p, g, 0.1f);
        for (size_t off = 0; off < n; off += part) {
            size_t m = n - off < part ? n - off : part;
            assert_int_equal(cnn_optim_create(&small, &cfg, m), CNN_OK);
            for (int k = 0; k < 3; k++)
                cnn_optim_step(small, q + off, g + off, 0.1f);
            cnn_optim_free(small);
        }
        assert_memory_equal(p, q, n * sizeof(float));
        cnn_optim_free(big);
    }
    free(p);
    free(g);
    free(q);
}

static void test_state_sizes(void **state) {
    (void)state;
    cnn_train_config cfg;
    cnn_train_config_default(&cfg);
    cnn_optim *o;
    cfg.momentum = 0.0f;
    assert_int_equal(cnn_optim_create(&o, &cfg, 10), CNN_OK);
    assert_int_equal(cnn_optim_state_size(o), 0);
    cnn_optim_free(o);
    cfg.momentum = 0.9f;
    assert_int_equal(cnn_optim_create(&o, &cfg, 10), CNN_OK);
    assert_int_equal(cnn_optim_state_size(o), 10);
    assert_int_equal(cnn_optim_steps(o), 0);
    cnn_optim_free(o);
    cfg.optimizer = CNN_OPT_ADAMW;
    assert_int_equal(cnn_optim_create(&o, &cfg, 10), CNN_OK);
    assert_int_equal(cnn_optim_state_size(o), 20);
    for (size_t i = 0; i < 20; i++)
        assert_true(cnn_optim_state(o)[i] == 0.0f);
    cnn_optim_free(o);
    cnn_optim_free(NULL);
}

static void test_create_rejects(void **state) {
    (void)state;
    cnn_train_config cfg;
    cnn_optim *o = (cnn_optim *)&cfg;
    cnn_train_config_default(&cfg);
    cfg.nesterov = 1;
    cfg.momentum = 0.0f;
    assert_int_equal(cnn_optim_create(&o, &cfg, 4), CNN_ERR_ARG);
    assert_null(o);
    assert_true(strstr(cnn_last_error(), "nesterov") != NULL);
    cfg.momentum = 0.9f;
    cfg.dampening = 0.1f;
    assert_int_equal(cnn_optim_create(&o, &cfg, 4), CNN_ERR_ARG);
    cnn_train_config_default(&cfg);
    cfg.weight_decay = -1.0f;
    assert_int_equal(cnn_optim_create(&o, &cfg, 4), CNN_ERR_ARG);
    cnn_train_config_default(&cfg);
    cfg.optimizer = CNN_OPT_ADAM;
    cfg.beta2 = 1.0f;
    assert_int_equal(cnn_optim_create(&o, &cfg, 4), CNN_ERR_ARG);
    cfg.beta2 = 0.999f;
    cfg.eps = NAN;
    assert_int_equal(cnn_optim_create(&o, &cfg, 4), CNN_ERR_ARG);
    assert_int_equal(cnn_optim_create(NULL, &cfg, 4), CNN_ERR_ARG);
    assert_int_equal(cnn_optim_create(&o, NULL, 4), CNN_ERR_ARG);
}

static void test_schedule_edges(void **state) {
    (void)state;
    cnn_train_config cfg;
    cnn_train_config_default(&cfg);
    cfg.lr = 0.1f;
    cfg.epochs = 2;
    cfg.schedule = CNN_SCHED_COSINE;
    cfg.min_lr = 0.01f;
    /* past the end the cosine stays at min_lr */
    assert_true(cnn_schedule_lr(&cfg, 20, 10) == 0.01f);
    assert_true(cnn_schedule_lr(&cfg, 25, 10) == 0.01f);
    /* half-way: the mean of lr and min_lr */
    assert_true(fabsf(cnn_schedule_lr(&cfg, 10, 10) - 0.055f) < 1e-7f);
    /* warm-up covering the whole run: linear to lr, then lr */
    cfg.warmup_epochs = 2;
    assert_true(cnn_schedule_lr(&cfg, 19, 10) == 0.1f);
    assert_true(cnn_schedule_lr(&cfg, 20, 10) == 0.1f);
    /* nonsense arguments are clamped, not divided by */
    cfg.warmup_epochs = 0;
    cfg.schedule = CNN_SCHED_STEP;
    cfg.step_size = 0;
    assert_true(isfinite(cnn_schedule_lr(&cfg, -3, 0)));
    assert_true(cnn_schedule_lr(&cfg, 0, 0) == 0.1f);
}

/* Golden cases by name: the test carries the case name as its state. */
#define OPTIM(name)                                                                                \
    { "optim " name, test_optim_case, NULL, NULL, (void *)name }
#define SCHED(name)                                                                                \
    { "schedule " name, test_sched_case, NULL, NULL, (void *)name }

int main(int argc, char **argv) {
    if (argc > 1) golden_path = argv[1];
    static const struct CMUnitTest tests[] = {
        OPTIM("sgd_plain"),
        OPTIM("sgd_momentum"),
        OPTIM("sgd_dampening"),
        OPTIM("sgd_nesterov"),
        OPTIM("sgd_weight_decay"),
        OPTIM("sgd_momentum_wd"),
        OPTIM("sgd_nesterov_wd"),
        OPTIM("adam"),
        OPTIM("adam_wd"),
        OPTIM("adam_betas"),
        OPTIM("adamw"),
        OPTIM("adamw_strong"),
        SCHED("constant"),
        SCHED("step"),
        SCHED("step_every_epoch"),
        SCHED("cosine"),
        SCHED("cosine_to_zero"),
        SCHED("warmup_cosine"),
        SCHED("warmup_constant"),
        SCHED("warmup_step"),
        cmocka_unit_test(test_fixture_covered),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_parallel_matches_serial),
        cmocka_unit_test(test_state_sizes),
        cmocka_unit_test(test_create_rejects),
        cmocka_unit_test(test_schedule_edges),
    };
    test_list = tests;
    test_count = sizeof tests / sizeof *tests;
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
