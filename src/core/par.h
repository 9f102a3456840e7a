/* par.h — OpenMP loops that cost nothing when they run on one thread.
 *
 * libgomp ends every parallel region with a futex system call, even a region
 * whose if clause is false or whose team has one thread, such as a kernel's
 * region nested inside a data-parallel training step (src/graph/replica.c,
 * where each thread runs its slice's kernels alone): strace counted about
 * 500 such calls per step of a 16/32-map MNIST net at batch 32, a quarter of
 * the step. CNN_PAR_FOR runs its loop on the threads when `cond` holds and
 * another thread could take part (not inside an active region, more than one
 * thread allowed); otherwise it runs the same loop directly, without
 * entering OpenMP. The results do not depend on which way it ran: the loops
 * given to it write disjoint elements. */
#ifndef CNN_PAR_H
#define CNN_PAR_H

#include <omp.h>

static inline int cnn_par_ok(int cond) {
    return cond && !omp_in_parallel() && omp_get_max_threads() > 1;
}

#define CNN_PAR_FOR(cond, ...)                                                                     \
    do {                                                                                           \
        const int cnn_par_on_ = cnn_par_ok(cond);                                                  \
        if (cnn_par_on_) {                                                                         \
            _Pragma("omp parallel for schedule(static)") __VA_ARGS__                               \
        } else {                                                                                   \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    } while (0)

/* Inside a CNN_PAR_FOR loop: this thread's index in the loop's team (0 when
 * the loop runs directly, even on a thread of an enclosing region). */
#define CNN_PAR_TID (cnn_par_on_ ? omp_get_thread_num() : 0)

/* The same for element-wise loops: `omp simd` on both paths. */
#define CNN_PAR_FOR_SIMD(cond, ...)                                                                \
    do {                                                                                           \
        if (cnn_par_ok(cond)) {                                                                    \
            _Pragma("omp parallel for simd schedule(static)") __VA_ARGS__                          \
        } else {                                                                                   \
            _Pragma("omp simd") __VA_ARGS__                                                        \
        }                                                                                          \
    } while (0)

#endif
