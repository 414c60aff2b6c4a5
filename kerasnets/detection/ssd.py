"""SSD (Liu et al. 2016) with SSDLite heads (Sandler et al. 2018, MobileNetV2 section 6.2): a single-stage
detector for phones, on any kerasnets backbone (EfficientNet-Lite0 with its ImageNet weights by default).

The backbone gives maps at strides 16 and 32 (for EfficientNet-Lite and MobileNetV2 the expansion layer
of the first stride-32 block and the last layer, as in SSDLite); `extra_levels` blocks (1x1 conv,
3x3 depthwise conv at stride 2, 1x1 conv) halve the map again and again. At every level a head
(3x3 depthwise conv, BN, ReLU6, 1x1 conv) predicts, for each anchor, four box deltas and the class
scores. Anchors are SSD's default boxes: centred on the cells, `sizes` x `aspect_ratios` per level.

Loss (`loss=`): "focal" (Lin et al. 2017, RetinaNet: sigmoid per class, alpha 0.25, gamma 2, normalised
by the matched anchors) or "hard_negative" (SSD: softmax with a background class, the negatives of
highest loss kept at `neg_pos_ratio` per positive). Boxes: smooth L1 on the R-CNN deltas with weights
(10, 10, 5, 5), SSD's variances (0.1, 0.2). Anchors match a ground truth at IoU >= 0.5, are background
below 0.4, and every ground truth takes its best anchor.

Inference is the algorithm of TFLite's `TFLite_Detection_PostProcess` op (fast NMS): each anchor keeps its
best class, then one class-agnostic greedy NMS; so the Keras model and its exported `.tflite` detect the
same boxes (Keras suppresses among the `topk_candidates` best-scoring anchors, TFLite among all above the
score threshold: they differ only if more anchors than that pass it). Outputs and `detect` are those of every
`Detector` (padded `boxes` xyxy pixels, `scores`, `classes`, `num_detections`); the shared parts are in
`SingleStageDetector`. The anchors are SSD's default boxes (`kerasnets.detection.anchors.ssd_anchors`).
"""

import math

import keras
from keras import ops

from kerasnets.detection.anchors import anchors_to_xyxy, default_anchor_sizes, ssd_anchors
from kerasnets.detection.boxes import HEAD_WEIGHTS, BoxCoder, box_iou
from kerasnets.detection.losses import box_loss, hard_negatives, sigmoid_focal_loss
from kerasnets.detection.matcher import Matcher
from kerasnets.detection.single_stage import SingleStageDetector

PRIOR_PROBABILITY = 0.01


def _conv_bn(x, filters, kernel, name, strides=1, depthwise=False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, strides, padding="same", use_bias=False, name=f"{name}_dw")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)


def _head(x, outputs, name, bias=0.0):
    """SSDLite prediction head: 3x3 depthwise conv, BN, ReLU6, then a 1x1 conv to `outputs` channels."""
    x = _conv_bn(x, None, 3, f"{name}_dw", depthwise=True)
    return keras.layers.Conv2D(outputs, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                               bias_initializer=keras.initializers.Constant(bias), name=f"{name}_pw")(x)


