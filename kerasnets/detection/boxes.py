"""Boxes: the conventions of kerasnets.detection, format conversion, IoU and the delta coder.

Conventions (the same as torchvision's detection models):

* Boxes in the public API are absolute `xyxy` image pixels, `[x1, y1, x2, y2]` with `x1 <= x2`,
  `y1 <= y2`, in the coordinates of the image the model sees (a box covering the whole `W x H`
  image is `[0, 0, W, H]`). Other formats convert with `convert_format` (Keras's
  `keras.utils.bounding_boxes.convert_format`: "xyxy", "xywh", "center_xywh", "yxyx", "rel_xyxy", ...).
* Class ids are `0 .. num_classes - 1` for the object classes; the detection heads reserve logit 0
  for the background, so class `c` is logit `c + 1`. Padded (absent) objects have class `-1`.
* Box deltas follow R-CNN (Girshick et al. 2014, appendix C): `dx = wx (x - xa) / wa`,
  `dy = wy (y - ya) / ha`, `dw = ww log(w / wa)`, `dh = wh log(h / ha)` on centres and sizes, with
  weights `(10, 10, 5, 5)` for the box heads and `(1, 1, 1, 1)` for the RPN, and `dw`, `dh` clamped
  at `log(1000 / 16)` when decoding. The encoding equals Keras's `encode_box_to_deltas(...,
  encoding_format="center_xywh", variance=1 / weights)` (a test checks it); the clamp is ours.

Everything that runs inside a model uses `keras.ops` (TensorFlow and JAX backends); `validate_*`
functions check user data in NumPy before it reaches a model.
"""

import math

import numpy as np
from keras import ops

from kerasnets.errors import BoxError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)

#: The dw/dh clamp of torchvision's BoxCoder: no box grows more than 1000/16 times its anchor.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)




def convert_format(boxes, source, target, height=None, width=None):
    """Convert boxes between Keras's formats ("xyxy", "xywh", "center_xywh", "rel_xyxy", ...)."""
    from keras.utils import bounding_boxes

    return bounding_boxes.convert_format(boxes, source=source, target=target, height=height, width=width)


def box_area(boxes):
    """Areas of `xyxy` boxes `[..., 4]` -> `[...]` (negative widths count as zero)."""
    return ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def box_iou(boxes1, boxes2):
    """Pairwise IoU of `xyxy` boxes `[..., N, 4]` and `[..., M, 4]` -> `[..., N, M]`; 0 where the
    union is empty (torchvision's `box_iou` divides 0 by 0 there)."""
    a = boxes1[..., :, None, :]
    b = boxes2[..., None, :, :]
    w = ops.maximum(ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0)
    h = ops.maximum(ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0)
    inter = w * h
    union = box_area(boxes1)[..., :, None] + box_area(boxes2)[..., None, :] - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)



def box_iou_numpy(boxes1, boxes2):
    """`box_iou` in NumPy for code outside a model (R-CNN's SVM mining, the error breakdown): `[N, 4]` and
    `[M, 4]` xyxy -> `[N, M]`."""
    boxes1, boxes2 = np.asarray(boxes1, np.float64).reshape(-1, 4), np.asarray(boxes2, np.float64).reshape(-1, 4)
    lt = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    return inter / np.maximum(area1[:, None] + area2[None, :] - inter, 1e-9)


def clip_boxes(boxes, height, width):
    """Clip `xyxy` boxes to the image `[0, width] x [0, height]`."""
    x1 = ops.clip(boxes[..., 0], 0.0, float(width))
    y1 = ops.clip(boxes[..., 1], 0.0, float(height))
    x2 = ops.clip(boxes[..., 2], 0.0, float(width))
    y2 = ops.clip(boxes[..., 3], 0.0, float(height))
    return ops.stack([x1, y1, x2, y2], axis=-1)


