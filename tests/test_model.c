/* test_model.c — the model-file parser and the net built from it.
 *
 * A valid file round-trips: LeNet-5 (models/lenet5.cnn) has the layer count,
 * names, output shapes and parameter counts its comments promise (61,706
 * parameters), the same text parsed, loaded or added line by line gives the
 * same net, and seed 0 means the train line's seed. Every malformed model
 * text is refused with its EXACT message from cnn_last_error(), naming the
 * file and line. The graph tests check `in=` with fan-out: a dead branch gets a
 * zero gradient and leaves the live one bit-identical to the single-branch net,
 * and, through the `add` layer, backward sums the gradients of an output
 * consumed twice (by two branches, by one layer twice, and the net's input
 * itself), against central finite differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cnn.h"
#include "graph/net.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- temporary files --------------------------------------------------- */

static char tmpdir[64];

static int make_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_model.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write n bytes to tmpdir/name; the full path goes to path. */
static void write_file(const char *name, const void *data, size_t n, char *path, size_t len) {
    snprintf(path, len, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* ---- a valid file ------------------------------------------------------ */

static const char *const lenet_names[] = {"c1",    "relu1",    "s2",      "c3",    "relu2",
                                          "s4",    "flatten1", "c5",      "relu3", "f6",
                                          "relu4", "output",   "softmax1"};
static const int lenet_shapes[][3] = {
    {6, 28, 28}, {6, 28, 28}, {6, 14, 14}, {16, 10, 10}, {16, 10, 10}, {16, 5, 5}, {400, 1, 1},
    {120, 1, 1}, {120, 1, 1}, {84, 1, 1},  {84, 1, 1},   {10, 1, 1},   {10, 1, 1}};
static const size_t lenet_params[] = {156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850, 0};

static void test_lenet5_file(void **state) {
    (void)state;
    cnn_net *net;
    cnn_status s = cnn_net_load_model(&net, "models/lenet5.cnn", 0);
    if (s != CNN_OK) fail_msg("models/lenet5.cnn: %s", cnn_last_error());
    assert_int_equal(cnn_net_num_layers(net), 13);
    assert_int_equal(cnn_net_num_params(net), 61706);
    size_t sum = 0;
    for (int i = 0; i < 13; i++) {
        const cnn_layer *l = cnn_net_layer_const(net, i);
        assert_string_equal(l->name, lenet_names[i]);
        assert_int_equal(l->out.c, lenet_shapes[i][0]);
        assert_int_equal(l->out.h, lenet_shapes[i][1]);
        assert_int_equal(l->out.w, lenet_shapes[i][2]);
        assert_int_equal(l->n_params, lenet_params[i]);
        sum += l->n_params;
    }
    assert_int_equal(sum, 61706);
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    assert_true(c == 1 && h == 28 && w == 28);
    cnn_net_output_shape(net, &c, &h, &w);
    assert_true(c == 10 && h == 1 && w == 1);
    float mean, std;
    cnn_net_input_norm(net, 0, &mean, &std);
    assert_true(mean == 0.1307f && std == 0.3081f);
    assert_true(cnn_net_macs(net) == 416520.0);
    const cnn_train_config *t = cnn_net_train_config(net);
    assert_int_equal(t->epochs, 12);
    assert_int_equal(t->batch, 64);
    assert_int_equal(t->optimizer, CNN_OPT_SGD);
    assert_true(t->lr == 0.05f && t->momentum == 0.9f && t->weight_decay == 0.0005f);
    assert_int_equal(t->nesterov, 1);
    assert_int_equal(t->schedule, CNN_SCHED_COSINE);
    assert_int_equal(t->warmup_epochs, 1);
    assert_int_equal(t->seed, 1);
    /* The summary's total line. */
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(cnn_net_summary(net, f), CNN_OK);
    char buf[8192];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "total: 61,706 parameters"));
    cnn_net_free(net);
}

/* Read a whole file into a NUL-terminated buffer. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *p = malloc(1 << 20);
    assert_non_null(p);
    size_t n = fread(p, 1, (1 << 20) - 1, f);
    fclose(f);
    p[n] = 0;
    return p;
}

/* The same model from a file, from text and line by line: identical nets.
 * Seed 0 takes the train line's seed (1); another seed gives other weights. */
