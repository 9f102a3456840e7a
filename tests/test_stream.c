/* test_stream.c — a dataset read from its file per batch (cnn_dataset_open_idx)
 * gives exactly what the same dataset loaded into memory gives: the same
 * fields and labels, batches of bit-identical floats (and equal to torchvision's
 * ToTensor + Normalize, (p / 255 - mean) / std, computed here directly), the
 * same copies and validation splits, and bit-identical weights after training
 * with and without the prefetch thread and with augmentation. A gzip file
 * falls back to memory; a file that shrinks under an open dataset fails
 * evaluation and training with the file's name instead of training on zeros. */
#include "cnn.h"
#include "data/data.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define N 53
#define H 9
#define W 7

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixels[N * H * W], labels[N];

static int write_files(const char *dir) {
    uint8_t head[16], lhead[8];
    be32(head, 0x803);
    be32(head + 4, N);
    be32(head + 8, H);
    be32(head + 12, W);
    be32(lhead, 0x801);
    be32(lhead + 4, N);
    char path[512];
    snprintf(path, sizeof path, "%s/images", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(head, 1, 16, f) != 16 || fwrite(pixels, 1, sizeof pixels, f) != sizeof pixels)
        return 0;
    fclose(f);
    snprintf(path, sizeof path, "%s/labels", dir);
    f = fopen(path, "wb");
    if (!f || fwrite(lhead, 1, 8, f) != 8 || fwrite(labels, 1, N, f) != N) return 0;
    fclose(f);
    snprintf(path, sizeof path, "%s/images.gz", dir);
    gzFile g = gzopen(path, "wb");
    if (!g || gzwrite(g, head, 16) != 16 || gzwrite(g, pixels, sizeof pixels) != sizeof pixels)
        return 0;
    gzclose(g);
    return 1;
}

static const char model[] = "input shape=1x9x7 mean=0.2 std=0.35\n"
                            "train epochs=2 batch=8 optimizer=adam lr=0.01 seed=3\n"
                            "conv filters=3 kernel=3 padding=1\nrelu\nmaxpool kernel=2\n"
                            "flatten\ndense units=5\nsoftmax\n";

/* Train a fresh net on ds; returns its parameters (malloc'd). */
static float *train(const cnn_dataset *ds, int prefetch, int translate, size_t *np) {
    cnn_net *net;
    if (cnn_net_parse(&net, model, "<stream>", 0) != CNN_OK) return NULL;
    cnn_train_config cfg = *cnn_net_train_config(net);
    cfg.translate = translate;
    cnn_train_options o = {0};
    o.train = ds;
    o.no_prefetch = !prefetch;
    float *p = NULL;
    if (cnn_train_run(net, &cfg, &o) == CNN_OK) {
        *np = cnn_net_num_params(net);
        p = malloc(*np * sizeof *p);
        memcpy(p, cnn_net_params(net), *np * sizeof *p);
    } else {
        fprintf(stderr, "train: %s\n", cnn_last_error());
    }
    cnn_net_free(net);
    return p;
}

