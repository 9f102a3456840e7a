/* data.h — internal helpers for datasets (src/data), for the trainer and tests. */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include "../core/core.h"

/* Check that ds fits net: the images' (c,h,w) equal the net's input shape and
 * every label is below the number of the net's outputs. what names the set in
 * messages ("train set: images are 1x28x28 but the model's input is 3x32x32").
 * CNN_ERR_SHAPE on a mismatch. */
cnn_status cnn_dataset_check(const cnn_dataset *ds, const cnn_net *net, const char *what);

/* The open images file of a dataset read per batch (cnn_dataset_open_idx),
 * or NULL. Only a dataset without images has one: code that fills a
 * cnn_dataset field by field (leaving `file` unset) keeps working. */
static inline struct cnn_dataset_file *cnn_dataset_file_of(const cnn_dataset *ds) {
    return ds->images ? NULL : ds->file;
}

/* The c*h*w bytes of sample k: a pointer into ds->images, or for a dataset
 * read from its file (cnn_dataset_open_idx) the bytes read into buf. After a
 * read error buf is zeroed and the error is kept for cnn_dataset_read_status. */
const uint8_t *cnn_dataset_sample(const cnn_dataset *ds, int k, uint8_t *buf);

/* CNN_OK, or the first read error of ds's file (its message set again). */
cnn_status cnn_dataset_read_status(const cnn_dataset *ds);

/* table[p] = (p / 255 - mean) / std with the net's normalisation of input
 * channel c (mean 0, std 1 when net is NULL): the one conversion from pixels
 * to floats, shared by batches and single images. */
void cnn_data_norm_table(const cnn_net *net, int channel, float table[256]);

/* PIL's Image.resize(BILINEAR) on 8-bit interleaved pixels: src is (h, w, ch),
 * dst (oh, ow, ch); bit-identical to PIL for "L" and "RGB" images. */
cnn_status cnn_image_resize_u8(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                               int oh);

/* Decode a PNG or JPEG file to planar uint8 (c, h, w): grey (c == 1) or RGB
 * (c == 3), resized with PIL's bilinear filter: cnn_image_load without the
 * normalisation. */
cnn_status cnn_image_load_u8(const char *path, int c, int h, int w, uint8_t *out);

/* Augmentation of one sample: src uint8 (c, h, w) to normalised float dst
 * (c, h, w) with the net's normalisation tables (table[c][256]), drawing from
 * rng; cfg's crop_pad, hflip, rotate, translate and erase select the steps.
 * Without any, dst is the plain normalised sample and rng is not used. */
void cnn_augment_sample(const cnn_train_config *cfg, const uint8_t *src, int c, int h, int w,
                        const float (*table)[256], cnn_rng *rng, float *dst);
int cnn_augment_active(const cnn_train_config *cfg);

#endif
