/* fixture.h — reading the PyTorch golden fixtures (tests/golden/layers.txt, written
 * by scripts/gen_golden.py) and comparing float results against them.
 *
 * A fixture file is a list of records, one `key values...` per line:
 *
 *   case NAME / net MODEL-LINE (repeated) / n N / mode layer|eval|ce /
 *   x|params|y|dy|dx|grads COUNT v... / labels COUNT i... / smoothing S /
 *   loss L / correct K / end
 *
 * and, for layers with running statistics (batchnorm):
 *   buffers COUNT v...        the buffers block to load (state_dict buffers in order)
 *   buffers_after COUNT v...  the buffers after one training forward pass
 *   y_eval COUNT v...         the output of an eval forward pass, where it differs from y
 *
 * '#' lines are comments. Arrays that a case does not carry have present == 0. */
#ifndef TESTS_FIXTURE_H
#define TESTS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int present;
    size_t n;
    double *v; /* the reference values, exactly as written */
    float *f;  /* the same values as float (inputs are exact float32) */
} golden_array;

typedef struct {
    char name[128];
    char *model; /* the `net` lines joined with '\n' */
    int n;       /* batch */
    char mode[16];
    golden_array x, params, y, dy, dx, grads;
    golden_array buffers, buffers_after, y_eval;
    int n_labels;
    uint8_t *labels;
    int has_loss, has_correct, correct;
    double smoothing, loss;
    int line; /* line of `case` in the file, for messages */
} golden_case;

/* Read every case of path into a new array (*out, *count). On failure returns
 * non-zero with a message "path:line: ..." in err. */
int golden_load(const char *path, golden_case **out, int *count, char *err, size_t err_len);
void golden_free(golden_case *cases, int count); /* accepts NULL */

/* max |got[i] - ref[i]| over n values (NaN in got counts as +Inf), and, when
 * max_ref is not NULL, max |ref[i]|. */
double golden_max_diff(const float *got, const double *ref, size_t n, double *max_ref);

/* The golden tolerance: max|diff| <= rtol * max(1, max|ref|). */
int golden_within(double max_diff, double max_ref, double rtol);

#endif
