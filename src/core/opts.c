/* opts.c — typed, checked access to the key=value options of a model-file line.
 * Every getter records the key it was asked for, so that a key nobody asked
 * for (a typo) is reported with the list of keys the layer does know. */
#include "core.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void remember(cnn_opts *o, const char *key) {
    for (int i = 0; i < o->n_known; i++)
        if (strcmp(o->known[i], key) == 0) return;
    if (o->n_known < CNN_MAX_KEYS) o->known[o->n_known++] = key;
}

/* The value of key, marked used, or NULL. */
static const char *find(cnn_opts *o, const char *key) {
    remember(o, key);
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0) {
            o->used[i] = true;
            return o->val[i];
        }
    return NULL;
}

static cnn_status bad(cnn_opts *o, const char *key, const char *val, const char *what) {
    return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s: option %s=%s: %s", o->file, o->line, o->type, key,
                    val, what);
}

static bool parse_long(const char *s, long *out, const char **end) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (e == s || errno) return false;
    *out = v;
    *end = e;
    return true;
}

cnn_status cnn_opt_int(cnn_opts *o, const char *key, int def, int lo, int hi, int *out) {
    const char *v = find(o, key);
    if (!v) {
        *out = def;
        return CNN_OK;
    }
    long x;
    const char *e;
    if (!parse_long(v, &x, &e) || *e) return bad(o, key, v, "expected an integer");
    if (x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected an integer from %d to %d", lo, hi);
        return bad(o, key, v, msg);
    }
    *out = (int)x;
    return CNN_OK;
}

cnn_status cnn_opt_float(cnn_opts *o, const char *key, float def, float lo, float hi, float *out) {
    const char *v = find(o, key);
    if (!v) {
        *out = def;
        return CNN_OK;
    }
    char *e;
    errno = 0;
    double x = strtod(v, &e);
    if (e == v || *e || errno || !isfinite(x)) return bad(o, key, v, "expected a number");
    if (x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected a number from %g to %g", lo, hi);
        return bad(o, key, v, msg);
    }
    *out = (float)x;
    return CNN_OK;
}

cnn_status cnn_opt_bool(cnn_opts *o, const char *key, int def, int *out) {
    const char *v = find(o, key);
    if (!v) {
        *out = def;
        return CNN_OK;
    }
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *out = 0;
    else return bad(o, key, v, "expected 0/1, true/false or yes/no");
    return CNN_OK;
}

cnn_status cnn_opt_pair(cnn_opts *o, const char *key, int def, int lo, int hi, int *a, int *b) {
    const char *v = find(o, key);
    if (!v) {
        *a = *b = def;
        return CNN_OK;
    }
    long x, y;
    const char *e;
    if (!parse_long(v, &x, &e)) return bad(o, key, v, "expected N or NxM");
    if (*e == 0) y = x;
    else if ((*e == 'x' || *e == ',') && parse_long(e + 1, &y, &e) && *e == 0) {
    } else return bad(o, key, v, "expected N or NxM");
    if (x < lo || x > hi || y < lo || y > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected values from %d to %d", lo, hi);
        return bad(o, key, v, msg);
    }
    *a = (int)x;
    *b = (int)y;
    return CNN_OK;
}

cnn_status cnn_opt_str(cnn_opts *o, const char *key, const char *def, const char **out) {
    const char *v = find(o, key);
    *out = v ? v : def;
    return CNN_OK;
}

/* Edit distance with transpositions (optimal string alignment); small strings only. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b), d[33][33];
    if (la > 32 || lb > 32) return 99;
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1; /* a transposition */
            d[i][j] = best;
        }
    return d[la][lb];
}

cnn_status cnn_opts_misspelled(cnn_opts *o) {
    for (int i = 0; i < o->n; i++) {
        if (o->used[i]) continue;
        for (int k = 0; k < o->n_known; k++)
            /* One edit for short keys, two for longer ones: 's' is not a typo of 'in'. */
            if (edit_distance(o->key[i], o->known[k]) <= (strlen(o->known[k]) <= 4 ? 1 : 2) &&
                strlen(o->key[i]) >= 2)
                return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s: unknown option '%s' (did you mean '%s'?)",
                                o->file, o->line, o->type, o->key[i], o->known[k]);
    }
    return CNN_OK;
}

cnn_status cnn_opts_check_unused(cnn_opts *o) {
    if (cnn_opts_misspelled(o) != CNN_OK) return CNN_ERR_PARSE;
    for (int i = 0; i < o->n; i++) {
        if (o->used[i]) continue;
        char known[512] = "";
        size_t len = 0;
        for (int k = 0; k < o->n_known && len < sizeof known; k++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "",
                                    o->known[k]);
        if (o->n_known == 0) snprintf(known, sizeof known, "none");
        return cnn_fail(CNN_ERR_PARSE, "%s:%d: %s: unknown option '%s' (known: %s)", o->file,
                        o->line, o->type, o->key[i], known);
    }
    return CNN_OK;
}
