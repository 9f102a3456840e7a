/* data.h — internal helpers for datasets (src/data), for the trainer and tests. */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include "../core/core.h"

/* Check that ds fits net: the images' (c,h,w) equal the net's input shape and
 * every label is below the number of the net's outputs. what names the set in
 * messages ("train set: images are 1x28x28 but the model's input is 3x32x32").
 * CNN_ERR_SHAPE on a mismatch. */
cnn_status cnn_dataset_check(const cnn_dataset *ds, const cnn_net *net, const char *what);

/* table[p] = (p / 255 - mean) / std with the net's normalisation of input
 * channel c (mean 0, std 1 when net is NULL): the one conversion from pixels
 * to floats, shared by batches and single images. */
void cnn_data_norm_table(const cnn_net *net, int channel, float table[256]);

/* PIL's Image.resize(BILINEAR) on 8-bit interleaved pixels: src is (h, w, ch),
 * dst (oh, ow, ch); bit-identical to PIL for "L" and "RGB" images. */
cnn_status cnn_image_resize_u8(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                               int oh);

#endif
