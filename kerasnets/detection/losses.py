"""The detectors' loss terms, shared by the two-stage and the single-stage models (element-wise, `keras.ops`).

`smooth_l1` and `bce_with_logits` are the RPN's and the box heads' (Girshick 2015, torchvision's
`F.smooth_l1_loss(beta=1/9)` and `binary_cross_entropy_with_logits`); `sigmoid_focal_loss` is RetinaNet's
(Lin et al. 2017, eq. 5) and `hard_negatives` SSD's mining (Liu et al. 2016, section 2.2).
"""

from keras import ops


def smooth_l1(x, beta):
    """Huber-style smooth L1 of Fast R-CNN (torchvision's `beta`)."""
    ax = ops.abs(x)
    return ops.where(ax < beta, 0.5 * ax * ax / beta, ax - 0.5 * beta)


def bce_with_logits(labels, logits):
    """Element-wise binary cross-entropy on logits (the numerically stable form)."""
    return ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def sigmoid_focal_loss(targets, logits, alpha=0.25, gamma=2.0):
    """Element-wise focal loss (Lin et al. 2017, eq. 5): `-alpha_t (1 - p_t)^gamma log(p_t)` on sigmoid logits."""
    p = ops.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * (1 - p_t) ** gamma * bce_with_logits(targets, logits)


def hard_negatives(loss, positive, negative, ratio=3.0):
    """SSD's hard-negative mining (Liu et al. 2016, section 2.2): per image (rows of `[B, N]`) the
    `ratio` x (number of positives, at least 1) negatives of highest `loss`."""
    neg_loss = ops.where(negative, loss, -1.0)
    rank = ops.argsort(ops.argsort(-neg_loss, axis=-1), axis=-1)
    quota = ops.cast(ops.sum(ops.cast(positive, "int32"), axis=-1, keepdims=True), "float32")
    quota = ops.maximum(quota * ratio, 1.0)
    return negative & (ops.cast(rank, "float32") < quota)


def masked_mean(values, mask, count):
    """`sum(values * mask) / count`, the normalisation every detection loss uses (count >= 1)."""
    return ops.sum(values * ops.cast(mask, values.dtype)) / count


def box_loss(deltas, targets, mask, count, beta=1.0 / 9):
    """Smooth L1 over the four deltas of the boxes in `mask`, normalised by `count`."""
    return masked_mean(ops.sum(smooth_l1(deltas - targets, beta), axis=-1), mask, count)
