"""YOLOv1 (Redmon et al. 2016, "You Only Look Once: Unified, Real-Time Object Detection") on any kerasnets
backbone.

The image is an S x S grid (`grid`); each cell predicts `boxes_per_cell` (B) boxes `(x, y, sqrt w,
sqrt h, confidence)` and one set of C class probabilities, all with a linear last layer (section 2):
`x, y` the box centre as an offset inside the cell, `w, h` relative to the image (the square roots
are predicted, so errors on small boxes weigh more). Head: the backbone's stride-32 map pooled to
S x S, a 1x1 convolution, then two fully connected layers (the paper's 4096 units and dropout 0.5;
`hidden` sets the width).

Loss (section 2.2, sum-squared error, averaged over the batch): lambda_coord = 5 on x, y, sqrt w,
sqrt h of the predictor "responsible" for an object (the one of the object's centre cell with the
highest IoU with it), confidence regressed to that IoU, lambda_noobj = 0.5 on the confidence of the
other predictors, and the class probabilities of cells that contain an object centre.

Inference: class-specific scores `Pr(class | object) * confidence` (clipped to [0, 1]); each box keeps
its best class and one greedy NMS follows, the algorithm of TFLite's `TFLite_Detection_PostProcess`
(fast NMS), so a YOLOv1 exports with that op like an SSD: the cell centres are its anchors (height and
width 1) and the encodings `(y - 0.5) / S`, `(x - 0.5) / S`, `log h`, `log w` with scales 1.
"""

import keras
import numpy as np
from keras import ops

from kerasnets.detection.boxes import box_iou
from kerasnets.detection.common import detector_input_size
from kerasnets.detection.single_stage import SingleStageDetector


