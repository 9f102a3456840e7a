/* norm.c — batch normalisation and local response normalisation (see norm.h). */
#include "norm.h"
#include <math.h>

void cnn_bn_stats(int n, int c, int hw, int ch, const float *x, double *mean, double *var) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        const float *p = x + ((size_t)i * c + ch) * hw;
        for (int j = 0; j < hw; j++)
            s += p[j];
    }
    double m = (double)n * hw, mu = s / m, v = 0;
    for (int i = 0; i < n; i++) {
        const float *p = x + ((size_t)i * c + ch) * hw;
        for (int j = 0; j < hw; j++) {
            double d = p[j] - mu;
            v += d * d;
        }
    }
    *mean = mu;
    *var = v / m;
}

void cnn_bn_apply(int n, int c, int hw, int ch, const float *x, double mean, float invstd,
                  float gamma, float beta, float *y) {
    const float scale = gamma * invstd, mh = (float)mean, ml = (float)(mean - mh);
    for (int i = 0; i < n; i++) {
        size_t o = ((size_t)i * c + ch) * hw;
        for (int j = 0; j < hw; j++)
            y[o + j] = ((x[o + j] - mh) - ml) * scale + beta;
    }
}

void cnn_bn_backward(int n, int c, int hw, int ch, const float *x, const float *dy, double mean,
                     float invstd, float gamma, int batch_stats, float *dx, double *sum_dy,
                     double *sum_dy_xhat) {
    const float mh = (float)mean, ml = (float)(mean - mh);
    double sd = 0, sdx = 0;
    for (int i = 0; i < n; i++) {
        size_t o = ((size_t)i * c + ch) * hw;
        for (int j = 0; j < hw; j++) {
            sd += dy[o + j];
            sdx += (double)dy[o + j] * (((x[o + j] - mh) - ml) * invstd);
        }
    }
    *sum_dy = sd;
    *sum_dy_xhat = sdx;
    if (!dx) return;
    const float g = gamma * invstd;
    if (!batch_stats) {
        for (int i = 0; i < n; i++) {
            size_t o = ((size_t)i * c + ch) * hw;
            for (int j = 0; j < hw; j++)
                dx[o + j] = g * dy[o + j];
        }
        return;
    }
    const double m = (double)n * hw;
    const float mean_dy = (float)(sd / m), mean_dy_xhat = (float)(sdx / m);
    for (int i = 0; i < n; i++) {
        size_t o = ((size_t)i * c + ch) * hw;
        for (int j = 0; j < hw; j++) {
            float xhat = ((x[o + j] - mh) - ml) * invstd;
            dx[o + j] = g * (dy[o + j] - mean_dy - xhat * mean_dy_xhat);
        }
    }
}

/* The channels [*lo, *hi] whose squares enter channel ch's window. */
static void lrn_window(int ch, int c, int size, int *lo, int *hi) {
    int a = ch - size / 2, b = ch + (size - 1) - size / 2;
    *lo = a < 0 ? 0 : a;
    *hi = b > c - 1 ? c - 1 : b;
}

/* The channels [*lo, *hi] whose windows hold channel i:
 * i - (size-1) + size/2 <= j <= i + size/2. */
static void lrn_rwindow(int i, int c, int size, int *lo, int *hi) {
    int a = i - (size - 1) + size / 2, b = i + size / 2;
    *lo = a < 0 ? 0 : a;
    *hi = b > c - 1 ? c - 1 : b;
}

/* s^-beta; the common betas through square roots (within a few ulp of powf,
 * several times faster). */
static inline float pow_neg(float s, float beta) {
    if (beta == 0.75f) {
        float r = sqrtf(s);
        return 1.0f / (r * sqrtf(r));
    }
    if (beta == 0.5f) return 1.0f / sqrtf(s);
    if (beta == 1.0f) return 1.0f / s;
    return powf(s, -beta);
}

void cnn_lrn_forward(int c, int hw, int size, float alpha, float beta, float k, const float *x,
                     float *y, float *scale) {
    const float a = alpha / (float)size;
    for (int ch = 0; ch < c; ch++) {
        int lo, hi;
        lrn_window(ch, c, size, &lo, &hi);
        float *s = scale + (size_t)ch * hw;
        for (int p = 0; p < hw; p++)
            s[p] = 0;
        for (int j = lo; j <= hi; j++) {
            const float *xj = x + (size_t)j * hw;
            for (int p = 0; p < hw; p++)
                s[p] += xj[p] * xj[p];
        }
        const float *xc = x + (size_t)ch * hw;
        float *yc = y + (size_t)ch * hw;
        for (int p = 0; p < hw; p++) {
            s[p] = k + a * s[p];
            yc[p] = xc[p] * pow_neg(s[p], beta);
        }
    }
}

void cnn_lrn_backward(int c, int hw, int size, float alpha, float beta, const float *x,
                      const float *y, const float *scale, const float *dy, float *dx, float *tmp) {
    const float coef = 2.0f * alpha * beta / (float)size;
    const size_t n = (size_t)c * hw;
    for (size_t o = 0; o < n; o++) /* t_j = dy_j * y_j / scale_j */
        tmp[o] = dy[o] * y[o] / scale[o];
    for (int i = 0; i < c; i++) {
        int lo, hi;
        lrn_rwindow(i, c, size, &lo, &hi);
        float *dxi = dx + (size_t)i * hw;
        for (int p = 0; p < hw; p++)
            dxi[p] = 0;
        for (int j = lo; j <= hi; j++) {
            const float *tj = tmp + (size_t)j * hw;
            for (int p = 0; p < hw; p++)
                dxi[p] += tj[p];
        }
        const float *xi = x + (size_t)i * hw, *si = scale + (size_t)i * hw,
                    *dyi = dy + (size_t)i * hw;
        for (int p = 0; p < hw; p++)
            dxi[p] = dyi[p] * pow_neg(si[p], beta) - coef * xi[p] * dxi[p];
    }
}
