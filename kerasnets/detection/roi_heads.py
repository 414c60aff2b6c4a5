"""`RoIHeads` (torchvision's `roi_heads.RoIHeads`): the second stage of the R-CNN family on proposals.

Parts: a pooler (`RoIAlign`, `RoIPooling` for Fast R-CNN, or `MultiScaleRoIAlign` with FPN), the box head
with its predictor (torchvision's `TwoMLPHead` + `FastRCNNPredictor`: two FC layers, then per class a score
and four deltas), a box coder with weights (10, 10, 5, 5), a matcher (IoU >= 0.5 foreground, below
background) and a sampler (512 RoIs at 25 % foreground) for the losses; optionally a mask pooler (14x14) and
mask head (four 3x3 convs, a 2x2 transposed conv, one 28x28 logit map per class; He et al. 2017).

Post-processing (torchvision's `postprocess_detections`): softmax, per-class boxes decoded and clipped,
boxes under 1e-2 px dropped, scores above `score_thresh`, batched NMS by class at `nms_thresh` (strict `>`),
the `detections_per_img` best; `topk_candidates` bounds the candidates NMS looks at (a fixed-size graph).
"""

import keras
from keras import ops

from kerasnets.detection.boxes import HEAD_WEIGHTS, BoxCoder, box_iou, clip_boxes
from kerasnets.detection.losses import bce_with_logits, box_loss, masked_mean
from kerasnets.detection.matcher import BalancedSampler, Matcher
from kerasnets.detection.ops import non_max_suppression, padded_detections, roi_align


def box_head(pooled_shape, representation_size, num_classes, name="box_head"):
    """TwoMLPHead + FastRCNNPredictor: pooled RoIs -> (class logits `[R, C + 1]`, deltas `[R, (C + 1) * 4]`)."""
    x_in = keras.Input(pooled_shape)
    x = keras.layers.Flatten()(x_in)
    x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc6")(x)
    x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc7")(x)
    logits = keras.layers.Dense(num_classes + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                name=f"{name}_cls_score")(x)
    deltas = keras.layers.Dense((num_classes + 1) * 4, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                name=f"{name}_bbox_pred")(x)
    return keras.Model(x_in, [logits, deltas], name=name)


def mask_head(pooled_shape, channels, num_classes, name="mask_head"):
    """Four 3x3 convolutions, a 2x2 transposed convolution (14 -> 28), one logit map per class."""
    x_in = keras.Input(pooled_shape)
    x = x_in
    for i in range(4):
        x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                                name=f"{name}_fcn{i + 1}")(x)
    x = keras.layers.Conv2DTranspose(channels, 2, strides=2, activation="relu", kernel_initializer="he_normal",
                                     name=f"{name}_deconv")(x)
    logits = keras.layers.Conv2D(num_classes, 1, name=f"{name}_logits")(x)
    return keras.Model(x_in, logits, name=name)


def _pool(pooler, maps, boxes):
    """Pool RoIs from one map (RoIAlign, RoIPooling) or from the pyramid (MultiScaleRoIAlign)."""
    return pooler(maps, boxes) if len(maps) > 1 else pooler(maps[0], boxes)


