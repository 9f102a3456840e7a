/* optim.h — internal access to an optimizer's state, for checkpoints.
 *
 * The state is one block of floats: nothing for plain SGD, the momentum
 * buffer (n) for SGD with momentum, m then v (2n) for Adam and AdamW. With
 * the step count it is all an optimizer remembers, so saving both and
 * restoring them into a fresh optimizer (same config and n) resumes training
 * bit-exactly. */
#ifndef CNN_TRAIN_OPTIM_H
#define CNN_TRAIN_OPTIM_H

#include "cnn.h"
#include <stddef.h>
#include <stdint.h>

/* Number of floats in the state block (0 for plain SGD). */
size_t cnn_optim_state_size(const cnn_optim *opt);
/* The state block, cnn_optim_state_size(opt) floats, to read or overwrite. */
float *cnn_optim_state(cnn_optim *opt);
/* Steps taken so far (Adam's bias correction; SGD's first-step buffer init). */
int64_t cnn_optim_steps(const cnn_optim *opt);
void cnn_optim_set_steps(cnn_optim *opt, int64_t steps);

#endif
