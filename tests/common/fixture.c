/* fixture.c — reader for the golden fixture files; see fixture.h. */
#include "fixture.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path;
    int line;
    char *err;
    size_t err_len;
} reader;

static int fail(reader *r, const char *fmt, ...) {
    int k = snprintf(r->err, r->err_len, "%s:%d: ", r->path, r->line);
    if (k < 0 || (size_t)k >= r->err_len) return 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + k, r->err_len - (size_t)k, fmt, ap);
    va_end(ap);
    return 1;
}

static void free_array(golden_array *a) {
    free(a->v);
    free(a->f);
    memset(a, 0, sizeof *a);
}

static void free_case(golden_case *c) {
    free(c->model);
    free_array(&c->x);
    free_array(&c->params);
    free_array(&c->y);
    free_array(&c->dy);
    free_array(&c->dx);
    free_array(&c->grads);
    free_array(&c->buffers);
    free_array(&c->buffers_after);
    free_array(&c->y_eval);
    free(c->labels);
    memset(c, 0, sizeof *c);
}

void golden_free(golden_case *cases, int count) {
    if (!cases) return;
    for (int i = 0; i < count; i++)
        free_case(&cases[i]);
    free(cases);
}

/* "COUNT v v v ..." into a. */
static int parse_array(reader *r, const char *key, char *s, golden_array *a) {
    if (a->present) return fail(r, "'%s' given twice", key);
    char *e;
    errno = 0;
    long long count = strtoll(s, &e, 10);
    if (e == s || errno || count < 0 || count > 100000000)
        return fail(r, "'%s': expected a count", key);
    a->present = 1;
    a->n = (size_t)count;
    a->v = malloc((a->n ? a->n : 1) * sizeof *a->v);
    a->f = malloc((a->n ? a->n : 1) * sizeof *a->f);
    if (!a->v || !a->f) return fail(r, "out of memory");
    s = e;
    for (size_t i = 0; i < a->n; i++) {
        errno = 0;
        double v = strtod(s, &e);
        if (e == s || errno == EINVAL)
            return fail(r, "'%s': value %zu of %zu missing or malformed", key, i + 1, a->n);
        a->v[i] = v;
        a->f[i] = (float)v;
        s = e;
    }
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (*s) return fail(r, "'%s': more than %zu values", key, a->n);
    return 0;
}

static int append_model(reader *r, golden_case *c, const char *line) {
    size_t old = c->model ? strlen(c->model) : 0, add = strlen(line);
    char *m = realloc(c->model, old + add + 2);
    if (!m) return fail(r, "out of memory");
    memcpy(m + old, line, add);
    m[old + add] = '\n';
    m[old + add + 1] = 0;
    c->model = m;
    return 0;
}

static int finish_case(reader *r, golden_case *c) {
    if (!c->model) return fail(r, "case %s: no 'net' lines", c->name);
    if (c->n <= 0) return fail(r, "case %s: no batch size", c->name);
    if (!c->x.present || !c->params.present) return fail(r, "case %s: no x or params", c->name);
    if (!strcmp(c->mode, "layer")) {
        if (!c->y.present || !c->dy.present || !c->dx.present)
            return fail(r, "case %s: a layer case needs y, dy and dx", c->name);
        if (c->y.n != c->dy.n || c->dx.n != c->x.n)
            return fail(r, "case %s: y/dy or x/dx counts differ", c->name);
    } else if (!strcmp(c->mode, "eval")) {
        if (!c->y.present) return fail(r, "case %s: an eval case needs y", c->name);
    } else if (!strcmp(c->mode, "ce")) {
        if (!c->labels || c->n_labels != c->n || !c->has_loss || !c->dx.present)
            return fail(r, "case %s: a ce case needs n labels, loss and dx", c->name);
    } else {
        return fail(r, "case %s: unknown mode '%s'", c->name, c->mode);
    }
    if (c->buffers_after.present && (!c->buffers.present || c->buffers_after.n != c->buffers.n))
        return fail(r, "case %s: buffers_after must match buffers", c->name);
    if (c->y_eval.present && (!c->y.present || c->y_eval.n != c->y.n))
        return fail(r, "case %s: y_eval must match y", c->name);
    if (c->params.n && (!strcmp(c->mode, "layer") || !strcmp(c->mode, "ce")) &&
        (!c->grads.present || c->grads.n != c->params.n))
        return fail(r, "case %s: grads must match params", c->name);
    return 0;
}