static void test_same_net_three_ways(void **state) {
    (void)state;
    cnn_net *a, *b, *c, *d, *e;
    assert_int_equal(cnn_net_load_model(&a, "models/lenet5.cnn", 0), CNN_OK);
    char *text = slurp("models/lenet5.cnn");
    assert_int_equal(cnn_net_parse(&b, text, "lenet5", 1), CNN_OK);
    assert_int_equal(cnn_net_parse(&d, text, "lenet5", 2), CNN_OK);
    assert_int_equal(cnn_net_create(&c), CNN_OK);
    for (char *save, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (cnn_net_add(c, line) != CNN_OK) fail_msg("cnn_net_add(%s): %s", line, cnn_last_error());
    assert_int_equal(cnn_net_build(c, 1), CNN_OK);
    free(text);
    size_t np = cnn_net_num_params(a);
    assert_int_equal(cnn_net_num_params(b), np);
    assert_int_equal(cnn_net_num_params(c), np);
    assert_memory_equal(cnn_net_params(a), cnn_net_params(b), np * sizeof(float));
    assert_memory_equal(cnn_net_params(a), cnn_net_params(c), np * sizeof(float));
    assert_memory_not_equal(cnn_net_params(a), cnn_net_params(d), np * sizeof(float));
    /* Comments, blank lines, CRLF line ends and tabs are fine. */
    assert_int_equal(cnn_net_parse(&e,
                                   "# a comment\r\n\r\n\tinput shape=1x4x4   # trailing comment\r\n"
                                   "dense\tunits=3\r\n  softmax  \r\n",
                                   "crlf.cnn", 1),
                     CNN_OK);
    assert_int_equal(cnn_net_num_layers(e), 2);
    assert_int_equal(cnn_net_num_params(e), 51);
    cnn_net_free(a);
    cnn_net_free(b);
    cnn_net_free(c);
    cnn_net_free(d);
    cnn_net_free(e);
}

/* ---- malformed model texts: every message exactly ---------------------- */

typedef struct {
    const char *what, *text;
    cnn_status status;
    const char *msg;
} bad_case;

/* Stands for the registry's list of layer types (cnn_layer_types()), which
 * grows as layers are added: "conv, conv2d, maxpool, ..., softmax, add, ...". */
#define KNOWN_TYPES "@TYPES@"
#define CONV_KEYS "name, in, filters, kernel, stride, padding, dilation, groups, bias"
#define TRAIN_KEYS                                                                                 \
    "epochs, batch, optimizer, lr, momentum, nesterov, dampening, weight_decay, beta1, beta2, "    \
    "eps, schedule, step_size, gamma, min_lr, warmup, label_smoothing, seed, crop_pad, hflip, "    \
    "rotate, translate, erase, tta_hflip, val_split, patience, checkpoint_every, log_every, data_parallel"
#define IN "input shape=1x28x28\n"

static const bad_case bad_cases[] = {
    /* layer types and options */
    {"unknown layer type", IN "convv filters=6 kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: unknown layer type 'convv' (known: input, train, " KNOWN_TYPES ")"},
    {"unknown option", IN "relu\nconv filters=6 kernel=5 frobnicate=2\n", CNN_ERR_PARSE,
     "bad.cnn:3: conv: unknown option 'frobnicate' (known: " CONV_KEYS ")"},
    {"unknown option (typo)", IN "relu\nconv filters=6 kernel=5 stide=2\n", CNN_ERR_PARSE,
     "bad.cnn:3: conv: unknown option 'stide' (did you mean 'stride'?)"},
    /* The README's example: a typo of a required option names the typo, not the
     * missing option. */
    {"typo of a required option", IN "relu\nconv filters=6 kernal=5\n", CNN_ERR_PARSE,
     "bad.cnn:3: conv: unknown option 'kernal' (did you mean 'kernel'?)"},
    {"unknown option, no options known", IN "relu slope=2\n", CNN_ERR_PARSE,
     "bad.cnn:2: relu: unknown option 'slope' (known: name, in)"},
    {"missing required option", "# a comment\n\n" IN "  # another\nconv kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:5: conv: missing option 'filters'"},
    {"missing units", IN "dense\n", CNN_ERR_PARSE, "bad.cnn:2: dense: missing option 'units'"},
    {"missing pool kernel", IN "maxpool stride=2\n", CNN_ERR_PARSE,
     "bad.cnn:2: maxpool: missing option 'kernel'"},
    {"non-integer", IN "conv filters=six kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option filters=six: expected an integer"},
    {"fractional integer", IN "conv filters=6.5 kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option filters=6.5: expected an integer"},
    {"integer overflow", IN "conv filters=99999999999999999999 kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option filters=99999999999999999999: expected an integer"},
    {"integer out of range", IN "conv filters=0 kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option filters=0: expected an integer from 1 to 1048576"},
    {"units out of range", IN "dense units=99999999999\n", CNN_ERR_PARSE,
     "bad.cnn:2: dense: option units=99999999999: expected an integer from 1 to 2147483647"},
    {"malformed pair", IN "conv filters=6 kernel=3y5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option kernel=3y5: expected N or NxM"},
    {"pair missing its second value", IN "conv filters=6 kernel=3x\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option kernel=3x: expected N or NxM"},
    {"pair out of range", IN "conv filters=6 kernel=3x0\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option kernel=3x0: expected values from 1 to 4096"},
    {"negative padding", IN "conv filters=6 kernel=5 padding=-1\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option padding=-1: expected values from 0 to 4096"},
    {"fractional stride", IN "conv filters=6 kernel=5 stride=1.5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option stride=1.5: expected N or NxM"},
    {"bad boolean", IN "conv filters=6 kernel=5 bias=maybe\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option bias=maybe: expected 0/1, true/false or yes/no"},
    {"non-number", IN "leaky_relu slope=abc\n", CNN_ERR_PARSE,
     "bad.cnn:2: leaky_relu: option slope=abc: expected a number"},
    {"NaN is not a number", IN "elu alpha=nan\n", CNN_ERR_PARSE,
     "bad.cnn:2: elu: option alpha=nan: expected a number"},
    {"dropout p=1", IN "dropout p=1\n", CNN_ERR_PARSE,
     "bad.cnn:2: dropout: option p=1: expected 0 <= p < 1"},
    {"dropout p out of range", IN "dropout p=1.5\n", CNN_ERR_PARSE,
     "bad.cnn:2: dropout: option p=1.5: expected a number from 0 to 1"},
    {"pool padding over half the kernel", IN "maxpool kernel=2 padding=2\n", CNN_ERR_PARSE,
     "bad.cnn:2: maxpool: padding 2x2 is more than half the kernel 2x2 (torch requires padding "
     "<= kernel/2)"},
    {"option given twice", IN "conv filters=6 kernel=5 filters=8\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: option 'filters' given twice"},
    /* tokens */
    {"token without '='", IN "conv filters=6 kernel 5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: expected key=value, got 'kernel'"},
    {"empty value", IN "conv filters= kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: expected key=value, got 'filters='"},
    {"empty key", IN "conv =6 kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:2: conv: expected key=value, got '=6'"},
    {"option before the type", IN "filters=6 conv\n", CNN_ERR_PARSE,
     "bad.cnn:2: expected a layer type first, got 'filters=6'"},
    /* the input line */
    {"missing input line", "conv filters=6 kernel=5\n", CNN_ERR_PARSE,
     "bad.cnn:1: the first line must be 'input shape=CxHxW'"},
    {"no input line at all", "# nothing but\ntrain epochs=1\n", CNN_ERR_PARSE,
     "bad.cnn: no input line (e.g. 'input shape=1x28x28')"},
    {"input line after layers", "relu\ninput shape=1x28x28\n", CNN_ERR_PARSE,
     "bad.cnn:1: the first line must be 'input shape=CxHxW'"},
    {"second input line", IN "relu\ninput shape=1x28x28\n", CNN_ERR_PARSE,
     "bad.cnn:3: a second input line"},
    {"input without shape", "input mean=0.5\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: missing option 'shape' (e.g. shape=1x28x28)"},
    {"shape with two dims", "input shape=1x28\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: shape=1x28: expected CxHxW with 1 <= C <= 64, 1 <= H, W <= 65536"},
    {"shape with four dims", "input shape=1x28x28x1\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: shape=1x28x28x1: expected CxHxW with 1 <= C <= 64, 1 <= H, W <= 65536"},
    {"zero channels", "input shape=0x28x28\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: shape=0x28x28: expected CxHxW with 1 <= C <= 64, 1 <= H, W <= 65536"},
    {"too many channels", "input shape=65x2x2\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: shape=65x2x2: expected CxHxW with 1 <= C <= 64, 1 <= H, W <= 65536"},
    {"too wide", "input shape=1x1x70000\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: shape=1x1x70000: expected CxHxW with 1 <= C <= 64, 1 <= H, W <= 65536"},
    {"shape not numbers", "input shape=axbxc\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: shape=axbxc: expected CxHxW with 1 <= C <= 64, 1 <= H, W <= 65536"},
    {"input option typo", "input shape=1x28x28 sdt=0.3\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: unknown option 'sdt' (did you mean 'std'?)"},
    {"input unknown option", "input shape=1x28x28 colour=rgb\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: unknown option 'colour' (known: shape, mean, std)"},
    {"mean count mismatch", "input shape=3x8x8 mean=0.5,0.5\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: mean= has 2 values for 3 channels"},
    {"std count mismatch", "input shape=1x8x8 std=0.5,0.5\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: std= has 2 values for 1 channels"},
    {"std not a number", "input shape=2x8x8 std=0.5,abc\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: std=0.5,abc: expected numbers separated by ','"},
    {"std zero", "input shape=1x8x8 std=0\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: std must be positive"},
    {"std negative in one channel", "input shape=2x8x8 std=0.3,-1\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:1: input: std must be positive"},
    /* shapes, checked at build, at the layer's line */
    {"kernel larger than input", "input shape=1x4x4\nrelu\nconv filters=2 kernel=5\nrelu\n",
     CNN_ERR_SHAPE,
     "bad.cnn:3: conv1 (conv): output would be 0x0: a 4x4 input is too small for kernel 5x5 "
     "(dilation 1x1, padding 0x0, stride 1x1)"},
    {"kernel larger than input, stride 2 (floor, not truncation)",
     "input shape=1x4x4\nconv name=c filters=2 kernel=5 stride=2\n", CNN_ERR_SHAPE,
     "bad.cnn:2: c (conv): output would be 0x0: a 4x4 input is too small for kernel 5x5 "
     "(dilation 1x1, padding 0x0, stride 2x2)"},
    {"pool window larger than input", "input shape=1x3x3\nmaxpool name=s kernel=4\n", CNN_ERR_SHAPE,
     "bad.cnn:2: s (maxpool): output would be 0x0: a 3x3 input is too small for window 4x4 "
     "(dilation 1x1, padding 0x0, stride 4x4)"},
    {"groups do not divide channels", "input shape=1x8x8\nconv filters=3 kernel=1 groups=3\n",
     CNN_ERR_SHAPE, "bad.cnn:2: conv1 (conv): 1 input channels are not divisible by groups=3"},
    /* graph edges and names */
    {"in= names an unknown layer", IN "relu name=a in=nosuch\n", CNN_ERR_PARSE,
     "bad.cnn:2: in=nosuch: no earlier layer is named 'nosuch' (a layer can only take inputs "
     "defined above it)"},
    {"in= names a later layer", IN "relu name=a in=b\nrelu name=b in=a\n", CNN_ERR_PARSE,
     "bad.cnn:2: in=b: no earlier layer is named 'b' (a layer can only take inputs defined above "
     "it)"},
    {"in= names the layer itself", IN "relu name=a in=a\n", CNN_ERR_PARSE,
     "bad.cnn:2: in=a: no earlier layer is named 'a' (a layer can only take inputs defined above "
     "it)"},
    {"too many inputs", IN "relu in=input,input\n", CNN_ERR_PARSE,
     "bad.cnn:2: relu takes 1 to 1 inputs, got 2"},
    {"duplicate name", IN "relu name=a\ntanh\nrelu name=a\n", CNN_ERR_PARSE,
     "bad.cnn:4: duplicate layer name 'a' (first on line 2)"},
    {"reserved name 'input'", IN "relu name=input\n", CNN_ERR_PARSE,
     "bad.cnn:2: the name 'input' is reserved for the net's input"},
    {"name too long",
     IN "relu name="
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     CNN_ERR_PARSE,
     "bad.cnn:2: name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is longer "
     "than 63 characters"},
    /* the train line */
    {"unknown optimizer", IN "train optimizer=foo\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: optimizer=foo: expected one of sgd, adam, adamw"},
    {"unknown schedule", IN "train schedule=linear\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: schedule=linear: expected one of constant, step, cosine"},
    {"nesterov without momentum", IN "train nesterov=1 momentum=0\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: nesterov needs momentum > 0 and dampening 0"},
    {"nesterov with dampening", IN "train nesterov=1 dampening=0.5\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: nesterov needs momentum > 0 and dampening 0"},
    {"negative lr", IN "train lr=-1\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: option lr=-1: expected a number from 0 to 100"},
    {"zero epochs", IN "train epochs=0\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: option epochs=0: expected an integer from 1 to 100000"},
    {"seed 0", IN "train seed=0\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: option seed=0: expected an integer from 1 to 2147483647"},
    {"train option typo", IN "train momentm=0.9\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: unknown option 'momentm' (did you mean 'momentum'?)"},
    {"train unknown option", IN "train frobnicate=1\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: unknown option 'frobnicate' (known: " TRAIN_KEYS ")"},
    {"train token without '='", IN "train lr\nrelu\n", CNN_ERR_PARSE,
     "bad.cnn:2: train: expected key=value, got 'lr'"},
    /* no layers */
    {"empty text", "", CNN_ERR_PARSE, "bad.cnn: no input line (e.g. 'input shape=1x28x28')"},
    {"input but no layers", IN "# nothing else\n", CNN_ERR_PARSE, "bad.cnn: the net has no layers"},
};

static void test_bad_models(void **state) {
    (void)state;
    int failures = 0;
    char types[1024] = "", want[2048];
    for (const char *const *t = cnn_layer_types(); *t; t++)
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s",
                 t == cnn_layer_types() ? "" : ", ", *t);
    assert_non_null(strstr(types, "conv, conv2d, maxpool, avgpool"));
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *b = &bad_cases[i];
        const char *at = strstr(b->msg, KNOWN_TYPES);
        if (at)
            snprintf(want, sizeof want, "%.*s%s%s", (int)(at - b->msg), b->msg, types,
                     at + strlen(KNOWN_TYPES));
        else
            snprintf(want, sizeof want, "%s", b->msg);
        cnn_net *net = (cnn_net *)1;
        cnn_status s = cnn_net_parse(&net, b->text, "bad.cnn", 1);
        const char *msg = cnn_last_error();
        if (s != b->status || strcmp(msg, want) != 0 || net != NULL) {
            print_error("case '%s':\n  status   %d (%s), expected %d (%s)%s\n  message  %s\n"
                        "  expected %s\n",
                        b->what, s, cnn_status_str(s), b->status, cnn_status_str(b->status),
                        net ? ", and *out is not NULL" : "", msg, want);
            failures++;
        }
        if (s == CNN_OK) cnn_net_free(net);
    }
    if (failures)
        fail_msg("%d of %zu malformed models gave another result", failures,
                 sizeof bad_cases / sizeof bad_cases[0]);
}