class RoIHeads:
    """Box (and mask) predictions on RoIs, their losses and the post-processing."""

    def __init__(self, box_roi_pool, box_head, num_classes, image_size, *, output_size=7, fg_iou_thresh=0.5,
                 bg_iou_thresh=0.5, batch_size_per_image=512, positive_fraction=0.25, score_thresh=0.05,
                 nms_thresh=0.5, detections_per_img=100, topk_candidates=1000, mask_roi_pool=None, mask_head=None,
                 mask_roi_size=14):
        self.box_roi_pool = box_roi_pool
        self.box_head = box_head
        self.num_classes = int(num_classes)
        self.image_size = tuple(image_size)
        self.output_size = int(output_size)
        self.box_coder = BoxCoder(HEAD_WEIGHTS)
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.sampler = BalancedSampler(batch_size_per_image, positive_fraction)
        self.batch_size_per_image = int(batch_size_per_image)
        self.positive_fraction = float(positive_fraction)
        self.score_thresh = float(score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.detections_per_img = int(detections_per_img)
        self.topk_candidates = topk_candidates
        self.mask_roi_pool = mask_roi_pool
        self.mask_head = mask_head
        self.mask_roi_size = int(mask_roi_size)
        self.mask_size = 2 * self.mask_roi_size

    @property
    def has_mask(self):
        return self.mask_head is not None

    # --- predictions -----------------------------------------------------------------------------

    def box_outputs(self, maps, rois):
        """(class logits `[B, R, C + 1]`, deltas `[B, R, C + 1, 4]`) of RoIs `[B, R, 4]`."""
        pooled = _pool(self.box_roi_pool, maps, rois)
        batch, n = ops.shape(rois)[0], ops.shape(rois)[1]
        out = self.output_size
        logits, deltas = self.box_head(ops.reshape(pooled, (-1, out, out, ops.shape(pooled)[-1])))
        return (ops.reshape(logits, (batch, n, self.num_classes + 1)),
                ops.reshape(deltas, (batch, n, self.num_classes + 1, 4)))

    def mask_logits(self, maps, boxes, classes):
        """28x28 mask logits `[B, D, 28, 28]` of each box for its class."""
        pooled = _pool(self.mask_roi_pool, maps, boxes)
        batch, n = ops.shape(boxes)[0], ops.shape(boxes)[1]
        r = self.mask_roi_size
        logits = self.mask_head(ops.reshape(pooled, (-1, r, r, ops.shape(pooled)[-1])))
        logits = ops.reshape(logits, (batch, n, self.mask_size, self.mask_size, self.num_classes))
        return ops.sum(logits * ops.one_hot(ops.maximum(classes, 0), self.num_classes)[:, :, None, None, :], axis=-1)

    # --- training --------------------------------------------------------------------------------

    def sample(self, gt_boxes, gt_classes, gt_valid, proposals, valid, seed):
        """Proposals plus ground truths, matched and sampled: (rois, roi_valid, roi_positive, labels, matched
        ground-truth index)."""
        candidates = ops.concatenate([proposals, gt_boxes], axis=1)
        candidate_valid = ops.concatenate([valid, gt_valid], axis=1)
        matches = self.matcher(box_iou(gt_boxes, candidates), gt_valid)
        positive = (matches >= 0) & candidate_valid
        negative = (matches == -1) & candidate_valid
        s_pos, s_neg = self.sampler(positive, negative, seed=seed)
        key = ops.where(s_pos, 2.0, ops.where(s_neg, 1.0, 0.0))
        k = min(self.batch_size_per_image, ops.shape(candidates)[1])
        top, idx = ops.top_k(key, k)
        rois = ops.take_along_axis(candidates, idx[..., None], axis=1)
        gt_index = ops.take_along_axis(ops.maximum(matches, 0), idx, axis=1)
        roi_positive = top > 1.5
        labels = ops.where(roi_positive, ops.take_along_axis(gt_classes, gt_index, axis=1) + 1, 0)
        return ops.stop_gradient(rois), top > 0.5, roi_positive, labels, gt_index

    def losses(self, maps, gt_boxes, sample, masks=None):
        """{"classifier", "box_regression"[, "mask"]} of the sampled RoIs (`sample` from `sample`)."""
        rois, roi_valid, roi_positive, labels, gt_index = sample
        cls_logits, box_deltas = self.box_outputs(maps, rois)
        matched = ops.take_along_axis(gt_boxes, gt_index[..., None], axis=1)
        matched = ops.where(roi_positive[..., None], matched, rois)
        # padded or degenerate RoIs encode to NaN; they carry no box loss, and NaN * 0 would still be NaN
        targets = ops.where(roi_positive[..., None], self.box_coder.encode(rois, matched), 0.0)
        targets = ops.where(ops.isfinite(targets), targets, 0.0)
        count = ops.maximum(ops.sum(ops.cast(roi_valid, "float32")), 1.0)
        ce = keras.losses.sparse_categorical_crossentropy(labels, cls_logits, from_logits=True)
        chosen = ops.sum(box_deltas * ops.one_hot(labels, self.num_classes + 1)[..., None], axis=2)
        out = {"classifier": masked_mean(ce, roi_valid, count),
               "box_regression": box_loss(chosen, targets, roi_positive, count)}
        if self.has_mask:
            if masks is None:
                raise ValueError("MaskRCNN trains on batches with 'masks' [B, M, H, W] (one binary mask per box).")
            out["mask"] = self.mask_loss(maps, masks, sample)
        return out

    def mask_loss(self, maps, masks, sample):
        """Per-pixel BCE of the foreground RoIs' masks against the ground truth's, RoIAligned to 28x28."""
        rois, _, roi_positive, labels, gt_index = sample
        k = max(1, int(self.batch_size_per_image * self.positive_fraction))
        k = min(k, ops.shape(rois)[1])
        top, idx = ops.top_k(ops.cast(roi_positive, "float32"), k)
        valid = top > 0.5
        boxes = ops.take_along_axis(rois, idx[..., None], axis=1)
        classes = ops.take_along_axis(labels, idx, axis=1) - 1
        which = ops.take_along_axis(gt_index, idx, axis=1)
        masks = ops.transpose(ops.cast(masks, "float32"), (0, 2, 3, 1))                       # [B, H, W, M]
        targets = roi_align(masks, boxes, self.mask_size, 1.0, sampling_ratio=2, aligned=True)
        targets = ops.sum(targets * ops.one_hot(which, ops.shape(masks)[-1])[:, :, None, None, :], axis=-1)
        bce = bce_with_logits(targets, self.mask_logits(maps, boxes, classes))
        weight = ops.cast(valid, "float32")[..., None, None]
        pixels = ops.maximum(ops.sum(weight) * self.mask_size * self.mask_size, 1.0)
        return ops.sum(bce * weight) / pixels

    # --- inference -------------------------------------------------------------------------------

    def detect(self, maps, proposals, valid):
        """Padded detections of the proposals (torchvision's `postprocess_detections`, plus masks)."""
        height, width = self.image_size
        cls_logits, box_deltas = self.box_outputs(maps, proposals)
        probs = ops.softmax(cls_logits, axis=-1)[..., 1:]                                   # [B, P, C]
        boxes = self.box_coder.decode(proposals[:, :, None, :], box_deltas[:, :, 1:, :])    # [B, P, C, 4]
        boxes = clip_boxes(boxes, height, width)
        batch = ops.shape(boxes)[0]
        n = ops.shape(boxes)[1] * self.num_classes
        boxes = ops.reshape(boxes, (batch, n, 4))
        classes = ops.reshape(ops.broadcast_to(ops.arange(self.num_classes, dtype="int32"), ops.shape(probs)),
                              (batch, n))
        big = ((boxes[..., 2] - boxes[..., 0]) >= 1e-2) & ((boxes[..., 3] - boxes[..., 1]) >= 1e-2)
        usable = ops.reshape(ops.broadcast_to(valid[..., None], ops.shape(probs)), (batch, n)) & big
        scores = ops.where(usable, ops.reshape(probs, (batch, n)), float("-inf"))
        idx, count = non_max_suppression(
            boxes, scores, self.nms_thresh, score_threshold=self.score_thresh, max_output=self.detections_per_img,
            classes=classes, max_candidates=self.topk_candidates)
        out = padded_detections(boxes, scores, classes, idx, count)
        if self.has_mask:
            out["masks"] = ops.sigmoid(self.mask_logits(maps, ops.stop_gradient(out["boxes"]), out["classes"]))
        return out
