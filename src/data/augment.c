/* augment.c — seeded augmentation of one training sample, torchvision style.
 *
 * The pipeline, in order (each step only when switched on in the recipe):
 *   RandomCrop(size, padding=crop_pad)  zero padding, offsets uniform in [-p, p]
 *   RandomHorizontalFlip(0.5)
 *   RandomAffine(degrees=rotate, translate=whole pixels in [-t, t])
 *                                        about the image centre, bilinear,
 *                                        zero fill (black, as torchvision)
 *   ToTensor + Normalize(mean, std)      the net's input normalisation
 *   RandomErasing(p=erase, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)
 * The geometric steps are composed into one inverse map, so each output pixel
 * is sampled once from the original bytes. Draws come from rng in a fixed
 * order, so a generator state gives one result. No allocation. */
#include "data.h"
#include <math.h>

int cnn_augment_active(const cnn_train_config *cfg) {
    return cfg->crop_pad > 0 || cfg->hflip || cfg->rotate > 0 || cfg->translate > 0 ||
           cfg->erase > 0;
}

/* Uniform integer in [lo, hi]. */
static int rand_int(cnn_rng *r, int lo, int hi) {
    return lo + (int)(cnn_rng_u64(r) % (uint64_t)(hi - lo + 1));
}

static void erase(float *dst, int c, int h, int w, cnn_rng *rng) {
    const double area = (double)h * w, lr0 = log(0.3), lr1 = log(3.3);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (0.02 + (0.33 - 0.02) * cnn_rng_uniform(rng));
        double ratio = exp(lr0 + (lr1 - lr0) * cnn_rng_uniform(rng));
        int eh = (int)lround(sqrt(target * ratio)), ew = (int)lround(sqrt(target / ratio));
        if (!(eh < h && ew < w) || eh < 1 || ew < 1) continue;
        int y0 = rand_int(rng, 0, h - eh), x0 = rand_int(rng, 0, w - ew);
        for (int ci = 0; ci < c; ci++)
            for (int y = y0; y < y0 + eh; y++)
                for (int x = x0; x < x0 + ew; x++)
                    dst[((size_t)ci * h + y) * w + x] = 0.0f;
        return;
    }
}

void cnn_augment_sample(const cnn_train_config *cfg, const uint8_t *src, int c, int h, int w,
                        const float (*table)[256], cnn_rng *rng, float *dst) {
    const size_t plane = (size_t)h * w;
    int ox = 0, oy = 0, flip = 0;
    double angle = 0;
    if (cfg->crop_pad > 0) {
        oy = rand_int(rng, -cfg->crop_pad, cfg->crop_pad);
        ox = rand_int(rng, -cfg->crop_pad, cfg->crop_pad);
    }
    if (cfg->hflip) flip = cnn_rng_uniform(rng) < 0.5f;
    if (cfg->rotate > 0) angle = (2.0 * cnn_rng_uniform(rng) - 1.0) * cfg->rotate;
    int tx = 0, ty = 0;
    if (cfg->translate > 0) {
        tx = rand_int(rng, -cfg->translate, cfg->translate);
        ty = rand_int(rng, -cfg->translate, cfg->translate);
    }
    if (angle == 0) {
        /* Whole-pixel shifts and the flip: a gather. */
        for (int ci = 0; ci < c; ci++) {
            const uint8_t *s = src + (size_t)ci * plane;
            float *d = dst + (size_t)ci * plane;
            for (int y = 0; y < h; y++) {
                int sy = y - ty + oy;
                for (int x = 0; x < w; x++) {
                    int fx = x - tx;
                    int sx = (flip ? w - 1 - fx : fx) + ox;
                    int in = sy >= 0 && sy < h && sx >= 0 && sx < w;
                    d[(size_t)y * w + x] = table[ci][in ? s[(size_t)sy * w + sx] : 0];
                }
            }
        }
    } else {
        const double rad = angle * 3.14159265358979323846 / 180.0, cs = cos(rad), sn = sin(rad);
        const double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
        for (int ci = 0; ci < c; ci++) {
            const uint8_t *s = src + (size_t)ci * plane;
            float *d = dst + (size_t)ci * plane;
            const float base = table[ci][0], scale = (table[ci][255] - table[ci][0]) / 255.0f;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    /* Undo the translation, then the rotation about the centre. */
                    double px = x - tx - cx, py = y - ty - cy;
                    double fx = cs * px + sn * py + cx, fy = -sn * px + cs * py + cy;
                    if (flip) fx = w - 1 - fx;
                    fx += ox;
                    fy += oy;
                    int x0 = (int)floor(fx), y0 = (int)floor(fy);
                    double ax = fx - x0, ay = fy - y0, v = 0;
                    for (int k = 0; k < 4; k++) {
                        int xx = x0 + (k & 1), yy = y0 + (k >> 1);
                        if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
                        double wt = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                        v += wt * s[(size_t)yy * w + xx];
                    }
                    d[(size_t)y * w + x] = base + scale * (float)v;
                }
        }
    }
    if (cfg->erase > 0 && cnn_rng_uniform(rng) < cfg->erase) erase(dst, c, h, w, rng);
}