/* Values that parse as numbers but are not usable normalisation: refused with a
 * file:line message (the wording is the parser's to choose). */
static void test_nonfinite_normalisation(void **state) {
    (void)state;
    static const char *const texts[] = {
        "input shape=1x8x8 mean=nan\nrelu\n",
        "input shape=1x8x8 mean=inf\nrelu\n",
        "input shape=1x8x8 std=inf\nrelu\n",
        "input shape=1x8x8 std=nan\nrelu\n",
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cnn_net *net;
        cnn_status s = cnn_net_parse(&net, texts[i], "bad.cnn", 1);
        if (s != CNN_ERR_PARSE || strncmp(cnn_last_error(), "bad.cnn:1: input: ", 18) != 0) {
            float mean = 0, std = 0;
            if (s == CNN_OK) cnn_net_input_norm(net, 0, &mean, &std);
            print_error("'%.*s' gave status %s (%s), mean %g std %g\n",
                        (int)strcspn(texts[i], "\n"), texts[i], cnn_status_str(s),
                        s == CNN_OK ? "accepted" : cnn_last_error(), mean, std);
            failures++;
        }
        cnn_net_free(net);
    }
    if (failures) fail_msg("%d non-finite mean/std values accepted", failures);
}

/* ---- model files on disk ----------------------------------------------- */

