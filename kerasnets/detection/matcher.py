"""Assigning anchors and proposals to ground-truth boxes, and sampling them for the losses.

`Matcher` is torchvision's `det_utils.Matcher` (Ren et al. 2015, section 3.1.2: IoU >= 0.7 is an
object, < 0.3 background, and every ground-truth box also claims the anchors it overlaps most);
`BalancedSampler` is its `BalancedPositiveNegativeSampler` (256 anchors per image at 50 % positive
for the RPN, 512 RoIs at 25 % for the heads, Girshick 2015 section 2.3). Both work on fixed-size,
padded batches with `keras.ops`, so they run inside a compiled training step on TensorFlow and JAX.
"""

from keras import ops, random

BELOW_LOW_THRESHOLD = -1
BETWEEN_THRESHOLDS = -2


class Matcher:
    """Match each prediction (anchor or proposal) to the ground-truth box of highest IoU.

    `__call__(iou, gt_valid)` with `iou` `[B, M, N]` (ground truths x predictions) and `gt_valid`
    `[B, M]` returns int32 `[B, N]`: the matched ground-truth index, `-1` below `low`, `-2` between
    `low` and `high`. With `allow_low_quality_matches`, predictions tied for a ground truth's best
    IoU keep their match even below `high` (torchvision's rule: they take their own best match).
    """

    def __init__(self, high=0.7, low=0.3, allow_low_quality_matches=True):
        if low > high:
            raise ValueError(f"Matcher: low threshold {low} above high threshold {high}.")
        self.high, self.low = float(high), float(low)
        self.allow_low_quality_matches = bool(allow_low_quality_matches)

    def __call__(self, iou, gt_valid):
        valid = ops.cast(gt_valid, "bool")[..., :, None]
        iou = ops.where(valid, iou, -1.0)
        best = ops.max(iou, axis=-2)
        matches = ops.cast(ops.argmax(iou, axis=-2), "int32")
        out = ops.where(best < self.low, BELOW_LOW_THRESHOLD,
                        ops.where(best < self.high, BETWEEN_THRESHOLDS, matches))
        if self.allow_low_quality_matches:
            best_per_gt = ops.max(iou, axis=-1, keepdims=True)
            # a prediction is a best match of some (valid, overlapping) ground truth
            # (torchvision also counts ground truths that overlap nothing, matching every prediction
            # of IoU 0 with them to its own argmax; those are left alone here)
            is_best = ops.any((iou == best_per_gt) & valid & (best_per_gt > 0), axis=-2)
            out = ops.where(is_best, matches, out)
        # no valid ground truth at all: everything is background
        return ops.where(ops.any(valid, axis=-2), out, BELOW_LOW_THRESHOLD)


class BalancedSampler:
    """Sample up to `batch_size_per_image` elements per image, `positive_fraction` of them positive
    (fewer if there are not enough positives; negatives fill the rest), uniformly at random."""

    def __init__(self, batch_size_per_image=256, positive_fraction=0.5, seed=None):
        self.batch_size_per_image = int(batch_size_per_image)
        self.positive_fraction = float(positive_fraction)
        self.seed = seed

    @staticmethod
    def _top_mask(candidates, count, seed):
        """A mask of `count[b]` random elements among `candidates[b]` (all of them if fewer)."""
        keys = ops.where(candidates, random.uniform(ops.shape(candidates), seed=seed) + 1.0, 0.0)
        n = ops.shape(candidates)[-1]
        ranks = ops.argsort(ops.argsort(-keys, axis=-1), axis=-1)  # 0 for the largest key
        return candidates & (ranks < ops.cast(count, ranks.dtype)[..., None]) & (n > 0)

    def __call__(self, positive, negative, seed=None):
        """Masks `(sampled_positive, sampled_negative)` `[B, N]` from candidate masks `[B, N]`."""
        seed = self.seed if seed is None else seed
        positive = ops.cast(positive, "bool")
        negative = ops.cast(negative, "bool") & ~positive
        max_pos = int(self.batch_size_per_image * self.positive_fraction)
        num_pos = ops.minimum(ops.sum(ops.cast(positive, "int32"), axis=-1), max_pos)
        num_neg = ops.minimum(ops.sum(ops.cast(negative, "int32"), axis=-1), self.batch_size_per_image - num_pos)
        return self._top_mask(positive, num_pos, seed), self._top_mask(negative, num_neg, seed)
