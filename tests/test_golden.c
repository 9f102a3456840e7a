/* test_golden.c — every layer against PyTorch.
 *
 * Reads tests/golden/layers.txt (scripts/gen_golden.py; or the file named by
 * argv[1] or $CNN_GOLDEN) and, for each case, builds the one-layer net from its
 * model lines, loads torch's parameters and checks:
 *   layer: y of a training and of an eval forward, dx and every parameter
 *          gradient after cnn_net_backward(dy);
 *   eval:  y of an eval forward (dropout, whose training mask torch cannot share);
 *   with buffers (batchnorm): the buffers are loaded too; the eval forward is
 *          compared with y_eval when given, must leave the buffers bit-identical,
 *          and the training forward must update them to buffers_after;
 *   ce:    the mean loss, arg-max hits, dlogits (the input gradient of a
 *          flatten+softmax net) or dx and parameter gradients (dense+softmax),
 *          from cnn_net_train_step.
 * Each case runs with all threads and with one thread.
 *
 * Tolerance: max|diff| <= 1e-5 * max(1, max|ref|) per quantity (per tensor for
 * gradients). The references are float64 computations on the same float32
 * inputs, so the measured difference is the C code's float32 rounding alone:
 * ~1e-7 relative per operation, growing with the length of sums (at most a few
 * hundred terms here), which leaves a margin of 10x or more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include "common/fixture.h"
#include "graph/net.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-5

/* ---- per-case and per-layer-type bookkeeping ------------------------- */

#define MAX_ITEMS 16

typedef struct {
    char what[48];
    double diff, ref; /* worst over runs */
    int failed;
} item;

typedef struct {
    item it[MAX_ITEMS];
    int n, failed;
    char error[512]; /* a failure other than a numeric mismatch */
} report;

static void note(report *r, const char *what, double diff, double ref) {
    int ok = golden_within(diff, ref, RTOL);
    r->failed |= !ok;
    int i = 0;
    while (i < r->n && strcmp(r->it[i].what, what))
        i++;
    if (i == MAX_ITEMS) return; /* not shown, but counted as failed above */
    if (i == r->n) {
        r->n++;
        memset(&r->it[i], 0, sizeof r->it[i]);
        snprintf(r->it[i].what, sizeof r->it[i].what, "%s", what);
    }
    item *t = &r->it[i];
    if (!(diff <= t->diff)) t->diff = diff; /* NaN-safe max */
    if (ref > t->ref) t->ref = ref;
    t->failed |= !ok;
}

static void check(report *r, const char *what, const float *got, const double *ref, size_t n) {
    double mr, d = golden_max_diff(got, ref, n, &mr);
    note(r, what, d, mr);
}

/* Summary across cases, by layer type and quantity (relative: diff / max(1, max|ref|)). */
#define MAX_SUMMARY 128
static struct {
    char type[24], what[48];
    double rel;
    int cases, failed;
} summary[MAX_SUMMARY];
static int n_summary;

static void summarize(const char *type, const report *r) {
    for (int i = 0; i < r->n; i++) {
        const item *t = &r->it[i];
        /* "dconv.weight" -> "dweight"; "y", "y.eval", "dx", "loss" as they are */
        char what[48];
        const char *dot = strchr(t->what, '.');
        if (t->what[0] == 'd' && dot)
            snprintf(what, sizeof what, "d%s", dot + 1);
        else
            snprintf(what, sizeof what, "%s", t->what);
        int k;
        for (k = 0; k < n_summary; k++)
            if (!strcmp(summary[k].type, type) && !strcmp(summary[k].what, what)) break;
        if (k == n_summary) {
            if (n_summary == MAX_SUMMARY) continue;
            n_summary++;
            snprintf(summary[k].type, sizeof summary[k].type, "%s", type);
            snprintf(summary[k].what, sizeof summary[k].what, "%s", what);
        }
        double rel = t->diff / (t->ref > 1 ? t->ref : 1);
        if (!(rel <= summary[k].rel)) summary[k].rel = rel;
        summary[k].cases++;
        summary[k].failed += t->failed;
    }
}

