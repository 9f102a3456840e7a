/* image.c — one PNG or JPEG file to a normalised float (c, h, w) for a net.
 *
 * The pipeline is what a PyTorch user writes with PIL:
 *   Image.open(p).convert("L" or "RGB").resize((w, h), Image.BILINEAR)
 *   -> ToTensor -> Normalize(mean, std)
 * and it follows PIL bit for bit on 8-bit images: grey is ITU-R 601 luma with
 * PIL's integer weights, alpha is dropped, palettes are expanded, and the
 * resize is PIL's separable bilinear filter (antialiased when shrinking) in
 * PIL's 22-bit fixed point. 16-bit PNG samples are reduced to their high byte
 * (PIL does this for 16-bit RGB; for 16-bit grey it clips, which we do not
 * copy). Colour management (gAMA, ICC) is ignored, as PIL does.
 *
 * Decoder errors never crash: libpng and libjpeg report through handlers that
 * longjmp back here, and every message names the file. */
#include "data.h"
#include <errno.h>
#include <jerror.h>
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_MAX_DIM 16384
#define IMAGE_MAX_PIXELS ((unsigned long)1 << 26) /* 64 Mpixels: 256 MB decoded at most */

/* A decoded 8-bit image: h rows of w pixels of ch interleaved channels (1-4). */
typedef struct {
    int w, h, ch;
    uint8_t *px;
} raw_image;

static cnn_status check_dims(const char *path, const char *kind, unsigned long w, unsigned long h) {
    if (w == 0 || h == 0)
        return cnn_fail(CNN_ERR_FORMAT, "%s: %s image is %lux%lu pixels", path, kind, w, h);
    if (w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM)
        return cnn_fail(CNN_ERR_FORMAT,
                        "%s: %s image is %lux%lu pixels, larger than the limit %dx%d", path, kind,
                        w, h, IMAGE_MAX_DIM, IMAGE_MAX_DIM);
    if (w * h > IMAGE_MAX_PIXELS)
        return cnn_fail(CNN_ERR_FORMAT, "%s: %s image is %lux%lu pixels, more than the limit of %lu",
                        path, kind, w, h, IMAGE_MAX_PIXELS);
    return CNN_OK;
}

/* ---- PNG ---------------------------------------------------------------- */

typedef struct {
    FILE *f;
    unsigned long off; /* bytes read so far */
    char msg[256];
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* the library never prints */
}

static void png_on_read(png_structp png, png_bytep data, size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    size_t k = fread(data, 1, n, c->f);
    c->off += k;
    if (k != n) {
        png_error(png, ferror(c->f) ? "read error" : "unexpected end of file");
    }
}

/* f is positioned after the 8 signature bytes. */
static cnn_status decode_png(FILE *f, const char *path, raw_image *img) {
    png_ctx ctx = {.f = f, .off = 8};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    if (!png) return cnn_fail(CNN_ERR_NOMEM, "%s: cannot create a PNG reader", path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return cnn_fail(CNN_ERR_NOMEM, "%s: cannot create a PNG reader", path);
    }
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(px);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return cnn_fail(CNN_ERR_FORMAT, "%s: corrupt PNG at offset %lu: %s", path, ctx.off,
                        ctx.msg);
    }
    png_set_read_fn(png, &ctx, png_on_read);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    cnn_status s = check_dims(path, "PNG", w, h);
    if (s != CNN_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return s;
    }
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    size_t row = png_get_rowbytes(png, info), bytes;
    if (ch < 1 || ch > 4 || row != (size_t)w * (size_t)ch || !cnn_mul_size(row, h, &bytes)) {
        png_destroy_read_struct(&png, &info, NULL);
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: unsupported PNG layout (%d channels)", path, ch);
    }
    px = malloc(bytes);
    rows = malloc(sizeof(png_bytep) * h);
    if (!px || !rows) {
        free(px);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return cnn_fail(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes for a %ux%u PNG", path, bytes,
                        (unsigned)w, (unsigned)h);
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = px + (size_t)y * row;
    png_read_image(png, rows);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    img->w = (int)w;
    img->h = (int)h;
    img->ch = ch;
    img->px = px;
    return CNN_OK;
}

