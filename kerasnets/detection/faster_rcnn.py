"""Faster R-CNN (Ren et al. 2015) and Mask R-CNN (He et al. 2017) on any kerasnets backbone, with an
optional feature pyramid (Lin et al. 2017); Fast R-CNN (Girshick 2015) is the same heads fed with
external proposals (`FastRCNN`). Hyper-parameters carry torchvision's names and defaults.

Training is `model.fit` on batches of `{"images", "boxes", "classes"[, "masks"]}` (see
`kerasnets.detection.data`): in training mode the forward pass assigns anchors and proposals to the
ground truth, samples them and returns the losses, which `compute_loss` adds up; everything is
`keras.ops` on fixed-size padded tensors, so it compiles on TensorFlow and JAX. In inference mode the
model maps images `[B, H, W, 3]` (RGB, 0-255, the size given at construction) to padded detections
`{"boxes" [B, D, 4] xyxy pixels, "scores" [B, D], "classes" [B, D] (-1 = none), "num_detections" [B]
[, "masks" [B, D, 28, 28] box-relative probabilities]}`; `detect` turns them into per-image results
at the original image size, with masks pasted into the image.
"""

import keras
import numpy as np
from keras import ops

from kerasnets.detection import ops as det_ops
from kerasnets.detection.anchors import AnchorGenerator
from kerasnets.detection.backbone import backbone_features, fpn_network
from kerasnets.detection.boxes import (
    HEAD_WEIGHTS,
    RPN_WEIGHTS,
    BoxCoder,
    box_iou,
    clip_boxes,
)
from kerasnets.detection.layers import MultiScaleRoIAlign, RoIAlign, RoIPooling
from kerasnets.detection.matcher import BalancedSampler, Matcher

LOSSES = ("rpn_objectness", "rpn_box", "classifier", "box_regression")


def smooth_l1(x, beta):
    """Huber-style smooth L1 of Fast R-CNN (torchvision's `beta`)."""
    ax = ops.abs(x)
    return ops.where(ax < beta, 0.5 * ax * ax / beta, ax - 0.5 * beta)


def bce_with_logits(labels, logits):
    """Element-wise binary cross-entropy on logits (the numerically stable form)."""
    return ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def _rpn_head(channels, anchors, name="rpn_head"):
    init = keras.initializers.RandomNormal(stddev=0.01)
    x_in = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=init,
        name=f"{name}_conv")(x_in)
    logits = keras.layers.Conv2D(anchors, 1, kernel_initializer=init, name=f"{name}_objectness")(x)
    deltas = keras.layers.Conv2D(anchors * 4, 1, kernel_initializer=init, name=f"{name}_deltas")(x)
    return keras.Model(x_in, [logits, deltas], name=name)


def _box_head(pooled_shape, representation_size, num_classes, name="box_head"):
    x_in = keras.Input(pooled_shape)
    x = keras.layers.Flatten()(x_in)
    x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc6")(x)
    x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc7")(x)
    logits = keras.layers.Dense(num_classes + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                name=f"{name}_cls_score")(x)
    deltas = keras.layers.Dense((num_classes + 1) * 4, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                name=f"{name}_bbox_pred")(x)
    return keras.Model(x_in, [logits, deltas], name=name)


def _mask_head(pooled_shape, channels, num_classes, name="mask_head"):
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