static void expect_load_error(const char *path, cnn_status status, const char *msg) {
    cnn_net *net = (cnn_net *)1;
    cnn_status s = cnn_net_load_model(&net, path, 1);
    assert_null(net);
    if (s != status || strcmp(cnn_last_error(), msg))
        fail_msg("%s:\n  status   %s\n  message  %s\n  expected %s (%s)", path, cnn_status_str(s),
                 cnn_last_error(), msg, cnn_status_str(status));
}

static void test_model_files(void **state) {
    (void)state;
    char path[256], msg[512];
    /* A NUL byte: refused, naming its line. */
    static const char nul[] = "input shape=1x8x8\nrelu\n\0junk\n";
    write_file("nul.cnn", nul, sizeof nul - 1, path, sizeof path);
    snprintf(msg, sizeof msg, "%s:3: binary data (a NUL byte); not a text model file", path);
    expect_load_error(path, CNN_ERR_PARSE, msg);
    /* Missing. */
    snprintf(path, sizeof path, "%s/missing.cnn", tmpdir);
    snprintf(msg, sizeof msg, "%s: No such file or directory", path);
    expect_load_error(path, CNN_ERR_IO, msg);
    /* Empty, and comments only. */
    write_file("empty.cnn", "", 0, path, sizeof path);
    snprintf(msg, sizeof msg, "%s: no input line (e.g. 'input shape=1x28x28')", path);
    expect_load_error(path, CNN_ERR_PARSE, msg);
    write_file("comments.cnn", "# only\n\n# comments\n", 19, path, sizeof path);
    snprintf(msg, sizeof msg, "%s: no input line (e.g. 'input shape=1x28x28')", path);
    expect_load_error(path, CNN_ERR_PARSE, msg);
    write_file("nolayers.cnn", "input shape=1x8x8\n", 18, path, sizeof path);
    snprintf(msg, sizeof msg, "%s: the net has no layers", path);
    expect_load_error(path, CNN_ERR_PARSE, msg);
    /* A directory. */
    snprintf(msg, sizeof msg, "%s: read error", tmpdir);
    expect_load_error(tmpdir, CNN_ERR_IO, msg);
    /* Errors name the file as given. */
    static const char typo[] = "input shape=1x8x8\n\nconv filters=2 kernel=3 stide=1\n";
    write_file("typo.cnn", typo, sizeof typo - 1, path, sizeof path);
    snprintf(msg, sizeof msg, "%s:3: conv: unknown option 'stide' (did you mean 'stride'?)", path);
    expect_load_error(path, CNN_ERR_PARSE, msg);
    /* Larger than any model file. */
    size_t big = (4u << 20) + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '#', big);
    write_file("big.cnn", text, big, path, sizeof path);
    free(text);
    snprintf(msg, sizeof msg, "%s: larger than 4194304 bytes; not a model file", path);
    expect_load_error(path, CNN_ERR_PARSE, msg);
}