/* ---- JPEG --------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings are counted, not printed; premature end of data is an error, and
 * decoding stops there: libjpeg would otherwise fill the rest of the declared
 * image (up to the pixel limit) from nothing, seconds of work for a few bytes. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            e->truncated = 1;
            snprintf(e->msg, sizeof e->msg, "premature end of data (truncated file)");
            longjmp(e->jb, 1);
        }
    }
}

static void jpeg_on_output(j_common_ptr cinfo) {
    (void)cinfo;
}

static cnn_status decode_jpeg(FILE *f, const char *path, raw_image *img) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    err.pub.output_message = jpeg_on_output;
    uint8_t *volatile px = NULL;
    if (setjmp(err.jb)) {
        free(px);
        jpeg_destroy_decompress(&cinfo);
        return cnn_fail(CNN_ERR_FORMAT, "%s: corrupt JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cnn_status s = check_dims(path, "JPEG", cinfo.image_width, cinfo.image_height);
    if (s != CNN_OK) {
        jpeg_destroy_decompress(&cinfo);
        return s;
    }
    /* Colour is decoded to RGB and made grey by us, as PIL does. */
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, ch = cinfo.output_components;
    size_t row = (size_t)w * (size_t)ch;
    px = malloc(row * (size_t)h);
    if (!px) {
        jpeg_destroy_decompress(&cinfo);
        return cnn_fail(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes for a %dx%d JPEG", path,
                        row * (size_t)h, w, h);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW r = px + (size_t)cinfo.output_scanline * row;
        jpeg_read_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.truncated) {
        free(px);
        return cnn_fail(CNN_ERR_FORMAT, "%s: corrupt JPEG: premature end of data (truncated file)",
                        path);
    }
    img->w = w;
    img->h = h;
    img->ch = ch;
    img->px = px;
    return CNN_OK;
}

/* ---- conversion and resizing ---------------------------------------------- */

/* In place: 1-4 channels (G, GA, RGB, RGBA) to grey (out_ch 1) or colour
 * (out_ch 3), alpha dropped. Grey from colour is PIL's convert("L"):
 * (19595 R + 38470 G + 7471 B + 2^15) >> 16. A grey image wanted as RGB stays
 * one channel here (resizing is per channel) and is repeated when normalised. */
static void convert_channels(raw_image *img, int out_ch) {
    size_t n = (size_t)img->w * (size_t)img->h;
    uint8_t *px = img->px;
    int ch = img->ch, keep = ch < 3 ? 1 : out_ch;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = px + i * (size_t)ch;
        if (ch >= 3 && out_ch == 1)
            px[i] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
        else if (keep != ch)
            memmove(px + i * (size_t)keep, p, (size_t)keep);
    }
    img->ch = keep;
}

/* PIL's precompute_coeffs for the bilinear (triangle) filter, with the
 * weights turned into 22-bit fixed point as normalize_coeffs_8bpc does.
 * bounds[2i] is the first input index of output i, bounds[2i+1] the count. */
#define PREC 22
static int resize_coeffs(int in, int out, int *bounds, int32_t *kk) {
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!k) return -1;
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            k[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += k[x];
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax && ww != 0.0 ? k[x] / ww : 0.0;
            kk[xx * ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PREC) : 0.5 + v * (1 << PREC));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    return ksize;
}

static uint8_t clip8(int32_t v) {
    if (v >= (255 << PREC)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PREC);
}

/* One pass of the separable filter along one axis. The image is viewed as
 * `lines` lines of `len` samples, `stride` bytes apart within a line and
 * `pitch` bytes apart between lines, ch interleaved channels; output lines
 * have `olen` samples with ostride/opitch. */
static void resize_pass(const uint8_t *src, int lines, size_t pitch, size_t stride, uint8_t *dst,
                        size_t opitch, size_t ostride, int olen, int ch, const int *bounds,
                        const int32_t *kk, int ksize) {
    for (int l = 0; l < lines; l++)
        for (int o = 0; o < olen; o++) {
            int xmin = bounds[2 * o], xn = bounds[2 * o + 1];
            const int32_t *k = kk + (size_t)o * ksize;
            for (int c = 0; c < ch; c++) {
                int32_t ss = 1 << (PREC - 1);
                const uint8_t *s = src + (size_t)l * pitch + (size_t)xmin * stride + c;
                for (int x = 0; x < xn; x++)
                    ss += s[(size_t)x * stride] * k[x];
                dst[(size_t)l * opitch + (size_t)o * ostride + c] = clip8(ss);
            }
        }
}

