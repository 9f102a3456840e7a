/* softmax.h — softmax over channels and the fused softmax cross-entropy loss.
 *
 * cnn_softmax_forward/backward follow torch.nn.Softmax(dim=1) on (N, C, H, W):
 * the softmax runs over C at every sample and position. The *_ref versions are
 * the naive per-position loops the blocked fast paths are tested against.
 *
 * cnn_softmax_xent is torch.nn.CrossEntropyLoss(label_smoothing=s) (mean
 * reduction) on logits, fused with its gradient. */
#ifndef CNN_SOFTMAX_H
#define CNN_SOFTMAX_H

#include "../core/core.h"

/* x, y are (n, c, hw): y = exp(x - max_c x) / sum_c exp(x - max_c x). y may alias x. */
void cnn_softmax_forward(const float *x, float *y, int n, int c, int hw);
/* y, dy, dx are (n, c, hw): dx = y * (dy - sum_c(dy * y)). Overwrites dx; dx may alias dy. */
void cnn_softmax_backward(const float *y, const float *dy, float *dx, int n, int c, int hw);

void cnn_softmax_forward_ref(const float *x, float *y, int n, int c, int hw);
void cnn_softmax_backward_ref(const float *y, const float *dy, float *dx, int n, int c, int hw);

/* logits and dlogits are (n, k), labels (n) with values < k, smoothing in [0, 1].
 * *loss = mean over the batch of -sum_j t_j log softmax(z)_j, where the target
 * t = (1 - s) * onehot(label) + s / k; log-sum-exp stable (computed in double).
 * dlogits (may be NULL, for evaluation) = (softmax(z) - t) / n, overwritten.
 * *correct (may be NULL) = samples whose first arg-max equals the label.
 * Errors: CNN_ERR_ARG for a bad argument or a label >= k (nothing written);
 * CNN_ERR_NUMERIC when the loss is NaN or Inf (the logits hold NaN or Inf):
 * *loss gets the non-finite value and dlogits is partly written. */
cnn_status cnn_softmax_xent(const float *logits, const uint8_t *labels, int n, int k,
                            float smoothing, float *dlogits, float *loss, int *correct);

#endif