/* ---- the C API --------------------------------------------------------- */

static void test_api_add(void **state) {
    (void)state;
    cnn_net *net;
    assert_int_equal(cnn_net_create(&net), CNN_OK);
    /* A layer before the input line. */
    assert_int_equal(cnn_net_add(net, "relu"), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "<api>:1: the first line must be 'input shape=CxHxW'");
    assert_int_equal(cnn_net_add(net, "input shape=1x4x4"), CNN_OK);
    assert_int_equal(cnn_net_add(net, "dense units=2\nsoftmax"), CNN_ERR_ARG);
    assert_string_equal(cnn_last_error(),
                        "cnn_net_add: expected one line of at most 4095 characters");
    assert_int_equal(cnn_net_add(net, "dense units=2"), CNN_OK);
    assert_int_equal(cnn_net_add(net, "softmax"), CNN_OK);
    /* A failed line is not added. */
    assert_int_equal(cnn_net_add(net, "dense units=x"), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "<api>:5: dense: option units=x: expected an integer");
    assert_int_equal(cnn_net_num_layers(net), 2);
    assert_int_equal(cnn_net_build(net, 7), CNN_OK);
    assert_int_equal(cnn_net_num_params(net), 34);
    /* Built: no more layers, no second build, no second input line. */
    assert_int_equal(cnn_net_add(net, "relu"), CNN_ERR_ARG);
    assert_string_equal(cnn_last_error(), "<api>:6: cannot add a layer to a net that is built");
    assert_int_equal(cnn_net_num_layers(net), 2);
    assert_int_equal(cnn_net_build(net, 7), CNN_ERR_ARG);
    assert_string_equal(cnn_last_error(), "<api>: the net is already built");
    assert_int_equal(cnn_net_add(net, "input shape=1x8x8"), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "<api>:7: a second input line");
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    assert_true(c == 1 && h == 4 && w == 4);
    /* The net still works. */
    float x[16] = {0};
    const float *y;
    assert_int_equal(cnn_net_forward(net, x, 1, 0, &y), CNN_OK);
    assert_float_equal(y[0] + y[1], 1.0, 1e-6);
    cnn_net_free(net);
    cnn_net_free(NULL);
    /* An unbuilt net cannot run. */
    assert_int_equal(cnn_net_create(&net), CNN_OK);
    assert_int_equal(cnn_net_forward(net, x, 1, 0, &y), CNN_ERR_ARG);
    assert_string_equal(cnn_last_error(), "<api>: the net is not built");
    assert_int_equal(cnn_net_build(net, 1), CNN_ERR_PARSE);
    assert_string_equal(cnn_last_error(), "<api>: no input line (e.g. 'input shape=1x28x28')");
    cnn_net_free(net);
}

