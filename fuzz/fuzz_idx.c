/* fuzz_idx.c — IDX datasets (raw or gzip): cnn_dataset_load_idx on an image
 * file and a label file cut from one input. The first two bytes
 * (little-endian) say how many of the remaining bytes are the image file;
 * the rest is the label file. A dataset that loads is read back through
 * cnn_dataset_batch, so its declared shape is checked against its memory. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > (1 << 20)) return 0;
    size_t k = (size_t)(data[0] | data[1] << 8);
    data += 2;
    size -= 2;
    if (k > size) k = size;
    char ipath[64], lpath[64];
    int ifd = fuzz_memfile(data, k, ipath);
    int lfd = fuzz_memfile(data + k, size - k, lpath);
    if (ifd >= 0 && lfd >= 0) {
        cnn_dataset ds;
        cnn_error_clear();
        cnn_status s = cnn_dataset_load_idx(&ds, ipath, lpath);
        if (s != CNN_OK) {
            FUZZ_CHECK_MESSAGE(s);
        } else {
            FUZZ_CHECK(ds.n > 0 && ds.c == 1 && ds.h > 0 && ds.w > 0 && ds.classes >= 1 &&
                           ds.classes <= 256,
                       "dataset %dx%dx%dx%d, %d classes", ds.n, ds.c, ds.h, ds.w, ds.classes);
            int n = ds.n < 3 ? ds.n : 3;
            size_t sample = (size_t)ds.c * ds.h * ds.w;
            float *x = malloc((size_t)n * sample * sizeof *x);
            uint8_t labels[3];
            int idx[3] = {ds.n - 1, 0, ds.n / 2};
            if (x) cnn_dataset_batch(&ds, NULL, idx, 0, n, x, labels);
            free(x);
            cnn_dataset_free(&ds);
        }
    }
    if (ifd >= 0) close(ifd);
    if (lfd >= 0) close(lfd);
    return 0;
}
