/* report.c — `cnn report RUN_DIR`: one self-contained web page about a run.
 *
 * RUN_DIR/report.html holds, with no external file or script: the loss and
 * accuracy curves (inline SVG, from metrics.jsonl), the test confusion matrix
 * as a heat map (SVG), per-class precision and recall, a grid of test images
 * with their predictions (mistakes first, most confident first), the first
 * convolution's filters and feature maps of one test image (PNGs encoded with
 * libpng, embedded as data: URIs), and the model summary. The weights are
 * best.weights if the run kept one, else final.weights, else the checkpoint. */
#include "../../src/graph/net_internal.h"
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: cnn report RUN_DIR [--data DIR] [--weights FILE] [--out FILE] [--images N]\n"
    "\n"
    "Write RUN_DIR/report.html (or --out): loss and accuracy curves, the test confusion\n"
    "matrix, test images with predictions (mistakes first), the first layer's filters,\n"
    "feature maps and the model summary. The data folder defaults to the run's --data.\n";

/* ---- PNG in memory, base64 ---------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int failed;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->failed) return;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        while (cap < m->len + n)
            cap *= 2;
        unsigned char *q = realloc(m->p, cap);
        if (!q) {
            m->failed = 1;
            return;
        }
        m->p = q;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void mem_flush(png_structp png) {
    (void)png;
}

static void png_err(png_structp png, png_const_charp msg) {
    (void)msg;
    png_longjmp(png, 1);
}

/* Write an <img> with a PNG of an 8-bit grey (ch 1) or RGB (ch 3) image,
 * shown `scale` times larger with crisp pixels. */
static void put_png(FILE *out, const uint8_t *px, int w, int h, int ch, int scale,
                    const char *title) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_err, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.p);
        return;
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 ch == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_bytep)(px + (size_t)y * w * ch));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (m.failed) {
        free(m.p);
        return;
    }
    fprintf(out,
            "<img alt=\"%s\" title=\"%s\" width=\"%d\" height=\"%d\" src=\"data:image/png;base64,",
            title, title, w * scale, h * scale);
    for (size_t i = 0; i < m.len; i += 3) {
        uint32_t v = (uint32_t)m.p[i] << 16 | (i + 1 < m.len ? (uint32_t)m.p[i + 1] << 8 : 0) |
                     (i + 2 < m.len ? m.p[i + 2] : 0);
        fputc(b64[v >> 18 & 63], out);
        fputc(b64[v >> 12 & 63], out);
        fputc(i + 1 < m.len ? b64[v >> 6 & 63] : '=', out);
        fputc(i + 2 < m.len ? b64[v & 63] : '=', out);
    }
    fputs("\">", out);
    free(m.p);
}

/* A float map (h, w) stretched to 0..255 (min..max) as grey pixels. */
static void put_map(FILE *out, const float *v, int w, int h, size_t stride, int scale,
                    const char *title, uint8_t *tmp) {
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < w * h; i++) {
        float x = v[(size_t)i * stride];
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    float k = hi > lo ? 255.0f / (hi - lo) : 0;
    for (int i = 0; i < w * h; i++)
        tmp[i] = (uint8_t)lrintf((v[(size_t)i * stride] - lo) * k);
    put_png(out, tmp, w, h, 1, scale, title);
}

/* Planar uint8 (c, h, w) sample to interleaved for PNG. */
static void put_sample(FILE *out, const cnn_dataset *ds, int i, int scale, const char *title,
                       uint8_t *tmp) {
    size_t plane = (size_t)ds->h * ds->w;
    const uint8_t *s = ds->images + (size_t)i * ds->c * plane;
    int ch = ds->c == 3 ? 3 : 1;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < ch; c++)
            tmp[p * ch + c] = s[(size_t)c * plane + p];
    put_png(out, tmp, ds->w, ds->h, ch, scale, title);
}

/* ---- the metrics log ---------------------------------------------------- */

enum { TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC, N_SERIES };
static const char *series_key[N_SERIES] = {"train_loss", "train_acc", "val_loss",
                                           "val_acc",    "test_loss", "test_acc"};
static const char *series_name[N_SERIES] = {"train",      "train", "validation",
                                            "validation", "test",  "test"};
