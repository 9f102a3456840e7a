/* metrics.c — loss, top-1/top-5 accuracy, per-class precision and recall and
 * the confusion matrix of a classifier over a dataset.
 *
 * Ties in the scores go to the lower class index (as torch.argmax on CPU);
 * top-5 counts a hit when fewer than 5 classes score strictly higher than the
 * true one (with K <= 5 every sample is a hit). */
#include "../data/data.h"
#include "../graph/net_internal.h"
#include "../kernels/softmax.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const cnn_layer_ops cnn_softmax_ops;

cnn_status cnn_metrics_init(cnn_metrics *m, int classes) {
    memset(m, 0, sizeof *m);
    if (classes < 1 || classes > 65536)
        return cnn_fail(CNN_ERR_ARG, "metrics: %d classes", classes);
    m->confusion = calloc((size_t)classes * classes, sizeof *m->confusion);
    if (!m->confusion) return cnn_fail(CNN_ERR_NOMEM, "out of memory for a confusion matrix");
    m->classes = classes;
    return CNN_OK;
}

void cnn_metrics_free(cnn_metrics *m) {
    if (!m) return;
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void cnn_metrics_add(cnn_metrics *m, const float *p, const uint8_t *labels, int n, int *pred) {
    const int k = m->classes;
    for (int i = 0; i < n; i++) {
        const float *row = p + (size_t)i * k;
        int best = 0, y = labels[i], above = 0;
        for (int j = 1; j < k; j++)
            if (row[j] > row[best]) best = j;
        if (y >= k) continue; /* checked by the callers; never count out of range */
        for (int j = 0; j < k; j++)
            above += row[j] > row[y];
        m->top1 += best == y;
        m->top5 += above < 5;
        m->confusion[(size_t)y * k + best]++;
        m->n++;
        if (pred) pred[i] = best;
    }
}

float cnn_metrics_loss(const cnn_metrics *m) {
    return m->n ? (float)(m->loss_sum / m->n) : 0;
}
float cnn_metrics_top1(const cnn_metrics *m) {
    return m->n ? (float)m->top1 / m->n : 0;
}
float cnn_metrics_top5(const cnn_metrics *m) {
    return m->n ? (float)m->top5 / m->n : 0;
}

float cnn_metrics_precision(const cnn_metrics *m, int c) {
    long col = 0;
    for (int y = 0; y < m->classes; y++)
        col += m->confusion[(size_t)y * m->classes + c];
    return col ? (float)m->confusion[(size_t)c * m->classes + c] / col : 0;
}

float cnn_metrics_recall(const cnn_metrics *m, int c) {
    long row = 0;
    for (int j = 0; j < m->classes; j++)
        row += m->confusion[(size_t)c * m->classes + j];
    return row ? (float)m->confusion[(size_t)c * m->classes + c] / row : 0;
}

void cnn_metrics_print(const cnn_metrics *m, FILE *f) {
    fprintf(f, "images: %ld\nloss: %.4f\ntop-1 accuracy: %.2f%%\ntop-5 accuracy: %.2f%%\n", m->n,
            cnn_metrics_loss(m), 100 * cnn_metrics_top1(m), 100 * cnn_metrics_top5(m));
    fprintf(f, "\nclass  precision  recall   support\n");
    for (int c = 0; c < m->classes; c++) {
        long support = 0;
        for (int j = 0; j < m->classes; j++)
            support += m->confusion[(size_t)c * m->classes + j];
        fprintf(f, "%5d  %8.2f%%  %6.2f%%  %7ld\n", c, 100 * cnn_metrics_precision(m, c),
                100 * cnn_metrics_recall(m, c), support);
    }
    if (m->classes > 32) return; /* a matrix that wide is for the report, not a terminal */
    fprintf(f, "\nconfusion matrix (rows: true class, columns: predicted)\n      ");
    for (int j = 0; j < m->classes; j++)
        fprintf(f, " %5d", j);
    fputc('\n', f);
    for (int y = 0; y < m->classes; y++) {
        fprintf(f, "%5d ", y);
        for (int j = 0; j < m->classes; j++)
            fprintf(f, " %5ld", m->confusion[(size_t)y * m->classes + j]);
        fputc('\n', f);
    }
}

/* Each of the `rows` rows of w floats reversed in place. */
static void mirror_rows(float *x, size_t rows, int w) {
    for (size_t r = 0; r < rows; r++) {
        float *p = x + r * w;
        for (int i = 0, j = w - 1; i < j; i++, j--) {
            float t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
}

cnn_status cnn_evaluate_metrics(cnn_net *net, const cnn_dataset *ds, int batch, cnn_metrics *m,
                                int *pred, float *prob) {
    memset(m, 0, sizeof *m);
    cnn_layer *last = &net->layers[net->n_layers - 1];
    if (last->ops != &cnn_softmax_ops || last->in_idx[0] < 0)
        return cnn_fail(CNN_ERR_ARG, "%s: evaluation needs a net ending in softmax", net->filename);
    cnn_layer *logits = &net->layers[last->in_idx[0]];
    cnn_status s = cnn_dataset_check(ds, net, "evaluation set");
    if (s != CNN_OK) return s;
    int k = logits->out.c;
    if ((s = cnn_metrics_init(m, k)) != CNN_OK) return s;
    if (batch <= 0) batch = 256;
    if (batch > ds->n) batch = ds->n;
    const int flip = net->eval_hflip;
    float *x = cnn_alloc_floats(cnn_shape_size(net->in_shape) * (size_t)batch);
    float *avg = flip ? cnn_alloc_floats((size_t)k * batch) : NULL;
    uint8_t *labels = malloc((size_t)batch);
    if (!x || !labels || (flip && !avg))
        s = cnn_fail(CNN_ERR_NOMEM, "out of memory for an evaluation batch");
    for (int first = 0; first < ds->n && s == CNN_OK; first += batch) {
        int n = ds->n - first < batch ? ds->n - first : batch;
        const float *y;
        cnn_dataset_batch(ds, net, NULL, first, n, x, labels);
        s = cnn_dataset_read_status(ds);
        if (s == CNN_OK) s = cnn_net_forward(net, x, n, 0, &y);
        float l = 0;
        if (s == CNN_OK && flip) { /* the mean of the image's and its mirror's probabilities */
            memcpy(avg, y, (size_t)k * n * sizeof(float));
            mirror_rows(x, (size_t)n * net->in_shape.c * net->in_shape.h, net->in_shape.w);
            s = cnn_net_forward(net, x, n, 0, &y);
            double sum = 0;
            for (size_t i = 0; s == CNN_OK && i < (size_t)k * n; i++)
                avg[i] = 0.5f * (avg[i] + y[i]);
            for (int i = 0; s == CNN_OK && i < n; i++)
                sum -= log(fmax((double)avg[(size_t)i * k + labels[i]], 1e-30));
            l = (float)(sum / n);
            y = avg;
        } else if (s == CNN_OK) {
            s = cnn_softmax_xent(logits->y, labels, n, k, 0.0f, NULL, &l, NULL);
        }
        if (s != CNN_OK) break;
        m->loss_sum += (double)l * n;
        cnn_metrics_add(m, y, labels, n, pred ? pred + first : NULL);
        if (prob && pred)
            for (int i = 0; i < n; i++)
                prob[first + i] = y[(size_t)i * k + pred[first + i]];
    }
    cnn_free_floats(x);
    cnn_free_floats(avg);
    free(labels);
    if (s != CNN_OK) cnn_metrics_free(m);
    return s;
}
