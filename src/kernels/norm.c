/* norm.c — batch normalisation and local response normalisation (see norm.h). */
#include "norm.h"
#include <math.h>

/* Row sums over 16 float lanes (GCC vectorises them: a single serial chain of
 * double adds, as these kernels had before, does not vectorise and was 15% of
 * training a small ResNet). Each row's lanes are added in a fixed order and
 * the row total is accumulated in double, so the result does not depend on
 * the vector width the compiler picks. */
#define LANES 16

static inline double lanes_total(const float *lane) {
    double s = 0;
    for (int u = 0; u < LANES; u++)
        s += lane[u];
    return s;
}

/* sum(p[0..n)) */
static double row_sum(const float *restrict p, int n) {
    float lane[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int u = 0; u < LANES; u++)
            lane[u] += p[j + u];
    for (int u = 0; j < n; j++, u++)
        lane[u] += p[j];
    return lanes_total(lane);
}

/* sum((p - mh - ml)^2) */
static double row_sqdev(const float *restrict p, int n, float mh, float ml) {
    float lane[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int u = 0; u < LANES; u++) {
            float d = (p[j + u] - mh) - ml;
            lane[u] += d * d;
        }
    for (int u = 0; j < n; j++, u++) {
        float d = (p[j] - mh) - ml;
        lane[u] += d * d;
    }
    return lanes_total(lane);
}

/* sum(dy) and sum(dy * (x - mh - ml) * invstd) */
static void row_dy_sums(const float *restrict x, const float *restrict dy, int n, float mh,
                        float ml, float invstd, double *sd, double *sdx) {
    float a[LANES] = {0}, b[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int u = 0; u < LANES; u++) {
            a[u] += dy[j + u];
            b[u] += dy[j + u] * (((x[j + u] - mh) - ml) * invstd);
        }
    for (int u = 0; j < n; j++, u++) {
        a[u] += dy[j];
        b[u] += dy[j] * (((x[j] - mh) - ml) * invstd);
    }
    *sd += lanes_total(a);
    *sdx += lanes_total(b);
}

void cnn_bn_stats(int n, int c, int hw, int ch, const float *x, double *mean, double *var) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += row_sum(x + ((size_t)i * c + ch) * hw, hw);
    double m = (double)n * hw, mu = s / m, v = 0;
    const float mh = (float)mu, ml = (float)(mu - mh);
    for (int i = 0; i < n; i++)
        v += row_sqdev(x + ((size_t)i * c + ch) * hw, hw, mh, ml);
    *mean = mu;
    *var = v / m;
}

void cnn_bn_apply(int n, int c, int hw, int ch, const float *x, double mean, float invstd,
                  float gamma, float beta, float *y) {
    const float scale = gamma * invstd, mh = (float)mean, ml = (float)(mean - mh);
    for (int i = 0; i < n; i++) {
        size_t o = ((size_t)i * c + ch) * hw;
        const float *restrict xr = x + o;
        float *restrict yr = y + o;
        for (int j = 0; j < hw; j++)
            yr[j] = ((xr[j] - mh) - ml) * scale + beta;
    }
}

void cnn_bn_backward(int n, int c, int hw, int ch, const float *x, const float *dy, double mean,
                     float invstd, float gamma, int batch_stats, float *dx, double *sum_dy,
                     double *sum_dy_xhat) {
    const float mh = (float)mean, ml = (float)(mean - mh);
    double sd = 0, sdx = 0;
    for (int i = 0; i < n; i++) {
        size_t o = ((size_t)i * c + ch) * hw;
        row_dy_sums(x + o, dy + o, hw, mh, ml, invstd, &sd, &sdx);
    }
    *sum_dy = sd;
    *sum_dy_xhat = sdx;
    if (!dx) return;
    const float g = gamma * invstd;
    if (!batch_stats) {
        for (int i = 0; i < n; i++) {
            size_t o = ((size_t)i * c + ch) * hw;
            const float *restrict dyr = dy + o;
            float *restrict dxr = dx + o;
            for (int j = 0; j < hw; j++)
                dxr[j] = g * dyr[j];
        }
        return;
    }
    const double m = (double)n * hw;
    const float mean_dy = (float)(sd / m), mean_dy_xhat = (float)(sdx / m);
    for (int i = 0; i < n; i++) {
        size_t o = ((size_t)i * c + ch) * hw;
        const float *restrict xr = x + o, *restrict dyr = dy + o;
        float *restrict dxr = dx + o;
        for (int j = 0; j < hw; j++) {
            float xhat = ((xr[j] - mh) - ml) * invstd;
            dxr[j] = g * (dyr[j] - mean_dy - xhat * mean_dy_xhat);
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
