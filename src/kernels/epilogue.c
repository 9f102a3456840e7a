/* epilogue.c — per-channel scale, shift and activation on a layer's output
 * (see epilogue.h), and the conv batch driver that applies it per image. */
#include "epilogue.h"
#include <omp.h>

/* One channel: the loop the compiler vectorises, one per activation. */
static void apply_channel(const cnn_epilogue *e, float *restrict y, size_t hw, float s, float t) {
    switch (e->act) {
    case CNN_ACT_RELU:
        for (size_t i = 0; i < hw; i++) {
            float v = y[i] * s + t;
            y[i] = v < 0.0f ? 0.0f : v; /* NaN passes, as cnn_relu_forward */
        }
        break;
    case CNN_ACT_LEAKY_RELU: {
        const float slope = e->slope;
        for (size_t i = 0; i < hw; i++) {
            float v = y[i] * s + t;
            y[i] = v > 0.0f ? v : v * slope;
        }
        break;
    }
    default:
        for (size_t i = 0; i < hw; i++)
            y[i] = y[i] * s + t;
        break;
    }
}

void cnn_epilogue_apply(const cnn_epilogue *e, float *y, int k0, int k1, size_t hw) {
    if (!e->scale && !e->shift && e->act == CNN_ACT_NONE) return;
    for (int k = k0; k < k1; k++) {
        float s = e->scale ? e->scale[k] : 1.0f, t = e->shift ? e->shift[k] : 0.0f;
        apply_channel(e, y + (size_t)k * hw, hw, s, t);
    }
}

/* Below this many elements a parallel region costs more than it saves. */
#define EPILOGUE_PAR_MIN ((size_t)1 << 15)

void cnn_epilogue_apply_par(const cnn_epilogue *e, float *y, int k, size_t hw) {
    if ((size_t)k * hw < EPILOGUE_PAR_MIN || omp_in_parallel() || k < 2) {
        cnn_epilogue_apply(e, y, 0, k, hw);
        return;
    }
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        cnn_epilogue_apply(e, y, (int)((long long)k * t / nt), (int)((long long)k * (t + 1) / nt),
                           hw);
    }
}

void cnn_conv_forward_batch_ep(const cnn_conv_geom *g, int n, const float *x, const float *w,
                               const cnn_epilogue *e, float *y, float *scratch, int nthreads) {
    if (n <= 0) return;
    const size_t in = (size_t)g->c * g->h * g->w, ohw = (size_t)g->oh * g->ow;
    const size_t out = (size_t)g->k * ohw;
    /* One thread's slice of scratch, as cnn_conv_forward_batch lays them out. */
    const size_t per = cnn_conv_slice_size(g);
    int team = nthreads < 1 ? 1 : nthreads;
    if (team > n) team = n;
    if (team == 1) { /* outside a region: the GEMM and the epilogue use the threads */
        for (int i = 0; i < n; i++) {
            cnn_conv_forward(g, x + in * i, w, NULL, y + out * i, scratch);
            cnn_epilogue_apply_par(e, y + out * i, g->k, ohw);
        }
        return;
    }
#pragma omp parallel for num_threads(team) schedule(static)
    for (int i = 0; i < n; i++) {
        float *col = scratch + per * (size_t)omp_get_thread_num();
        cnn_conv_forward(g, x + in * i, w, NULL, y + out * i, col);
        cnn_epilogue_apply(e, y + out * i, 0, g->k, ohw); /* still in this core's cache */
    }
}