/* The layer type of the case: the first word of its last model line, or "ce". */
static void case_type(const golden_case *c, char *buf, size_t len) {
    if (!strcmp(c->mode, "ce")) {
        snprintf(buf, len, "ce");
        return;
    }
    const char *m = c->model, *last = m;
    for (const char *p = m; *p; p++)
        if (*p == '\n' && p[1]) last = p + 1;
    size_t k = strcspn(last, " \n");
    snprintf(buf, len, "%.*s", (int)(k < len ? k : len - 1), last);
}

/* ---- running one case --------------------------------------------------- */

static void check_grads(report *r, cnn_net *net, const golden_case *c) {
    const float *g = cnn_net_grads(net);
    const float *p0 = cnn_net_params(net);
    size_t covered = 0;
    for (int i = 0; i < cnn_net_num_layers(net); i++) {
        const cnn_layer *l = cnn_net_layer(net, i);
        if (!l->n_params || !l->ops->tensors) continue;
        cnn_tensor_desc d[CNN_MAX_TENSORS];
        int nt = l->ops->tensors(l, d);
        for (int k = 0; k < nt; k++) {
            if (d[k].buffer) continue;
            size_t count = 1;
            for (int j = 0; j < d[k].ndim; j++)
                count *= (size_t)d[k].dims[j];
            size_t off = (size_t)(l->params - p0) + d[k].offset;
            if (off + count > c->grads.n) {
                snprintf(r->error, sizeof r->error, "tensor %s.%s lies outside the params",
                         l->ops->type, d[k].suffix);
                r->failed = 1;
                return;
            }
            char what[48];
            snprintf(what, sizeof what, "d%s.%s", l->ops->type, d[k].suffix);
            check(r, what, g + off, c->grads.v + off, count);
            covered += count;
        }
    }
    if (covered != c->grads.n) /* no or partial descriptors: compare the whole block */
        check(r, "dparams", g, c->grads.v, c->grads.n);
}

static int fail_status(report *r, const char *what, cnn_status s) {
    snprintf(r->error, sizeof r->error, "%s: %s: %s", what, cnn_status_str(s), cnn_last_error());
    r->failed = 1;
    return 1;
}

static int run_once(const golden_case *c, report *r) {
    cnn_net *net = NULL;
    cnn_status s = cnn_net_parse(&net, c->model, c->name, 1);
    if (s != CNN_OK) return fail_status(r, "parse", s);
    int rc = 1;
    if (cnn_net_num_params(net) != c->params.n) {
        snprintf(r->error, sizeof r->error, "net has %zu params, fixture %zu",
                 cnn_net_num_params(net), c->params.n);
        r->failed = 1;
        goto done;
    }
    if (c->params.n) memcpy(cnn_net_params(net), c->params.f, c->params.n * sizeof(float));
    size_t nb = cnn_net_num_buffers(net);
    if (c->buffers.present) {
        if (nb != c->buffers.n) {
            snprintf(r->error, sizeof r->error, "net has %zu buffers, fixture %zu", nb,
                     c->buffers.n);
            r->failed = 1;
            goto done;
        }
        if (nb) memcpy(cnn_net_buffers(net), c->buffers.f, nb * sizeof(float));
    }
    int oc, oh, ow;
    cnn_net_output_shape(net, &oc, &oh, &ow);
    size_t out_n = (size_t)c->n * (size_t)oc * (size_t)oh * (size_t)ow;
    const float *y = NULL;

    if (!strcmp(c->mode, "ce")) {
        float loss = NAN;
        int correct = -1;
        s = cnn_net_train_step(net, c->x.f, c->labels, c->n, (float)c->smoothing, &loss, &correct);
        if (s != CNN_OK) {
            fail_status(r, "train_step", s);
            goto done;
        }
        note(r, "loss", fabs((double)loss - c->loss), fabs(c->loss));
        if (c->has_correct && correct != c->correct) {
            snprintf(r->error, sizeof r->error, "correct = %d, torch %d", correct, c->correct);
            r->failed = 1;
        }
        check(r, "dx", cnn_net_input_grad(net), c->dx.v, c->dx.n);
        if (c->params.n) check_grads(r, net, c);
        rc = 0;
        goto done;
    }

    if (out_n != c->y.n) {
        snprintf(r->error, sizeof r->error, "output is %dx%dx%d (%zu floats), torch %zu floats", oc,
                 oh, ow, out_n, c->y.n);
        r->failed = 1;
        goto done;
    }
    if ((s = cnn_net_forward(net, c->x.f, c->n, 0, &y)) != CNN_OK) {
        fail_status(r, "forward(eval)", s);
        goto done;
    }
    check(r, !strcmp(c->mode, "eval") ? "y" : "y.eval", y, c->y_eval.present ? c->y_eval.v : c->y.v,
          c->y.n);
    if (c->buffers.present && nb &&
        memcmp(cnn_net_buffers(net), c->buffers.f, nb * sizeof(float))) {
        snprintf(r->error, sizeof r->error, "an eval forward pass changed the buffers");
        r->failed = 1;
        goto done;
    }
    if (!strcmp(c->mode, "layer")) {
        if ((s = cnn_net_forward(net, c->x.f, c->n, 1, &y)) != CNN_OK) {
            fail_status(r, "forward(train)", s);
            goto done;
        }
        check(r, "y", y, c->y.v, c->y.n);
        if (c->buffers_after.present)
            check(r, "buffers", cnn_net_buffers(net), c->buffers_after.v, c->buffers_after.n);
        if ((s = cnn_net_backward(net, c->dy.f, c->n)) != CNN_OK) {
            fail_status(r, "backward", s);
            goto done;
        }
        check(r, "dx", cnn_net_input_grad(net), c->dx.v, c->dx.n);
        if (c->params.n) check_grads(r, net, c);
    }
    rc = 0;
done:
    cnn_net_free(net);
    return rc;
}

