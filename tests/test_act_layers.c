/* test_act_layers.c — the dense, flatten, dropout, softmax and activation layers
 * driven through their ops tables without a net: options and their errors,
 * shapes, tensor descriptions, initialisation, forward/backward against naive
 * loops and finite differences, gradient accumulation, dropout's determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kernels/act.h"
#include "kernels/softmax.h"
#include "layers/layer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const cnn_layer_ops cnn_relu_ops, cnn_leaky_relu_ops, cnn_elu_ops, cnn_sigmoid_ops,
    cnn_tanh_ops;
extern const cnn_layer_ops cnn_dense_ops, cnn_flatten_ops, cnn_dropout_ops, cnn_softmax_ops;

/* A layer with its own buffers for a batch of n, as the net would set it up. */
typedef struct {
    cnn_layer l;
    cnn_rng rng;
    int n;
    float *x, *dx;
    char text[256];
} rig;

static void fill(float *a, size_t n, float scale, unsigned seed) {
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = (2.0f * cnn_rng_uniform(&r) - 1.0f) * scale;
}

static float *zeros(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

/* Configure from "key=value ..." (line 3 of file t.cnn), shape, allocate, init. */
static cnn_status rig_make(rig *r, const cnn_layer_ops *ops, const char *options, cnn_shape in,
                           int n) {
    memset(r, 0, sizeof *r);
    cnn_layer *l = &r->l;
    l->ops = ops;
    l->n_in = 1;
    l->in[0] = in;
    l->rng = &r->rng;
    cnn_rng_seed(&r->rng, 42);
    if (ops->opt_size) l->opt = calloc(1, ops->opt_size);
    cnn_opts o = {.file = "t.cnn", .line = 3, .type = ops->type};
    snprintf(r->text, sizeof r->text, "%s", options);
    for (char *t = strtok(r->text, " "); t; t = strtok(NULL, " ")) {
        char *eq = strchr(t, '=');
        assert_non_null(eq);
        *eq = 0;
        o.key[o.n] = t;
        o.val[o.n++] = eq + 1;
    }
    cnn_status s = ops->configure ? ops->configure(l, &o) : CNN_OK;
    if (s == CNN_OK) s = cnn_opts_check_unused(&o);
    if (s == CNN_OK) s = ops->shape(l);
    if (s != CNN_OK) return s;
    r->n = n;
    size_t in_n = (size_t)n * cnn_shape_size(in), out_n = (size_t)n * cnn_shape_size(l->out);
    l->params = zeros(l->n_params);
    l->grads = zeros(l->n_params);
    l->y = zeros(out_n);
    l->dy = zeros(out_n);
    l->state = zeros(ops->state_size ? ops->state_size(l, n) : 0);
    r->x = zeros(in_n);
    r->dx = zeros(in_n);
    if (ops->init) {
        cnn_rng init;
        cnn_rng_seed(&init, 7);
        ops->init(l, &init);
    }
    fill(r->x, in_n, 2.0f, 1);
    fill(l->dy, out_n, 1.0f, 2);
    return CNN_OK;
}

static void rig_free(rig *r) {
    free(r->l.opt), free(r->l.params), free(r->l.grads), free(r->l.y), free(r->l.dy);
    free(r->l.state), free(r->x), free(r->dx);
}

static void rig_forward(rig *r, int train) {
    const float *xs[1] = {r->x};
    r->l.ops->forward(&r->l, xs, r->n, train, NULL);
}

static void rig_backward(rig *r) {
    const float *xs[1] = {r->x};
    float *dxs[1] = {r->dx};
    r->l.ops->backward(&r->l, xs, dxs, r->n, NULL);
}

static double dot_dy_y(rig *r) {
    double s = 0;
    size_t m = (size_t)r->n * cnn_shape_size(r->l.out);
    for (size_t i = 0; i < m; i++)
        s += (double)r->l.dy[i] * r->l.y[i];
    return s;
}

static void expect_close(double got, double want, double tol, const char *what, size_t i) {
    if (!(fabs(got - want) <= tol * (1 + fabs(want))))
        fail_msg("%s[%zu]: got %.9g, want %.9g", what, i, got, want);
}

/* ---- dense ---- */

static void test_dense_options(void **state) {
    rig r;
    cnn_shape in = {3, 2, 2};
    assert_int_equal(rig_make(&r, &cnn_dense_ops, "bias=1", in, 1), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "t.cnn:3: dense: missing option 'units'");
    free(r.l.opt);
    assert_int_equal(rig_make(&r, &cnn_dense_ops, "units=0", in, 1), CNN_ERR_PARSE);
    free(r.l.opt);
    assert_int_equal(rig_make(&r, &cnn_dense_ops, "units=4 bias=maybe", in, 1), CNN_ERR_PARSE);
    free(r.l.opt);
    assert_int_equal(rig_make(&r, &cnn_dense_ops, "units=4 unit=3", in, 1), CNN_ERR_PARSE);
    free(r.l.opt);

    assert_int_equal(rig_make(&r, &cnn_dense_ops, "units=5", in, 2), CNN_OK);
    assert_true(r.l.out.c == 5 && r.l.out.h == 1 && r.l.out.w == 1);
    assert_int_equal(r.l.n_params, 5 * 12 + 5);
    assert_true(r.l.ops->macs(&r.l) == 60.0);
    char buf[64];
    r.l.ops->describe(&r.l, buf, sizeof buf);
    assert_string_equal(buf, "5 units");
    cnn_tensor_desc t[CNN_MAX_TENSORS];
    assert_int_equal(r.l.ops->tensors(&r.l, t), 2);
    assert_string_equal(t[0].suffix, "weight");
    assert_true(t[0].ndim == 2 && t[0].dims[0] == 5 && t[0].dims[1] == 12 && t[0].offset == 0);
    assert_string_equal(t[1].suffix, "bias");
    assert_true(t[1].ndim == 1 && t[1].dims[0] == 5 && t[1].offset == 60 && !t[1].buffer);
    /* init: weight then bias, each ~ U(-1/sqrt(12), 1/sqrt(12)), in that draw order */
    cnn_rng g;
    cnn_rng_seed(&g, 7);
    float want[65];
    cnn_init_uniform(want, 60, 1.0f / sqrtf(12.0f), &g);
    cnn_init_uniform(want + 60, 5, 1.0f / sqrtf(12.0f), &g);
    assert_memory_equal(r.l.params, want, sizeof want);
    for (int i = 0; i < 65; i++)
        assert_true(fabsf(r.l.params[i]) <= 1.0f / sqrtf(12.0f));
    rig_free(&r);

    assert_int_equal(rig_make(&r, &cnn_dense_ops, "units=5 bias=0", in, 2), CNN_OK);
    assert_int_equal(r.l.n_params, 60);
    assert_int_equal(r.l.ops->tensors(&r.l, t), 1);
    r.l.ops->describe(&r.l, buf, sizeof buf);
    assert_string_equal(buf, "5 units, no bias");
    rig_free(&r);
}

/* y = x W^T + b; dW += dy^T x; db += sum dy; dx = dy W — against double loops. */
static void check_dense(int bias) {
    rig r;
    const int n = 4, u = 5, f = 12;
    assert_int_equal(
        rig_make(&r, &cnn_dense_ops, bias ? "units=5" : "units=5 bias=no", (cnn_shape){3, 2, 2}, n),
        CNN_OK);
    float *w = r.l.params, *b = bias ? w + u * f : NULL;
    rig_forward(&r, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < u; j++) {
            double s = b ? b[j] : 0;
            for (int k = 0; k < f; k++)
                s += (double)r.x[i * f + k] * w[j * f + k];
            expect_close(r.l.y[i * u + j], s, 1e-6, "dense y", (size_t)(i * u + j));
        }
    for (size_t i = 0; i < r.l.n_params; i++)
        r.l.grads[i] = 0.5f; /* accumulates onto this */
    rig_backward(&r);
    for (int j = 0; j < u; j++) {
        for (int k = 0; k < f; k++) {
            double s = 0.5;
            for (int i = 0; i < n; i++)
                s += (double)r.l.dy[i * u + j] * r.x[i * f + k];
            expect_close(r.l.grads[j * f + k], s, 1e-6, "dense dW", (size_t)(j * f + k));
        }
        if (b) {
            double s = 0.5;
            for (int i = 0; i < n; i++)
                s += r.l.dy[i * u + j];
            expect_close(r.l.grads[u * f + j], s, 1e-6, "dense db", (size_t)j);
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < f; k++) {
            double s = 0;
            for (int j = 0; j < u; j++)
                s += (double)r.l.dy[i * u + j] * w[j * f + k];
            expect_close(r.dx[i * f + k], s, 1e-6, "dense dx", (size_t)(i * f + k));
        }
    /* finite differences of L = sum(dy * y) for every parameter and input */
    for (size_t i = 0; i < r.l.n_params; i++)
        r.l.grads[i] = 0;
    rig_backward(&r);
    const float h = 1e-2f;
    for (int pass = 0; pass < 2; pass++) {
        float *v = pass ? r.x : r.l.params, *g = pass ? r.dx : r.l.grads;
        size_t m = pass ? (size_t)n * f : r.l.n_params;
        for (size_t i = 0; i < m; i++) {
            float keep = v[i];
            v[i] = keep + h;
            rig_forward(&r, 1);
            double lp = dot_dy_y(&r);
            v[i] = keep - h;
            rig_forward(&r, 1);
            double lm = dot_dy_y(&r);
            v[i] = keep;
            expect_close(g[i], (lp - lm) / (2 * h), 1e-3, pass ? "dense fd dx" : "dense fd dW", i);
        }
    }
    rig_free(&r);
}

static void test_dense_math(void **state) {
    check_dense(1);
    check_dense(0);
}

/* ---- flatten ---- */

static void test_flatten(void **state) {
    rig r;
    assert_int_equal(rig_make(&r, &cnn_flatten_ops, "", (cnn_shape){3, 2, 5}, 2), CNN_OK);
    assert_true(r.l.out.c == 30 && r.l.out.h == 1 && r.l.out.w == 1 && r.l.n_params == 0);
    rig_forward(&r, 1);
    assert_memory_equal(r.l.y, r.x, 60 * sizeof(float));
    rig_backward(&r);
    assert_memory_equal(r.dx, r.l.dy, 60 * sizeof(float));
    rig_free(&r);
}

/* ---- dropout ---- */

static void test_dropout_options(void **state) {
    rig r;
    cnn_shape in = {4, 1, 1};
    char buf[32];
    assert_int_equal(rig_make(&r, &cnn_dropout_ops, "", in, 1), CNN_OK);
    r.l.ops->describe(&r.l, buf, sizeof buf);
    assert_string_equal(buf, "p=0.5");
    rig_free(&r);
    assert_int_equal(rig_make(&r, &cnn_dropout_ops, "p=1", in, 1), CNN_ERR_PARSE);
    assert_non_null(strstr(cnn_last_error(), "t.cnn:3: dropout"));
    free(r.l.opt);
    assert_int_equal(rig_make(&r, &cnn_dropout_ops, "p=-0.1", in, 1), CNN_ERR_PARSE);
    free(r.l.opt);
    assert_int_equal(rig_make(&r, &cnn_dropout_ops, "p=0.3", in, 1), CNN_OK);
    r.l.ops->describe(&r.l, buf, sizeof buf);
    assert_string_equal(buf, "p=0.3");
    rig_free(&r);
}

static void test_dropout_train_eval(void **state) {
    rig r;
    const int n = 50;
    const size_t m = (size_t)n * 2000;
    assert_int_equal(rig_make(&r, &cnn_dropout_ops, "p=0.3", (cnn_shape){20, 10, 10}, n), CNN_OK);
    assert_int_equal(r.l.ops->state_size(&r.l, n), m);
    /* eval: identity, generator untouched */
    cnn_rng before = r.rng;
    rig_forward(&r, 0);
    assert_memory_equal(r.l.y, r.x, m * sizeof(float));
    assert_memory_equal(&before, &r.rng, sizeof before);
    /* train: kept values scaled by 1/(1-p), ~70% kept */
    rig_forward(&r, 1);
    const float scale = 1.0f / (1.0f - 0.3f);
    size_t kept = 0;
    for (size_t i = 0; i < m; i++) {
        if (r.l.y[i] != 0.0f) {
            kept++;
            assert_true(r.l.y[i] == r.x[i] * scale);
        }
    }
    double frac = (double)kept / m;
    if (fabs(frac - 0.7) > 0.01) fail_msg("kept fraction %.4f, want 0.7", frac);
    rig_backward(&r);
    for (size_t i = 0; i < m; i++)
        assert_true(r.dx[i] == (r.l.y[i] != 0.0f ? r.l.dy[i] * scale : 0.0f));
    /* the same generator state gives the same mask; the next call a different one */
    float *y1 = malloc(m * sizeof(float));
    assert_non_null(y1);
    memcpy(y1, r.l.y, m * sizeof(float));
    cnn_rng after = r.rng;
    r.rng = before;
    rig_forward(&r, 1);
    assert_memory_equal(r.l.y, y1, m * sizeof(float));
    assert_memory_equal(&after, &r.rng, sizeof after);
    rig_forward(&r, 1);
    assert_memory_not_equal(r.l.y, y1, m * sizeof(float));
    free(y1);
    rig_free(&r);
}

static void test_dropout_p0(void **state) {
    rig r;
    assert_int_equal(rig_make(&r, &cnn_dropout_ops, "p=0", (cnn_shape){3, 4, 4}, 2), CNN_OK);
    assert_int_equal(r.l.ops->state_size(&r.l, 2), 0);
    cnn_rng before = r.rng;
    rig_forward(&r, 1);
    assert_memory_equal(r.l.y, r.x, 96 * sizeof(float));
    assert_memory_equal(&before, &r.rng, sizeof before);
    rig_backward(&r);
    assert_memory_equal(r.dx, r.l.dy, 96 * sizeof(float));
    rig_free(&r);
}

/* ---- element-wise and softmax ---- */

static void test_activation_layers(void **state) {
    rig r;
    char buf[32];
    cnn_shape in = {2, 3, 3};
    const float xs[3] = {-1.0f, 0.0f, 2.0f};

    assert_int_equal(rig_make(&r, &cnn_leaky_relu_ops, "", in, 2), CNN_OK);
    memcpy(r.x, xs, sizeof xs);
    rig_forward(&r, 1);
    assert_true(r.l.y[0] == -0.01f && r.l.y[1] == 0.0f && r.l.y[2] == 2.0f);
    r.l.ops->describe(&r.l, buf, sizeof buf);
    assert_string_equal(buf, "slope=0.01");
    rig_free(&r);
    assert_int_equal(rig_make(&r, &cnn_leaky_relu_ops, "slope=abc", in, 2), CNN_ERR_PARSE);
    free(r.l.opt);

    assert_int_equal(rig_make(&r, &cnn_elu_ops, "", in, 2), CNN_OK);
    memcpy(r.x, xs, sizeof xs);
    rig_forward(&r, 1);
    assert_true(r.l.y[0] == expm1f(-1.0f) && r.l.y[2] == 2.0f);
    r.l.ops->describe(&r.l, buf, sizeof buf);
    assert_string_equal(buf, "alpha=1");
    rig_free(&r);

    /* each layer gives its kernel's bits, shape unchanged */
    const cnn_layer_ops *ops[] = {&cnn_relu_ops, &cnn_leaky_relu_ops, &cnn_elu_ops,
                                  &cnn_sigmoid_ops, &cnn_tanh_ops};
    const char *opts[] = {"", "slope=0.2", "alpha=0.5", "", ""};
    float y[36], dx[36];
    for (int k = 0; k < 5; k++) {
        assert_int_equal(rig_make(&r, ops[k], opts[k], in, 2), CNN_OK);
        assert_true(r.l.out.c == 2 && r.l.out.h == 3 && r.l.out.w == 3 && r.l.n_params == 0);
        rig_forward(&r, 1);
        rig_backward(&r);
        switch (k) {
        case 0:
            cnn_relu_forward(r.x, y, 36);
            cnn_relu_backward(r.x, r.l.dy, dx, 36);
            break;
        case 1:
            cnn_leaky_relu_forward(r.x, y, 36, 0.2f);
            cnn_leaky_relu_backward(r.x, r.l.dy, dx, 36, 0.2f);
            break;
        case 2:
            cnn_elu_forward(r.x, y, 36, 0.5f);
            cnn_elu_backward(r.x, r.l.dy, dx, 36, 0.5f);
            break;
        case 3:
            cnn_sigmoid_forward(r.x, y, 36);
            cnn_sigmoid_backward(y, r.l.dy, dx, 36);
            break;
        default:
            cnn_tanh_forward(r.x, y, 36);
            cnn_tanh_backward(y, r.l.dy, dx, 36);
        }
        assert_memory_equal(r.l.y, y, sizeof y);
        assert_memory_equal(r.dx, dx, sizeof dx);
        /* dx[0] == NULL: nothing to write, nothing to crash */
        float *none[1] = {NULL};
        const float *xv[1] = {r.x};
        r.l.ops->backward(&r.l, xv, none, 2, NULL);
        rig_free(&r);
    }
}

static void test_softmax_layer(void **state) {
    rig r;
    assert_int_equal(rig_make(&r, &cnn_softmax_ops, "", (cnn_shape){3, 2, 2}, 2), CNN_OK);
    rig_forward(&r, 1);
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 4; p++) {
            double s = 0;
            for (int c = 0; c < 3; c++)
                s += r.l.y[(i * 3 + c) * 4 + p];
            expect_close(s, 1.0, 1e-6, "softmax sum", (size_t)p);
        }
    rig_backward(&r);
    float dx[24];
    cnn_softmax_backward(r.l.y, r.l.dy, dx, 2, 3, 4);
    assert_memory_equal(r.dx, dx, sizeof dx);
    rig_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_options),
        cmocka_unit_test(test_dense_math),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_dropout_options),
        cmocka_unit_test(test_dropout_train_eval),
        cmocka_unit_test(test_dropout_p0),
        cmocka_unit_test(test_activation_layers),
        cmocka_unit_test(test_softmax_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) != 0;
}
