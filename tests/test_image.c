/* test_image.c — cnn_image_load on PNG and JPEG files written here (grey, RGB,
 * RGBA, grey+alpha, palette with transparency, 1- and 16-bit, interlaced):
 * decoding, grey conversion, PIL-exact bilinear resizing (golden values from
 * Pillow 9.4: Image.convert(...).resize((4, 4), Image.BILINEAR)), the net's
 * normalisation, and every failure (missing, not an image, truncated, corrupt,
 * absurd size), each with a message naming the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "data/data.h"
#include <jpeglib.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test pattern the golden values were made from. */
static int pix(int x, int y, int c) {
    return (x * 37 + y * 91 + c * 53 + x * y * 13) % 256;
}

/* Pillow 9.4 output for pattern images of (w, h) converted and resized to 4x4
 * (row-major, RGB interleaved). */
static const uint8_t grey_8x8[] = {93,  135, 136, 131, 131, 146, 145, 125,
                                   117, 137, 140, 132, 129, 147, 174, 158};
static const uint8_t grey_3x3[] = {0,   23,  51,  74,  57,  85,  119, 147,
                                   125, 159, 165, 139, 182, 221, 173, 52};
static const uint8_t grey_7x5[] = {44,  107, 135, 180, 153, 159, 132, 121,
                                   118, 147, 149, 160, 121, 110, 145, 116};
static const uint8_t rgb_6x6_to_grey[] = {93,  138, 141, 163, 151, 139, 139, 130,
                                          126, 143, 124, 129, 169, 140, 127, 145};
static const uint8_t rgb_5x7[] = {59,  109, 153, 105, 150, 158, 149, 138, 145, 118, 143, 187,
                                  134, 154, 107, 153, 128, 130, 150, 131, 133, 132, 155, 108,
                                  110, 163, 144, 119, 172, 117, 143, 125, 148, 154, 77,  130,
                                  108, 161, 129, 91,  144, 190, 131, 121, 174, 176, 92,  145};
static const uint8_t grey_100x80[] = {126, 129, 131, 132, 125, 126, 127, 127,
                                      130, 127, 127, 129, 127, 125, 124, 127};
static const uint8_t grey_4x9[] = {75,  123, 120, 168, 91,  159, 108, 182,
                                   125, 123, 83,  187, 141, 176, 145, 180};
/* Image.convert("L") of the 4x4 RGB pattern (no resize). */
static const uint8_t rgb_4x4_luma[] = {43,  80,  117, 154, 134, 184, 205, 105,
                                       196, 109, 95,  158, 60,  136, 183, 109};

static char tmpdir[64];
static char made[64][160];
static int n_made;

static const char *tmp_file(const char *name) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    for (int i = 0; i < n_made; i++)
        if (strcmp(made[i], path) == 0) return made[i];
    assert_true(n_made < 64);
    snprintf(made[n_made], sizeof made[0], "%s", path);
    return made[n_made++];
}