static int all_threads;

static void test_case(void **state) {
    const golden_case *c = *state;
    report r;
    memset(&r, 0, sizeof r);
    int threads[2] = {all_threads, 1};
    for (int t = 0; t < 2 && !r.error[0]; t++) {
        cnn_set_threads(threads[t]);
        run_once(c, &r);
    }
    cnn_set_threads(all_threads);

    char line[1024];
    int k = snprintf(line, sizeof line, "%-34s", c->name);
    for (int i = 0; i < r.n && k > 0 && (size_t)k < sizeof line; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %s %.1e%s", r.it[i].what, r.it[i].diff,
                      r.it[i].failed ? "(FAIL)" : "");
    printf("%s\n", line);
    for (int i = 0; i < r.n; i++)
        if (r.it[i].failed)
            printf("    %s: max|diff| %.3g > %.0e * max(1, max|ref| = %.4g)\n", r.it[i].what,
                   r.it[i].diff, RTOL, r.it[i].ref);
    if (r.error[0]) printf("    %s\n", r.error);
    fflush(stdout);

    char type[24];
    case_type(c, type, sizeof type);
    summarize(type, &r);
    if (r.failed) fail_msg("%s (fixture line %d) disagrees with torch", c->name, c->line);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : getenv("CNN_GOLDEN");
    if (!path) path = "tests/golden/layers.txt";
    golden_case *cases;
    int count;
    char err[512];
    if (golden_load(path, &cases, &count, err, sizeof err)) {
        fprintf(stderr, "test_golden: %s\n", err);
        return 1;
    }
    if (count == 0) {
        fprintf(stderr, "test_golden: %s: no cases\n", path);
        return 1;
    }
    all_threads = cnn_get_threads();
    struct CMUnitTest *tests = calloc((size_t)count, sizeof *tests);
    if (!tests) return 1;
    for (int i = 0; i < count; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = test_case;
        tests[i].initial_state = &cases[i];
    }
    printf("%s: %d cases, tolerance max|diff| <= %.0e * max(1, max|ref|), threads %d and 1\n", path,
           count, RTOL, all_threads);
    int failed = _cmocka_run_group_tests("golden", tests, (size_t)count, NULL, NULL);

    printf("\nworst relative difference (max|diff| / max(1, max|ref|)) by layer and quantity:\n");
    for (int k = 0; k < n_summary; k++)
        printf("  %-12s %-14s %.2e  (%d cases%s)\n", summary[k].type, summary[k].what,
               summary[k].rel, summary[k].cases, summary[k].failed ? ", FAILURES" : "");
    printf("golden: %d of %d cases agree with torch\n", count - failed, count);
    free(tests);
    golden_free(cases, count);
    return failed ? 1 : 0;
}
