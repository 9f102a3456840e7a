/* fuzz_cifar.c — CIFAR-10/100 binary batches: cnn_dataset_load_cifar. The
 * first byte's low bit chooses CIFAR-100's layout (two label bytes); its next
 * bit cuts the rest in two files at its middle byte, so loading several files
 * (and a bad length in the second) is covered too. A dataset that loads is read
 * back through cnn_dataset_batch. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    int cifar100 = data[0] & 1, two = data[0] >> 1 & 1;
    data++;
    size--;
    size_t cut = two ? size / 2 : size;
    char p0[64], p1[64];
    int fd0 = fuzz_memfile(data, cut, p0), fd1 = two ? fuzz_memfile(data + cut, size - cut, p1) : -1;
    const char *paths[2] = {p0, p1};
    if (fd0 >= 0 && (!two || fd1 >= 0)) {
        cnn_dataset ds;
        cnn_error_clear();
        cnn_status s = cnn_dataset_load_cifar(&ds, paths, two ? 2 : 1, cifar100);
        if (s != CNN_OK) {
            FUZZ_CHECK_MESSAGE(s);
        } else {
            FUZZ_CHECK(ds.n > 0 && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.classes >= 1 &&
                           ds.classes <= (cifar100 ? 100 : 10),
                       "dataset %dx%dx%dx%d, %d classes", ds.n, ds.c, ds.h, ds.w, ds.classes);
            static float x[2 * 3 * 32 * 32];
            uint8_t labels[2];
            int idx[2] = {ds.n - 1, 0};
            cnn_dataset_batch(&ds, NULL, idx, 0, 2, x, labels);
            cnn_dataset_free(&ds);
        }
    }
    if (fd0 >= 0) close(fd0);
    if (fd1 >= 0) close(fd1);
    return 0;
}
