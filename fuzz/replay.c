/* replay.c — a main() for a fuzz target without libFuzzer: runs the target
 * once on every file named on the command line or found in the directories
 * named there (default: fuzz/corpus/TARGET and fuzz/regress/TARGET, the seeds
 * and every input that once found a bug). Built with the test suite
 * (BUILD/tests/test_fuzz_TARGET), so the regression inputs are replayed by
 * `make check` with gcc, plain and under AddressSanitizer. Exits non-zero if
 * a directory is missing or nothing was run; a finding aborts. */
#include "fuzz.h"
#include <dirent.h>
#include <sys/stat.h>

#ifndef FUZZ_TARGET
#error "define FUZZ_TARGET"
#endif

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += k;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return -1;
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

static int run_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: missing\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return run_file(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        int k = run_file(p);
        if (k < 0) {
            closedir(d);
            return -1;
        }
        n += k;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    const char *defaults[] = {"fuzz/corpus/" FUZZ_TARGET, "fuzz/regress/" FUZZ_TARGET};
    int total = 0;
    for (int i = 0; i < (argc > 1 ? argc - 1 : 2); i++) {
        const char *p = argc > 1 ? argv[i + 1] : defaults[i];
        int n = run_path(p);
        if (n < 0) return 1;
        printf("%s: %d inputs\n", p, n);
        total += n;
    }
    printf("fuzz target %s: %d inputs replayed without a finding\n", FUZZ_TARGET, total);
    return total > 0 ? 0 : 1;
}
