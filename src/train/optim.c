/* optim.c — SGD, Adam and AdamW with the semantics of torch.optim 1.13
 * (the single-tensor, foreach=False code path), element for element:
 *
 *   SGD    d = g + wd*p;  buf = d (first step) or momentum*buf + (1-dampening)*d;
 *          d = nesterov ? d + momentum*buf : buf (when momentum != 0);  p -= lr*d
 *          (torch.optim.SGD, _single_tensor_sgd)
 *   Adam   g += wd*p (L2);  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
 *          p += -(lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),  bc_i = 1 - b_i^t
 *          (torch.optim.Adam, _single_tensor_adam)
 *   AdamW  p *= 1 - lr*wd first, then Adam without the L2 term
 *          (torch.optim.AdamW, _single_tensor_adamw)
 *
 * To match torch to the last bit, every operation is rounded where torch
 * rounds it: scalars (1-b1, lr/bc1, sqrt(bc2), 1-lr*wd) are computed in
 * double as Python does, then rounded to float as torch's kernels do; an
 * `x.add_(y, alpha=a)` is x + a*y with one rounding (torch's AVX2 kernel uses
 * a fused multiply-add), so it is written fmaf(y, a, x); addcmul x + s*y*z is
 * fmaf(s*y, z, x) (torch's kernel is compiled with FMA contraction; checked
 * against torch bit for bit); addcdiv x + s*y/z rounds after each operation.
 * Each rounding is a separate statement, so nothing else is contracted (clang
 * contracts only within a statement; GCC not at all under -std=c11).
 *
 * The state (momentum buffer, or m and v) is one block allocated in create;
 * a step allocates nothing. The step is element-wise over the flat parameter
 * block, so its OpenMP split does not change any result, nor does the
 * run-time choice between the plain and the AVX2+FMA build of the loop. */
#include "optim.h"
#include "../core/core.h"
#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

/* Below this many parameters a step runs on one thread (as torch's grain). */
#define OPTIM_PARALLEL_MIN 32768

struct cnn_optim {
    cnn_optimizer_kind kind;
    size_t n;
    float momentum, dampening, weight_decay;
    int nesterov;
    float beta1, beta2, eps;
    int64_t steps;
    size_t state_n; /* floats in state */
    float *state;   /* SGD: buf[n] if momentum; Adam/AdamW: m[n] then v[n] */
};

static cnn_status check_config(const cnn_train_config *c) {
    if (!(c->weight_decay >= 0.0f))
        return cnn_fail(CNN_ERR_ARG, "optimizer: weight_decay %g must be >= 0", c->weight_decay);
    if (c->optimizer == CNN_OPT_SGD) {
        if (!(c->momentum >= 0.0f))
            return cnn_fail(CNN_ERR_ARG, "sgd: momentum %g must be >= 0", c->momentum);
        if (!isfinite(c->dampening))
            return cnn_fail(CNN_ERR_ARG, "sgd: dampening %g is not finite", c->dampening);
        if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f))
            return cnn_fail(CNN_ERR_ARG,
                            "sgd: nesterov needs momentum > 0 and dampening 0 (got %g, %g)",
                            c->momentum, c->dampening);
        return CNN_OK;
    }
    if (c->optimizer != CNN_OPT_ADAM && c->optimizer != CNN_OPT_ADAMW)
        return cnn_fail(CNN_ERR_ARG, "optimizer: unknown kind %d", (int)c->optimizer);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return cnn_fail(CNN_ERR_ARG, "adam: betas (%g, %g) must be in [0, 1)", c->beta1, c->beta2);
    if (!(c->eps >= 0.0f)) return cnn_fail(CNN_ERR_ARG, "adam: eps %g must be >= 0", c->eps);
    return CNN_OK;
}

cnn_status cnn_optim_create(cnn_optim **out, const cnn_train_config *cfg, size_t n) {
    if (!out || !cfg) return cnn_fail(CNN_ERR_ARG, "cnn_optim_create: NULL argument");
    *out = NULL;
    cnn_status s = check_config(cfg);
    if (s != CNN_OK) return s;
    size_t state_n = 0;
    if (cfg->optimizer == CNN_OPT_SGD) {
        if (cfg->momentum != 0.0f) state_n = n;
    } else if (!cnn_mul_size(n, 2, &state_n)) {
        return cnn_fail(CNN_ERR_NOMEM, "optimizer: %zu parameters is too many", n);
    }
    cnn_optim *o = calloc(1, sizeof *o);
    if (!o) return cnn_fail(CNN_ERR_NOMEM, "optimizer: out of memory");
    o->state = cnn_alloc_floats(state_n); /* zeroed: torch's zeros_like m and v */
    if (!o->state) {
        free(o);
        return cnn_fail(CNN_ERR_NOMEM, "optimizer: cannot allocate state of %zu floats", state_n);
    }
    o->kind = cfg->optimizer;
    o->n = n;
    o->momentum = cfg->momentum;
    o->dampening = cfg->dampening;
    o->weight_decay = cfg->weight_decay;
    o->nesterov = cfg->nesterov;
    o->beta1 = cfg->beta1;
    o->beta2 = cfg->beta2;
    o->eps = cfg->eps;
    o->state_n = state_n;
    *out = o;
    return CNN_OK;
}

