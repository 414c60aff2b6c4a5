"""`RegionProposalNetwork` (Ren et al. 2015, section 3.1; torchvision's `rpn.RegionProposalNetwork`): an anchor
generator, a head (3x3 conv, then per anchor one objectness logit and four deltas), a box coder with
weights (1, 1, 1, 1), a matcher (IoU >= 0.7 object, < 0.3 background, low-quality matches kept) and a
balanced sampler (256 anchors at 50 % positive) for its losses, and the proposal selection: per level the
`pre_nms_top_n` best anchors, decoded and clipped, boxes under 1e-3 px dropped (`remove_small_boxes`), one
NMS at `nms_thresh` (per level with FPN, torchvision's `batched_nms` by level), the `post_nms_top_n` best.

Like every part of a detector here, it is a plain object that holds its hyper-parameters and its
computation; the Keras model it builds (`head`) is tracked by the detector that owns it.
"""

import keras
import numpy as np
from keras import ops

from kerasnets.detection.boxes import RPN_WEIGHTS, BoxCoder, box_iou, clip_boxes
from kerasnets.detection.losses import bce_with_logits, box_loss, masked_mean
from kerasnets.detection.matcher import BalancedSampler, Matcher
from kerasnets.detection.ops import gather_rows, non_max_suppression


def rpn_head(channels, anchors, name="rpn_head"):
    """torchvision's `RPNHead`: a 3x3 convolution + ReLU, then 1x1 convolutions to `anchors` objectness logits
    and `4 x anchors` box deltas, shared by all levels."""
    init = keras.initializers.RandomNormal(stddev=0.01)
    x_in = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=init,
                            name=f"{name}_conv")(x_in)
    logits = keras.layers.Conv2D(anchors, 1, kernel_initializer=init, name=f"{name}_objectness")(x)
    deltas = keras.layers.Conv2D(anchors * 4, 1, kernel_initializer=init, name=f"{name}_deltas")(x)
    return keras.Model(x_in, [logits, deltas], name=name)


class RegionProposalNetwork:
    """Proposals and the RPN losses on the feature maps of one image size.

    `anchor_generator` an `AnchorGenerator`, `feature_sizes` the (h, w) of each level for `image_size`;
    `pre_nms_top_n` / `post_nms_top_n` are `{"training": n, "testing": n}` as in torchvision.
    """

    def __init__(self, anchor_generator, head, image_size, feature_sizes, *, fg_iou_thresh=0.7, bg_iou_thresh=0.3,
                 batch_size_per_image=256, positive_fraction=0.5, pre_nms_top_n=None, post_nms_top_n=None,
                 nms_thresh=0.7):
        self.anchor_generator = anchor_generator
        self.head = head
        self.image_size = tuple(image_size)
        self.level_anchors = anchor_generator.grid_anchors(self.image_size, feature_sizes)
        self.anchors = np.concatenate(self.level_anchors, axis=0)
        self.box_coder = BoxCoder(RPN_WEIGHTS)
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.sampler = BalancedSampler(batch_size_per_image, positive_fraction)
        self.pre_nms_top_n = dict(pre_nms_top_n or {"training": 2000, "testing": 1000})
        self.post_nms_top_n = dict(post_nms_top_n or {"training": 2000, "testing": 1000})
        self.nms_thresh = float(nms_thresh)

    def __call__(self, maps):
        """Per level: objectness logits `[B, N_l]` and deltas `[B, N_l, 4]`."""
        logits, deltas = [], []
        for m in maps:
            lg, dl = self.head(m)
            batch = ops.shape(lg)[0]
            logits.append(ops.reshape(lg, (batch, -1)))
            deltas.append(ops.reshape(dl, (batch, -1, 4)))
        return logits, deltas

    def proposals(self, logits, deltas, training):
        """(boxes `[B, post_nms_top_n, 4]` xyxy, valid `[B, post_nms_top_n]`), without gradients."""
        mode = "training" if training else "testing"
        pre, post = self.pre_nms_top_n[mode], self.post_nms_top_n[mode]
        height, width = self.image_size
        boxes, scores, levels = [], [], []
        for level, (lg, dl, anchors) in enumerate(zip(logits, deltas, self.level_anchors)):
            lg = ops.stop_gradient(lg)
            k = min(pre, anchors.shape[0])
            top, idx = ops.top_k(lg, k)
            anchor = ops.take(ops.convert_to_tensor(anchors), idx, axis=0)
            delta = ops.take_along_axis(ops.stop_gradient(dl), idx[..., None], axis=1)
            boxes.append(clip_boxes(self.box_coder.decode(anchor, delta), height, width))
            scores.append(top)
            levels.append(ops.full(ops.shape(top), level, "int32"))
        boxes = ops.concatenate(boxes, axis=1)
        scores = ops.concatenate(scores, axis=1)
        big = ((boxes[..., 2] - boxes[..., 0]) >= 1e-3) & ((boxes[..., 3] - boxes[..., 1]) >= 1e-3)
        scores = ops.where(big, scores, -np.inf)
        idx, _ = non_max_suppression(boxes, scores, self.nms_thresh, max_output=post,
                                     classes=ops.concatenate(levels, axis=1) if len(logits) > 1 else None)
        return ops.stop_gradient(gather_rows(boxes, idx)), idx >= 0

    def losses(self, gt_boxes, gt_valid, logits, deltas, seed):
        """(objectness, box regression) losses of the sampled anchors."""
        anchors = ops.convert_to_tensor(self.anchors)
        logits = ops.concatenate(logits, axis=1)
        deltas = ops.concatenate(deltas, axis=1)
        matches = self.matcher(box_iou(gt_boxes, anchors), gt_valid)
        positive = matches >= 0
        s_pos, s_neg = self.sampler(positive, matches == -1, seed=seed)
        matched = ops.take_along_axis(gt_boxes, ops.maximum(matches, 0)[..., None], axis=1)
        matched = ops.where(positive[..., None], matched, anchors[None])
        targets = self.box_coder.encode(anchors[None], matched)
        sampled = s_pos | s_neg
        count = ops.maximum(ops.sum(ops.cast(sampled, "float32")), 1.0)
        objectness = masked_mean(bce_with_logits(ops.cast(positive, "float32"), logits), sampled, count)
        return objectness, box_loss(deltas, targets, s_pos, count)