static int parse_line(reader *r, golden_case *c, char *key, char *rest) {
    if (!strcmp(key, "net")) return append_model(r, c, rest);
    if (!strcmp(key, "n")) {
        c->n = atoi(rest);
        return 0;
    }
    if (!strcmp(key, "mode")) {
        snprintf(c->mode, sizeof c->mode, "%s", rest);
        return 0;
    }
    if (!strcmp(key, "smoothing")) {
        c->smoothing = strtod(rest, NULL);
        return 0;
    }
    if (!strcmp(key, "loss")) {
        c->loss = strtod(rest, NULL);
        c->has_loss = 1;
        return 0;
    }
    if (!strcmp(key, "correct")) {
        c->correct = atoi(rest);
        c->has_correct = 1;
        return 0;
    }
    if (!strcmp(key, "labels")) {
        char *e;
        long count = strtol(rest, &e, 10);
        if (e == rest || count <= 0 || count > 1000000) return fail(r, "labels: expected a count");
        c->labels = malloc((size_t)count);
        if (!c->labels) return fail(r, "out of memory");
        c->n_labels = (int)count;
        for (long i = 0; i < count; i++) {
            char *s = e;
            long v = strtol(s, &e, 10);
            if (e == s || v < 0 || v > 255) return fail(r, "labels: bad label %ld", i + 1);
            c->labels[i] = (uint8_t)v;
        }
        return 0;
    }
    golden_array *a = !strcmp(key, "x")               ? &c->x
                      : !strcmp(key, "params")        ? &c->params
                      : !strcmp(key, "y")             ? &c->y
                      : !strcmp(key, "dy")            ? &c->dy
                      : !strcmp(key, "dx")            ? &c->dx
                      : !strcmp(key, "grads")         ? &c->grads
                      : !strcmp(key, "buffers")       ? &c->buffers
                      : !strcmp(key, "buffers_after") ? &c->buffers_after
                      : !strcmp(key, "y_eval")        ? &c->y_eval
                                                      : NULL;
    if (!a) return fail(r, "unknown key '%s'", key);
    return parse_array(r, key, rest, a);
}

int golden_load(const char *path, golden_case **out, int *count, char *err, size_t err_len) {
    reader r = {path, 0, err, err_len};
    *out = NULL;
    *count = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return 1;
    }
    golden_case *cases = NULL;
    int n = 0, cap = 0, in_case = 0, rc = 0;
    char *buf = NULL;
    size_t buf_cap = 0;
    ssize_t len;
    while ((len = getline(&buf, &buf_cap, f)) >= 0) {
        r.line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = 0;
        if (len == 0 || buf[0] == '#') continue;
        char *sp = strchr(buf, ' ');
        char *rest = sp ? sp + 1 : buf + len;
        if (sp) *sp = 0;
        if (!strcmp(buf, "case")) {
            if (in_case) {
                rc = fail(&r, "'case' inside case %s", cases[n - 1].name);
                break;
            }
            if (n == cap) {
                int nc = cap ? 2 * cap : 64;
                golden_case *g = realloc(cases, (size_t)nc * sizeof *g);
                if (!g) {
                    rc = fail(&r, "out of memory");
                    break;
                }
                cases = g;
                cap = nc;
            }
            memset(&cases[n], 0, sizeof cases[n]);
            snprintf(cases[n].name, sizeof cases[n].name, "%s", rest);
            cases[n].line = r.line;
            n++;
            in_case = 1;
        } else if (!in_case) {
            rc = fail(&r, "'%s' outside a case", buf);
            break;
        } else if (!strcmp(buf, "end")) {
            if ((rc = finish_case(&r, &cases[n - 1]))) break;
            in_case = 0;
        } else if ((rc = parse_line(&r, &cases[n - 1], buf, rest))) {
            break;
        }
    }
    if (!rc && ferror(f)) rc = fail(&r, "read error");
    if (!rc && in_case) rc = fail(&r, "case %s: no 'end'", cases[n - 1].name);
    free(buf);
    fclose(f);
    if (rc) {
        golden_free(cases, n);
        return rc;
    }
    *out = cases;
    *count = n;
    return 0;
}

double golden_max_diff(const float *got, const double *ref, size_t n, double *max_ref) {
    double m = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (d != d) d = INFINITY;
        if (d > m) m = d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    if (max_ref) *max_ref = mr;
    return m;
}

int golden_within(double max_diff, double max_ref, double rtol) {
    return max_diff <= rtol * (max_ref > 1 ? max_ref : 1);
}