static const char *series_color[N_SERIES] = {"#1f77b4", "#1f77b4", "#ff7f0e",
                                             "#ff7f0e", "#2ca02c", "#2ca02c"};

typedef struct {
    int n, cap;
    double *epoch;
    double *v[N_SERIES]; /* NAN where absent */
    int steps_n, steps_cap;
    double *step_x, *step_loss; /* x in epochs */
    int best_epoch;
} curves;

static int json_get(const char *line, const char *key, double *out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    if (!strncmp(p, "null", 4)) return 0;
    char *e;
    double v = strtod(p, &e);
    if (e == p) return 0;
    *out = v;
    return 1;
}

static void read_curves(const char *path, curves *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char line[4096];
    double batches = 0; /* steps per epoch, from the epoch lines */
    while (fgets(line, sizeof line, f)) {
        double x;
        if (strstr(line, "\"type\":\"epoch\"")) {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 64;
                c->epoch = realloc(c->epoch, (size_t)c->cap * sizeof(double));
                for (int s = 0; s < N_SERIES; s++)
                    c->v[s] = realloc(c->v[s], (size_t)c->cap * sizeof(double));
            }
            c->epoch[c->n] = json_get(line, "epoch", &x) ? x : c->n + 1;
            for (int s = 0; s < N_SERIES; s++)
                c->v[s][c->n] = json_get(line, series_key[s], &x) ? x : NAN;
            if (json_get(line, "best_epoch", &x)) c->best_epoch = (int)x;
            if (json_get(line, "step", &x) && c->epoch[c->n] > 0) batches = x / c->epoch[c->n];
            c->n++;
        } else if (strstr(line, "\"type\":\"step\"")) {
            double st, loss;
            if (!json_get(line, "step", &st) || !json_get(line, "loss", &loss)) continue;
            if (c->steps_n == c->steps_cap) {
                c->steps_cap = c->steps_cap ? 2 * c->steps_cap : 256;
                c->step_x = realloc(c->step_x, (size_t)c->steps_cap * sizeof(double));
                c->step_loss = realloc(c->step_loss, (size_t)c->steps_cap * sizeof(double));
            }
            c->step_x[c->steps_n] = st; /* converted to epochs below */
            c->step_loss[c->steps_n++] = loss;
        }
    }
    fclose(f);
    for (int i = 0; i < c->steps_n; i++)
        c->step_x[i] = batches > 0 ? c->step_x[i] / batches : NAN;
}

static void free_curves(curves *c) {
    free(c->epoch);
    for (int s = 0; s < N_SERIES; s++)
        free(c->v[s]);
    free(c->step_x);
    free(c->step_loss);
}