@keras.saving.register_keras_serializable(package="kerasnets")
class SSD(SingleStageDetector):
    """SSD with SSDLite heads. `backbone` is any registered network (`backbone_weights` "imagenet", a file
    or None), `image_size` a multiple of 32, `frozen_stride` freezes the backbone layers whose maps are at
    that stride or finer (16: train only the stride-32 stages, the extra layers and the heads; None: train
    everything). BatchNorm of the backbone is frozen unless `freeze_batchnorm=False`. `anchor_sizes`: one
    tuple of pixel sizes per level (default `default_anchor_sizes`)."""

    loss_names = ("classification", "box_regression")
    renamed = {"nms_candidates": "topk_candidates"}

    def __init__(self, backbone="efficientnet_lite0", num_classes=91, image_size=320, *, backbone_weights=None,
                 freeze_batchnorm=True, frozen_stride=None, extra_levels=2, extra_channels=256, anchor_sizes=None,
                 aspect_ratios=(0.5, 1.0, 2.0), loss="focal", focal_alpha=0.25, focal_gamma=2.0, neg_pos_ratio=3,
                 fg_iou_thresh=0.5, bg_iou_thresh=0.4, score_thresh=0.05, nms_thresh=0.5, detections_per_img=100,
                 topk_candidates=400, class_names=None, backbone_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        c = self.config
        if c["loss"] not in ("focal", "hard_negative"):
            raise ValueError(f"loss must be 'focal' or 'hard_negative', got {c['loss']!r}.")
        if c["extra_levels"] < 0:
            raise ValueError(f"extra_levels must be 0 or more, got {c['extra_levels']}.")
        levels = 2 + int(c["extra_levels"])
        size = self._build_backbone((16, 32))
        sizes = c["anchor_sizes"] if c["anchor_sizes"] is not None else default_anchor_sizes(size, levels)
        sizes = tuple(tuple(float(s) for s in (level if isinstance(level, (list, tuple)) else (level,)))
                      for level in sizes)
        if len(sizes) != levels:
            raise ValueError(f"SSD has {levels} levels (strides 16, 32 and {c['extra_levels']} extra) but "
                             f"anchor_sizes gives {len(sizes)}.")
        self.anchor_sizes = sizes
        self.network = self._build_network(sizes, c["aspect_ratios"])
        feature_sizes = [tuple(int(d) for d in shape[1:3]) for shape in self._level_shapes]
        #: normalised (yc, xc, h, w) anchors [N, 4], the layout TFLite_Detection_PostProcess reads
        self.anchors = ssd_anchors(size, feature_sizes, sizes, [c["aspect_ratios"]] * levels)
        self.anchor_boxes = anchors_to_xyxy(self.anchors, size)
        self.coder = BoxCoder(HEAD_WEIGHTS)
        self.matcher = Matcher(c["fg_iou_thresh"], c["bg_iou_thresh"], allow_low_quality_matches=True)
        self._track_losses()
        self.built = True

    @property
    def score_classes(self):
        """Columns of the class output: the classes, plus a background column 0 for "hard_negative"."""
        return self.num_classes + (self.config["loss"] == "hard_negative")

    def _build_network(self, anchor_sizes, aspect_ratios):
        """images -> (deltas [B, N, 4] (dx, dy, dw, dh), class logits [B, N, score_classes])."""
        images = keras.Input((*self.image_size, 3), name="images")
        maps = self.features(images)
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        x = maps[-1]
        channels = self.config["extra_channels"]
        for k in range(self.config["extra_levels"]):
            name = f"extra{k + 1}"
            x = _conv_bn(x, channels // 2, 1, f"{name}_reduce")
            x = _conv_bn(x, None, 3, f"{name}_down", strides=2, depthwise=True)
            x = _conv_bn(x, channels, 1, f"{name}_expand")
            maps.append(x)
        self._level_shapes = [tuple(m.shape) for m in maps]
        per_cell = [len(s) * len(aspect_ratios) for s in anchor_sizes]
        focal = self.config["loss"] == "focal"
        bias = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY) if focal else 0.0
        deltas, logits = [], []
        for level, (m, a) in enumerate(zip(maps, per_cell)):
            d = _head(m, a * 4, f"box_head{level}")
            c = _head(m, a * self.score_classes, f"class_head{level}", bias)
            deltas.append(keras.layers.Reshape((-1, 4), name=f"box_flat{level}")(d))
            logits.append(keras.layers.Reshape((-1, self.score_classes), name=f"class_flat{level}")(c))
        deltas = keras.layers.Concatenate(axis=1, name="box_deltas")(deltas)
        logits = keras.layers.Concatenate(axis=1, name="class_logits")(logits)
        return keras.Model(images, [deltas, logits], name="ssd_network")

    # --- reading the network's outputs -------------------------------------------------------------------

    def scores(self, logits):
        """Per-anchor scores of every column `[B, N, score_classes]` (sigmoid, or softmax with background)."""
        return ops.sigmoid(logits) if self.config["loss"] == "focal" else ops.softmax(logits, axis=-1)

    def class_scores(self, raw):
        """Per-anchor class probabilities `[B, N, num_classes]` (sigmoid, or softmax without background)."""
        scores = self.scores(raw[1])
        return scores if self.config["loss"] == "focal" else scores[..., 1:]

    def decode_boxes(self, raw):
        """Boxes `[B, N, 4]` (xyxy pixels, unclipped) from the anchor deltas."""
        return self.coder.decode(ops.convert_to_tensor(self.anchor_boxes)[None], raw[0])

    def training_losses(self, inputs, raw):
        deltas, logits = raw
        gt_boxes, gt_classes, gt_valid = self.ground_truth(inputs)
        anchors = ops.convert_to_tensor(self.anchor_boxes)
        matches = self.matcher(box_iou(gt_boxes, anchors), gt_valid)                        # [B, N]
        positive = matches >= 0
        negative = matches == -1
        index = ops.maximum(matches, 0)
        matched = ops.take_along_axis(gt_boxes, index[..., None], axis=1)
        matched = ops.where(positive[..., None], matched, anchors[None])
        targets = self.coder.encode(anchors[None], matched)
        labels = ops.where(positive, ops.take_along_axis(gt_classes, index, axis=1), -1)
        pos_f = ops.cast(positive, "float32")
        count = ops.maximum(ops.sum(pos_f), 1.0)
        box = box_loss(deltas, targets, positive, count)
        c = self.config
        if c["loss"] == "focal":
            onehot = ops.one_hot(ops.maximum(labels, 0), self.num_classes) * pos_f[..., None]
            focal = sigmoid_focal_loss(onehot, logits, c["focal_alpha"], c["focal_gamma"])
            used = ops.cast(positive | negative, "float32")[..., None]
            classification = ops.sum(focal * used) / count
        else:
            target = ops.where(positive, labels + 1, 0)
            ce = keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)     # [B, N]
            # hard negatives: per image the neg_pos_ratio x positives background anchors of highest loss
            hard = hard_negatives(ops.stop_gradient(ce), positive, negative, c["neg_pos_ratio"])
            classification = ops.sum(ce * (pos_f + ops.cast(hard, "float32"))) / count
        return {"classification": classification, "box_regression": box}

    # --- export: the inputs of TFLite's TFLite_Detection_PostProcess --------------------------------------

    @property
    def box_scales(self):
        """(y, x, h, w) scales of `postprocess_inputs`' box encodings (TFLite_Detection_PostProcess's attrs)."""
        wx, wy, ww, wh = self.coder.weights
        return wy, wx, wh, ww

    def postprocess_inputs(self, images):
        """Raw pixels `[B, H, W, 3]` -> (box encodings `[B, N, 4]` (ty, tx, th, tw) against `self.anchors`,
        class scores `[B, N, score_classes]`): what TFLite_Detection_PostProcess reads."""
        deltas, logits = self.network(images, training=False)
        encodings = ops.stack([deltas[..., 1], deltas[..., 0], deltas[..., 3], deltas[..., 2]], axis=-1)
        return encodings, self.scores(logits)