/* ---- graph: fan-out through in= ---------------------------------------- */

static cnn_net *parse_net(const char *text, uint64_t seed) {
    cnn_net *net;
    if (cnn_net_parse(&net, text, "fan.cnn", seed) != CNN_OK) fail_msg("%s", cnn_last_error());
    return net;
}

/* A fixed, varied batch. */
static void fill_input(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)sin(0.7 * (double)i + 0.3) * 1.5f;
}

/* Central differences of the training loss with respect to every parameter
 * and every input value, against the analytic gradients of train_step.
 * Smooth activations only (no kinks). Returns the worst relative error. */
static double gradcheck(cnn_net *net, int n) {
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    size_t nx = (size_t)n * c * h * w, np = cnn_net_num_params(net);
    float *x = malloc(nx * sizeof *x), *grads = malloc(np * sizeof *grads),
          *dx = malloc(nx * sizeof *dx);
    assert_non_null(x);
    assert_non_null(grads);
    assert_non_null(dx);
    uint8_t labels[8] = {0, 2, 1, 2, 0, 1, 1, 0};
    assert_true(n <= 8);
    fill_input(x, nx);
    float loss;
    assert_int_equal(cnn_net_train_step(net, x, labels, n, 0.0f, &loss, NULL), CNN_OK);
    memcpy(grads, cnn_net_grads(net), np * sizeof *grads);
    memcpy(dx, cnn_net_input_grad(net), nx * sizeof *dx);
    double worst = 0, biggest = 0;
    const double eps = 1e-2;
    for (size_t k = 0; k < np + nx; k++) {
        float *v = k < np ? &cnn_net_params(net)[k] : &x[k - np];
        float keep = *v, lp, lm;
        *v = keep + (float)eps;
        assert_int_equal(cnn_net_train_step(net, x, labels, n, 0.0f, &lp, NULL), CNN_OK);
        *v = keep - (float)eps;
        assert_int_equal(cnn_net_train_step(net, x, labels, n, 0.0f, &lm, NULL), CNN_OK);
        *v = keep;
        double num = ((double)lp - lm) / (2 * eps), ana = k < np ? grads[k] : dx[k - np];
        double err = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
        if (err > worst) worst = err;
        if (fabs(ana) > biggest) biggest = fabs(ana);
    }
    assert_true(biggest > 1e-3); /* not a vacuous all-zero gradient */
    free(x);
    free(grads);
    free(dx);
    return worst;
}