/* One SVG line chart of the series with the given parity (0 loss, 1 accuracy). */
static void put_chart(FILE *out, const curves *c, int acc) {
    const int W = 520, H = 300, L = 56, R = 16, T = 16, B = 40;
    double xmax = c->n ? c->epoch[c->n - 1] : 1, ymin = INFINITY, ymax = -INFINITY;
    for (int s = acc; s < N_SERIES; s += 2)
        for (int i = 0; i < c->n; i++)
            if (isfinite(c->v[s][i])) {
                double y = acc ? 100 * c->v[s][i] : c->v[s][i];
                if (y < ymin) ymin = y;
                if (y > ymax) ymax = y;
            }
    if (!acc)
        for (int i = 0; i < c->steps_n; i++)
            if (isfinite(c->step_loss[i]) && isfinite(c->step_x[i])) {
                if (c->step_loss[i] < ymin) ymin = c->step_loss[i];
                if (c->step_loss[i] > ymax) ymax = c->step_loss[i];
            }
    if (!isfinite(ymin)) ymin = 0, ymax = 1;
    if (ymax - ymin < 1e-6) ymax = ymin + 1;
    double pad = (ymax - ymin) * 0.05;
    ymin -= pad;
    ymax += pad;
    if (xmax < 1) xmax = 1;
#define SX(x) (L + ((x) / xmax) * (W - L - R))
#define SY(y) (T + (1 - ((y)-ymin) / (ymax - ymin)) * (H - T - B))
    fprintf(out,
            "<svg class=\"chart\" id=\"%s-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            acc ? "accuracy" : "loss", W, H, W, H);
    fprintf(out,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" "
            "stroke=\"#ccc\"/>\n",
            L, T, W - L - R, H - T - B);
    for (int k = 0; k <= 4; k++) {
        double y = ymin + (ymax - ymin) * k / 4;
        fprintf(out,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>"
                "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.*f</text>\n",
                L, W - R, SY(y), SY(y), L - 4, SY(y) + 4, acc ? 1 : 3, y);
    }
    int xstep = xmax > 20 ? (int)ceil(xmax / 10) : 1;
    for (int e = 0; e <= (int)xmax; e += xstep)
        fprintf(out,
                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d</text>\n",
                SX((double)e), H - B + 16, e);
    fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n",
            (L + W - R) / 2, H - 6);
    fprintf(out,
            "<text x=\"14\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 14 %d)\">%s</text>\n",
            (T + H - B) / 2, (T + H - B) / 2, acc ? "accuracy (%)" : "loss");
    if (!acc && c->steps_n > 1) {
        fputs("<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"", out);
        for (int i = 0; i < c->steps_n; i++)
            if (isfinite(c->step_x[i]))
                fprintf(out, "%.1f,%.1f ", SX(c->step_x[i]), SY(c->step_loss[i]));
        fputs("\"/>\n", out);
    }
    int legend = 0;
    for (int s = acc; s < N_SERIES; s += 2) {
        int any = 0;
        for (int i = 0; i < c->n; i++)
            any |= isfinite(c->v[s][i]);
        if (!any) continue;
        fprintf(out,
                "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                "points=\"",
                series_color[s]);
        for (int i = 0; i < c->n; i++)
            if (isfinite(c->v[s][i]))
                fprintf(out, "%.1f,%.1f ", SX(c->epoch[i]),
                        SY(acc ? 100 * c->v[s][i] : c->v[s][i]));
        fputs("\"/>\n", out);
        for (int i = 0; i < c->n; i++)
            if (isfinite(c->v[s][i]))
                fprintf(out,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>epoch "
                        "%g: %.4g</title></circle>\n",
                        SX(c->epoch[i]), SY(acc ? 100 * c->v[s][i] : c->v[s][i]), series_color[s],
                        c->epoch[i], acc ? 100 * c->v[s][i] : c->v[s][i]);
        int ly = acc ? H - B - 48 + 14 * legend : T + 10 + 14 * legend; /* away from the curves */
        fprintf(out,
                "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/><text x=\"%d\" "
                "y=\"%d\" font-size=\"11\">%s</text>\n",
                W - R - 110, ly, series_color[s], W - R - 94, ly + 4, series_name[s]);
        legend++;
    }
    fputs("</svg>\n", out);
#undef SX
#undef SY
}

/* ---- the page ------------------------------------------------------------ */

static const char *fashion_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                        "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                        "Bag",         "Ankle boot"};

static void class_label(char *buf, size_t len, int k, int fashion) {
    if (fashion && k >= 0 && k < 10)
        snprintf(buf, len, "%s", fashion_names[k]);
    else
        snprintf(buf, len, "%d", k);
}

static void put_confusion(FILE *out, const cnn_metrics *m, int fashion) {
    const int K = m->classes,
              cell = K <= 12   ? 44
                     : K <= 32 ? 22
                               : 8,
              L = fashion ? 96 : 40, T = fashion ? 96 : 40;
    const int W = L + K * cell + 10, H = T + K * cell + 10;
    fprintf(out,
            "<svg id=\"confusion\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            W, H, W, H);
    char name[64];
    for (int k = 0; k < K && cell >= 20; k++) {
        class_label(name, sizeof name, k, fashion);
        fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                L - 4, T + k * cell + cell / 2 + 4, name);
        fprintf(out,
                "<text font-size=\"11\" transform=\"translate(%d %d) rotate(-60)\">%s</text>\n",
                L + k * cell + cell / 2, T - 4, name);
    }
    for (int y = 0; y < K; y++) {
        long row = 0;
        for (int x = 0; x < K; x++)
            row += m->confusion[(size_t)y * K + x];
        for (int x = 0; x < K; x++) {
            long v = m->confusion[(size_t)y * K + x];
            double f = row ? (double)v / row : 0;
            /* white -> dark blue on the diagonal, white -> red off it */
            int r, g, b;
            if (x == y)
                r = (int)(255 - 225 * f), g = (int)(255 - 160 * f), b = (int)(255 - 75 * f);
            else {
                double e = f > 0 ? 0.15 + 0.85 * sqrt(f) : 0;
                r = (int)(255 - 40 * e), g = (int)(255 - 200 * e), b = (int)(255 - 200 * e);
            }
            fprintf(out,
                    "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                    "fill=\"rgb(%d,%d,%d)\" stroke=\"#fff\"><title>true %d, predicted %d: "
                    "%ld (%.1f%%)</title></rect>\n",
                    L + x * cell, T + y * cell, cell, cell, r, g, b, y, x, v, 100 * f);
            if (cell >= 20 && v)
                fprintf(out,
                        "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"middle\" "
                        "fill=\"%s\">%ld</text>\n",
                        L + x * cell + cell / 2, T + y * cell + cell / 2 + 4, cell >= 40 ? 11 : 8,
                        x == y && f > 0.5 ? "#fff" : "#222", v);
        }
    }
    fputs("</svg>\n", out);
}

typedef struct {
    int i;
    float conf;
    int wrong;
} shown;

static int cmp_shown(const void *a, const void *b) {
    const shown *x = a, *y = b;
    if (x->wrong != y->wrong) return y->wrong - x->wrong;
    if (x->conf != y->conf) return x->conf < y->conf ? 1 : -1;
    return x->i - y->i;
}

static int first_conv(const cnn_net *net) {
    for (int i = 0; i < net->n_layers; i++)
        if (!strcmp(net->layers[i].ops->type, "conv")) return i;
    return -1;
}

static int run_arg(const char *run_dir, const char *flag, char *out, size_t len) {
    char path[4096], line[4096];
    snprintf(path, sizeof path, "%s/args.txt", run_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int found = 0, next = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (next) {
            snprintf(out, len, "%s", line);
            found = 1;
            break;
        }
        next = !strcmp(line, flag);
    }
    fclose(f);
    return found;
}

static int write_report(FILE *out, const char *run_dir, const char *data, const char *weights,
                        cnn_net *net, const cnn_dataset *test, int max_images) {
    int fashion = strstr(data, "fashion") != NULL;
    cnn_metrics m;
    int *pred = malloc((size_t)test->n * sizeof *pred);
    float *prob = malloc((size_t)test->n * sizeof *prob);
    shown *order = malloc((size_t)test->n * sizeof *order);
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    uint8_t *tmp = malloc((size_t)(h > 64 ? h : 64) * (w > 64 ? w : 64) * 3 + 4096);
    float *x = malloc((size_t)c * h * w * sizeof *x);
    if (!pred || !prob || !order || !tmp || !x) {
        free(pred), free(prob), free(order), free(tmp), free(x);
        return cli_error("report", "out of memory");
    }
    if (cnn_evaluate_metrics(net, test, 256, &m, pred, prob) != CNN_OK) {
        free(pred), free(prob), free(order), free(tmp), free(x);
        return cli_lib_error("report");
    }
    char path[4096];
    curves cv;
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    read_curves(path, &cv);

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n", out);
    fprintf(out, "<title>cnn report: %s</title>\n", run_dir);
    fputs("<style>\n"
          "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;"
          "max-width:1120px;color:#222;padding:0 16px}\n"
          "h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:"
          "1px solid #ddd;padding-bottom:4px}\n"
          ".meta{color:#555;font-size:13px}.kpi{display:flex;gap:14px;margin:14px 0;flex-wrap:wrap}"
          "\n.kpi div{background:#f3f6fa;border-radius:6px;padding:8px 14px}.kpi b{display:block;"
          "font-size:20px}\n.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}\n"
          "img{image-rendering:pixelated;image-rendering:crisp-edges;display:block}\n"
          ".grid{display:flex;flex-wrap:wrap;gap:6px}.tile{font-size:10px;text-align:center;"
          "width:74px}\n.tile img{margin:0 auto;border:2px solid #2ca02c}.tile.wrong img{border-"
          "color:#d62728}\n.tile.wrong{color:#d62728}.maps{display:flex;flex-wrap:wrap;gap:4px}\n"
          "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;text-align:right;"
          "border-bottom:1px solid #eee}\npre{background:#f7f7f7;padding:10px;font-size:11px;"
          "overflow-x:auto}\n</style></head><body>\n",
          out);
    fprintf(out,
            "<h1>Training report</h1>\n<div class=\"meta\">run <code>%s</code> &middot; "
            "weights <code>%s</code> &middot; test data <code>%s</code> (%d images)</div>\n",
            run_dir, weights, data, test->n);
    fputs("<div class=\"kpi\" id=\"summary\">", out);
    fprintf(out,
            "<div>test accuracy<b>%.2f%%</b></div><div>top-5<b>%.2f%%</b></div>"
            "<div>test loss<b>%.4f</b></div>",
            100 * cnn_metrics_top1(&m), 100 * cnn_metrics_top5(&m), cnn_metrics_loss(&m));
    if (cv.n) fprintf(out, "<div>epochs<b>%g</b></div>", cv.epoch[cv.n - 1]);
    if (cv.best_epoch) fprintf(out, "<div>best epoch (validation)<b>%d</b></div>", cv.best_epoch);
    fprintf(out, "<div>parameters<b>%zu</b></div></div>\n", cnn_net_num_params(net));

    fputs("<h2 id=\"curves\">Loss and accuracy</h2>\n<div class=\"row\">\n", out);
    if (cv.n) {
        put_chart(out, &cv, 0);
        put_chart(out, &cv, 1);
    } else {
        fputs("<p>No epoch in metrics.jsonl yet.</p>\n", out);
    }
    fputs("</div>\n", out);

    fputs("<h2 id=\"confusion-matrix\">Confusion matrix (test set; rows: true class, columns: "
          "predicted)</h2>\n<div class=\"row\">\n",
          out);
    put_confusion(out, &m, fashion);
    fputs("<table id=\"per-class\"><tr><th>class</th><th>precision</th><th>recall</th>"
          "<th>images</th></tr>\n",
          out);
    char name[64], name2[64];
    for (int k = 0; k < m.classes; k++) {
        long support = 0;
        for (int j = 0; j < m.classes; j++)
            support += m.confusion[(size_t)k * m.classes + j];
        class_label(name, sizeof name, k, fashion);
        fprintf(out, "<tr><td>%s</td><td>%.2f%%</td><td>%.2f%%</td><td>%ld</td></tr>\n", name,
                100 * cnn_metrics_precision(&m, k), 100 * cnn_metrics_recall(&m, k), support);
    }
    fputs("</table></div>\n", out);

    /* Test images: mistakes first, the most confident of them first. */
    int wrong = 0;
    for (int i = 0; i < test->n; i++) {
        order[i] = (shown){i, prob[i], pred[i] != test->labels[i]};
        wrong += order[i].wrong;
    }
    qsort(order, (size_t)test->n, sizeof *order, cmp_shown);
    int show = test->n < max_images ? test->n : max_images;
    /* Mistakes take at most three quarters of the grid; the most confident
     * correct predictions fill the rest. */
    int n_wrong = wrong < show - show / 4 ? wrong : show - show / 4;
    if (wrong > n_wrong && test->n - wrong > 0) {
        int n_right = show - n_wrong < test->n - wrong ? show - n_wrong : test->n - wrong;
        memmove(order + n_wrong, order + wrong, (size_t)n_right * sizeof *order);
    }
    int scale = h <= 32 ? 64 / h : 1;
    if (scale < 1) scale = 1;
    fprintf(out,
            "<h2 id=\"predictions\">Test images and predictions (%d mistakes of %d; mistakes "
            "first)</h2>\n<div class=\"grid\">\n",
            wrong, test->n);
    for (int k = 0; k < show; k++) {
        int i = order[k].i;
        class_label(name, sizeof name, pred[i], fashion);
        class_label(name2, sizeof name2, test->labels[i], fashion);
        char title[256];
        snprintf(title, sizeof title, "test image %d: predicted %s (%.0f%%), true %s", i, name,
                 100 * prob[i], name2);
        fprintf(out, "<div class=\"tile%s\">", order[k].wrong ? " wrong" : "");
        put_sample(out, test, i, scale, title, tmp);
        if (order[k].wrong)
            fprintf(out, "%s %.0f%%<br>true: %s</div>\n", name, 100 * prob[i], name2);
        else
            fprintf(out, "%s %.0f%%</div>\n", name, 100 * prob[i]);
    }
    fputs("</div>\n", out);

    /* The first convolution's filters, and feature maps of one test image. */
    int fc = first_conv(net);
    if (fc >= 0) {
        cnn_layer *l = &net->layers[fc];
        cnn_tensor_desc d[CNN_MAX_TENSORS];
        int nt = l->ops->tensors(l, d);
        for (int t = 0; t < nt; t++) {
            if (strcmp(d[t].suffix, "weight") || d[t].ndim != 4) continue;
            int K = d[t].dims[0], C = d[t].dims[1], kh = d[t].dims[2], kw = d[t].dims[3];
            const float *wt = l->params + d[t].offset;
            int fs = kh * kw <= 49 ? 10 : 4;
            fprintf(out,
                    "<h2 id=\"filters\">First layer's filters: %s, %d filters of %dx%dx%d"
                    "</h2>\n<div class=\"maps\">\n",
                    l->name, K, C, kh, kw);
            for (int k = 0; k < K && k < 128; k++) {
                const float *f = wt + (size_t)k * C * kh * kw;
                char title[96];
                snprintf(title, sizeof title, "%s filter %d", l->name, k);
                if (C == 3) {
                    float lo = INFINITY, hi = -INFINITY;
                    for (int i = 0; i < 3 * kh * kw; i++) {
                        if (f[i] < lo) lo = f[i];
                        if (f[i] > hi) hi = f[i];
                    }
                    float s = hi > lo ? 255 / (hi - lo) : 0;
                    for (int p = 0; p < kh * kw; p++)
                        for (int ch = 0; ch < 3; ch++)
                            tmp[p * 3 + ch] = (uint8_t)lrintf((f[ch * kh * kw + p] - lo) * s);
                    put_png(out, tmp, kw, kh, 3, fs, title);
                } else {
                    put_map(out, f, kw, kh, 1, fs, title, tmp); /* the first input channel */
                }
            }
            fputs("</div>\n", out);
            break;
        }
        /* Feature maps: the first test image through the net. */
        int sample = show ? order[0].i : 0;
        const float *y;
        cnn_dataset_batch(test, net, &sample, 0, 1, x, NULL);
        cnn_net_keep_outputs(net, 1); /* the conv outputs are shown below */
        if (cnn_net_forward(net, x, 1, 0, &y) == CNN_OK) {
            class_label(name, sizeof name, test->labels[sample], fashion);
            fprintf(out, "<h2 id=\"feature-maps\">Feature maps of test image %d (true: %s)</h2>\n",
                    sample, name);
            fputs("<div class=\"row\">", out);
            put_sample(out, test, sample, scale, "input", tmp);
            fputs("</div>\n", out);
            /* Up to three conv layers with maps of at least 3x3: the first,
             * one in the middle and the last, to show the depth. */
            int convs[1024], n_convs = 0, pick[3], n_pick = 0;
            for (int i = fc; i < net->n_layers && n_convs < 1024; i++)
                if (!strcmp(net->layers[i].ops->type, "conv") && net->layers[i].out.h >= 3)
                    convs[n_convs++] = i;
            for (int k = 0; k < 3 && k < n_convs; k++) {
                int at = n_convs <= 3 ? convs[k] : convs[k * (n_convs - 1) / 2];
                if (!n_pick || pick[n_pick - 1] != at) pick[n_pick++] = at;
            }
            for (int p = 0; p < n_pick; p++) {
                cnn_layer *L = &net->layers[pick[p]];
                int maps = L->out.c < 16 ? L->out.c : 16;
                int ms = L->out.h >= 28 ? 2 : L->out.h >= 14 ? 4 : 8;
                fprintf(out, "<p>%s (%dx%dx%d), first %d channels</p><div class=\"maps\">\n",
                        L->name, L->out.c, L->out.h, L->out.w, maps);
                for (int k = 0; k < maps; k++) {
                    char title[96];
                    snprintf(title, sizeof title, "%s channel %d", L->name, k);
                    put_map(out, L->y + (size_t)k * L->out.h * L->out.w, L->out.w, L->out.h, 1, ms,
                            title, tmp);
                }
                fputs("</div>\n", out);
            }
        }
    }

    fputs("<h2 id=\"model\">Model</h2>\n<pre>", out);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        cnn_net_summary(net, mem);
        fclose(mem);
        for (char *p = text; p && *p; p++) {
            if (*p == '<')
                fputs("&lt;", out);
            else if (*p == '>')
                fputs("&gt;", out);
            else if (*p == '&')
                fputs("&amp;", out);
            else
                fputc(*p, out);
        }
        free(text);
    }
    fputs("</pre>\n", out);
    snprintf(path, sizeof path, "%s/args.txt", run_dir);
    FILE *af = fopen(path, "rb");
    if (af) {
        fputs("<p class=\"meta\">command: <code>cnn train", out);
        char line[4096];
        while (fgets(line, sizeof line, af)) {
            line[strcspn(line, "\n")] = 0;
            fprintf(out, " %s", line);
        }
        fclose(af);
        fputs("</code></p>\n", out);
    }
    fputs("</body></html>\n", out);
    free_curves(&cv);
    cnn_metrics_free(&m);
    free(pred), free(prob), free(order), free(tmp), free(x);
    return 0;
}

