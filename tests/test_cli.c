/* test_cli.c — the `cnn` command, run as a user runs it.
 *
 * BUILD/cnn is found next to this program (BUILD/tests/test_cli -> BUILD/cnn),
 * so a sanitizer build tests its own binary; the working directory is the
 * repository root (tests/run.sh), for models/ and data/mnist (or
 * $CNN_DATA_DIR/mnist). Each run's stdout and stderr are captured apart.
 *
 * Checked: --help and the exit status of an unknown command; `cnn info` on
 * LeNet-5; every failure is a non-zero exit and exactly one line on stderr
 * naming the file (and line or the problem): a malformed model, a missing data
 * folder, a truncated IDX file, a non-image given to predict, bad flags,
 * weights of another model. A short `cnn train` ends with
 * `test accuracy: NN.NN%`, saves weights that `cnn eval` scores the same on
 * the same images, `cnn predict --index 0` prints a top-5 list, and output to
 * a pipe holds no '\r' or escape sequences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include <libgen.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATHLEN 512
static char cnn[PATHLEN]; /* BUILD/cnn */
static char tmp[64];      /* our temporary folder */
static char mnist[256];   /* data/mnist */
static char small[128];   /* tmp/small: the first 256 MNIST test images */
static char weights[128]; /* tmp/lenet5.weights: an untrained LeNet-5 */

typedef struct {
    int status; /* exit status, or -signal */
    char *out, *err;
} result;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t k; (k = fread(s + len, 1, cap - 1 - len, f)) > 0;) {
        len += k;
        if (len == cap - 1) {
            s = realloc(s, cap *= 2);
            assert_non_null(s);
        }
    }
    fclose(f);
    s[len] = 0;
    return s;
}

/* Run `cnn ARGS` (a shell word list; our paths need no quoting) with stdin
 * from /dev/null. */
static result run(const char *fmt, ...) {
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s </dev/null >'%s/out' 2>'%s/err'", cnn, args, tmp, tmp);
    int st = system(cmd);
    result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    char path[PATHLEN];
    snprintf(path, sizeof path, "%s/out", tmp);
    r.out = slurp(path);
    snprintf(path, sizeof path, "%s/err", tmp);
    r.err = slurp(path);
    /* A shell status 126/127 means cnn did not run at all. */
    if (r.status == 126 || r.status == 127) fail_msg("cannot run %s: %s", cnn, r.err);
    return r;
}

static void done(result *r) {
    free(r->out);
    free(r->err);
}

/* Exactly one line on stderr, equal to want (without its newline). */
static void expect_one_line(const result *r, const char *want) {
    size_t n = strlen(r->err);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += r->err[i] == '\n';
    if (lines != 1 || r->err[n - 1] != '\n')
        fail_msg("expected one line on stderr, got %d:\n%s", lines, r->err);
    if (want && (strncmp(r->err, want, n - 1) || strlen(want) != n - 1))
        fail_msg("stderr:\n  got      %s  expected %s", r->err, want);
}

static void expect_failure(const result *r, int status, const char *want) {
    if (r->status <= 0 || (status && r->status != status))
        fail_msg("exit status %d, expected %s%d; stderr: %s", r->status,
                 status ? "" : "non-zero, not ", status, r->err);
    expect_one_line(r, want);
}

/* The last line of text (without its newline), in buf. */
static const char *last_line(const char *text, char *buf, size_t len) {
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n')
        n--;
    size_t start = n;
    while (start && text[start - 1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(n - start), text + start);
    return buf;
}

static int matches(const char *text, const char *pattern) {
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE), 0);
    int m = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

/* ---- fixtures ------------------------------------------------------------ */

/* The first n records of an IDX file (header count patched) into dst. */
static void idx_head(const char *src, const char *dst, int header, int record, int n) {
    FILE *f = fopen(src, "rb");
    if (!f) fail_msg("%s: missing (make check fetches MNIST; or run scripts/fetch-data.sh)", src);
    size_t len = (size_t)header + (size_t)record * (size_t)n;
    unsigned char *p = malloc(len);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, len, f), len);
    fclose(f);
    p[4] = (unsigned char)(n >> 24);
    p[5] = (unsigned char)(n >> 16);
    p[6] = (unsigned char)(n >> 8);
    p[7] = (unsigned char)n;
    f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(p);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static const char *self; /* argv[0] */

