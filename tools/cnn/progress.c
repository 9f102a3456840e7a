/* progress.c — a live progress bar on a terminal, plain log lines otherwise. */
#include "cli.h"
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double last_draw;
static int last_plain_quarter;

static void fmt_time(double s, char *buf, size_t len) {
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%d:%02d", t / 60, t % 60);
}

int cli_progress(const cnn_progress *p, void *user) {
    (void)user;
    double done = (p->epoch - 1) + (double)p->batch / p->batches;
    double eta = done > 0 ? p->elapsed_s * (p->epochs - done) / done : 0;
    char eta_s[32];
    fmt_time(eta, eta_s, sizeof eta_s);
    if (isatty(STDOUT_FILENO)) {
        if (p->elapsed_s - last_draw < 0.1 && p->batch != p->batches) return 0;
        last_draw = p->elapsed_s;
        int width = 24, fill = (int)((double)p->batch / p->batches * width);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[width] = 0;
        printf("\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s",
               p->epoch, p->epochs, bar, p->batch, p->batches, p->loss, 100 * p->accuracy,
               p->images_per_s, eta_s);
        fflush(stdout);
    } else {
        int quarter = 4 * p->batch / p->batches;
        if (p->batch == 1) last_plain_quarter = 0;
        if (quarter > last_plain_quarter && p->batch != p->batches) {
            last_plain_quarter = quarter;
            printf("epoch %d/%d batch %d/%d  loss %.4f  acc %.2f%%  lr %.5g  %.0f img/s  ETA %s\n",
                   p->epoch, p->epochs, p->batch, p->batches, p->loss, 100 * p->accuracy, p->lr,
                   p->images_per_s, eta_s);
            fflush(stdout);
        }
    }
    return 0;
}

int cli_epoch(const cnn_epoch_stats *e, void *user) {
    (void)user;
    if (isatty(STDOUT_FILENO)) printf("\r\033[K");
    printf("epoch %d: train loss %.4f acc %.2f%%", e->epoch, e->train_loss, 100 * e->train_acc);
    if (e->has_val)
        printf(" | val loss %.4f acc %.2f%%%s", e->val_loss, 100 * e->val_acc,
               e->improved ? " (best)" : "");
    if (e->has_test) printf(" | test loss %.4f acc %.2f%%", e->test_loss, 100 * e->test_acc);
    printf(" | %.1f s\n", e->elapsed_s);
    if (e->stopping)
        printf("early stopping: no better validation accuracy for %d epochs after epoch %d\n",
               e->epoch - e->best_epoch, e->best_epoch);
    fflush(stdout);
    return 0;
}