int cmd_report(int argc, char **argv) {
    const char *run_dir = NULL, *data_arg = NULL, *weights_arg = NULL, *out_arg = NULL;
    int max_images = 64, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (run_dir) return cli_error("report", "unexpected argument '%s'", a), 2;
            run_dir = a;
            continue;
        }
        if (!v) return cli_error("report", "%s needs a value", a), 2;
        i++;
        if (!strcmp(a, "--data"))
            data_arg = v;
        else if (!strcmp(a, "--weights"))
            weights_arg = v;
        else if (!strcmp(a, "--out"))
            out_arg = v;
        else if (!strcmp(a, "--images"))
            rc = cli_int("report", a, v, 0, 10000, &max_images);
        else
            return cli_error("report", "unknown option %s (see --help)", a), 2;
    }
    if (rc) return rc;
    if (!run_dir) {
        fputs(help, stderr);
        return 2;
    }
    char model[4096], data[4096], weights[4096], out_path[4096];
    snprintf(model, sizeof model, "%s/model.cnn", run_dir);
    if (data_arg)
        snprintf(data, sizeof data, "%s", data_arg);
    else if (!run_arg(run_dir, "--data", data, sizeof data))
        return cli_error("report", "%s/args.txt: no --data (give --data DIR)", run_dir);
    if (weights_arg)
        snprintf(weights, sizeof weights, "%s", weights_arg);
    else {
        static const char *const cand[] = {"best.weights", "final.weights", "checkpoint.cnnw"};
        weights[0] = 0;
        for (int i = 0; i < 3 && !weights[0]; i++) {
            snprintf(weights, sizeof weights, "%s/%s", run_dir, cand[i]);
            if (access(weights, R_OK) != 0) weights[0] = 0;
        }
        if (!weights[0]) return cli_error("report", "%s: no weights in the run folder", run_dir);
    }
    snprintf(out_path, sizeof out_path, "%s", out_arg ? out_arg : "");
    if (!out_arg) snprintf(out_path, sizeof out_path, "%s/report.html", run_dir);
    cnn_net *net;
    if (cli_load_net(model, weights, &net) != CNN_OK) return cli_lib_error("report");
    cnn_dataset test = {0};
    if (cli_load_split(data, 0, net, &test) != CNN_OK) {
        cnn_net_free(net);
        return cli_lib_error("report");
    }
    char tmp_path[4200];
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", out_path);
    FILE *out = fopen(tmp_path, "wb");
    if (!out)
        rc = cli_error("report", "%s: %s", tmp_path, strerror(errno));
    else {
        rc = write_report(out, run_dir, data, weights, net, &test, max_images);
        if (fclose(out) != 0 && !rc) rc = cli_error("report", "%s: %s", tmp_path, strerror(errno));
        if (!rc && rename(tmp_path, out_path) != 0)
            rc = cli_error("report", "%s: %s", out_path, strerror(errno));
        if (rc) unlink(tmp_path);
    }
    if (!rc) printf("report written to %s\n", out_path);
    cnn_dataset_free(&test);
    cnn_net_free(net);
    return rc;
}
