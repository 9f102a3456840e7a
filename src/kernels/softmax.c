/* softmax.c — softmax over channels (torch.nn.Softmax(dim=1)) and the fused
 * softmax cross-entropy loss (torch.nn.CrossEntropyLoss with label smoothing).
 *
 * The channel softmax works on blocks of up to BLOCK positions at a time, so the
 * inner loops run over contiguous memory; the channel sums are accumulated in
 * channel order, as in the reference, so both give the same floats. Work is
 * split over (sample, block) pairs; each output depends on nothing else, so the
 * thread count never changes a result. */
#include "softmax.h"
#include "../core/par.h"
#include <math.h>

#define BLOCK 64
/* Below this many floats a parallel region costs more than it saves. */
#define PAR_MIN (1L << 14)

void cnn_softmax_forward(const float *x, float *y, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0) return;
    long nb = (hw + BLOCK - 1) / BLOCK, tasks = (long)n * nb;
    CNN_PAR_FOR((long)n * c * hw >= PAR_MIN, for (long t = 0; t < tasks; t++) {
        long i = t / nb;
        int p0 = (int)(t % nb) * BLOCK, len = hw - p0 < BLOCK ? hw - p0 : BLOCK;
        const float *xs = x + (size_t)i * c * hw + p0;
        float *ys = y + (size_t)i * c * hw + p0;
        float m[BLOCK], s[BLOCK];
        for (int j = 0; j < len; j++)
            m[j] = xs[j];
        for (int ch = 1; ch < c; ch++)
            for (int j = 0; j < len; j++) {
                float v = xs[(size_t)ch * hw + j];
                m[j] = v > m[j] ? v : m[j];
            }
        for (int j = 0; j < len; j++)
            s[j] = 0.0f;
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < len; j++) {
                float e = expf(xs[(size_t)ch * hw + j] - m[j]);
                ys[(size_t)ch * hw + j] = e;
                s[j] += e;
            }
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < len; j++)
                ys[(size_t)ch * hw + j] /= s[j];
    });
}

void cnn_softmax_backward(const float *y, const float *dy, float *dx, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0) return;
    long nb = (hw + BLOCK - 1) / BLOCK, tasks = (long)n * nb;
    CNN_PAR_FOR((long)n * c * hw >= PAR_MIN, for (long t = 0; t < tasks; t++) {
        long i = t / nb;
        int p0 = (int)(t % nb) * BLOCK, len = hw - p0 < BLOCK ? hw - p0 : BLOCK;
        size_t off = (size_t)i * c * hw + p0;
        const float *ys = y + off, *dys = dy + off;
        float *dxs = dx + off;
        float s[BLOCK];
        for (int j = 0; j < len; j++)
            s[j] = 0.0f;
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < len; j++)
                s[j] += dys[(size_t)ch * hw + j] * ys[(size_t)ch * hw + j];
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < len; j++) {
                size_t q = (size_t)ch * hw + j;
                dxs[q] = ys[q] * (dys[q] - s[j]);
            }
    });
}

static cnn_status xent_args(const float *logits, const uint8_t *labels, int n, int k,
                            float smoothing, float *loss) {
    if (!logits || !labels || !loss)
        return cnn_fail(CNN_ERR_ARG, "softmax cross-entropy: NULL logits, labels or loss");
    if (n <= 0 || k <= 0)
        return cnn_fail(CNN_ERR_ARG, "softmax cross-entropy: batch %d and classes %d must be > 0",
                        n, k);
    if (!(smoothing >= 0.0f && smoothing <= 1.0f))
        return cnn_fail(CNN_ERR_ARG, "softmax cross-entropy: label smoothing %g is not in [0, 1]",
                        smoothing);
    for (int i = 0; i < n; i++)
        if (labels[i] >= k)
            return cnn_fail(CNN_ERR_ARG,
                            "softmax cross-entropy: label %d of sample %d is out of range for %d "
                            "classes",
                            labels[i], i, k);
    return CNN_OK;
}

/* Serial over the batch: the loss sum then has one fixed order, and n * k is
 * tiny next to the layers before it. */
cnn_status cnn_softmax_xent(const float *logits, const uint8_t *labels, int n, int k,
                            float smoothing, float *dlogits, float *loss, int *correct) {
    cnn_status st = xent_args(logits, labels, n, k, smoothing, loss);
    if (st != CNN_OK) return st;
    const double s = smoothing, off = s / k, on = 1.0 - s + off;
    double total = 0.0;
    int hits = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int label = labels[i], am = 0;
        float m = z[0];
        for (int j = 1; j < k; j++)
            if (z[j] > m) {
                m = z[j];
                am = j;
            }
        double se = 0.0, sz = 0.0;
        for (int j = 0; j < k; j++) {
            se += exp((double)z[j] - m);
            sz += z[j];
        }
        double lse = m + log(se);
        /* a class with target weight 0 adds nothing, even at z = -Inf (0 * Inf) */
        double li = s < 1.0 ? (1.0 - s) * (lse - z[label]) : 0.0;
        if (s > 0.0) li += s * (lse - sz / k);
        if (!isfinite(li)) {
            *loss = (float)li;
            return cnn_fail(CNN_ERR_NUMERIC,
                            "softmax cross-entropy: loss is %s at sample %d of %d: the logits "
                            "hold NaN or Inf",
                            isnan(li) ? "NaN" : "Inf", i, n);
        }
        total += li;
        hits += am == label;
        if (dlogits) {
            float *d = dlogits + (size_t)i * k;
            for (int j = 0; j < k; j++) {
                double p = exp((double)z[j] - m) / se;
                d[j] = (float)((p - (j == label ? on : off)) / n);
            }
        }
    }
    *loss = (float)(total / n);
    if (!isfinite(*loss)) /* finite in double, beyond float's range */
        return cnn_fail(CNN_ERR_NUMERIC, "softmax cross-entropy: mean loss %g overflows a float",
                        total / n);
    if (correct) *correct = hits;
    return CNN_OK;
}