@keras.saving.register_keras_serializable(package="kerasnets")
class YOLOv1(SingleStageDetector):
    """YOLOv1 with the paper's loss. `backbone` any registered network (`backbone_weights` "imagenet",
    a file or None; `frozen_stride` as for SSD), `image_size` a multiple of 32 whose stride-32 map divides
    into `grid` x `grid` (224 for S = 7), `hidden` the first fully connected layer's width (4096 in the paper)."""

    loss_names = ("coordinates", "object", "no_object", "classes")

    def __init__(self, backbone="efficientnet_lite0", num_classes=20, image_size=224, *, grid=7, boxes_per_cell=2,
                 backbone_weights=None, freeze_batchnorm=True, frozen_stride=None, hidden=512, head_channels=256,
                 dropout=0.5, lambda_coord=5.0, lambda_noobj=0.5, score_thresh=0.05, nms_thresh=0.5,
                 detections_per_img=100, topk_candidates=None, class_names=None, backbone_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        c = self.config
        grid, boxes_per_cell, hidden, head_channels = (int(c[k]) for k in ("grid", "boxes_per_cell", "hidden",
                                                                             "head_channels"))
        size = detector_input_size(c["image_size"], self.num_classes, c["class_names"])
        if grid < 1 or boxes_per_cell < 1:
            raise ValueError(f"grid and boxes_per_cell must be positive, got {grid} and {boxes_per_cell}.")
        fh, fw = size[0] // 32, size[1] // 32
        if size[0] % 32 or size[1] % 32 or fh % grid or fw % grid:
            raise ValueError(f"YOLOv1 pools the stride-32 map of a {size[0]}x{size[1]} image ({fh}x{fw}) to a "
                             f"{grid}x{grid} grid: choose an image size of 32 x a multiple of {grid} "
                             f"(e.g. {32 * grid}).")
        self.grid = grid
        self.boxes_per_cell = boxes_per_cell
        self._build_backbone((32,))
        images = keras.Input((*size, 3), name="images")
        x = self.features(images)
        x = x[0] if isinstance(x, (list, tuple)) else x
        if fh != grid:
            x = keras.layers.AveragePooling2D((fh // grid, fw // grid), name="grid_pool")(x)
        x = keras.layers.Conv2D(head_channels, 1, use_bias=False, name="head_reduce")(x)
        x = keras.layers.BatchNormalization(name="head_reduce_bn")(x)
        x = keras.layers.LeakyReLU(0.1, name="head_reduce_leaky")(x)
        x = keras.layers.Flatten(name="head_flatten")(x)
        x = keras.layers.Dense(hidden, name="head_fc1")(x)
        x = keras.layers.LeakyReLU(0.1, name="head_fc1_leaky")(x)
        x = keras.layers.Dropout(float(c["dropout"]), name="head_dropout")(x)
        per_cell = self.boxes_per_cell * 5 + self.num_classes
        x = keras.layers.Dense(grid * grid * per_cell, name="head_fc2")(x)  # linear, as in the paper
        x = keras.layers.Reshape((grid, grid, per_cell), name="head_grid")(x)
        self.network = keras.Model(images, x, name="yolov1_network")
        rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        centres = np.stack([(rows + 0.5) / grid, (cols + 0.5) / grid], axis=-1)                 # [S, S, 2]
        centres = np.repeat(centres.reshape(-1, 1, 2), self.boxes_per_cell, axis=1).reshape(-1, 2)
        #: one "anchor" per predicted box: its cell centre, height and width 1 (normalised yc, xc, h, w)
        self.anchors = np.concatenate([centres, np.ones_like(centres)], axis=1).astype(np.float32)
        self._track_losses()
        self.built = True

    # --- outputs -----------------------------------------------------------------------------------------

    def split(self, out):
        """The network's `[B, S, S, B*5 + C]` -> (x, y, sqrt w, sqrt h, confidence) each `[B, S, S, boxes]`, and
        the class probabilities `[B, S, S, C]`."""
        k = self.boxes_per_cell
        boxes = ops.reshape(out[..., :5 * k], (-1, self.grid, self.grid, k, 5))
        return [boxes[..., i] for i in range(5)], out[..., 5 * k:]

    def boxes_from(self, x, y, sw, sh):
        """Predicted boxes `[B, S, S, boxes, 4]` in xyxy pixels."""
        height, width = self.image_size
        s = float(self.grid)
        cols = ops.reshape(ops.arange(self.grid, dtype="float32"), (1, 1, self.grid, 1))
        rows = ops.reshape(ops.arange(self.grid, dtype="float32"), (1, self.grid, 1, 1))
        cx = (cols + x) / s * width
        cy = (rows + y) / s * height
        w = sw * sw * width
        h = sh * sh * height
        return ops.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)

    # --- the paper's loss ----------------------------------------------------------------------------------

    def _targets(self, gt_boxes, gt_valid):
        """Per cell: whether an object's centre falls in it, and that object's box `[B, S, S, 4]` (the first
        object of the image if several share the cell; the paper's grid holds one object per cell)."""
        height, width = self.image_size
        s = self.grid
        cx = (gt_boxes[..., 0] + gt_boxes[..., 2]) / 2
        cy = (gt_boxes[..., 1] + gt_boxes[..., 3]) / 2
        col = ops.clip(ops.cast(ops.floor(cx / width * s), "int32"), 0, s - 1)
        row = ops.clip(ops.cast(ops.floor(cy / height * s), "int32"), 0, s - 1)
        cell = ops.one_hot(row * s + col, s * s) * ops.cast(gt_valid, "float32")[..., None]      # [B, M, S*S]
        m = ops.shape(gt_boxes)[1]
        priority = cell * ops.reshape(ops.arange(m, 0, -1, dtype="float32"), (1, -1, 1))
        which = ops.argmax(priority, axis=1)                                                     # [B, S*S]
        has = ops.max(cell, axis=1) > 0
        boxes = ops.take_along_axis(gt_boxes, ops.expand_dims(which, -1), axis=1)               # [B, S*S, 4]
        return ops.reshape(has, (-1, s, s)), ops.reshape(boxes, (-1, s, s, 4)), ops.reshape(which, (-1, s, s))

    def training_losses(self, inputs, out):
        height, width = self.image_size
        s = float(self.grid)
        gt_boxes, gt_classes, gt_valid = self.ground_truth(inputs)
        has, target, which = self._targets(gt_boxes, gt_valid)
        (x, y, sw, sh, conf), class_out = self.split(out)
        predicted = self.boxes_from(x, y, sw, sh)                                                # [B, S, S, k, 4]
        iou = box_iou(ops.stop_gradient(predicted)[..., None, :], target[:, :, :, None, None, :])[..., 0, 0]
        responsible = ops.one_hot(ops.argmax(iou, axis=-1), self.boxes_per_cell) * ops.cast(has, "float32")[..., None]
        # targets of the responsible predictor: the offsets inside the cell and the square roots of the sizes
        cols = ops.reshape(ops.arange(self.grid, dtype="float32"), (1, 1, self.grid))
        rows = ops.reshape(ops.arange(self.grid, dtype="float32"), (1, self.grid, 1))
        tx = ((target[..., 0] + target[..., 2]) / 2 / width * s - cols)[..., None]
        ty = ((target[..., 1] + target[..., 3]) / 2 / height * s - rows)[..., None]
        tw = ops.sqrt(ops.maximum(target[..., 2] - target[..., 0], 0.0) / width)[..., None]
        th = ops.sqrt(ops.maximum(target[..., 3] - target[..., 1], 0.0) / height)[..., None]
        batch = ops.cast(ops.shape(out)[0], "float32")
        coord = self.config["lambda_coord"] * ops.sum(
            responsible * ((x - tx) ** 2 + (y - ty) ** 2 + (sw - tw) ** 2 + (sh - th) ** 2)) / batch
        obj = ops.sum(responsible * (conf - ops.stop_gradient(iou)) ** 2) / batch
        noobj = self.config["lambda_noobj"] * ops.sum((1.0 - responsible) * conf ** 2) / batch
        labels = ops.take_along_axis(ops.reshape(gt_classes, (-1, ops.shape(gt_classes)[1])),
                                     ops.reshape(which, (-1, self.grid * self.grid)), axis=1)
        onehot = ops.reshape(ops.one_hot(ops.maximum(labels, 0), self.num_classes),
                             (-1, self.grid, self.grid, self.num_classes))
        classes = ops.sum(ops.cast(has, "float32")[..., None] * (class_out - onehot) ** 2) / batch
        return {"coordinates": coord, "object": obj, "no_object": noobj, "classes": classes}

    # --- inference -----------------------------------------------------------------------------------------

    def class_scores(self, out):
        """Class-specific confidences `[B, S*S*boxes, C]`, clipped to [0, 1]."""
        (_, _, _, _, conf), probs = self.split(out)
        scores = conf[..., None] * probs[..., None, :]                                        # [B, S, S, k, C]
        return ops.clip(ops.reshape(scores, (-1, self.grid * self.grid * self.boxes_per_cell, self.num_classes)),
                        0.0, 1.0)

    def decode_boxes(self, out):
        """Predicted boxes `[B, S*S*boxes, 4]` xyxy pixels (unclipped)."""
        (x, y, sw, sh, _), _ = self.split(out)
        return ops.reshape(self.boxes_from(x, y, sw, sh), (-1, self.grid * self.grid * self.boxes_per_cell, 4))

    # --- export: the inputs of TFLite_Detection_PostProcess -------------------------------------------------

    box_scales = (1.0, 1.0, 1.0, 1.0)

    def postprocess_inputs(self, images):
        """Raw pixels -> (encodings `[B, N, 4]` (ty, tx, th, tw) against `self.anchors` with scales 1,
        class scores `[B, N, C]`)."""
        out = self.network(images, training=False)
        (x, y, sw, sh, _), _ = self.split(out)
        n = self.grid * self.grid * self.boxes_per_cell
        s = float(self.grid)
        encodings = ops.stack([(y - 0.5) / s, (x - 0.5) / s, ops.log(ops.maximum(sh * sh, 1e-8)),
                               ops.log(ops.maximum(sw * sw, 1e-8))], axis=-1)
        return ops.reshape(encodings, (-1, n, 4)), self.class_scores(out)
