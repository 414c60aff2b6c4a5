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
same boxes (Keras suppresses among the `nms_candidates` best-scoring anchors, TFLite among all above the
score threshold: they differ only if more anchors than that pass it). Outputs and `detect` are those of
`FasterRCNN` (padded `boxes` xyxy pixels, `scores`, `classes`, `num_detections`).
"""

import math

import keras
import numpy as np
from keras import ops

from kerasnets.detection import ops as det_ops
from kerasnets.detection.backbone import backbone_features
from kerasnets.detection.boxes import HEAD_WEIGHTS, BoxCoder, box_iou, clip_boxes
from kerasnets.detection.faster_rcnn import FasterRCNN, bce_with_logits, detector_input_size, smooth_l1
from kerasnets.detection.matcher import Matcher

LOSSES = ("classification", "box_regression")
PRIOR_PROBABILITY = 0.01


def ssd_anchors(image_size, feature_sizes, sizes, aspect_ratios):
    """SSD default boxes, normalised `[N, 4]` float32 (y centre, x centre, height, width): at level k, for
    each cell (row-major) its centre `((i + 0.5) / h, (j + 0.5) / w)` and, size-major, one box per
    (size, ratio) with `h = size * sqrt(r)`, `w = size / sqrt(r)` (sizes in pixels, `r = h / w`)."""
    height, width = image_size
    out = []
    for (fh, fw), level_sizes, ratios in zip(feature_sizes, sizes, aspect_ratios):
        yc, xc = np.meshgrid((np.arange(fh) + 0.5) / fh, (np.arange(fw) + 0.5) / fw, indexing="ij")
        shapes = np.array([(s * math.sqrt(r) / height, s / math.sqrt(r) / width)
                           for s in level_sizes for r in ratios], np.float64)                  # [A, 2]
        centres = np.stack([yc.ravel(), xc.ravel()], axis=1)                                   # [h * w, 2]
        level = np.concatenate([np.repeat(centres, len(shapes), axis=0), np.tile(shapes, (len(centres), 1))], 1)
        out.append(level)
    return np.concatenate(out, axis=0).astype(np.float32)


def anchors_to_xyxy(anchors, image_size):
    """Normalised (yc, xc, h, w) anchors -> `xyxy` pixels of an image of `(height, width)`."""
    height, width = image_size
    yc, xc, h, w = (anchors[:, k] for k in range(4))
    return np.stack([(xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height],
                    axis=1).astype(np.float32)


def default_anchor_sizes(image_size, levels):
    """Two sizes per level, SSD's `s_k` and `sqrt(s_k s_k+1)`: `s_k` = 0.1 x the image side at the first
    level (stride 16), doubling at each coarser level."""
    side = min(image_size)
    return tuple((round(0.1 * side * 2 ** k, 1), round(0.1 * side * 2 ** k * math.sqrt(2), 1)) for k in range(levels))


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


def freeze_backbone(features, height, stride):
    """Make the layers of a `backbone_features` model whose maps are at `stride` or finer untrainable;
    frozen, they compute as at inference (BatchNormalization with its moving statistics, EfficientNet-Lite's
    `StochasticDepth` off)."""
    for layer in features.layers:
        for inner in getattr(layer, "layers", [layer]):
            shape = getattr(getattr(inner, "output", None), "shape", None)
            if shape is not None and len(shape) == 4 and shape[1] and shape[1] >= height // stride:
                inner.trainable = False


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
class SSD(keras.Model):
    """SSD with SSDLite heads. `backbone` is any registered network (`backbone_weights` "imagenet", a file
    or None), `image_size` a multiple of 32, `frozen_stride` freezes the backbone layers whose maps are at
    that stride or finer (16: train only the stride-32 stages, the extra layers and the heads; None: train
    everything). BatchNorm of the backbone is frozen unless `freeze_batchnorm=False`. `anchor_sizes`: one
    tuple of pixel sizes per level (default `default_anchor_sizes`)."""

    loss_names = LOSSES

    def __init__(self, backbone="efficientnet_lite0", num_classes=91, image_size=320, *, backbone_weights=None,
                 freeze_batchnorm=True, frozen_stride=None, extra_levels=2, extra_channels=256, anchor_sizes=None,
                 aspect_ratios=(0.5, 1.0, 2.0), loss="focal", focal_alpha=0.25, focal_gamma=2.0, neg_pos_ratio=3,
                 fg_iou_thresh=0.5, bg_iou_thresh=0.4, score_thresh=0.05, nms_thresh=0.5, detections_per_img=100,
                 nms_candidates=400, class_names=None, backbone_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        size = detector_input_size(image_size, num_classes, class_names)
        if loss not in ("focal", "hard_negative"):
            raise ValueError(f"loss must be 'focal' or 'hard_negative', got {loss!r}.")
        if extra_levels < 0:
            raise ValueError(f"extra_levels must be 0 or more, got {extra_levels}.")
        levels = 2 + int(extra_levels)
        if anchor_sizes is None:
            anchor_sizes = default_anchor_sizes(size, levels)
        anchor_sizes = tuple(tuple(float(s) for s in (level if isinstance(level, (list, tuple)) else (level,)))
                             for level in anchor_sizes)
        if len(anchor_sizes) != levels:
            raise ValueError(f"SSD has {levels} levels (strides 16, 32 and {extra_levels} extra) but anchor_sizes "
                             f"gives {len(anchor_sizes)}.")
        self.config = {
            "backbone": str(backbone), "num_classes": int(num_classes), "image_size": list(size),
            "freeze_batchnorm": bool(freeze_batchnorm), "frozen_stride": frozen_stride,
            "extra_levels": int(extra_levels), "extra_channels": int(extra_channels),
            "anchor_sizes": [list(s) for s in anchor_sizes], "aspect_ratios": [float(r) for r in aspect_ratios],
            "loss": loss, "focal_alpha": float(focal_alpha), "focal_gamma": float(focal_gamma),
            "neg_pos_ratio": float(neg_pos_ratio), "fg_iou_thresh": float(fg_iou_thresh),
            "bg_iou_thresh": float(bg_iou_thresh), "score_thresh": float(score_thresh), "nms_thresh": float(nms_thresh),
            "detections_per_img": int(detections_per_img), "nms_candidates": int(nms_candidates),
            "class_names": None if class_names is None else [str(c) for c in class_names],
            "backbone_kwargs": dict(backbone_kwargs or {}),
        }
        self.image_size = size
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
        self.features, self.backbone_info = backbone_features(backbone, size, (16, 32), backbone_weights,
                                                              freeze_batchnorm, backbone_kwargs)
        if frozen_stride is not None:
            freeze_backbone(self.features, size[0], int(frozen_stride))
        self.network = self._build_network(anchor_sizes, aspect_ratios)
        feature_sizes = [tuple(int(d) for d in shape[1:3]) for shape in self._level_shapes]
        #: normalised (yc, xc, h, w) anchors [N, 4], the layout TFLite_Detection_PostProcess reads
        self.anchors = ssd_anchors(size, feature_sizes, anchor_sizes, [aspect_ratios] * levels)
        self.anchor_boxes = anchors_to_xyxy(self.anchors, size)
        self.coder = BoxCoder(HEAD_WEIGHTS)
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.loss_trackers = [keras.metrics.Mean(name=f"{n}_loss") for n in self.loss_names]
        self.built = True

    def get_config(self):
        return {**super().get_config(), **self.config}

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

    def class_scores(self, logits):
        """Per-anchor class probabilities `[B, N, num_classes]` (sigmoid, or softmax without background)."""
        if self.config["loss"] == "focal":
            return ops.sigmoid(logits)
        return ops.softmax(logits, axis=-1)[..., 1:]

    # --- forward --------------------------------------------------------------------------------------

    def call(self, inputs, training=False):
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        deltas, logits = self.network(images, training=training)
        if training and isinstance(inputs, dict) and "boxes" in inputs:
            return self._training_losses(inputs, deltas, logits)
        return self._detect(deltas, logits)

    def _training_losses(self, inputs, deltas, logits):
        gt_boxes = ops.cast(inputs["boxes"], "float32")
        gt_classes = ops.cast(inputs["classes"], "int32")
        gt_valid = gt_classes >= 0
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
        box = ops.sum(ops.sum(smooth_l1(deltas - targets, 1.0 / 9), axis=-1) * pos_f) / count
        if self.config["loss"] == "focal":
            onehot = ops.one_hot(ops.maximum(labels, 0), self.num_classes) * pos_f[..., None]
            focal = sigmoid_focal_loss(onehot, logits, self.config["focal_alpha"], self.config["focal_gamma"])
            used = ops.cast(positive | negative, "float32")[..., None]
            classification = ops.sum(focal * used) / count
        else:
            target = ops.where(positive, labels + 1, 0)
            ce = keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)     # [B, N]
            # hard negatives: per image the neg_pos_ratio x positives background anchors of highest loss
            hard = hard_negatives(ops.stop_gradient(ce), positive, negative, self.config["neg_pos_ratio"])
            classification = ops.sum(ce * (pos_f + ops.cast(hard, "float32"))) / count
        return {"classification": classification, "box_regression": box}

    def decode(self, deltas):
        """Boxes `[B, N, 4]` (xyxy pixels, clipped to the image) from the anchor deltas."""
        height, width = self.image_size
        return clip_boxes(self.coder.decode(ops.convert_to_tensor(self.anchor_boxes)[None], deltas), height, width)

    def _detect(self, deltas, logits):
        # suppress on the decoded boxes as they are and clip the survivors, as TFLite's op does (it never
        # clips; the Android readers do): clipping first changes overlaps and so which boxes survive
        boxes = self.coder.decode(ops.convert_to_tensor(self.anchor_boxes)[None], deltas)
        probs = self.class_scores(logits)
        scores = ops.max(probs, axis=-1)
        classes = ops.cast(ops.argmax(probs, axis=-1), "int32")
        idx, count = det_ops.non_max_suppression(
            boxes, scores, self.config["nms_thresh"], score_threshold=self.config["score_thresh"],
            max_output=self.config["detections_per_img"], max_candidates=self.config["nms_candidates"])
        boxes = clip_boxes(boxes, *self.image_size)
        return {"boxes": det_ops.gather_rows(boxes, idx), "scores": det_ops.gather_rows(scores, idx),
                "classes": ops.where(idx >= 0, ops.take_along_axis(classes, ops.maximum(idx, 0), axis=1), -1),
                "num_detections": count}

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
        scores = ops.sigmoid(logits) if self.config["loss"] == "focal" else ops.softmax(logits, axis=-1)
        return encodings, scores

    # --- training and inference helpers shared with FasterRCNN ------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict) or not all(name in y_pred for name in self.loss_names):
            raise ValueError(f"{type(self).__name__} trains on batches of {{'images', 'boxes', 'classes'}} with "
                             "training=True (see kerasnets.detection.data.DetectionSet.tf_dataset); evaluate with "
                             "coco_evaluate.")
        total = sum(y_pred[name] for name in self.loss_names)
        return total + sum(self.losses) if self.losses else total

    compute_metrics = FasterRCNN.compute_metrics
    detect = FasterRCNN.detect
    _predict_fn = FasterRCNN._predict_fn
    _inference = FasterRCNN._inference
    _jax_predict = FasterRCNN._jax_predict