@keras.saving.register_keras_serializable(package="kerasnets")
def detector_input_size(image_size, num_classes, class_names=None):
    """The (height, width) of a detector's input from `image_size` (int or pair), after checking that
    there is at least one class and, when given, one name per class."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}.")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for num_classes={num_classes}.")
    return (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)


class FasterRCNN(keras.Model):
    """Faster R-CNN: a backbone, a region proposal network and a box head (two FC layers) on RoIAlign.

    `backbone` is any registered kerasnets network (its `include_top=False` body; features at stride
    16, or strides 4-32 with `fpn=True`), `backbone_weights` its weights ("imagenet", a file, None),
    `image_size` the fixed input size (a multiple of 32). BatchNorm layers of the backbone are frozen
    (inference mode, fixed statistics) unless `freeze_batchnorm=False`, as for training from scratch.
    `anchor_sizes` is a tuple of sizes (one level) or, with FPN, one size tuple per level.
    """

    def __init__(self, backbone="resnet50", num_classes=91, image_size=800, *, fpn=False, backbone_weights=None,
                 freeze_batchnorm=True, anchor_sizes=None, aspect_ratios=(0.5, 1.0, 2.0),
                 rpn_pre_nms_top_n_train=2000, rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_train=2000,
                 rpn_post_nms_top_n_test=1000, rpn_nms_thresh=0.7, rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3,
                 rpn_batch_size_per_image=256, rpn_positive_fraction=0.5, box_score_thresh=0.05, box_nms_thresh=0.5,
                 box_detections_per_img=100, box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5,
                 box_batch_size_per_image=512, box_positive_fraction=0.25, box_candidates=1000,
                 representation_size=1024, fpn_channels=256, roi_output_size=7, sampling_ratio=2,
                 class_names=None, seed=None, backbone_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        size = detector_input_size(image_size, num_classes, class_names)
        self.config = {
            "backbone": str(backbone), "num_classes": int(num_classes), "image_size": list(size), "fpn": bool(fpn),
            "freeze_batchnorm": bool(freeze_batchnorm), "aspect_ratios": [float(r) for r in aspect_ratios],
            "rpn_pre_nms_top_n_train": rpn_pre_nms_top_n_train, "rpn_pre_nms_top_n_test": rpn_pre_nms_top_n_test,
            "rpn_post_nms_top_n_train": rpn_post_nms_top_n_train, "rpn_post_nms_top_n_test": rpn_post_nms_top_n_test,
            "rpn_nms_thresh": rpn_nms_thresh, "rpn_fg_iou_thresh": rpn_fg_iou_thresh,
                "rpn_bg_iou_thresh": rpn_bg_iou_thresh,
            "rpn_batch_size_per_image": rpn_batch_size_per_image, "rpn_positive_fraction": rpn_positive_fraction,
            "box_score_thresh": box_score_thresh, "box_nms_thresh": box_nms_thresh,
            "box_detections_per_img": box_detections_per_img, "box_fg_iou_thresh": box_fg_iou_thresh,
            "box_bg_iou_thresh": box_bg_iou_thresh, "box_batch_size_per_image": box_batch_size_per_image,
            "box_positive_fraction": box_positive_fraction, "box_candidates": box_candidates,
            "representation_size": representation_size, "fpn_channels": fpn_channels,
                "roi_output_size": roi_output_size,
            "sampling_ratio": sampling_ratio,
                "class_names": None if class_names is None else [str(c) for c in class_names],
            "seed": seed, "backbone_kwargs": dict(backbone_kwargs or {}),
        }
        self.image_size = size
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
        self.fpn = bool(fpn)
        self.strides = (4, 8, 16, 32) if fpn else (16,)
        self.features, self.backbone_info = backbone_features(backbone, size, self.strides, backbone_weights,
                                                              freeze_batchnorm, backbone_kwargs)
        shapes = [tuple(o.shape) for o in self.features.outputs]
        if fpn:
            self.pyramid = fpn_network(shapes, fpn_channels)
            channels = fpn_channels
        else:
            self.pyramid = None
            channels = shapes[0][-1]
        if anchor_sizes is None:
            anchor_sizes = ((32,), (64,), (128,), (256,)) if fpn else (32, 64, 128, 256, 512)
        anchor_sizes = tuple(tuple(s) if isinstance(s, (list, tuple)) else (s,) for s in anchor_sizes) if fpn \
            else (tuple(anchor_sizes),)
        if len(anchor_sizes) != len(self.strides):
            raise ValueError(f"FPN has {len(self.strides)} levels but anchor_sizes gives {len(anchor_sizes)}.")
        self.config["anchor_sizes"] = [list(s) for s in anchor_sizes] if fpn else list(anchor_sizes[0])
        self.anchor_generator = AnchorGenerator(anchor_sizes, (tuple(aspect_ratios),))
        self.level_anchors = self.anchor_generator.grid_anchors(size, [s[1:3] for s in shapes])
        self.anchors_per_location = self.anchor_generator.num_anchors_per_location()[0]
        self.rpn_head = _rpn_head(channels, self.anchors_per_location) if self.uses_rpn else None
        out = roi_output_size
        if fpn:
            self.roi_pooler = MultiScaleRoIAlign(out, sampling_ratio, min_level=2, name="roi_align")
        else:
            self.roi_pooler = self._single_level_pooler(out)
        self.box_head = _box_head((out, out, channels), representation_size, num_classes)
        self.rpn_matcher = Matcher(rpn_fg_iou_thresh, rpn_bg_iou_thresh, allow_low_quality_matches=True)
        self.rpn_sampler = BalancedSampler(rpn_batch_size_per_image, rpn_positive_fraction)
        self.head_matcher = Matcher(box_fg_iou_thresh, box_bg_iou_thresh, allow_low_quality_matches=False)
        self.head_sampler = BalancedSampler(box_batch_size_per_image, box_positive_fraction)
        self.rpn_coder = BoxCoder(RPN_WEIGHTS)
        self.head_coder = BoxCoder(HEAD_WEIGHTS)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_trackers = [keras.metrics.Mean(name=f"{n}_loss") for n in self.loss_names]
        self.built = True

    loss_names = LOSSES
    uses_rpn = True

    def _single_level_pooler(self, out):
        return RoIAlign(out, 1.0 / self.strides[0], self.config["sampling_ratio"], aligned=True, name="roi_align")

    def get_config(self):
        return {**super().get_config(), **self.config}

    # --- the network ---------------------------------------------------------------------------

    def _feature_maps(self, images, training):
        maps = self.features(images, training=training)
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        if self.pyramid is not None:
            maps = self.pyramid(maps, training=training)
            maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        return maps

    def _pool(self, maps, boxes, pooler=None):
        pooler = pooler or self.roi_pooler
        return pooler(maps, boxes) if self.fpn else pooler(maps[0], boxes)

    def _rpn(self, maps):
        logits, deltas = [], []
        for m in maps:
            lg, dl = self.rpn_head(m)
            batch = ops.shape(lg)[0]
            logits.append(ops.reshape(lg, (batch, -1)))
            deltas.append(ops.reshape(dl, (batch, -1, 4)))
        return logits, deltas

    def _proposals(self, logits, deltas, training):
        pre = self.config["rpn_pre_nms_top_n_train" if training else "rpn_pre_nms_top_n_test"]
        post = self.config["rpn_post_nms_top_n_train" if training else "rpn_post_nms_top_n_test"]
        height, width = self.image_size
        boxes, scores, levels = [], [], []
        for level, (lg, dl, anchors) in enumerate(zip(logits, deltas, self.level_anchors)):
            lg = ops.stop_gradient(lg)
            k = min(pre, anchors.shape[0])
            top, idx = ops.top_k(lg, k)
            anchor = ops.take(ops.convert_to_tensor(anchors), idx, axis=0)
            delta = ops.take_along_axis(ops.stop_gradient(dl), idx[..., None], axis=1)
            box = clip_boxes(self.rpn_coder.decode(anchor, delta), height, width)
            boxes.append(box)
            scores.append(top)
            levels.append(ops.full(ops.shape(top), level, "int32"))
        boxes = ops.concatenate(boxes, axis=1)
        scores = ops.concatenate(scores, axis=1)
        levels = ops.concatenate(levels, axis=1)
        big = ((boxes[..., 2] - boxes[..., 0]) >= 1e-3) & ((boxes[..., 3] - boxes[..., 1]) >= 1e-3)
        scores = ops.where(big, scores, -np.inf)
        idx, _ = det_ops.non_max_suppression(boxes, scores, self.config["rpn_nms_thresh"], max_output=post,
                                             classes=levels if self.fpn else None)
        return ops.stop_gradient(det_ops.gather_rows(boxes, idx)), idx >= 0

    def _box_outputs(self, maps, rois):
        pooled = self._pool(maps, rois)
        batch, n = ops.shape(rois)[0], ops.shape(rois)[1]
        out = self.config["roi_output_size"]
        logits, deltas = self.box_head(ops.reshape(pooled, (-1, out, out, ops.shape(pooled)[-1])))
        return (ops.reshape(logits, (batch, n, self.num_classes + 1)),
                ops.reshape(deltas, (batch, n, self.num_classes + 1, 4)))

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            images = inputs["images"]
        else:
            images = inputs
        maps = self._feature_maps(images, training)
        logits, deltas = self._rpn(maps)
        proposals, valid = self._proposals(logits, deltas, training)
        if training and isinstance(inputs, dict) and "boxes" in inputs:
            return self._training_losses(inputs, maps, logits, deltas, proposals, valid)
        return self._detect(maps, proposals, valid)

    # --- training --------------------------------------------------------------------------------

    def _gt(self, inputs):
        boxes = ops.cast(inputs["boxes"], "float32")
        classes = ops.cast(inputs["classes"], "int32")
        return boxes, classes, classes >= 0

    def _rpn_losses(self, gt_boxes, gt_valid, logits, deltas):
        anchors = ops.convert_to_tensor(np.concatenate(self.level_anchors, axis=0))
        logits = ops.concatenate(logits, axis=1)
        deltas = ops.concatenate(deltas, axis=1)
        matches = self.rpn_matcher(box_iou(gt_boxes, anchors), gt_valid)
        positive = matches >= 0
        s_pos, s_neg = self.rpn_sampler(positive, matches == -1, seed=self.seed_generator)
        matched = ops.take_along_axis(gt_boxes, ops.maximum(matches, 0)[..., None], axis=1)
        matched = ops.where(positive[..., None], matched, anchors[None])
        targets = self.rpn_coder.encode(anchors[None], matched)
        sampled = ops.cast(s_pos | s_neg, "float32")
        count = ops.maximum(ops.sum(sampled), 1.0)
        bce = bce_with_logits(ops.cast(positive, "float32"), logits)
        objectness = ops.sum(bce * sampled) / count
        box = ops.sum(ops.sum(smooth_l1(deltas - targets, 1.0 / 9), axis=-1) * ops.cast(s_pos, "float32")) / count
        return objectness, box

    def _sample_rois(self, gt_boxes, gt_classes, gt_valid, proposals, valid):
        """Proposals plus ground truths, matched and sampled: (rois, roi_valid, roi_positive,
        labels, matched ground-truth index) for the box head."""
        candidates = ops.concatenate([proposals, gt_boxes], axis=1)
        candidate_valid = ops.concatenate([valid, gt_valid], axis=1)
        matches = self.head_matcher(box_iou(gt_boxes, candidates), gt_valid)
        positive = (matches >= 0) & candidate_valid
        negative = (matches == -1) & candidate_valid
        s_pos, s_neg = self.head_sampler(positive, negative, seed=self.seed_generator)
        key = ops.where(s_pos, 2.0, ops.where(s_neg, 1.0, 0.0))
        k = min(self.config["box_batch_size_per_image"], ops.shape(candidates)[1])
        top, idx = ops.top_k(key, k)
        rois = ops.take_along_axis(candidates, idx[..., None], axis=1)
        gt_index = ops.take_along_axis(ops.maximum(matches, 0), idx, axis=1)
        roi_positive = top > 1.5
        labels = ops.where(roi_positive, ops.take_along_axis(gt_classes, gt_index, axis=1) + 1, 0)
        return ops.stop_gradient(rois), top > 0.5, roi_positive, labels, gt_index

    def _head_losses(self, maps, gt_boxes, rois, roi_valid, roi_positive, labels, gt_index):
        cls_logits, box_deltas = self._box_outputs(maps, rois)
        matched = ops.take_along_axis(gt_boxes, gt_index[..., None], axis=1)
        matched = ops.where(roi_positive[..., None], matched, rois)
        # padded or degenerate RoIs encode to NaN; they carry no box loss, and NaN * 0 would still be NaN
        targets = ops.where(roi_positive[..., None], self.head_coder.encode(rois, matched), 0.0)
        targets = ops.where(ops.isfinite(targets), targets, 0.0)
        count = ops.maximum(ops.sum(ops.cast(roi_valid, "float32")), 1.0)
        ce = keras.losses.sparse_categorical_crossentropy(labels, cls_logits, from_logits=True)
        classifier = ops.sum(ce * ops.cast(roi_valid, "float32")) / count
        chosen = ops.sum(box_deltas * ops.one_hot(labels, self.num_classes + 1)[..., None], axis=2)
        box = ops.sum(ops.sum(smooth_l1(chosen - targets, 1.0 / 9), axis=-1) * ops.cast(roi_positive,
            "float32")) / count
        return classifier, box

    def _training_losses(self, inputs, maps, logits, deltas, proposals, valid):
        gt_boxes, gt_classes, gt_valid = self._gt(inputs)
        rpn_objectness, rpn_box = self._rpn_losses(gt_boxes, gt_valid, logits, deltas)
        sample = self._sample_rois(gt_boxes, gt_classes, gt_valid, proposals, valid)
        classifier, box = self._head_losses(maps, gt_boxes, *sample)
        losses = {"rpn_objectness": rpn_objectness, "rpn_box": rpn_box, "classifier": classifier,
                  "box_regression": box}
        losses.update(self._extra_losses(inputs, maps, gt_boxes, gt_valid, *sample))
        return losses

    def _extra_losses(self, inputs, maps, gt_boxes, gt_valid, rois, roi_valid, roi_positive, labels, gt_index):
        return {}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict) or not all(name in y_pred for name in self.loss_names):
            raise ValueError(f"{type(self).__name__} trains on batches of {{'images', 'boxes', 'classes'"
                             f"{', masks' if 'mask' in self.loss_names else ''}}} with training=True "
                             "(see kerasnets.detection.data.DetectionSet.tf_dataset); evaluate with coco_evaluate.")
        total = sum(y_pred[name] for name in self.loss_names)
        return total + sum(self.losses) if self.losses else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            for tracker, name in zip(self.loss_trackers, self.loss_names):
                if name in y_pred:
                    tracker.update_state(y_pred[name])
        return self.get_metrics_result()

    # --- inference -------------------------------------------------------------------------------

    def _detect(self, maps, proposals, valid):
        height, width = self.image_size
        cls_logits, box_deltas = self._box_outputs(maps, proposals)
        probs = ops.softmax(cls_logits, axis=-1)[..., 1:]                                   # [B, P, C]
        boxes = self.head_coder.decode(proposals[:, :, None, :], box_deltas[:, :, 1:, :])    # [B, P, C, 4]
        boxes = clip_boxes(boxes, height, width)
        batch = ops.shape(boxes)[0]
        n = ops.shape(boxes)[1] * self.num_classes
        boxes = ops.reshape(boxes, (batch, n, 4))
        classes = ops.reshape(ops.broadcast_to(ops.arange(self.num_classes, dtype="int32"), ops.shape(probs)), (batch,
            n))
        big = ((boxes[..., 2] - boxes[..., 0]) >= 1e-2) & ((boxes[..., 3] - boxes[..., 1]) >= 1e-2)
        usable = ops.reshape(ops.broadcast_to(valid[..., None], ops.shape(probs)), (batch, n)) & big
        scores = ops.where(usable, ops.reshape(probs, (batch, n)), -np.inf)
        idx, count = det_ops.non_max_suppression(
            boxes, scores, self.config["box_nms_thresh"], score_threshold=self.config["box_score_thresh"],
            max_output=self.config["box_detections_per_img"], classes=classes,
            max_candidates=self.config["box_candidates"])
        out = {"boxes": det_ops.gather_rows(boxes, idx), "scores": det_ops.gather_rows(scores, idx),
               "classes": ops.where(idx >= 0, ops.take_along_axis(classes, ops.maximum(idx, 0), axis=1), -1),
               "num_detections": count}
        out.update(self._extra_outputs(maps, out))
        return out

    def _extra_outputs(self, maps, detections):
        return {}

    def detect(self, images, batch_size=8):
        """Detections for a list (or array) of RGB images of any size: a list of dicts with
        `boxes` `[D, 4]` (xyxy pixels of that image), `scores`, `classes` (and `masks` `[D, h, w]` bool)."""
        from kerasnets.images import resize

        results = []
        for start in range(0, len(images), batch_size):
            chunk = list(images[start:start + batch_size])
            sizes = [np.asarray(im).shape[:2] for im in chunk]
            batch = np.stack([resize(np.asarray(im), self.image_size) if np.asarray(im).shape[:2] != self.image_size
                              else np.asarray(im) for im in chunk]).astype("float32")
            out = {k: ops.convert_to_numpy(v) for k, v in self._predict_fn()(batch).items()}
            for i, (h, w) in enumerate(sizes):
                results.append(postprocess({k: v[i] for k, v in out.items()}, self.image_size, (h, w)))
        return results

    def _predict_fn(self):
        if getattr(self, "_compiled_predict", None) is None:
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                self._compiled_predict = tf.function(self._inference, reduce_retracing=True, autograph=False)
            elif keras.backend.backend() == "jax":
                import jax

                self._compiled_predict = lambda x: self._jax_predict(x)
                self._jitted = jax.jit(lambda tv, ntv, x: self.stateless_call(tv, ntv, x, training=False)[0])
            else:
                self._compiled_predict = self._inference
        return self._compiled_predict

    def _inference(self, x):
        return self(x, training=False)

    def _jax_predict(self, x):
        return self._jitted([v.value for v in self.trainable_variables],
            [v.value for v in self.non_trainable_variables], x)


def postprocess(detections, model_size, image_size, mask_threshold=0.5):
    """One image's padded model outputs -> boxes `[D, 4]`, scores, classes at `image_size`
    (height, width), with 28x28 masks resized into their boxes and thresholded (`masks` `[D, h, w]`)."""
    import cv2

    n = int(detections["num_detections"])
    sy, sx = image_size[0] / model_size[0], image_size[1] / model_size[1]
    boxes = detections["boxes"][:n] * np.array([sx, sy, sx, sy], np.float32)
    out = {"boxes": boxes, "scores": detections["scores"][:n], "classes": detections["classes"][:n].astype(np.int32)}
    if "masks" in detections:
        h, w = image_size
        masks = np.zeros((n, h, w), bool)
        for k, (box, prob) in enumerate(zip(boxes, detections["masks"][:n])):
            x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
            x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
            x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
            if x2 <= x1 or y2 <= y1:
                continue
            # sample the 28x28 map at the pixel centres of the box, as RoIAlign(aligned=True) laid it out
            ys = (np.arange(y1, y2) + 0.5 - box[1]) / max(box[3] - box[1], 1e-6) * prob.shape[0] - 0.5
            xs = (np.arange(x1, x2) + 0.5 - box[0]) / max(box[2] - box[0], 1e-6) * prob.shape[1] - 0.5
            mx, my = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
            patch = cv2.remap(prob.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            masks[k, y1:y2, x1:x2] = patch >= mask_threshold
        out["masks"] = masks
    return out


@keras.saving.register_keras_serializable(package="kerasnets")
class MaskRCNN(FasterRCNN):
    """Mask R-CNN: Faster R-CNN plus a mask head (four 3x3 convs and a transposed conv, 14x14
    RoIAlign -> 28x28 per-class masks, He et al. 2017). Trains on batches with `masks` too."""

    loss_names = (*LOSSES, "mask")

    def __init__(self, *args, mask_channels=256, mask_roi_size=14, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.update({"mask_channels": mask_channels, "mask_roi_size": mask_roi_size})
        channels = self.config["fpn_channels"] if self.fpn else self.features.outputs[0].shape[-1]
        if self.fpn:
            self.mask_pooler = MultiScaleRoIAlign(mask_roi_size, self.config["sampling_ratio"], min_level=2,
                name="mask_roi_align")
        else:
            self.mask_pooler = RoIAlign(mask_roi_size, 1.0 / self.strides[0], self.config["sampling_ratio"],
                                        aligned=True, name="mask_roi_align")
        self.mask_head = _mask_head((mask_roi_size, mask_roi_size, channels), mask_channels, self.num_classes)
        self.mask_size = 2 * mask_roi_size

    def _mask_logits(self, maps, boxes, classes):
        pooled = self._pool(maps, boxes, self.mask_pooler)
        batch, n = ops.shape(boxes)[0], ops.shape(boxes)[1]
        r = self.config["mask_roi_size"]
        logits = self.mask_head(ops.reshape(pooled, (-1, r, r, ops.shape(pooled)[-1])))
        logits = ops.reshape(logits, (batch, n, self.mask_size, self.mask_size, self.num_classes))
        return ops.sum(logits * ops.one_hot(ops.maximum(classes, 0), self.num_classes)[:, :, None, None, :], axis=-1)

    def _extra_losses(self, inputs, maps, gt_boxes, gt_valid, rois, roi_valid, roi_positive, labels, gt_index):
        if "masks" not in inputs:
            raise ValueError("MaskRCNN trains on batches with 'masks' [B, M, H, W] (one binary mask per box).")
        k = max(1, int(self.config["box_batch_size_per_image"] * self.config["box_positive_fraction"]))
        k = min(k, ops.shape(rois)[1])
        top, idx = ops.top_k(ops.cast(roi_positive, "float32"), k)
        valid = top > 0.5
        boxes = ops.take_along_axis(rois, idx[..., None], axis=1)
        classes = ops.take_along_axis(labels, idx, axis=1) - 1
        which = ops.take_along_axis(gt_index, idx, axis=1)
        masks = ops.transpose(ops.cast(inputs["masks"], "float32"), (0, 2, 3, 1))              # [B, H, W, M]
        targets = det_ops.roi_align(masks, boxes, self.mask_size, 1.0, sampling_ratio=2, aligned=True)
        targets = ops.sum(targets * ops.one_hot(which, ops.shape(masks)[-1])[:, :, None, None, :], axis=-1)
        logits = self._mask_logits(maps, boxes, classes)
        bce = bce_with_logits(targets, logits)
        weight = ops.cast(valid, "float32")[..., None, None]
        pixels = ops.maximum(ops.sum(weight) * self.mask_size * self.mask_size, 1.0)
        return {"mask": ops.sum(bce * weight) / pixels}

    def _extra_outputs(self, maps, detections):
        logits = self._mask_logits(maps, ops.stop_gradient(detections["boxes"]), detections["classes"])
        return {"masks": ops.sigmoid(logits)}


@keras.saving.register_keras_serializable(package="kerasnets")
class FastRCNN(FasterRCNN):
    """Fast R-CNN (Girshick 2015): the backbone and box head of Faster R-CNN fed with external
    proposals (`{"images", "proposals" [B, P, 4] xyxy}`, padded with zero boxes), RoI max pooling
    by default (`roi_op="pool"`, the paper's) or RoIAlign."""

    loss_names = ("classifier", "box_regression")
    uses_rpn = False

    def __init__(self, *args, roi_op="pool", **kwargs):
        if roi_op not in ("pool", "align"):
            raise ValueError(f"roi_op must be 'pool' or 'align', got {roi_op!r}.")
        self._roi_op = roi_op
        super().__init__(*args, **kwargs)
        self.config["roi_op"] = roi_op

    def _single_level_pooler(self, out):
        if self._roi_op == "pool":
            return RoIPooling(out, 1.0 / self.strides[0], name="roi_pool")
        return super()._single_level_pooler(out)

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or "proposals" not in inputs:
            raise ValueError("FastRCNN takes {'images': [B, H, W, 3], 'proposals': [B, P, 4]} (external proposals, "
                             "e.g. kerasnets.detection.rcnn.selective_search).")
        maps = self._feature_maps(inputs["images"], training)
        proposals = ops.cast(inputs["proposals"], "float32")
        valid = ((proposals[..., 2] - proposals[..., 0]) > 0) & ((proposals[..., 3] - proposals[..., 1]) > 0)
        if training and "boxes" in inputs:
            gt_boxes, gt_classes, gt_valid = self._gt(inputs)
            sample = self._sample_rois(gt_boxes, gt_classes, gt_valid, proposals, valid)
            classifier, box = self._head_losses(maps, gt_boxes, *sample)
            return {"classifier": classifier, "box_regression": box}
        return self._detect(maps, proposals, valid)

    def detect(self, images, proposals, batch_size=8):
        """Detections for same-size images with their proposals `[P, 4]` each (padded to one P)."""
        results = []
        for start in range(0, len(images), batch_size):
            batch = {"images": np.asarray(images[start:start + batch_size], "float32"),
                     "proposals": np.asarray(proposals[start:start + batch_size], "float32")}
            out = {k: ops.convert_to_numpy(v) for k, v in self._predict_fn()(batch).items()}
            for i in range(len(batch["images"])):
                results.append(postprocess({k: v[i] for k, v in out.items()}, self.image_size, self.image_size))
        return results