/* The sample nets: conv `a` feeds two branches. */
#define FAN_HEAD "input shape=1x5x5\nconv name=a filters=2 kernel=3 padding=1\n"
#define FAN_TAIL "flatten\ndense units=3\nsoftmax\n"

/* A dead branch: its output feeds nothing. Gradients equal the single-branch
 * net's exactly, the dead output's gradient is zero, and finite differences agree. */
static void test_fanout_dead_branch(void **state) {
    (void)state;
    static const char *const texts[] = {
        /* dead before live */
        FAN_HEAD "tanh name=dead in=a\nsigmoid name=live in=a\n" FAN_TAIL,
        /* dead after live: the flatten must say where it reads from */
        FAN_HEAD "sigmoid name=live in=a\ntanh name=dead in=a\nflatten in=live\ndense units=3\n"
                 "softmax\n",
    };
    cnn_net *single = parse_net(FAN_HEAD "sigmoid name=live in=a\n" FAN_TAIL, 3);
    enum { N = 4 };
    float x[N * 25];
    uint8_t labels[N] = {0, 1, 2, 1};
    fill_input(x, N * 25);
    float loss1, loss2;
    assert_int_equal(cnn_net_train_step(single, x, labels, N, 0.0f, &loss1, NULL), CNN_OK);
    size_t np = cnn_net_num_params(single);
    for (int t = 0; t < 2; t++) {
        cnn_net *net = parse_net(texts[t], 3);
        assert_int_equal(cnn_net_num_params(net), np);
        assert_memory_equal(cnn_net_params(net), cnn_net_params(single), np * sizeof(float));
        assert_int_equal(cnn_net_train_step(net, x, labels, N, 0.0f, &loss2, NULL), CNN_OK);
        assert_true(loss1 == loss2);
        for (size_t i = 0; i < np; i++)
            if (cnn_net_grads(net)[i] != cnn_net_grads(single)[i])
                fail_msg("variant %d: gradient %zu is %g, single branch %g", t, i,
                         cnn_net_grads(net)[i], cnn_net_grads(single)[i]);
        for (size_t i = 0; i < N * 25; i++)
            assert_true(cnn_net_input_grad(net)[i] == cnn_net_input_grad(single)[i]);
        const cnn_layer *dead = cnn_net_layer_const(net, t == 0 ? 1 : 2);
        assert_string_equal(dead->name, "dead");
        for (size_t i = 0; i < cnn_shape_size(dead->out) * N; i++)
            if (dead->dy[i] != 0.0f) fail_msg("dead branch gradient %zu is %g", i, dead->dy[i]);
        double worst = gradcheck(net, N);
        if (worst > 1e-2) fail_msg("variant %d: finite differences disagree, worst %g", t, worst);
        cnn_net_free(net);
    }
    cnn_net_free(single);
}

