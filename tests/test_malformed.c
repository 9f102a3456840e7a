/* test_malformed.c — the malformed-file corpus (tests/malformed/) through the
 * CLI: for every case NAME, run BUILD/cnn with the arguments in NAME.args and
 * require a non-zero exit status (not a signal: a crash fails), nothing but
 * the one line of NAME.expected on stderr, and an end within 60 s. BUILD is
 * where this program lives (BUILD/tests/..), so the sanitizer build checks
 * its own cnn. Run from the repository root, as tests/run.sh does. In the
 * arguments, @TMP@ becomes a fresh temporary folder, removed afterwards
 * (for what a command writes, such as a training run's folder). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIR_CASES "tests/malformed"
#define MAX_ARGS 32

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    for (size_t k; s && (k = fread(s + len, 1, cap - 1 - len, f)) > 0;) {
        len += k;
        if (len == cap - 1) {
            char *t = realloc(s, cap *= 2);
            if (!t) free(s);
            s = t;
        }
    }
    fclose(f);
    if (s) s[len] = 0;
    return s;
}

/* Run cnn with args (split at spaces); *err gets its stderr, *status the wait status. */
static int run(const char *cnn, char *args, char **err, int *status) {
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)cnn;
    for (char *save, *t = strtok_r(args, " \n", &save); t && argc <= MAX_ARGS;
         t = strtok_r(NULL, " \n", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        alarm(60); /* a hang is a failure too: SIGALRM */
        execv(cnn, argv);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    for (ssize_t k; s && (k = read(fd[0], s + len, cap - 1 - len)) != 0;) {
        if (k < 0) {
            if (errno == EINTR) continue;
            break;
        }
        len += (size_t)k;
        if (len == cap - 1) {
            char *t = realloc(s, cap *= 2);
            if (!t) free(s);
            s = t;
        }
    }
    close(fd[0]);
    if (s) s[len] = 0;
    *err = s;
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR) return -1;
    return s ? 0 : -1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096], cnn[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(cnn, sizeof cnn, "%s/../cnn", dirname(self));
    if (access(cnn, X_OK) != 0) {
        fprintf(stderr, "test_malformed: %s: not found (build the CLI first)\n", cnn);
        return 1;
    }
    DIR *d = opendir(DIR_CASES);
    if (!d) {
        fprintf(stderr, "test_malformed: %s: %s (run from the repository root)\n", DIR_CASES,
                strerror(errno));
        return 1;
    }
    char *names[1024];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 1024;) {
        size_t k = strlen(e->d_name);
        if (k > 5 && !strcmp(e->d_name + k - 5, ".args")) names[n++] = strndup(e->d_name, k - 5);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, DIR_CASES "/%s.args", names[i]);
        char *args = read_text(path);
        snprintf(path, sizeof path, DIR_CASES "/%s.expected", names[i]);
        char *want = read_text(path);
        char *got = NULL, tmp[] = "/tmp/cnn_malformed_XXXXXX";
        int status = 0;
        char *at = args ? strstr(args, "@TMP@") : NULL;
        if (at) {
            if (!mkdtemp(tmp)) {
                printf("FAIL %s: mkdtemp: %s\n", names[i], strerror(errno));
                failed++;
                free(args);
                free(want);
                continue;
            }
            char *sub = malloc(strlen(args) + sizeof tmp);
            if (sub) sprintf(sub, "%.*s%s%s", (int)(at - args), args, tmp, at + 5);
            free(args);
            args = sub;
        }
        if (!args || !want) {
            printf("FAIL %s: missing %s\n", names[i], args ? "its .expected" : "its .args");
            failed++;
        } else if (run(cnn, args, &got, &status) != 0) {
            printf("FAIL %s: cannot run %s: %s\n", names[i], cnn, strerror(errno));
            failed++;
        } else if (WIFSIGNALED(status)) {
            printf("FAIL %s: killed by signal %d (%s)\n%s", names[i], WTERMSIG(status),
                   strsignal(WTERMSIG(status)), got);
            failed++;
        } else if (WEXITSTATUS(status) == 0) {
            printf("FAIL %s: exit status 0\n", names[i]);
            failed++;
        } else if (strcmp(got, want) != 0) {
            printf("FAIL %s: stderr differs\n  expected: %s  got:      %s", names[i], want,
                   got[0] ? got : "(nothing)\n");
            failed++;
        }
        free(args);
        free(want);
        free(got);
        if (at) {
            char cmd[128];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
            if (system(cmd) != 0) printf("note: could not remove %s\n", tmp);
        }
    }
    for (int i = 0; i < n; i++) free(names[i]);
    printf("malformed: %d of %d files refused with the expected message and exit status != 0\n",
           n - failed, n);
    return failed || n == 0 ? 1 : 0;
}