class BoxCoder:
    """Encode boxes as deltas from reference boxes (anchors or proposals) and decode them back.

    `weights` = (wx, wy, ww, wh): (10, 10, 5, 5) for the box heads, (1, 1, 1, 1) for the RPN
    (Ren et al. 2015, torchvision's defaults). Decoding clamps dw, dh at `clip` = log(1000/16).
    """

    def __init__(self, weights=HEAD_WEIGHTS, clip=BBOX_XFORM_CLIP):
        self.weights = tuple(float(w) for w in weights)
        self.clip = float(clip)

    @staticmethod
    def _centres(boxes):
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h

    def encode(self, reference, boxes):
        """Deltas `[..., 4]` that turn `reference` boxes into `boxes` (both `xyxy`, broadcastable)."""
        wx, wy, ww, wh = self.weights
        rx, ry, rw, rh = self._centres(reference)
        bx, by, bw, bh = self._centres(boxes)
        return ops.stack([
            wx * (bx - rx) / rw, wy * (by - ry) / rh, ww * ops.log(bw / rw), wh * ops.log(bh / rh),
        ], axis=-1)

    def decode(self, reference, deltas):
        """Boxes `[..., 4]` (`xyxy`) from `reference` boxes and `deltas`."""
        wx, wy, ww, wh = self.weights
        rx, ry, rw, rh = self._centres(reference)
        dx = deltas[..., 0] / wx
        dy = deltas[..., 1] / wy
        dw = ops.minimum(deltas[..., 2] / ww, self.clip)
        dh = ops.minimum(deltas[..., 3] / wh, self.clip)
        cx = dx * rw + rx
        cy = dy * rh + ry
        half_w = 0.5 * ops.exp(dw) * rw
        half_h = 0.5 * ops.exp(dh) * rh
        return ops.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)


def validate_annotations(boxes, classes, image_size, num_classes=None, *, where="image", masks=None,
                         tolerance=0.5):
    """Check one image's annotations in NumPy and return them as (float32 boxes `[M, 4]`, int32
    classes `[M]`): boxes inside the `(height, width)` image (up to `tolerance` pixels), with
    positive width and height, class ids in `0 .. num_classes - 1`, masks `[M, H, W]` if given.
    An image without objects is valid (`M = 0`). Raises BoxError naming `where`."""
    height, width = image_size
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4), np.float32)
    classes = np.asarray(classes).reshape(-1)
    if classes.size and not np.issubdtype(classes.dtype, np.integer) and not np.all(np.mod(classes, 1) == 0):
        raise BoxError(f"{where}: class ids must be integers, got {classes.tolist()}.")
    classes = classes.astype(np.int32)
    if len(boxes) != len(classes):
        raise BoxError(f"{where}: {len(boxes)} boxes but {len(classes)} class ids.")
    if not np.all(np.isfinite(boxes)):
        raise BoxError(f"{where}: box coordinates must be finite numbers.")
    for i, (box, c) in enumerate(zip(boxes, classes)):
        x1, y1, x2, y2 = box.tolist()
        if x2 <= x1 or y2 <= y1:
            raise BoxError(f"{where}: box {i} {box.tolist()} is empty or inverted (need x1 < x2 and y1 < y2, "
                           "absolute xyxy pixels).")
        if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
            raise BoxError(f"{where}: box {i} {box.tolist()} lies outside the {width}x{height} image "
                           "(boxes are absolute xyxy pixels; clip them or fix the annotation).")
        if c < 0 or (num_classes is not None and c >= num_classes):
            limit = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            raise BoxError(f"{where}: object {i} has class id {int(c)}, outside {limit} "
                           f"(num_classes={num_classes}).")
    if masks is not None:
        masks = np.asarray(masks)
        if masks.shape != (len(boxes), height, width):
            raise BoxError(f"{where}: masks have shape {masks.shape}, expected {(len(boxes), height, width)}.")
    return np.clip(boxes, [0, 0, 0, 0], [width, height, width, height]).astype(np.float32), classes