static const char *write_bytes(const char *name, const void *data, size_t len) {
    const char *path = tmp_file(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static uint8_t *read_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- writers (test only) ------------------------------------------------ */

typedef struct {
    int color, depth, interlace;
    const png_color *palette;
    int n_palette;
    const uint8_t *trns;
    int n_trns;
} png_opts;

/* rows holds h rows of packed PNG samples (16-bit big-endian), as libpng wants. */
static const char *write_png(const char *name, int w, int h, const uint8_t *rows, png_opts o) {
    const char *path = tmp_file(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng could not write %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, o.depth, o.color,
                 o.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (o.palette) png_set_PLTE(png, info, o.palette, o.n_palette);
    if (o.trns) png_set_tRNS(png, info, o.trns, o.n_trns, NULL);
    png_write_info(png, info);
    int channels = o.color == PNG_COLOR_TYPE_RGB          ? 3
                   : o.color == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                   : o.color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                          : 1;
    size_t row = ((size_t)w * channels * o.depth + 7) / 8;
    png_bytep *rp = malloc(sizeof(png_bytep) * (size_t)h);
    assert_non_null(rp);
    for (int y = 0; y < h; y++)
        rp[y] = (png_bytep)rows + (size_t)y * row;
    png_write_image(png, rp);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rp);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_jpeg(const char *name, int w, int h, int comps, const uint8_t *px,
                              int quality) {
    const char *path = tmp_file(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)px + (size_t)c.next_scanline * w * comps;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* The pattern as w x h pixels of ch interleaved 8-bit channels (caller frees). */
static uint8_t *pattern(int w, int h, int ch) {
    uint8_t *p = malloc((size_t)w * h * ch);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                p[((size_t)y * w + x) * ch + c] = (uint8_t)pix(x, y, c);
    return p;
}

static const char *pattern_png(const char *name, int w, int h, int ch) {
    uint8_t *p = pattern(w, h, ch);
    const char *path = write_png(
        name, w, h, p,
        (png_opts){.color = ch == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, .depth = 8});
    free(p);
    return path;
}

/* ---- checks ------------------------------------------------------------ */

static cnn_net *make_net(const char *input) {
    char text[256];
    snprintf(text, sizeof text, "%s\nflatten\n", input);
    cnn_net *net = NULL;
    if (cnn_net_parse(&net, text, "t.cnn", 1) != CNN_OK) fail_msg("%s", cnn_last_error());
    return net;
}

static cnn_net *grey_net; /* 1x4x4, mean 0.5, std 0.5 */
static cnn_net *rgb_net;  /* 3x4x4, per-channel mean and std */

/* Load path and compare with want (h*w*ch interleaved bytes, ch 1 or equal to
 * the net's channels) through the net's normalisation, within tol levels. */
static void expect_image(const char *path, cnn_net *net, const uint8_t *want, int ch, int tol) {
    int c, h, w;
    cnn_net_input_shape(net, &c, &h, &w);
    size_t plane = (size_t)h * w;
    float *out = malloc(sizeof(float) * c * plane);
    assert_non_null(out);
    if (cnn_image_load(path, net, out) != CNN_OK) fail_msg("%s", cnn_last_error());
    for (int k = 0; k < c; k++) {
        float mean, std;
        cnn_net_input_norm(net, k, &mean, &std);
        float t[256];
        cnn_data_norm_table(net, k, t);
        for (size_t i = 0; i < plane; i++) {
            int ref = want[i * ch + (ch == 1 ? 0 : k)];
            float got = out[k * plane + i];
            if (tol == 0 && got != t[ref])
                fail_msg("%s: channel %d pixel %zu: got %.7g (level %.2f), want level %d", path, k,
                         i, got, (got * std + mean) * 255, ref);
            float level = (got * std + mean) * 255.0f;
            if (tol > 0 && (level < ref - tol - 0.01f || level > ref + tol + 0.01f))
                fail_msg("%s: channel %d pixel %zu: level %.2f, want %d +- %d", path, k, i, level,
                         ref, tol);
        }
    }
    free(out);
}

static void expect_fail(const char *path, cnn_net *net, cnn_status s, const char *needle) {
    float out[3 * 16];
    cnn_status got = cnn_image_load(path, net, out);
    const char *msg = cnn_last_error();
    print_message("  -> %s\n", msg);
    assert_int_equal(got, s);
    if (strncmp(msg, path, strlen(path)) != 0)
        fail_msg("message \"%s\" does not name %s", msg, path);
    if (needle && !strstr(msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
    assert_null(strchr(msg, '\n'));
}

/* ---- tests ------------------------------------------------------------- */

static void test_png_kinds(void **state) {
    (void)state;
    uint8_t grey[16], rgb[48], rgba[64], ga[32], g16[32], rgb16[96], idx[16];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            int i = y * 4 + x;
            grey[i] = (uint8_t)pix(x, y, 0);
            ga[2 * i] = grey[i];
            ga[2 * i + 1] = (uint8_t)(i * 16);
            g16[2 * i] = grey[i]; /* high byte, then a low byte that must be dropped */
            g16[2 * i + 1] = (uint8_t)(255 - i);
            for (int c = 0; c < 3; c++) {
                rgb[3 * i + c] = rgba[4 * i + c] = (uint8_t)pix(x, y, c);
                rgb16[6 * i + 2 * c] = (uint8_t)pix(x, y, c);
                rgb16[6 * i + 2 * c + 1] = (uint8_t)(x * 60 + c);
            }
            rgba[4 * i + 3] = (uint8_t)(255 - i * 10);
            idx[i] = (uint8_t)((i * 5) % 16);
        }
    /* Grey is exact; colour goes through PIL's luma; alpha and low bytes vanish. */
    expect_image(
        write_png("g8.png", 4, 4, grey, (png_opts){.color = PNG_COLOR_TYPE_GRAY, .depth = 8}),
        grey_net, grey, 1, 0);
    expect_image(
        write_png("rgb.png", 4, 4, rgb, (png_opts){.color = PNG_COLOR_TYPE_RGB, .depth = 8}),
        grey_net, rgb_4x4_luma, 1, 0);
    expect_image(write_png("rgba.png", 4, 4, rgba,
                           (png_opts){.color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8}),
                 grey_net, rgb_4x4_luma, 1, 0);
    expect_image(
        write_png("ga.png", 4, 4, ga, (png_opts){.color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8}),
        grey_net, grey, 1, 0);
    expect_image(
        write_png("g16.png", 4, 4, g16, (png_opts){.color = PNG_COLOR_TYPE_GRAY, .depth = 16}),
        grey_net, grey, 1, 0);
    expect_image(
        write_png("rgb16.png", 4, 4, rgb16, (png_opts){.color = PNG_COLOR_TYPE_RGB, .depth = 16}),
        grey_net, rgb_4x4_luma, 1, 0);
    expect_image(write_png("rgb-adam7.png", 4, 4, rgb,
                           (png_opts){.color = PNG_COLOR_TYPE_RGB, .depth = 8, .interlace = 1}),
                 grey_net, rgb_4x4_luma, 1, 0);
    /* The same files for an RGB net: channels as written, grey repeated. */
    expect_image(tmp_file("rgb.png"), rgb_net, rgb, 3, 0);
    expect_image(tmp_file("rgba.png"), rgb_net, rgb, 3, 0);
    expect_image(tmp_file("rgb16.png"), rgb_net, rgb, 3, 0);
    expect_image(tmp_file("g8.png"), rgb_net, grey, 1, 0);
    expect_image(tmp_file("ga.png"), rgb_net, grey, 1, 0);

    /* A palette with transparency: expanded, alpha dropped. */
    png_color pal[16];
    uint8_t trns[16], want_rgb[48], want_grey[16];
    for (int k = 0; k < 16; k++) {
        pal[k] = (png_color){(png_byte)(k * 16), (png_byte)(255 - k * 16), (png_byte)(k * 7)};
        trns[k] = (uint8_t)(k * 15);
    }
    for (int i = 0; i < 16; i++) {
        png_color p = pal[idx[i]];
        want_rgb[3 * i] = p.red;
        want_rgb[3 * i + 1] = p.green;
        want_rgb[3 * i + 2] = p.blue;
        want_grey[i] =
            (uint8_t)((p.red * 19595u + p.green * 38470u + p.blue * 7471u + 0x8000u) >> 16);
    }
    const char *pp = write_png("pal.png", 4, 4, idx,
                               (png_opts){.color = PNG_COLOR_TYPE_PALETTE,
                                          .depth = 8,
                                          .interlace = 0,
                                          .palette = pal,
                                          .n_palette = 16,
                                          .trns = trns,
                                          .n_trns = 16});
    expect_image(pp, grey_net, want_grey, 1, 0);
    expect_image(pp, rgb_net, want_rgb, 3, 0);
    /* 4-bit palette and 1-bit grey (0/1 -> 0/255). */
    uint8_t idx4[8], bits[4], want_bits[16];
    for (int i = 0; i < 8; i++)
        idx4[i] = (uint8_t)(idx[2 * i] << 4 | idx[2 * i + 1]);
    expect_image(write_png("pal4.png", 4, 4, idx4,
                           (png_opts){.color = PNG_COLOR_TYPE_PALETTE,
                                      .depth = 4,
                                      .interlace = 0,
                                      .palette = pal,
                                      .n_palette = 16}),
                 rgb_net, want_rgb, 3, 0);
    for (int y = 0; y < 4; y++) {
        bits[y] = 0;
        for (int x = 0; x < 4; x++) {
            int on = (x + y) % 3 == 0;
            bits[y] |= (uint8_t)(on << (7 - x));
            want_bits[y * 4 + x] = on ? 255 : 0;
        }
    }
    expect_image(
        write_png("g1.png", 4, 4, bits, (png_opts){.color = PNG_COLOR_TYPE_GRAY, .depth = 1}),
        grey_net, want_bits, 1, 0);
}

static void test_resize_golden(void **state) {
    (void)state;
    expect_image(pattern_png("p8x8.png", 8, 8, 1), grey_net, grey_8x8, 1, 0);
    expect_image(pattern_png("p3x3.png", 3, 3, 1), grey_net, grey_3x3, 1, 0);
    expect_image(pattern_png("p7x5.png", 7, 5, 1), grey_net, grey_7x5, 1, 0);
    expect_image(pattern_png("p4x9.png", 4, 9, 1), grey_net, grey_4x9, 1, 0);
    expect_image(pattern_png("p100x80.png", 100, 80, 1), grey_net, grey_100x80, 1, 0);
    expect_image(pattern_png("rgb6x6.png", 6, 6, 3), grey_net, rgb_6x6_to_grey, 1, 0);
    expect_image(pattern_png("rgb5x7.png", 5, 7, 3), rgb_net, rgb_5x7, 3, 0);

    /* The helper directly: identity, and a constant image stays constant. */
    uint8_t *p = pattern(7, 5, 3), q[7 * 5 * 3], flat[50 * 30], small[4 * 6];
    assert_int_equal(cnn_image_resize_u8(p, 7, 5, 3, q, 7, 5), CNN_OK);
    assert_memory_equal(p, q, sizeof q);
    free(p);
    memset(flat, 77, sizeof flat);
    assert_int_equal(cnn_image_resize_u8(flat, 50, 30, 1, small, 4, 6), CNN_OK);
    for (int i = 0; i < 24; i++)
        assert_int_equal(small[i], 77);
}

static void test_jpeg(void **state) {
    (void)state;
    /* Flat colours survive JPEG almost exactly. */
    uint8_t grey[64], rgb[64 * 3];
    memset(grey, 128, sizeof grey);
    for (int i = 0; i < 64; i++) {
        rgb[3 * i] = 200;
        rgb[3 * i + 1] = 100;
        rgb[3 * i + 2] = 50;
    }
    uint8_t want_grey[16], want_luma[16], want_rgb[48];
    memset(want_grey, 128, sizeof want_grey);
    memset(want_luma, (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16, sizeof want_luma);
    for (int i = 0; i < 16; i++)
        memcpy(want_rgb + 3 * i, rgb, 3);
    const char *gj = write_jpeg("g.jpg", 8, 8, 1, grey, 100);
    const char *cj = write_jpeg("c.jpg", 8, 8, 3, rgb, 100);
    expect_image(gj, grey_net, want_grey, 1, 1);
    expect_image(gj, rgb_net, want_grey, 1, 1);
    expect_image(cj, grey_net, want_luma, 1, 2);
    expect_image(cj, rgb_net, want_rgb, 3, 2);
    /* A pattern at quality 100, resized: close to PIL's result on the original. */
    uint8_t *p = pattern(8, 8, 1);
    expect_image(write_jpeg("p8.jpg", 8, 8, 1, p, 100), grey_net, grey_8x8, 1, 3);
    free(p);
    /* An RGB pattern at 4x4, no resize. */
    p = pattern(4, 4, 3);
    expect_image(write_jpeg("p4.jpg", 4, 4, 3, p, 100), grey_net, rgb_4x4_luma, 1, 6);
    free(p);
}

static void test_errors(void **state) {
    (void)state;
    const char *missing = tmp_file("missing.png");
    expect_fail(missing, grey_net, CNN_ERR_IO, "No such file or directory");
    char want[200];
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    assert_string_equal(cnn_last_error(), want);
    expect_fail(tmpdir, grey_net, CNN_ERR_IO, NULL);
    expect_fail(write_bytes("text.png", "hello, world\n", 13), grey_net, CNN_ERR_FORMAT,
                "not a PNG or JPEG");
    expect_fail(write_bytes("empty.jpg", "", 0), grey_net, CNN_ERR_FORMAT, "not a PNG or JPEG");
    expect_fail(write_bytes("soi.jpg", "\xff\xd8\xff", 3), grey_net, CNN_ERR_FORMAT, "JPEG");

    /* PNG cut short, cut after the signature, and with a damaged data chunk. */
    size_t n;
    uint8_t *png = read_bytes(pattern_png("big.png", 100, 80, 1), &n);
    expect_fail(write_bytes("half.png", png, n / 2), grey_net, CNN_ERR_FORMAT, "corrupt PNG");
    expect_fail(write_bytes("sig.png", png, 8), grey_net, CNN_ERR_FORMAT,
                "at offset 8: unexpected end of file");
    expect_fail(write_bytes("ihdr.png", png, 20), grey_net, CNN_ERR_FORMAT, "corrupt PNG");
    uint8_t *bad = malloc(n);
    assert_non_null(bad);
    memcpy(bad, png, n);
    for (size_t j = n / 2; j < n / 2 + 4; j++)
        bad[j] ^= 0xff;
    expect_fail(write_bytes("flip.png", bad, n), grey_net, CNN_ERR_FORMAT, "corrupt PNG");
    memcpy(bad, png, n);
    bad[16] = 0x7f; /* width 0x7f00.. : beyond PNG's own limit */
    expect_fail(write_bytes("width.png", bad, n), grey_net, CNN_ERR_FORMAT, "corrupt PNG");
    free(bad);
    free(png);

    /* JPEG cut short, damaged headers. */
    uint8_t *p = pattern(64, 64, 3);
    uint8_t *jpg = read_bytes(write_jpeg("big.jpg", 64, 64, 3, p, 90), &n);
    free(p);
    expect_fail(write_bytes("half.jpg", jpg, n / 2), grey_net, CNN_ERR_FORMAT, "truncated");
    expect_fail(write_bytes("head.jpg", jpg, 40), grey_net, CNN_ERR_FORMAT, "corrupt JPEG");
    uint8_t *jbad = malloc(n);
    assert_non_null(jbad);
    memcpy(jbad, jpg, n);
    memset(jbad + 4, 0x00, 40);
    expect_fail(write_bytes("junk.jpg", jbad, n), grey_net, CNN_ERR_FORMAT, "corrupt JPEG");
    free(jbad);
    free(jpg);

    /* Absurd sizes are refused before decoding the pixels. */
    uint8_t *wide = calloc(20000, 1);
    assert_non_null(wide);
    expect_fail(
        write_png("wide.png", 20000, 1, wide, (png_opts){.color = PNG_COLOR_TYPE_GRAY, .depth = 8}),
        grey_net, CNN_ERR_FORMAT, "20000x1 pixels, larger than the limit 16384x16384");
    expect_fail(write_jpeg("wide.jpg", 20000, 1, 1, wide, 50), grey_net, CNN_ERR_FORMAT,
                "20000x1 pixels, larger than the limit");
    free(wide);

    /* A net whose input is neither grey nor RGB. */
    cnn_net *two = make_net("input shape=2x4x4");
    expect_fail(tmp_file("g8.png"), two, CNN_ERR_UNSUPPORTED, "2 channels");
    cnn_net_free(two);
}

/* Random damage to a PNG and a JPEG: every variant either decodes or fails
 * with a one-line message naming the file; never a crash (see ASan/valgrind). */
static void test_mutations(void **state) {
    (void)state;
    size_t np, nj;
    uint8_t *p = pattern(24, 20, 3);
    uint8_t *png = read_bytes(
        write_png("m.png", 24, 20, p, (png_opts){.color = PNG_COLOR_TYPE_RGB, .depth = 8}), &np);
    uint8_t *jpg = read_bytes(write_jpeg("m.jpg", 24, 20, 3, p, 80), &nj);
    free(p);
    uint8_t *m = malloc(np > nj ? np : nj);
    assert_non_null(m);
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    int failed = 0;
    float out[3 * 16];
    for (int t = 0; t < 400; t++) {
        int is_png = t % 2;
        size_t len = is_png ? np : nj;
        memcpy(m, is_png ? png : jpg, len);
        int flips = 1 + (int)(cnn_rng_u64(&r) % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = 2 + cnn_rng_u64(&r) % (len - 2); /* keep most magics */
            m[at] ^= (uint8_t)(1 + cnn_rng_u64(&r) % 255);
        }
        if (cnn_rng_u64(&r) % 4 == 0) len = cnn_rng_u64(&r) % len;
        const char *path = write_bytes(is_png ? "mut.png" : "mut.jpg", m, len);
        cnn_net *net = t % 3 ? grey_net : rgb_net;
        if (cnn_image_load(path, net, out) == CNN_OK) continue;
        failed++;
        const char *msg = cnn_last_error();
        if (strncmp(msg, path, strlen(path)) != 0)
            fail_msg("message \"%s\" does not name %s", msg, path);
        assert_null(strchr(msg, '\n'));
    }
    print_message("  %d of 400 damaged files refused\n", failed);
    assert_true(failed > 100);
    free(m);
    free(png);
    free(jpg);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cnn_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (cnn_net_parse(&grey_net, "input shape=1x4x4 mean=0.5 std=0.5\nflatten\n", "t.cnn", 1) !=
        CNN_OK)
        return -1;
    return cnn_net_parse(&rgb_net, "input shape=3x4x4 mean=0.1,0.2,0.3 std=0.5,0.6,0.7\nflatten\n",
                         "t.cnn", 1) == CNN_OK
               ? 0
               : -1;
}

static int teardown(void **state) {
    (void)state;
    cnn_net_free(grey_net);
    cnn_net_free(rgb_net);
    for (int i = 0; i < n_made; i++)
        remove(made[i]);
    return rmdir(tmpdir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_kinds), cmocka_unit_test(test_resize_golden),
        cmocka_unit_test(test_jpeg),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