/* Two live branches merged by add: the gradient at the fan-out point is the
 * sum of both branches'. Also one layer feeding add twice (add(a, a)), and
 * fan-out of the net's input itself. */
static void test_fanout_sum(void **state) {
    (void)state;
    static const char *const nets[] = {
        FAN_HEAD "tanh name=t in=a\nsigmoid name=s in=a\nadd in=t,s\n" FAN_TAIL,
        FAN_HEAD "tanh name=t in=a\nadd in=a,t,a\n" FAN_TAIL,
        "input shape=1x5x5\ntanh name=t in=input\nsigmoid name=s in=input\nadd in=t,s\n" FAN_TAIL,
        "input shape=1x5x5\ntanh name=t in=input\nadd in=t,input\n" FAN_TAIL,
    };
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        cnn_net *net = parse_net(nets[i], 5);
        double worst = gradcheck(net, 3);
        if (worst > 1e-2) fail_msg("net %zu: finite differences disagree, worst %g", i, worst);
        cnn_net_free(net);
    }
}

/* add(p, p) against add(relu p, relu p): p is a sigmoid's output, so the relus
 * are the identity and both nets compute the same function. The first sums
 * two gradients at one layer's input list (the same input twice), the second
 * at a fan-out through two layers; every gradient must be bit-identical. */
static void test_fanout_twice_equals_double(void **state) {
    (void)state;
    cnn_net *twice = parse_net(FAN_HEAD "sigmoid name=p in=a\nadd in=p,p\n" FAN_TAIL, 9);
    cnn_net *split = parse_net(FAN_HEAD "sigmoid name=p in=a\nrelu name=q in=p\n"
                                        "relu name=r in=p\nadd in=q,r\n" FAN_TAIL,
                               9);
    size_t np = cnn_net_num_params(twice);
    assert_int_equal(cnn_net_num_params(split), np);
    assert_memory_equal(cnn_net_params(twice), cnn_net_params(split), np * sizeof(float));
    enum { N = 3 };
    float x[N * 25];
    uint8_t labels[N] = {2, 0, 1};
    fill_input(x, N * 25);
    float l1, l2;
    assert_int_equal(cnn_net_train_step(twice, x, labels, N, 0.0f, &l1, NULL), CNN_OK);
    assert_int_equal(cnn_net_train_step(split, x, labels, N, 0.0f, &l2, NULL), CNN_OK);
    assert_true(l1 == l2);
    double biggest = 0;
    for (size_t i = 0; i < np; i++) {
        float g1 = cnn_net_grads(twice)[i], g2 = cnn_net_grads(split)[i];
        if (g1 != g2) fail_msg("gradient %zu: add(p, p) %g, add(relu p, relu p) %g", i, g1, g2);
        if (fabs(g1) > biggest) biggest = fabs(g1);
    }
    assert_true(biggest > 1e-3);
    cnn_net_free(twice);
    cnn_net_free(split);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet5_file),
        cmocka_unit_test(test_same_net_three_ways),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_nonfinite_normalisation),
        cmocka_unit_test(test_model_files),
        cmocka_unit_test(test_api_add),
        cmocka_unit_test(test_fanout_dead_branch),
        cmocka_unit_test(test_fanout_sum),
        cmocka_unit_test(test_fanout_twice_equals_double),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