void cnn_optim_free(cnn_optim *opt) {
    if (!opt) return;
    cnn_free_floats(opt->state);
    free(opt);
}

size_t cnn_optim_state_size(const cnn_optim *opt) {
    return opt->state_n;
}
float *cnn_optim_state(cnn_optim *opt) {
    return opt->state;
}
int64_t cnn_optim_steps(const cnn_optim *opt) {
    return opt->steps;
}
void cnn_optim_set_steps(cnn_optim *opt, int64_t steps) {
    opt->steps = steps;
}

/* Each step's loop body is compiled twice: for any x86-64 (fmaf is a libm
 * call there) and for AVX2+FMA (fmaf is one instruction, and the loop
 * vectorises); cpu_has_fma() picks one at run time. fmaf rounds once either
 * way, and nothing else is contracted (-std=c11 keeps FP contraction off), so
 * both give the same bits. Threads get contiguous ranges of the flat block. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define OPTIM_FMA_CLONE 1
#define OPTIM_INLINE static inline __attribute__((always_inline))
#define OPTIM_TARGET_FMA __attribute__((target("avx2,fma")))
static int cpu_has_fma(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define OPTIM_FMA_CLONE 0
#define OPTIM_INLINE static inline
static int cpu_has_fma(void) {
    return 0;
}
#endif

typedef struct {
    float wd, mom, keep, neg_lr;
    int first, nesterov;
} sgd_args;

/* torch.optim.SGD on [lo, hi): p (n), g (n), buf (n, momentum only). */
OPTIM_INLINE void sgd_body(const sgd_args *a, float *restrict p, const float *restrict g,
                           float *restrict buf, int64_t lo, int64_t hi) {
    const float wd = a->wd, mom = a->mom, keep = a->keep, neg_lr = a->neg_lr;
    const int first = a->first, nesterov = a->nesterov;
    for (int64_t i = lo; i < hi; i++) {
        float d = g[i];
        if (wd != 0.0f) d = fmaf(p[i], wd, d); /* d_p.add(param, alpha=wd) */
        if (mom != 0.0f) {
            float b = d; /* first step: buf = clone(d_p) */
            if (!first) {
                float decayed = buf[i] * mom; /* buf.mul_(momentum) */
                b = fmaf(d, keep, decayed);   /* .add_(d_p, alpha=1-dampening) */
            }
            buf[i] = b;
            d = nesterov ? fmaf(b, mom, d) : b; /* d_p.add(buf, alpha=momentum) */
        }
        p[i] = fmaf(d, neg_lr, p[i]); /* param.add_(d_p, alpha=-lr) */
    }
}

static void sgd_range(const sgd_args *a, float *p, const float *g, float *buf, int64_t lo,
                      int64_t hi) {
    sgd_body(a, p, g, buf, lo, hi);
}
#if OPTIM_FMA_CLONE
OPTIM_TARGET_FMA static void sgd_range_fma(const sgd_args *a, float *p, const float *g, float *buf,
                                           int64_t lo, int64_t hi) {
    sgd_body(a, p, g, buf, lo, hi);
}
#endif

/* This thread's contiguous share [*lo, *hi) of n elements. */
static void thread_range(int64_t n, int64_t *lo, int64_t *hi) {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (n + nt - 1) / nt;
    *lo = chunk * t < n ? chunk * t : n;
    *hi = *lo + chunk < n ? *lo + chunk : n;
}

static void sgd_step(const cnn_optim *o, float *p, const float *g, float lr) {
    const int64_t n = (int64_t)o->n;
    const sgd_args a = {
        .wd = o->weight_decay,
        .mom = o->momentum,
        .keep = (float)(1.0 - (double)o->dampening), /* alpha=1-dampening */
        .neg_lr = -lr,
        .first = o->steps == 0,
        .nesterov = o->nesterov,
    };
    const int fma = cpu_has_fma();
    float *buf = o->state;
#pragma omp parallel if (n >= OPTIM_PARALLEL_MIN)
    {
        int64_t lo, hi;
        thread_range(n, &lo, &hi);
#if OPTIM_FMA_CLONE
        if (fma)
            sgd_range_fma(&a, p, g, buf, lo, hi);
        else
#endif
            sgd_range(&a, p, g, buf, lo, hi);
    }
    (void)fma;
}

