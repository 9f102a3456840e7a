/* test_report.c — `cnn train` writes a run folder and `cnn report` turns it
 * into a self-contained page with every part: the curves, the confusion
 * matrix, the per-class table, test images with predictions (mistakes first),
 * the first layer's filters, feature maps and the model summary; and no
 * reference to anything outside the page. Runs the real CLI (build/cnn, next
 * to build/tests/) on a small IDX data set made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64], cnn_bin[4200];

static void write_idx(const char *path, int images, int n, const uint8_t *data) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t h[16] = {0, 0, 8, images ? 3 : 1};
    uint32_t dims[3] = {(uint32_t)n, 12, 12};
    int nd = images ? 3 : 1;
    for (int i = 0; i < nd; i++) {
        h[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        h[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        h[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        h[7 + 4 * i] = (uint8_t)dims[i];
    }
    assert_int_equal(fwrite(h, 1, 4 + 4 * (size_t)nd, f), 4 + 4 * (size_t)nd);
    size_t len = images ? (size_t)n * 144 : (size_t)n;
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void make_split(const char *prefix, int n, uint64_t seed) {
    uint8_t *img = malloc((size_t)n * 144), *lab = malloc((size_t)n);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)(cnn_rng_u64(&r) % 3);
        uint8_t *p = img + (size_t)i * 144;
        for (int j = 0; j < 144; j++)
            p[j] = (uint8_t)(cnn_rng_u64(&r) % 160);
        for (int j = 0; j < 12; j++)
            p[(2 + 4 * k) * 12 + j] = 255;
        lab[i] = (uint8_t)k;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", tmpdir, prefix);
    write_idx(path, 1, n, img);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", tmpdir, prefix);
    write_idx(path, 0, n, lab);
    free(img);
    free(lab);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_train_and_report(void **state) {
    (void)state;
    char model[256], run[256], cmd[8192], path[300];
    make_split("train", 300, 1);
    make_split("t10k", 90, 2);
    snprintf(model, sizeof model, "%s/tiny.cnn", tmpdir);
    FILE *f = fopen(model, "wb");
    assert_non_null(f);
    fputs("input shape=1x12x12 mean=0.3 std=0.3\n"
          "train epochs=3 batch=20 optimizer=adam lr=0.01 seed=3\n"
          "conv name=c1 filters=4 kernel=3 padding=1\nrelu\n"
          "conv name=c2 filters=4 kernel=3 padding=1\nrelu\nmaxpool kernel=2\n"
          "dense units=3\nsoftmax\n",
          f);
    fclose(f);
    snprintf(run, sizeof run, "%s/run", tmpdir);
    snprintf(cmd, sizeof cmd,
             "'%s' train '%s' --data '%s' --run-dir '%s' --val-split 0.2 --log-every 3 "
             "--hflip --quiet --threads 1 > '%s/train.log' 2>&1",
             cnn_bin, model, tmpdir, run, tmpdir);
    assert_int_equal(system(cmd), 0);
    static const char *const files[] = {"metrics.jsonl", "checkpoint.cnnw", "best.weights",
                                        "final.weights", "model.cnn",       "summary.txt",
                                        "args.txt",      "test_metrics.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", run, files[i]);
        if (access(path, R_OK) != 0) fail_msg("the run folder lacks %s", files[i]);
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    char *log = slurp(path);
    assert_int_equal(count(log, "\"type\":\"epoch\""), 3);
    assert_true(count(log, "\"type\":\"step\"") >= 3);
    assert_non_null(strstr(log, "\"val_acc\":"));
    assert_non_null(strstr(log, "\"test_top5\":"));
    free(log);
    /* Starting again in the same folder is refused; resuming a finished run is a no-op. */
    snprintf(cmd, sizeof cmd, "'%s' train '%s' --data '%s' --run-dir '%s' --quiet > /dev/null 2>&1",
             cnn_bin, model, tmpdir, run);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' train --resume '%s' --quiet --threads 1 > '%s/resume.log' 2>&1",
             cnn_bin, run, tmpdir);
    assert_int_equal(system(cmd), 0);

    snprintf(cmd, sizeof cmd, "'%s' report '%s' --images 40 > /dev/null 2>&1", cnn_bin, run);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = slurp(path);
    assert_non_null(html);
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "</html>"));
    assert_non_null(strstr(html, "id=\"loss-chart\""));
    assert_non_null(strstr(html, "id=\"accuracy-chart\""));
    assert_true(count(html, "class=\"series\"") >= 4); /* train/val/test loss, ... accuracy */
    assert_non_null(strstr(html, "id=\"confusion\""));
    assert_int_equal(count(html, "class=\"cell\""), 9); /* 3 x 3 */
    assert_non_null(strstr(html, "id=\"per-class\""));
    assert_non_null(strstr(html, "id=\"predictions\""));
    assert_int_equal(count(html, "class=\"tile"), 40);
    assert_non_null(strstr(html, "id=\"filters\""));
    assert_non_null(strstr(html, "title=\"c1 filter 3\""));
    assert_non_null(strstr(html, "id=\"feature-maps\""));
    assert_non_null(strstr(html, "title=\"c1 channel 0\""));
    assert_non_null(strstr(html, "id=\"model\""));
    assert_non_null(strstr(html, "total: "));
    /* images: 40 tiles + 4 filters + input + feature maps, all PNG data URIs */
    assert_true(count(html, "src=\"data:image/png;base64,iVBORw0KGgo") >= 40 + 4 + 1 + 4);
    /* Mistakes first: once a correct tile appears, no mistake follows. */
    const char *first_right = strstr(html, "class=\"tile\"");
    const char *last_wrong = NULL;
    for (const char *p = html; (p = strstr(p, "class=\"tile wrong\"")); p++)
        last_wrong = p;
    if (first_right && last_wrong) assert_true(last_wrong < first_right);
    /* Self-contained: nothing fetched from elsewhere. */
    assert_null(strstr(html, "http://www.w3.org/1999")); /* no XHTML fetches */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, "src=\"file"));
    free(html);
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    *slash = 0; /* build/tests */
    slash = strrchr(self, '/');
    *slash = 0; /* build */
    snprintf(cnn_bin, sizeof cnn_bin, "%s/cnn", self);
    if (access(cnn_bin, X_OK) != 0) {
        fprintf(stderr, "%s: %s not built\n", argv[0], cnn_bin);
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cnn_report_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_train_and_report)};
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!failed) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) return 1;
    } else {
        fprintf(stderr, "files kept in %s\n", tmpdir);
    }
    return failed ? 1 : 0;
}
