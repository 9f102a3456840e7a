/* conv_ref.c — naive direct-loop convolution, forward and backward, the
 * reference the im2col + GEMM path is tested against. Sums in double.
 * dx is computed by gathering (for each input pixel, the outputs it feeds),
 * not by the scatter the fast path uses, so the two check each other. */
#include "../conv.h"

#define X4(p, d1, d2, d3, a, b, c, d) ((p)[(((size_t)(a) * (d1) + (b)) * (d2) + (c)) * (d3) + (d)])

/* x is (N,C,H,W), w is (K,C/g,kh,kw), b is (K) or NULL, y is (N,K,OH,OW) */
void cnn_conv_forward_ref(const cnn_conv_geom *g, int n, const float *x, const float *w,
                          const float *b, float *y) {
    const int cg = g->c / g->groups, kg = g->k / g->groups;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->k; k++)
            for (int oh = 0; oh < g->oh; oh++)
                for (int ow = 0; ow < g->ow; ow++) {
                    double s = b ? b[k] : 0.0;
                    for (int c = 0; c < cg; c++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                int ih = oh * g->sh - g->ph + ki * g->dh;
                                int iw = ow * g->sw - g->pw + kj * g->dw;
                                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                                int ci = (k / kg) * cg + c;
                                s += (double)X4(x, g->c, g->h, g->w, i, ci, ih, iw) *
                                     X4(w, cg, g->kh, g->kw, k, c, ki, kj);
                            }
                    X4(y, g->k, g->oh, g->ow, i, k, oh, ow) = (float)s;
                }
}

/* dy is (N,K,OH,OW), x is (N,C,H,W); dx (N,C,H,W) overwritten, dw, db accumulated */
void cnn_conv_backward_ref(const cnn_conv_geom *g, int n, const float *x, const float *w,
                           const float *dy, float *dx, float *dw, float *db) {
    const int cg = g->c / g->groups, kg = g->k / g->groups;
    if (db)
        for (int k = 0; k < g->k; k++) {
            double s = 0;
            for (int i = 0; i < n; i++)
                for (int oh = 0; oh < g->oh; oh++)
                    for (int ow = 0; ow < g->ow; ow++)
                        s += X4(dy, g->k, g->oh, g->ow, i, k, oh, ow);
            db[k] += (float)s;
        }
    if (dw)
        for (int k = 0; k < g->k; k++)
            for (int c = 0; c < cg; c++)
                for (int ki = 0; ki < g->kh; ki++)
                    for (int kj = 0; kj < g->kw; kj++) {
                        double s = 0;
                        int ci = (k / kg) * cg + c;
                        for (int i = 0; i < n; i++)
                            for (int oh = 0; oh < g->oh; oh++)
                                for (int ow = 0; ow < g->ow; ow++) {
                                    int ih = oh * g->sh - g->ph + ki * g->dh;
                                    int iw = ow * g->sw - g->pw + kj * g->dw;
                                    if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                                    s += (double)X4(dy, g->k, g->oh, g->ow, i, k, oh, ow) *
                                         X4(x, g->c, g->h, g->w, i, ci, ih, iw);
                                }
                        X4(dw, cg, g->kh, g->kw, k, c, ki, kj) += (float)s;
                    }
    if (dx)
        for (int i = 0; i < n; i++)
            for (int ci = 0; ci < g->c; ci++)
                for (int ih = 0; ih < g->h; ih++)
                    for (int iw = 0; iw < g->w; iw++) {
                        double s = 0;
                        int gi = ci / cg, c = ci % cg;
                        for (int k = gi * kg; k < (gi + 1) * kg; k++)
                            for (int ki = 0; ki < g->kh; ki++)
                                for (int kj = 0; kj < g->kw; kj++) {
                                    /* Which output reads (ih, iw) through tap (ki, kj)? */
                                    int th = ih + g->ph - ki * g->dh;
                                    int tw = iw + g->pw - kj * g->dw;
                                    if (th < 0 || tw < 0 || th % g->sh || tw % g->sw) continue;
                                    int oh = th / g->sh, ow = tw / g->sw;
                                    if (oh >= g->oh || ow >= g->ow) continue;
                                    s += (double)X4(dy, g->k, g->oh, g->ow, i, k, oh, ow) *
                                         X4(w, cg, g->kh, g->kw, k, c, ki, kj);
                                }
                        X4(dx, g->c, g->h, g->w, i, ci, ih, iw) = (float)s;
                    }
}