typedef struct {
    int adamw;
    float neg_step, bc2_sqrt, b1f, b2f, eps, wd, one_b1, one_b2, shrink;
} adam_args;

/* torch.optim.Adam / AdamW on [lo, hi): p (n), g (n), m (n), v (n). */
OPTIM_INLINE void adam_body(const adam_args *a, float *restrict p, const float *restrict g,
                            float *restrict m, float *restrict v, int64_t lo, int64_t hi) {
    const int adamw = a->adamw;
    const float neg_step = a->neg_step, bc2_sqrt = a->bc2_sqrt, b1f = a->b1f, b2f = a->b2f;
    const float eps = a->eps, wd = a->wd, one_b1 = a->one_b1, one_b2 = a->one_b2;
    const float shrink = a->shrink;
    for (int64_t i = lo; i < hi; i++) {
        float pi = p[i], gi = g[i];
        if (adamw)
            pi = pi * shrink; /* param.mul_(1 - lr*weight_decay) */
        else if (wd != 0.0f)
            gi = fmaf(pi, wd, gi); /* grad.add(param, alpha=weight_decay) */
        float mi = m[i] * b1f;     /* exp_avg.mul_(beta1) */
        mi = fmaf(gi, one_b1, mi); /* .add_(grad, alpha=1-beta1) */
        float vi = v[i] * b2f;     /* exp_avg_sq.mul_(beta2) */
        float sg = one_b2 * gi;    /* .addcmul_(grad, grad, value=1-beta2) */
        vi = fmaf(sg, gi, vi);
        float denom = sqrtf(vi) / bc2_sqrt; /* (exp_avg_sq.sqrt() / bc2_sqrt) */
        denom = denom + eps;                /* .add_(eps) */
        float upd = neg_step * mi;          /* param.addcdiv_(exp_avg, denom, value=-step_size) */
        upd = upd / denom;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + upd;
    }
}

static void adam_range(const adam_args *a, float *p, const float *g, float *m, float *v, int64_t lo,
                       int64_t hi) {
    adam_body(a, p, g, m, v, lo, hi);
}
#if OPTIM_FMA_CLONE
OPTIM_TARGET_FMA static void adam_range_fma(const adam_args *a, float *p, const float *g, float *m,
                                            float *v, int64_t lo, int64_t hi) {
    adam_body(a, p, g, m, v, lo, hi);
}
#endif

/* torch.optim.Adam / AdamW at step t (1-based). */
static void adam_step(const cnn_optim *o, float *p, const float *g, float lr, int64_t t) {
    const int64_t n = (int64_t)o->n;
    const double b1 = o->beta1, b2 = o->beta2;
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    const adam_args a = {
        .adamw = o->kind == CNN_OPT_ADAMW,
        .neg_step = (float)(-((double)lr / bc1)), /* value=-step_size */
        .bc2_sqrt = (float)sqrt(bc2),
        .b1f = o->beta1,
        .b2f = o->beta2,
        .eps = o->eps,
        .wd = o->weight_decay,
        .one_b1 = (float)(1.0 - b1),
        .one_b2 = (float)(1.0 - b2),
        .shrink = (float)(1.0 - (double)lr * (double)o->weight_decay), /* AdamW */
    };
    const int fma = cpu_has_fma();
    float *m = o->state, *v = o->state + o->n;
#pragma omp parallel if (n >= OPTIM_PARALLEL_MIN)
    {
        int64_t lo, hi;
        thread_range(n, &lo, &hi);
#if OPTIM_FMA_CLONE
        if (fma)
            adam_range_fma(&a, p, g, m, v, lo, hi);
        else
#endif
            adam_range(&a, p, g, m, v, lo, hi);
    }
    (void)fma;
}

void cnn_optim_step(cnn_optim *opt, float *params, const float *grads, float lr) {
    assert(opt && (opt->n == 0 || (params && grads)));
    if (opt->kind == CNN_OPT_SGD) {
        sgd_step(opt, params, grads, lr);
        opt->steps++;
    } else {
        opt->steps++; /* torch: step_t += 1 before the bias corrections */
        adam_step(opt, params, grads, lr, opt->steps);
    }
}