static int setup(void **state) {
    (void)state;
    char buf[PATH_MAX];
    if (!realpath(self, buf) || strlen(buf) > PATHLEN - 16) return -1;
    snprintf(cnn, sizeof cnn, "%.*s/../cnn", PATHLEN - 16, dirname(buf));
    if (access(cnn, X_OK) != 0) {
        print_error("%s: not built (make all builds it)\n", cnn);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "/tmp/test_cli.XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    const char *root = getenv("CNN_DATA_DIR") ? getenv("CNN_DATA_DIR") : "data";
    snprintf(mnist, sizeof mnist, "%s/mnist", root);
    char a[PATHLEN], b[PATHLEN];
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte", mnist);
    if (access(a, R_OK) != 0) {
        print_error("%s: missing (make check fetches MNIST; or run scripts/fetch-data.sh)\n", a);
        return -1;
    }
    /* small/: the first 256 test images as the test set. */
    snprintf(small, sizeof small, "%s/small", tmp);
    if (mkdir(small, 0755) != 0) return -1;
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte", mnist);
    snprintf(b, sizeof b, "%s/t10k-images-idx3-ubyte", small);
    idx_head(a, b, 16, 784, 256);
    snprintf(a, sizeof a, "%s/t10k-labels-idx1-ubyte", mnist);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte", small);
    idx_head(a, b, 8, 1, 256);
    /* Untrained LeNet-5 weights for eval and predict. */
    cnn_net *net;
    snprintf(weights, sizeof weights, "%s/lenet5.weights", tmp);
    if (cnn_net_load_model(&net, "models/lenet5.cnn", 1) != CNN_OK ||
        cnn_net_save_weights(net, weights) != CNN_OK) {
        print_error("%s\n", cnn_last_error());
        cnn_net_free(net);
        return -1;
    }
    cnn_net_free(net);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests --------------------------------------------------------------- */

static void test_help(void **state) {
    (void)state;
    result r = run("--help");
    assert_int_equal(r.status, 0);
    assert_true(matches(r.out, "^usage: cnn <command>"));
    assert_string_equal(r.err, "");
    done(&r);
    r = run("");
    assert_int_equal(r.status, 2);
    assert_true(matches(r.err, "^usage: cnn <command>"));
    done(&r);
    r = run("frobnicate");
    assert_int_equal(r.status, 2);
    assert_true(matches(r.err, "^cnn: unknown command 'frobnicate'$"));
    assert_string_equal(r.out, "");
    done(&r);
    static const char *const verbs[] = {"train", "eval", "predict", "info"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        r = run("%s --help", verbs[i]);
        if (r.status != 0 || !matches(r.out, "^usage: cnn ") || r.err[0])
            fail_msg("cnn %s --help: status %d, stderr '%s'", verbs[i], r.status, r.err);
        done(&r);
    }
}

static void test_info(void **state) {
    (void)state;
    result r = run("info models/lenet5.cnn");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_non_null(strstr(r.out, "61,706"));
    assert_true(matches(r.out, "^total: 61,706 parameters"));
    done(&r);
}

static void test_bad_model(void **state) {
    (void)state;
    char path[PATHLEN], want[2048];
    snprintf(path, sizeof path, "%s/bad.cnn", tmp);
    write_text(path, "input shape=1x28x28\n# a comment\nconv filters=6 kernel=5 stide=2\n"
                     "relu\nflatten\ndense units=10\nsoftmax\n");
    result r = run("info %s", path);
    snprintf(want, sizeof want,
             "cnn info: %s:3: conv: unknown option 'stide' (did you mean "
             "'stride'?)",
             path);
    expect_failure(&r, 1, want);
    assert_string_equal(r.out, "");
    done(&r);
    r = run("train %s --data %s --run-dir %s/run-bad", path, mnist, tmp);
    snprintf(want, sizeof want,
             "cnn train: %s:3: conv: unknown option 'stide' (did you mean "
             "'stride'?)",
             path);
    expect_failure(&r, 0, want);
    done(&r);
    /* A shape error names the layer's line. */
    write_text(path, "input shape=1x4x4\nrelu\nconv filters=2 kernel=5\nsoftmax\n");
    r = run("info %s", path);
    snprintf(want, sizeof want,
             "cnn info: %s:3: conv1 (conv): output would be 0x0: a 4x4 input "
             "is too small for kernel 5x5 (dilation 1x1, padding 0x0, stride 1x1)",
             path);
    expect_failure(&r, 1, want);
    done(&r);
    /* A missing model file. */
    r = run("info %s/nosuch.cnn", tmp);
    snprintf(want, sizeof want, "cnn info: %s/nosuch.cnn: No such file or directory", tmp);
    expect_failure(&r, 1, want);
    done(&r);
}

static void test_missing_data(void **state) {
    (void)state;
    char want[2048], run_dir[PATHLEN];
    snprintf(run_dir, sizeof run_dir, "%s/run-nowhere", tmp);
    result r = run("train models/lenet5.cnn --data %s/nowhere --run-dir %s", tmp, run_dir);
    snprintf(want, sizeof want,
             "cnn train: %s/nowhere/train-images-idx3-ubyte: No such file or "
             "directory",
             tmp);
    expect_failure(&r, 1, want);
    assert_string_equal(r.out, "");
    assert_int_equal(access(run_dir, F_OK), -1); /* no run folder for a run that never began */
    done(&r);
    r = run("eval models/lenet5.cnn --weights %s --data %s/nowhere", weights, tmp);
    snprintf(want, sizeof want,
             "cnn eval: %s/nowhere/t10k-images-idx3-ubyte: No such file or "
             "directory",
             tmp);
    expect_failure(&r, 1, want);
    done(&r);
}

static void test_truncated_idx(void **state) {
    (void)state;
    char dir[128], a[PATHLEN], b[PATHLEN], want[2048];
    snprintf(dir, sizeof dir, "%s/trunc", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    static const char *const others[] = {"train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                         "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", mnist, others[i]);
        snprintf(b, sizeof b, "%s/%s", dir, others[i]);
        char *abs = realpath(a, NULL);
        assert_non_null(abs);
        assert_int_equal(symlink(abs, b), 0);
        free(abs);
    }
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte", mnist);
    snprintf(b, sizeof b, "%s/train-images-idx3-ubyte", dir);
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char head[1000];
    assert_int_equal(fread(head, 1, sizeof head, in), sizeof head);
    assert_int_equal(fwrite(head, 1, sizeof head, out), sizeof head);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    result r = run("train models/lenet5.cnn --data %s --run-dir %s/run-trunc", dir, tmp);
    snprintf(want, sizeof want,
             "cnn train: %s: truncated: header declares 60000x28x28 pixels = "
             "47040000 bytes at offset 16, file has 1000 bytes",
             b);
    expect_failure(&r, 1, want);
    assert_non_null(strstr(r.err, "truncated"));
    done(&r);
}

static void test_train_eval_predict(void **state) {
    (void)state;
    char w[PATHLEN], line[256], acc[256], path[PATHLEN];
    snprintf(w, sizeof w, "%s/trained.weights", tmp);
    result r = run("train models/lenet5.cnn --data %s --subset 256 --test-subset 256 --epochs 1 "
                   "--quiet --threads 2 --run-dir %s/run --save %s",
                   mnist, tmp, w);
    if (r.status != 0) fail_msg("cnn train: status %d, stderr: %s", r.status, r.err);
    assert_string_equal(r.err, "");
    last_line(r.out, line, sizeof line);
    if (!matches(line, "^test accuracy: [0-9]{1,3}\\.[0-9]{2}%$"))
        fail_msg("last line of cnn train: '%s'", line);
    snprintf(acc, sizeof acc, "%s", line);
    assert_null(strchr(r.out, '\r'));
    assert_null(strchr(r.out, '\033'));
    assert_false(matches(r.out, "^epoch [0-9]+/[0-9]+ batch ")); /* --quiet */
    assert_int_equal(access(w, R_OK), 0);
    snprintf(path, sizeof path, "%s/run/final.weights", tmp);
    assert_int_equal(access(path, R_OK), 0);
    done(&r);
    /* The saved weights score the same on the same 256 test images. */
    r = run("eval models/lenet5.cnn --weights %s --data %s --threads 2", w, small);
    if (r.status != 0) fail_msg("cnn eval: status %d, stderr: %s", r.status, r.err);
    assert_string_equal(r.err, "");
    assert_true(matches(r.out, "^test images: 256$"));
    last_line(r.out, line, sizeof line);
    assert_string_equal(line, acc);
    done(&r);
    /* predict: the top 5 of test image 0 (a 7), probabilities descending. */
    r = run("predict models/lenet5.cnn --weights %s --data %s --index 0", w, small);
    if (r.status != 0) fail_msg("cnn predict: status %d, stderr: %s", r.status, r.err);
    assert_string_equal(r.err, "");
    assert_true(matches(r.out, "^test image 0 \\(label 7\\):$"));
    int classes = 0, seen[10] = {0};
    double prev = 101, sum = 0;
    for (const char *p = strchr(r.out, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        int k;
        double pct;
        if (sscanf(p + 1, " class %d %lf%%", &k, &pct) != 2) fail_msg("predict line: %s", p + 1);
        assert_true(k >= 0 && k < 10 && !seen[k]);
        seen[k] = 1;
        assert_true(pct >= 0 && pct <= prev);
        prev = pct;
        sum += pct;
        classes++;
    }
    assert_int_equal(classes, 5);
    assert_true(sum <= 100.01);
    done(&r);
    r = run("predict models/lenet5.cnn --weights %s --data %s --index 256", w, small);
    expect_failure(&r, 1, "cnn predict: --index 256: the test set has 256 images");
    done(&r);
}

/* Progress lines to a pipe: plain lines, no carriage returns or escapes. */
static void test_progress_not_a_tty(void **state) {
    (void)state;
    result r = run("train models/lenet5.cnn --data %s --subset 256 --test-subset 64 --epochs 1 "
                   "--batch 16 --threads 2 --run-dir %s/run-progress",
                   mnist, tmp);
    if (r.status != 0) fail_msg("cnn train: status %d, stderr: %s", r.status, r.err);
    assert_null(strchr(r.out, '\r'));
    assert_null(strchr(r.out, '\033'));
    assert_true(matches(r.out, "^epoch 1/1 batch [0-9]+/16 "));
    assert_true(matches(r.out, "^epoch 1: train loss "));
    char line[256];
    assert_true(matches(last_line(r.out, line, sizeof line), "^test accuracy: [0-9.]+%$"));
    done(&r);
}

static void test_predict_not_image(void **state) {
    (void)state;
    char path[PATHLEN], want[2048];
    snprintf(path, sizeof path, "%s/notimage.png", tmp);
    write_text(path, "hello, this is not an image\n");
    result r = run("predict models/lenet5.cnn --weights %s %s", weights, path);
    snprintf(want, sizeof want,
             "cnn predict: %s: not a PNG or JPEG file (unrecognised first bytes)", path);
    expect_failure(&r, 1, want);
    assert_string_equal(r.out, "");
    done(&r);
    /* A PNG signature and nothing else. */
    snprintf(path, sizeof path, "%s/cut.png", tmp);
    write_text(path, "\x89PNG\r\n\x1a\n");
    r = run("predict models/lenet5.cnn --weights %s %s", weights, path);
    expect_failure(&r, 1, NULL);
    assert_non_null(strstr(r.err, path));
    done(&r);
}

static void test_bad_flags(void **state) {
    (void)state;
    char want[2048], other[PATHLEN];
    result r = run("train models/lenet5.cnn --data %s --lr abc --run-dir %s/run-flags", mnist, tmp);
    expect_failure(&r, 2, "cnn train: --lr abc: expected a number");
    done(&r);
    r = run("train models/lenet5.cnn --data %s --threads 0", mnist);
    expect_failure(&r, 2, "cnn train: --threads expects an integer from 1 to 1024, got '0'");
    done(&r);
    r = run("train models/lenet5.cnn --data %s --epochs", mnist);
    expect_failure(&r, 2, "cnn train: --epochs needs a value (see --help)");
    done(&r);
    r = run("eval models/lenet5.cnn --weights %s --data %s --frobnicate 1", weights, small);
    expect_failure(&r, 2, "cnn eval: unknown option --frobnicate (see --help)");
    done(&r);
    /* Weights of another model. */
    snprintf(other, sizeof other, "%s/other.weights", tmp);
    cnn_net *net;
    assert_int_equal(cnn_net_parse(&net,
                                   "input shape=1x28x28\nflatten\ndense name=d units=10\n"
                                   "softmax\n",
                                   "other.cnn", 1),
                     CNN_OK);
    assert_int_equal(cnn_net_save_weights(net, other), CNN_OK);
    cnn_net_free(net);
    r = run("eval models/lenet5.cnn --weights %s --data %s", other, small);
    snprintf(want, sizeof want,
             "cnn eval: %s: tensor 'd.weight' is not in the model models/lenet5.cnn", other);
    expect_failure(&r, 1, want);
    done(&r);
}

int main(int argc, char **argv) {
    (void)argc;
    self = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_bad_model),
        cmocka_unit_test(test_missing_data),
        cmocka_unit_test(test_truncated_idx),
        cmocka_unit_test(test_train_eval_predict),
        cmocka_unit_test(test_progress_not_a_tty),
        cmocka_unit_test(test_predict_not_image),
        cmocka_unit_test(test_bad_flags),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