cnn_status cnn_image_resize_u8(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                               int oh) {
    if (w == ow && h == oh) {
        memcpy(dst, src, (size_t)w * h * ch);
        return CNN_OK;
    }
    int kx = (int)ceil((double)w / ow < 1.0 ? 1.0 : (double)w / ow) * 2 + 1;
    int ky = (int)ceil((double)h / oh < 1.0 ? 1.0 : (double)h / oh) * 2 + 1;
    int *bx = malloc(sizeof(int) * 2 * (size_t)ow), *by = malloc(sizeof(int) * 2 * (size_t)oh);
    int32_t *kkx = malloc(sizeof(int32_t) * (size_t)kx * ow);
    int32_t *kky = malloc(sizeof(int32_t) * (size_t)ky * oh);
    uint8_t *tmp = malloc((size_t)ow * h * ch);
    cnn_status s = CNN_OK;
    if (!bx || !by || !kkx || !kky || !tmp || resize_coeffs(w, ow, bx, kkx) < 0 ||
        resize_coeffs(h, oh, by, kky) < 0) {
        s = cnn_fail(CNN_ERR_NOMEM, "cannot allocate memory to resize a %dx%d image", w, h);
    } else {
        /* Horizontal first, then vertical, each only if that size changes (as PIL). */
        const uint8_t *mid = src;
        if (w != ow) {
            resize_pass(src, h, (size_t)w * ch, ch, tmp, (size_t)ow * ch, ch, ow, ch, bx, kkx, kx);
            mid = tmp;
        }
        if (h != oh)
            resize_pass(mid, ow, ch, (size_t)ow * ch, dst, ch, (size_t)ow * ch, oh, ch, by, kky,
                        ky);
        else
            memcpy(dst, mid, (size_t)ow * h * ch);
    }
    free(bx);
    free(by);
    free(kkx);
    free(kky);
    free(tmp);
    return s;
}

/* ---- the public entry ------------------------------------------------------ */

cnn_status cnn_image_load_u8(const char *path, int c, int h, int w, uint8_t *out) {
    if (!path || !out) return cnn_fail(CNN_ERR_ARG, "cnn_image_load_u8: NULL argument");
    if (c != 1 && c != 3)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s: the model's input has %d channels; images load only as grey (1) or "
                        "RGB (3)",
                        path, c);
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail(CNN_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, sizeof sig, f);
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    raw_image img = {0};
    cnn_status s;
    if (ferror(f)) {
        s = cnn_fail(CNN_ERR_IO, "%s: read error: %s", path, strerror(errno));
    } else if (got == 8 && memcmp(sig, png_sig, 8) == 0) {
        s = decode_png(f, path, &img);
    } else if (got >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) {
        if (fseek(f, 0, SEEK_SET) != 0)
            s = cnn_fail(CNN_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
        else
            s = decode_jpeg(f, path, &img);
    } else {
        s = cnn_fail(CNN_ERR_FORMAT, "%s: not a PNG or JPEG file (unrecognised first bytes)", path);
    }
    fclose(f);
    if (s != CNN_OK) return s;

    convert_channels(&img, c);
    const uint8_t *px = img.px;
    uint8_t *sized = NULL;
    int ich = img.ch;
    if (img.w != w || img.h != h) {
        sized = malloc((size_t)w * h * ich);
        if (!sized) {
            free(img.px);
            return cnn_fail(CNN_ERR_NOMEM, "%s: cannot allocate the resized image", path);
        }
        s = cnn_image_resize_u8(img.px, img.w, img.h, ich, sized, w, h);
        if (s != CNN_OK) {
            cnn_error_prefix("%s", path);
            free(img.px);
            free(sized);
            return s;
        }
        px = sized;
    }
    /* Interleaved (h, w, ich) -> planar (c, h, w); a grey image for an RGB
     * net repeats its one channel. */
    size_t plane = (size_t)h * (size_t)w;
    for (int ci = 0; ci < c; ci++) {
        int src_c = ich == 1 ? 0 : ci;
        for (size_t i = 0; i < plane; i++)
            out[(size_t)ci * plane + i] = px[i * ich + src_c];
    }
    free(img.px);
    free(sized);
    return CNN_OK;
}

cnn_status cnn_image_load(const char *path, const cnn_net *net, float *out) {
    if (!path || !net || !out) return cnn_fail(CNN_ERR_ARG, "cnn_image_load: NULL argument");
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    size_t plane = (size_t)h * (size_t)w;
    uint8_t *px = malloc((size_t)c * plane);
    if (!px) return cnn_fail(CNN_ERR_NOMEM, "%s: cannot allocate the image", path);
    cnn_status s = cnn_image_load_u8(path, c, h, w, px);
    if (s == CNN_OK) {
        float table[256];
        for (int ci = 0; ci < c; ci++) {
            cnn_data_norm_table(net, ci, table);
            for (size_t i = 0; i < plane; i++)
                out[(size_t)ci * plane + i] = table[px[(size_t)ci * plane + i]];
        }
    }
    free(px);
    return s;
}