int main(void) {
    char dir[] = "/tmp/test_stream_XXXXXX", im[512], lb[512], gz[512];
    if (!mkdtemp(dir)) return 1;
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(cnn_rng_u64(&r) & 255);
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)(cnn_rng_u64(&r) % 5);
    if (!write_files(dir)) return 1;
    snprintf(im, sizeof im, "%s/images", dir);
    snprintf(lb, sizeof lb, "%s/labels", dir);
    snprintf(gz, sizeof gz, "%s/images.gz", dir);

    cnn_dataset mem, file, zipped;
    check(cnn_dataset_load_idx(&mem, im, lb) == CNN_OK, "load");
    check(cnn_dataset_open_idx(&file, im, lb) == CNN_OK, "open");
    check(cnn_dataset_open_idx(&zipped, gz, lb) == CNN_OK, "open gzip");
    check(file.images == NULL && file.file != NULL, "a raw file stays on disk");
    check(zipped.images != NULL && zipped.file == NULL, "a gzip file is loaded into memory");
    check(file.n == N && file.c == 1 && file.h == H && file.w == W && file.classes == mem.classes &&
              !memcmp(file.labels, mem.labels, N),
          "fields and labels");

    /* Batches: in order, shuffled, and against the formula. */
    cnn_net *net;
    if (cnn_net_parse(&net, model, "<stream>", 1) != CNN_OK) return 1;
    int idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = (i * 17 + 3) % N;
    float *a = malloc(sizeof(float) * N * H * W), *b = malloc(sizeof(float) * N * H * W);
    uint8_t la[N], lbl[N];
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        const int *order = shuffled ? idx : NULL;
        cnn_dataset_batch(&mem, net, order, 0, N, a, la);
        memset(b, 0xff, sizeof(float) * N * H * W);
        cnn_dataset_batch(&file, net, order, 0, N, b, lbl);
        check(!memcmp(a, b, sizeof(float) * N * H * W) && !memcmp(la, lbl, N),
              "batch floats of the file and memory datasets differ");
        int exact = 1;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < H * W; j++) {
                int k = order ? order[i] : i;
                float want = ((float)pixels[k * H * W + j] / 255.0f - 0.2f) / 0.35f;
                exact &= b[i * H * W + j] == want;
            }
        check(exact, "batch floats are not (p / 255 - mean) / std");
    }
    cnn_dataset_batch(&mem, net, NULL, 40, 13, a, la);
    cnn_dataset_batch(&file, net, NULL, 40, 13, b, lbl);
    check(!memcmp(a, b, sizeof(float) * 13 * H * W) && !memcmp(la, lbl, 13),
          "a batch from an offset");
    float acc_mem, acc_file;
    check(cnn_evaluate(net, &mem, 8, NULL, &acc_mem) == CNN_OK &&
              cnn_evaluate(net, &file, 8, NULL, &acc_file) == CNN_OK && acc_mem == acc_file,
          "evaluation");

    /* Copies and splits of a file dataset are in memory and equal. */
    cnn_dataset t1, v1, t2, v2, c1, c2;
    check(cnn_dataset_split(&mem, 0.25, 9, &t1, &v1) == CNN_OK &&
              cnn_dataset_split(&file, 0.25, 9, &t2, &v2) == CNN_OK,
          "split");
    check(t1.n == t2.n && v1.n == v2.n && !memcmp(t1.images, t2.images, (size_t)t1.n * H * W) &&
              !memcmp(v1.images, v2.images, (size_t)v1.n * H * W) &&
              !memcmp(v1.labels, v2.labels, (size_t)v1.n),
          "split of a file dataset");
    check(cnn_dataset_copy(&c1, &mem, 20) == CNN_OK && cnn_dataset_copy(&c2, &file, 20) == CNN_OK &&
              !memcmp(c1.images, c2.images, 20 * H * W),
          "copy of a file dataset");

    /* Training: bit-identical weights, with and without prefetch and augmentation. */
    for (int aug = 0; aug < 2; aug++) {
        size_t n1 = 0, n2 = 0, n3 = 0;
        float *p1 = train(&mem, 1, aug, &n1), *p2 = train(&file, 1, aug, &n2),
              *p3 = train(&file, 0, aug, &n3);
        check(p1 && p2 && p3 && n1 == n2 && n1 == n3 && !memcmp(p1, p2, n1 * sizeof *p1) &&
                  !memcmp(p1, p3, n1 * sizeof *p1),
              aug ? "trained weights differ (augmented)" : "trained weights differ");
        free(p1);
        free(p2);
        free(p3);
    }

    /* The file shrinks under the open dataset: evaluation and training fail, naming it. */
    check(truncate(im, 16 + 30 * H * W) == 0, "truncate");
    float acc;
    check(cnn_evaluate(net, &file, 8, NULL, &acc) == CNN_ERR_IO &&
              strstr(cnn_last_error(), im) != NULL,
          "evaluation of a truncated file does not fail with its name");
    size_t np;
    check(train(&file, 1, 0, &np) == NULL && strstr(cnn_last_error(), im) != NULL,
          "training on a truncated file does not fail with its name");

    cnn_net_free(net);
    cnn_dataset_free(&mem);
    cnn_dataset_free(&file);
    cnn_dataset_free(&zipped);
    cnn_dataset_free(&t1);
    cnn_dataset_free(&v1);
    cnn_dataset_free(&t2);
    cnn_dataset_free(&v2);
    cnn_dataset_free(&c1);
    cnn_dataset_free(&c2);
    free(a);
    free(b);
    unlink(im);
    unlink(lb);
    unlink(gz);
    rmdir(dir);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("a dataset read per batch from its file matches the loaded one bit for bit\n");
    return failures ? 1 : 0;
}
