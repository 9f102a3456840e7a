/* schedule.c — the learning rate at each optimizer step.
 *
 * step is the 0-based global optimizer step, k = steps_per_epoch, and
 * W = warmup_epochs * k the number of warm-up steps, E = epochs * k the run.
 *
 *   warm-up (step < W)   lr * (step + 1) / W        (reaches lr on step W-1)
 *   CONSTANT             lr
 *   STEP                 lr * gamma^floor((step / k) / step_size), integer
 *                        divisions: torch StepLR(step_size, gamma) stepped once
 *                        per epoch; the epoch count includes warm-up epochs
 *   COSINE               min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2,
 *                        t = step - W, T = E - W: torch CosineAnnealingLR with
 *                        T_max = T steps, eta_min = min_lr, stepped per batch.
 *                        Past the run's end (t > T) it stays at min_lr, where
 *                        torch's would rise again.
 *
 * The warm-up equals torch LambdaLR(lambda k: (k + 1) / W); with COSINE the
 * whole schedule is torch SequentialLR([that, CosineAnnealingLR], [W]).
 * Arithmetic is in double, as torch's schedulers, rounded to float at the end.
 * Nonsense arguments (k < 1, step < 0, step_size < 1) are clamped, not trusted. */
#include "../core/core.h"
#include <math.h>

float cnn_schedule_lr(const cnn_train_config *cfg, int step, int steps_per_epoch) {
    const double pi = 3.14159265358979323846;
    const int64_t k = steps_per_epoch > 0 ? steps_per_epoch : 1;
    const int64_t s = step > 0 ? step : 0;
    const int64_t warm = cfg->warmup_epochs > 0 ? (int64_t)cfg->warmup_epochs * k : 0;
    const double lr = cfg->lr;
    if (s < warm) return (float)(lr * (double)(s + 1) / (double)warm);
    switch (cfg->schedule) {
    case CNN_SCHED_STEP: {
        const int64_t size = cfg->step_size > 0 ? cfg->step_size : 1;
        return (float)(lr * pow((double)cfg->gamma, (double)((s / k) / size)));
    }
    case CNN_SCHED_COSINE: {
        const int64_t total = (int64_t)(cfg->epochs > 0 ? cfg->epochs : 0) * k;
        const int64_t T = total - warm, t = s - warm;
        const double min_lr = cfg->min_lr;
        if (T <= 0 || t >= T) return T <= 0 ? (float)lr : (float)min_lr;
        return (float)(min_lr + (lr - min_lr) * (1.0 + cos(pi * (double)t / (double)T)) / 2.0);
    }
    case CNN_SCHED_CONSTANT:
    default:
        return (float)lr;
    }
}
