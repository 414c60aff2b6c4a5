"""torchvision's COCO-trained Faster / Mask R-CNN in Keras, loaded exactly: the builders
`fasterrcnn_resnet50_fpn`, `maskrcnn_resnet50_fpn` (and the other torchvision R-CNN builders) with
torchvision's names, keyword arguments and defaults.

    model = fasterrcnn_resnet50_fpn(weights="coco")      # torchvision's fasterrcnn_resnet50_fpn_coco-258fb6c6.pth
    [result] = model.detect([photo])                     # boxes xyxy in the photo's pixels, scores, classes, names

Unlike kerasnets' own detectors (one fixed input size), these follow torchvision's
`GeneralizedRCNNTransform` exactly, so every photo runs at its own size:

* pixels / 255, normalised by `image_mean` / `image_std` (ImageNet's), then resized with PyTorch's bilinear
  interpolation (align_corners=False, `scale_factor = min(min_size / short side, max_size / long side)`,
  output size `floor(side * scale_factor)`, recompute_scale_factor=True: the kernel samples at
  `(i + 0.5) * in / out - 0.5`), zero-padded (after normalisation) to a multiple of 32;
* the network (`TorchvisionRCNN`, a Keras model whose convolutional parts are functional models on
  `(None, None, 3)` inputs and whose post-processing is `keras.ops`): backbone (ResNet-50 v1.5 or
  MobileNetV3-Large, frozen batch norm) + FPN with LastLevelMaxPool ('pool' = max_pool2d(k=1, s=2) of the
  last output), AnchorGenerator (per level one size x three ratios, base anchors rounded half to even,
  strides `padded size // feature size`), RPN (per-level top `rpn_pre_nms_top_n_test` logits, BoxCoder
  (1, 1, 1, 1) with dw/dh clamped at log(1000/16), clipped to the resized image, boxes under 1e-3 dropped,
  sigmoid >= `rpn_score_thresh`, NMS per level (IoU strictly above `rpn_nms_thresh` suppresses), the best
  `rpn_post_nms_top_n_test`), MultiScaleRoIAlign (levels 0-3, 7x7 / 14x14, sampling_ratio 2, aligned=False,
  scales `2 ** round(log2(feature height / image height))`, LevelMapper k0 = 4, s0 = 224, eps 1e-6), box
  head (TwoMLPHead on the C, H, W flattening, or the v2's four conv-BN + one FC), FastRCNNPredictor, and
  torchvision's `postprocess_detections` (softmax, BoxCoder (10, 10, 5, 5), clip, background dropped,
  score > `box_score_thresh`, boxes under 1e-2 dropped, NMS per class at `box_nms_thresh`, the best
  `box_detections_per_img`); Mask R-CNN adds MaskRCNNHeads + MaskRCNNPredictor on the detections;
* boxes are scaled back to the original photo (ratios original / resized in float32) and masks pasted
  with `paste_masks_in_image` (each 28x28 mask padded by one pixel, its box expanded by 30 / 28, bilinear
  resize into the integer box), thresholded at `mask_threshold` (0.5).

Greedy NMS here picks the best remaining box and suppresses its overlaps, `max_output` times: the same
boxes, in the same order, as torchvision's `batched_nms` followed by `keep[:max_output]`.

The published COCO files (`weights="coco"`) are the ones torchvision's `*_Weights.COCO_V1` name, downloaded
and verified by `kerasnets.core.torch_weights`, read without torch. torchvision sets the frozen batch
norm's eps to 0 for the resnet50_fpn (v1) COCO files (`overwrite_eps`), and so do these builders (also
for a local file that carries the published name); any other state dict (a torchvision model built
without weights and saved with `torch.save(model.state_dict())`) gets eps 1e-5 like torchvision's.

These models are for inference (detect, predict, save and load); training uses
`kerasnets.detection.GeneralizedRCNN`. Each image's padded size gives a new trace of the compiled function
(as torchvision's sizes vary per photo).
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops

from kerasnets.detection.base import Detector
from kerasnets.detection.boxes import BBOX_XFORM_CLIP, HEAD_WEIGHTS, RPN_WEIGHTS, BoxCoder
from kerasnets.detection.coco import COCO_CATEGORY_NAMES
from kerasnets.detection.pretrained import COCO_DETECTORS
from kerasnets.errors import UsageError, WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIZE_DIVISIBLE = 32
BACKBONES = ("resnet50", "resnet50_v2", "mobilenet_v3_large")


# -- torchvision's transform (NumPy, float32 as PyTorch computes it) ----------------------------------


def _linear_indices(in_size, out_size, scale=None):
    """PyTorch's upsample_linear1d indices and weights (align_corners=False): source `scale * (i + 0.5) - 0.5`
    (clamped at 0), `scale = in / out` in float32 unless given; the multiply-add rounded once, as PyTorch's
    compiled kernel (a fused multiply-add) does."""
    scale = np.float32(in_size) / np.float32(out_size) if scale is None else np.float32(scale)
    src = (np.float64(scale) * (np.arange(out_size, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))
    i0 = src.astype(np.int64)
    lam1 = np.minimum(src - i0.astype(np.float32), np.float32(1.0))
    lam0 = np.float32(1.0) - lam1
    i1 = i0 + (i0 < in_size - 1)
    return i0, i1, lam0.astype(np.float32), lam1.astype(np.float32)


def interpolate_bilinear(image, out_h, out_w):
    """`torch.nn.functional.interpolate(mode="bilinear", align_corners=False)` of an `[H, W, ...]` float32 array
    (the same summation order: rows interpolated along x first, then weighted along y)."""
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    y0, y1, hy0, hy1 = _linear_indices(h, out_h)
    x0, x1, wx0, wx1 = _linear_indices(w, out_w)
    extra = (None,) * (image.ndim - 2)
    wx0, wx1 = wx0[(None, slice(None)) + extra], wx1[(None, slice(None)) + extra]
    top = image[y0][:, x0] * wx0 + image[y0][:, x1] * wx1
    bottom = image[y1][:, x0] * wx0 + image[y1][:, x1] * wx1
    hy0, hy1 = hy0[(slice(None), None) + extra], hy1[(slice(None), None) + extra]
    return (top * hy0 + bottom * hy1).astype(np.float32)


def resized_size(height, width, min_size, max_size):
    """torchvision's resized (height, width): `floor(side * min(min_size / short, max_size / long))` in double."""
    scale = min(float(min_size) / min(height, width), float(max_size) / max(height, width))
    return math.floor(float(height) * scale), math.floor(float(width) * scale)


def paste_masks_in_image(masks, boxes, image_size, padding=1):
    """torchvision's `paste_masks_in_image`: `[D, M, M]` box-relative probabilities -> `[D, h, w]` float32."""
    h, w = image_size
    out = np.zeros((len(masks), h, w), np.float32)
    if not len(masks):
        return out
    m = masks.shape[-1]
    scale = np.float32(m + 2 * padding) / np.float32(m)
    padded = np.pad(np.asarray(masks, np.float32), ((0, 0), (padding, padding), (padding, padding)))
    boxes = np.asarray(boxes, np.float32)
    w_half = (boxes[:, 2] - boxes[:, 0]) * np.float32(0.5) * scale
    h_half = (boxes[:, 3] - boxes[:, 1]) * np.float32(0.5) * scale
    x_c = (boxes[:, 2] + boxes[:, 0]) * np.float32(0.5)
    y_c = (boxes[:, 3] + boxes[:, 1]) * np.float32(0.5)
    expanded = np.stack([x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half], axis=1).astype(np.int64)
    for k, (mask, box) in enumerate(zip(padded, expanded)):
        bw, bh = max(int(box[2] - box[0] + 1), 1), max(int(box[3] - box[1] + 1), 1)
        resized = interpolate_bilinear(mask, bh, bw)
        x0, x1 = max(int(box[0]), 0), min(int(box[2]) + 1, w)
        y0, y1 = max(int(box[1]), 0), min(int(box[3]) + 1, h)
        if x1 > x0 and y1 > y0:
            out[k, y0:y1, x0:x1] = resized[y0 - box[1]:y1 - box[1], x0 - box[0]:x1 - box[0]]
    return out


class RCNNTransform:
    """torchvision's `GeneralizedRCNNTransform` at inference: normalise, resize, pad; map detections back."""

    def __init__(self, min_size=800, max_size=1333, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
                 size_divisible=SIZE_DIVISIBLE, fixed_size=None, mask_threshold=0.5):
        min_size = min_size if isinstance(min_size, (list, tuple)) else (min_size,)
        self.min_size = int(min_size[-1])  # torchvision resizes to the last one at inference
        self.max_size = int(max_size)
        self.image_mean = np.asarray(image_mean, np.float32)
        self.image_std = np.asarray(image_std, np.float32)
        self.size_divisible = int(size_divisible)
        self.fixed_size = None if fixed_size is None else tuple(int(s) for s in fixed_size)
        self.mask_threshold = float(mask_threshold)

    def output_size(self, height, width):
        """(height, width) an image of that size is resized to."""
        if self.fixed_size is not None:
            return self.fixed_size[1], self.fixed_size[0]  # torchvision's fixed_size is (width, height)
        return resized_size(height, width, self.min_size, self.max_size)

    def resize(self, image):
        """One RGB image (H, W, 3; 0-255) -> the normalised, resized float32 image."""
        x = np.asarray(image, np.float32) / np.float32(255.0)
        x = (x - self.image_mean) / self.image_std
        return interpolate_bilinear(x, *self.output_size(*x.shape[:2]))

    def batch(self, images):
        """RGB images -> (float32 `[B, H, W, 3]` padded to a multiple of 32, int32 `[B, 2]` resized sizes,
        the original sizes)."""
        from kerasnets.images import check_rgb_images

        arrays = check_rgb_images(images)
        resized = [self.resize(a) for a in arrays]
        d = self.size_divisible
        height = int(math.ceil(max(r.shape[0] for r in resized) / d) * d)
        width = int(math.ceil(max(r.shape[1] for r in resized) / d) * d)
        out = np.zeros((len(resized), height, width, 3), np.float32)
        for i, r in enumerate(resized):
            out[i, :r.shape[0], :r.shape[1]] = r
        sizes = np.asarray([r.shape[:2] for r in resized], np.int32)
        return out, sizes, [a.shape[:2] for a in arrays]

    def postprocess(self, detections, resized, original, names=None):
        """One image's padded outputs -> boxes `[D, 4]` in the original pixels, scores, classes, names[, masks]."""
        n = int(detections["num_detections"])
        ratio_h = np.float32(original[0]) / np.float32(resized[0])
        ratio_w = np.float32(original[1]) / np.float32(resized[1])
        boxes = np.asarray(detections["boxes"][:n], np.float32) * np.array([ratio_w, ratio_h, ratio_w, ratio_h],
                                                                           np.float32)
        classes = np.asarray(detections["classes"][:n], np.int32)
        out = {"boxes": boxes, "scores": np.asarray(detections["scores"][:n], np.float32), "classes": classes}
        if names is not None:
            out["names"] = [names[c] if 0 <= c < len(names) else str(c) for c in classes]
        if "masks" in detections:
            probabilities = paste_masks_in_image(detections["masks"][:n], boxes, original)
            out["mask_probabilities"] = probabilities
            out["masks"] = probabilities > self.mask_threshold
        return out


# -- the RoI operations and NMS, with torchvision's semantics (keras.ops) -------------------------------


def box_area(boxes):
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def clip_to_sizes(boxes, sizes):
    """Clip `[B, N, ..., 4]` boxes to each image's (height, width) `sizes` `[B, 2]`."""
    sizes = ops.cast(sizes, boxes.dtype)
    extra = len(ops.shape(boxes)) - 2
    h = ops.reshape(sizes[:, 0], (-1,) + (1,) * extra)
    w = ops.reshape(sizes[:, 1], (-1,) + (1,) * extra)
    x1 = ops.minimum(ops.maximum(boxes[..., 0], 0.0), w)
    y1 = ops.minimum(ops.maximum(boxes[..., 1], 0.0), h)
    x2 = ops.minimum(ops.maximum(boxes[..., 2], 0.0), w)
    y2 = ops.minimum(ops.maximum(boxes[..., 3], 0.0), h)
    return ops.stack([x1, y1, x2, y2], axis=-1)


def greedy_nms(boxes, scores, valid, groups, iou_threshold, max_output):
    """torchvision's `batched_nms` then `keep[:max_output]`, for `boxes` `[B, N, 4]`, `scores`, `valid`
    (candidates) and `groups` (boxes of different groups never suppress each other), all `[B, N]`:
    the best remaining candidate is kept and every candidate of its group whose IoU with it is strictly above
    `iou_threshold` is dropped, `max_output` times. Returns int32 `[B, max_output]` indices (-1 = none), in
    decreasing score, and the int32 `[B]` count."""
    batch = ops.shape(scores)[0]
    n = ops.shape(scores)[1]
    max_output = int(max_output)
    if n == 0 or max_output == 0:
        return ops.full((batch, max_output), -1, "int32"), ops.zeros((batch,), "int32")
    scores = ops.where(valid, scores, -np.inf)
    areas = box_area(boxes)
    slots = ops.arange(max_output, dtype="int32")
    positions = ops.arange(n, dtype="int32")

    def step(t, state):
        alive, keep = state
        masked = ops.where(alive, scores, -np.inf)
        best = ops.cast(ops.argmax(masked, axis=1), "int32")
        found = ops.any(alive, axis=1)
        pick = ops.take_along_axis(boxes, best[:, None, None], axis=1)                    # [B, 1, 4]
        group = ops.take_along_axis(groups, best[:, None], axis=1)
        lt_x = ops.maximum(pick[..., 0], boxes[..., 0])
        lt_y = ops.maximum(pick[..., 1], boxes[..., 1])
        rb_x = ops.minimum(pick[..., 2], boxes[..., 2])
        rb_y = ops.minimum(pick[..., 3], boxes[..., 3])
        inter = ops.maximum(rb_x - lt_x, 0.0) * ops.maximum(rb_y - lt_y, 0.0)
        iou = inter / (box_area(pick) + areas - inter)
        suppressed = (iou > iou_threshold) & (groups == group)
        alive = alive & ~suppressed & (positions[None, :] != best[:, None])
        chosen = ops.where(found, best, -1)
        keep = ops.where(slots[None, :] == t, chosen[:, None], keep)
        return alive, keep

    alive = valid & (scores > -np.inf)
    keep = ops.full((batch, max_output), -1, "int32")
    _, keep = ops.fori_loop(0, max_output, step, (alive, keep))
    return keep, ops.sum(ops.cast(keep >= 0, "int32"), axis=1)


def gather(values, indices, fill=0.0):
    """`values` `[B, N, ...]` at `indices` `[B, K]` (-1 gives `fill`)."""
    safe = ops.maximum(indices, 0)
    valid = indices >= 0
    for _ in range(len(ops.shape(values)) - 2):
        safe, valid = safe[..., None], valid[..., None]
    out = ops.take_along_axis(values, safe, axis=1)
    return ops.where(valid, out, ops.cast(fill, out.dtype))


def _roi_axis(start, length, bins, grid, size):
    """Sample positions of RoIAlign along one axis `[B, N, bins * grid]` and torchvision's bilinear parts:
    (low index, high index, low weight, high weight, inside)."""
    bin_size = length / bins
    p = ops.repeat(ops.arange(bins, dtype="float32"), grid)
    i = ops.tile(ops.arange(grid, dtype="float32"), bins)
    pos = start[..., None] + p * bin_size[..., None] + (i + 0.5) * bin_size[..., None] / float(grid)
    size = size[..., None]
    inside = (pos >= -1.0) & (pos <= size)
    pos = ops.maximum(pos, 0.0)
    low = ops.floor(pos)
    at_end = low >= size - 1.0
    low = ops.where(at_end, size - 1.0, low)
    high = ops.where(at_end, size - 1.0, low + 1.0)
    pos = ops.where(at_end, low, pos)
    frac = pos - low
    return ops.cast(low, "int32"), ops.cast(high, "int32"), 1.0 - frac, frac, inside


def multiscale_roi_align(features, boxes, image_sizes, output_size=7, sampling_ratio=2, canonical_scale=224,
                         canonical_level=4, eps=1e-6):
    """torchvision's `MultiScaleRoIAlign` (aligned=False) of `boxes` `[B, N, 4]` (xyxy, resized-image pixels)
    on the maps `features` (finest first, `[B, H_l, W_l, C]`) -> `[B, N, out, out, C]`.

    Scales are inferred as torchvision does, `2 ** round(log2(H_l / max image height))`, and each box is
    pooled from level `floor(4 + log2(sqrt(area) / 224) + 1e-6)` clamped to the levels there are."""
    heights = [ops.shape(f)[1] for f in features]
    widths = [ops.shape(f)[2] for f in features]
    channels = ops.shape(features[0])[-1]
    batch, n = ops.shape(boxes)[0], ops.shape(boxes)[1]
    top = ops.cast(ops.max(image_sizes[:, 0]), "float32")
    log_scales = ops.stack([ops.round(ops.log2(float(h) / top)) for h in heights])      # e.g. -2 ... -5
    scales = ops.power(2.0, log_scales)
    k_min, k_max = -log_scales[0], -log_scales[-1]
    boxes = ops.stop_gradient(ops.cast(boxes, "float32"))
    size = ops.sqrt(box_area(boxes))
    target = ops.floor(canonical_level + ops.log2(size / canonical_scale) + eps)
    level = ops.cast(ops.clip(target, k_min, k_max) - k_min, "int32")                  # [B, N]
    scale = ops.take(scales, level)
    level_h = ops.take(ops.convert_to_tensor(np.asarray(heights, np.float32)), level)
    level_w = ops.take(ops.convert_to_tensor(np.asarray(widths, np.float32)), level)
    sizes = [h * w for h, w in zip(heights, widths)]
    offsets = ops.take(ops.convert_to_tensor(np.cumsum([0] + sizes[:-1]).astype(np.int32)), level)
    total = int(sum(sizes))
    flat = ops.concatenate([ops.reshape(f, (batch, -1, channels)) for f in features], axis=1)
    flat = ops.reshape(flat, (-1, channels))
    x1 = boxes[..., 0] * scale
    y1 = boxes[..., 1] * scale
    roi_w = ops.maximum(boxes[..., 2] * scale - x1, 1.0)
    roi_h = ops.maximum(boxes[..., 3] * scale - y1, 1.0)
    g = int(sampling_ratio)
    if g <= 0:
        raise ValueError("these detectors pool with a fixed sampling_ratio (torchvision's 2); got "
                         f"{sampling_ratio}.")
    yl, yh, wyl, wyh, y_in = _roi_axis(y1, roi_h, output_size, g, level_h)
    xl, xh, wxl, wxh, x_in = _roi_axis(x1, roi_w, output_size, g, level_w)
    inside = ops.cast(y_in[..., :, None] & x_in[..., None, :], "float32")
    base = offsets + ops.arange(batch, dtype="int32")[:, None] * total                  # [B, N]
    width = ops.cast(level_w, "int32")[..., None, None]
    out = 0.0
    for ry, wy in ((yl, wyl), (yh, wyh)):
        for rx, wx in ((xl, wxl), (xh, wxh)):
            index = base[..., None, None] + ry[..., :, None] * width + rx[..., None, :]    # [B, N, S, S]
            weight = (wy[..., :, None] * wx[..., None, :] * inside)[..., None]
            out = out + weight * ops.take(flat, index, axis=0)
    s = output_size
    out = ops.reshape(out, (batch, n, s, g, s, g, channels))
    return ops.sum(out, axis=(3, 5)) / float(g * g)


# -- the networks ----------------------------------------------------------------------------------------


def _frozen(model, epsilon):
    """Frozen batch norm (torchvision's FrozenBatchNorm2d): inference statistics, not trained, `epsilon`."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.epsilon = float(epsilon)
            layer.trainable = False
    return model


def resnet50_body(epsilon=1e-5, frozen=True):
    """torchvision's ResNet-50 (v1.5) -> (C2, C3, C4, C5), on any input size."""
    from kerasnets.models import resnet

    pixels = keras.Input((None, None, 3), name="images")
    last = resnet.resnet_v1_features(pixels, "resnet50", variant="torchvision")
    body = keras.Model(pixels, last, name="resnet50_body")
    outputs = [body.get_layer(n).output for n in ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out")]
    model = keras.Model(pixels, outputs + [last], name="body")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.epsilon = float(epsilon)
            layer.trainable = not frozen
    return model


@keras.saving.register_keras_serializable(package="kerasnets")
class TorchNearestResize(keras.layers.Layer):
    """`call(x, like)`: `x` resized to the spatial size of `like` as PyTorch's `interpolate(mode="nearest")`
    does (source row `min(floor(i * in / out), in - 1)`, in float32): 2x repeats for FPN levels of stride 2,
    the identity for two maps of the same size (the MobileNetV3 FPN)."""

    def call(self, x, like):
        for axis in (1, 2):
            size_in, size_out = ops.shape(x)[axis], ops.shape(like)[axis]
            if isinstance(size_in, int) and isinstance(size_out, int) and size_in == size_out:
                continue
            scale = ops.cast(size_in, "float32") / ops.cast(size_out, "float32")
            index = ops.cast(ops.floor(ops.cast(ops.arange(size_out), "float32") * scale), "int32")
            x = ops.take(x, ops.minimum(index, size_in - 1), axis=axis)
        return x

    def compute_output_shape(self, x_shape, like_shape):
        return (x_shape[0], like_shape[1], like_shape[2], x_shape[3])


#: torchvision's MobileNetV3-Large (Howard et al. 2019, Table 1): (kernel, expanded, out, SE, hard-swish,
#: stride) of features.1 ... features.15, after the 3x3/2 16-channel stem; features.16 is a 1x1 to 960.
MOBILENET_V3_LARGE = (
    (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
    (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
    (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
    (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
    (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1),
)


def _make_divisible(v, divisor=8):
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v3_large_body(epsilon=1e-5, frozen=True):
    """torchvision's MobileNetV3-Large features -> (features.13, features.16), both at stride 32 (the
    detection builders' returned stages 4 and 5), on any input size."""
    pixels = keras.Input((None, None, 3), name="images")

    def conv_bn(x, filters, kernel, stride, activation, label, depthwise=False):
        pad = (kernel - 1) // 2
        if stride > 1 and pad:
            x = keras.layers.ZeroPadding2D(pad, name=f"{label}_pad")(x)
        padding = "valid" if stride > 1 or not pad else "same"
        if depthwise:
            x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False, name=label)(x)
        else:
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=label)(x)
        x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{label}_bn")(x)
        if activation:
            x = keras.layers.Activation(activation, name=f"{label}_act")(x)
        return x

    x = conv_bn(pixels, 16, 3, 2, "hard_swish", "features_0")
    channels, outputs = 16, []
    for i, (kernel, expanded, out, se, hs, stride) in enumerate(MOBILENET_V3_LARGE, start=1):
        act = "hard_swish" if hs else "relu"
        y, j = x, 0
        if expanded != channels:
            y = conv_bn(y, expanded, 1, 1, act, f"features_{i}_block_{j}")
            j += 1
        y = conv_bn(y, expanded, kernel, stride, act, f"features_{i}_block_{j}", depthwise=True)
        j += 1
        if se:
            squeeze = _make_divisible(expanded // 4)
            s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"features_{i}_block_{j}_pool")(y)
            s = keras.layers.Conv2D(squeeze, 1, activation="relu", name=f"features_{i}_block_{j}_fc1")(s)
            s = keras.layers.Conv2D(expanded, 1, activation="hard_sigmoid", name=f"features_{i}_block_{j}_fc2")(s)
            y = keras.layers.Multiply(name=f"features_{i}_block_{j}_scale")([y, s])
            j += 1
        y = conv_bn(y, out, 1, 1, None, f"features_{i}_block_{j}")
        if stride == 1 and channels == out:
            y = keras.layers.Add(name=f"features_{i}_add")([x, y])
        x, channels = y, out
        if i == 13:
            outputs.append(x)
    outputs.append(conv_bn(x, 960, 1, 1, "hard_swish", "features_16"))
    model = keras.Model(pixels, outputs, name="body")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = not frozen
    return model


def mobilenet_torch_name(name):
    """The torchvision module (below backbone.body) of a layer of `mobilenet_v3_large_body`."""
    match = re.fullmatch(r"features_(\d+)(?:_block_(\d+))?(_bn|_fc1|_fc2)?", name)
    if match is None:
        raise WeightsError(f"layer {name} of the MobileNetV3 backbone has no torchvision name.")
    stage, block, kind = match[1], match[2], match[3] or ""
    prefix = f"{stage}" if block is None else f"{stage}.block.{block}"
    if kind in ("_fc1", "_fc2"):
        return f"{prefix}.{kind[1:]}"
    return f"{prefix}.{1 if kind == '_bn' else 0}"


def fpn_network(in_channels, channels=256, norm=False, name="fpn"):
    """torchvision's FeaturePyramidNetwork + LastLevelMaxPool on maps of `in_channels` (finest first):
    inner 1x1 convolutions, nearest-neighbour top-down sums, 3x3 outputs, and 'pool' = max_pool2d(k=1, s=2) of
    the last output. `norm`: convolutions without bias followed by batch norm (the v2 builders)."""
    inputs = [keras.Input((None, None, c), name=f"c{i}") for i, c in enumerate(in_channels)]

    def conv(x, kernel, label):
        x = keras.layers.Conv2D(channels, kernel, padding="same", use_bias=not norm, name=label)(x)
        if norm:
            x = keras.layers.BatchNormalization(epsilon=1e-5, name=f"{label}_bn")(x)
        return x

    last = conv(inputs[-1], 1, f"{name}_inner{len(inputs) - 1}")
    results = [conv(last, 3, f"{name}_layer{len(inputs) - 1}")]
    for i in range(len(inputs) - 2, -1, -1):
        lateral = conv(inputs[i], 1, f"{name}_inner{i}")
        up = TorchNearestResize(name=f"{name}_up{i}")(last, lateral)
        last = keras.layers.Add(name=f"{name}_add{i}")([lateral, up])
        results.insert(0, conv(last, 3, f"{name}_layer{i}"))
    results.append(keras.layers.MaxPooling2D(1, strides=2, name=f"{name}_pool")(results[-1]))
    return keras.Model(inputs, results, name=name)


def rpn_head_network(channels, num_anchors, conv_depth=1, name="rpn_head"):
    """torchvision's RPNHead: `conv_depth` 3x3 convolutions + ReLU, then objectness logits `[H, W, A]` and
    deltas `[H, W, A * 4]`."""
    x_in = keras.Input((None, None, channels))
    x = x_in
    for i in range(conv_depth):
        x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"{name}_conv{i}")(x)
    logits = keras.layers.Conv2D(num_anchors, 1, name=f"{name}_cls_logits")(x)
    deltas = keras.layers.Conv2D(num_anchors * 4, 1, name=f"{name}_bbox_pred")(x)
    return keras.Model(x_in, [logits, deltas], name=name)


def box_head_network(channels, resolution, num_classes, representation_size=1024, conv_head=False,
                     name="box_head"):
    """TwoMLPHead (flatten in PyTorch's C, H, W order, fc6, fc7) or, `conv_head`, FastRCNNConvFCHead (four 3x3
    conv-BN-ReLU, one FC), then FastRCNNPredictor: class logits and per-class deltas."""
    x_in = keras.Input((resolution, resolution, channels))
    x = x_in
    if conv_head:
        for i in range(4):
            x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
            x = keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_conv{i}_bn")(x)
            x = keras.layers.ReLU(name=f"{name}_conv{i}_relu")(x)
    x = keras.layers.Permute((3, 1, 2), name=f"{name}_chw")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    if conv_head:
        x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc")(x)
    else:
        x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc6")(x)
        x = keras.layers.Dense(representation_size, activation="relu", name=f"{name}_fc7")(x)
    logits = keras.layers.Dense(num_classes, name=f"{name}_cls_score")(x)
    deltas = keras.layers.Dense(num_classes * 4, name=f"{name}_bbox_pred")(x)
    return keras.Model(x_in, [logits, deltas], name=name)


def mask_head_network(channels, resolution, num_classes, norm=False, name="mask_head"):
    """MaskRCNNHeads (four 3x3 convolutions + ReLU, with batch norm for v2) and MaskRCNNPredictor (2x2 stride-2
    transposed convolution + ReLU, 1x1 to one logit map per class)."""
    x_in = keras.Input((resolution, resolution, channels))
    x = x_in
    for i in range(4):
        x = keras.layers.Conv2D(256, 3, padding="same", use_bias=not norm, name=f"{name}_fcn{i + 1}")(x)
        if norm:
            x = keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_fcn{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_fcn{i + 1}_relu")(x)
    x = keras.layers.Conv2DTranspose(256, 2, strides=2, activation="relu", name=f"{name}_conv5_mask")(x)
    logits = keras.layers.Conv2D(num_classes, 1, name=f"{name}_mask_fcn_logits")(x)
    return keras.Model(x_in, logits, name=name)


def cell_anchors(sizes, aspect_ratios):
    """torchvision's AnchorGenerator.generate_anchors (float32, rounded half to even): `[A, 4]` per level."""
    out = []
    for scales, ratios in zip(sizes, aspect_ratios):
        scales = np.asarray(scales, np.float32)
        ratios = np.asarray(ratios, np.float32)
        h_ratios = np.sqrt(ratios)
        w_ratios = np.float32(1.0) / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        out.append(np.round(np.stack([-ws, -hs, ws, hs], axis=1) / np.float32(2.0)).astype(np.float32))
    return out


def grid_anchors(base, grid, stride):
    """Anchors `[H * W * A, 4]` of one level: shifts `arange * stride` (stride = padded size // map size)."""
    (gh, gw), (sh, sw) = grid, stride
    shift_x = np.arange(gw, dtype=np.int64) * sw
    shift_y = np.arange(gh, dtype=np.int64) * sh
    sy, sx = np.meshgrid(shift_y, shift_x, indexing="ij")
    shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1).astype(np.float32)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


# -- the detector ------------------------------------------------------------------------------------------


def _static(dimension, what):
    if dimension is None:
        raise ValueError(f"{what} needs static shapes (call the model on concrete arrays; detect does).")
    return int(dimension)


@keras.saving.register_keras_serializable(package="kerasnets")
class TorchvisionRCNN(Detector):
    """torchvision's FasterRCNN / MaskRCNN (`masks=True`) at inference, on each image's own size.

    `call({"images": [B, H, W, 3] normalised and padded (RCNNTransform.batch), "image_sizes": [B, 2] resized
    (height, width)})` -> padded detections `{"boxes" [B, D, 4] xyxy resized pixels, "scores", "classes"
    (torchvision's labels, 1..num_classes - 1), "num_detections"[, "masks" [B, D, 28, 28] probabilities]}`.
    `detect(images)` does the transform and maps the detections back to each image. `num_classes` counts the
    background, as torchvision's does (91 for COCO)."""

    reduce_retracing = False  # one trace per padded size: anchors and RoI offsets are constants of it

    def __init__(self, backbone="resnet50", num_classes=91, *, masks=False, min_size=800, max_size=1333,
                 image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, fixed_size=None,
                 anchor_sizes=((32,), (64,), (128,), (256,), (512,)), aspect_ratios=(0.5, 1.0, 2.0),
                 rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000, rpn_nms_thresh=0.7,
                 rpn_score_thresh=0.0, box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100,
                 batchnorm_epsilon=1e-5, mask_threshold=0.5, class_names=None, **kwargs):
        super().__init__(**kwargs)
        c = self.config
        if c["backbone"] not in BACKBONES:
            raise UsageError(f"backbone must be one of {', '.join(BACKBONES)}; got {c['backbone']!r}.")
        if self.num_classes < 2:
            raise UsageError("num_classes counts the background too (torchvision's): at least 2, got "
                             f"{self.num_classes}.")
        if class_names is None:
            self.class_names = list(COCO_CATEGORY_NAMES) if self.num_classes == 91 else [
                "__background__"] + [str(i) for i in range(1, self.num_classes)]
        v2 = c["backbone"] == "resnet50_v2"
        if c["backbone"] == "mobilenet_v3_large":
            self.body = mobilenet_v3_large_body(c["batchnorm_epsilon"])
        else:
            self.body = resnet50_body(c["batchnorm_epsilon"], frozen=not v2)
        in_channels = [int(o.shape[-1]) for o in self.body.outputs]
        self.fpn = fpn_network(in_channels, 256, norm=v2)
        sizes = tuple(tuple(s) if isinstance(s, (list, tuple)) else (s,) for s in c["anchor_sizes"])
        ratios = tuple(c["aspect_ratios"])
        ratios = ratios if isinstance(ratios[0], (list, tuple)) else (ratios,) * len(sizes)
        if len(sizes) != len(self.body.outputs) + 1:
            raise UsageError(f"anchor_sizes needs one entry per feature map ({len(self.body.outputs) + 1}), got "
                             f"{len(sizes)}.")
        self.cell_anchors = cell_anchors(sizes, ratios)
        num_anchors = {len(a) for a in self.cell_anchors}
        if len(num_anchors) != 1:
            raise UsageError("every level needs the same number of anchors per location (one shared RPN head).")
        self.rpn_head = rpn_head_network(256, num_anchors.pop(), conv_depth=2 if v2 else 1)
        self.box_head = box_head_network(256, 7, self.num_classes, conv_head=v2)
        self.mask_head = mask_head_network(256, 14, self.num_classes, norm=v2) if c["masks"] else None
        self.rpn_coder = BoxCoder(RPN_WEIGHTS, BBOX_XFORM_CLIP)
        self.box_coder = BoxCoder(HEAD_WEIGHTS, BBOX_XFORM_CLIP)
        self.built = True

    @property
    def transform(self):
        c = self.config
        return RCNNTransform(c["min_size"], c["max_size"], c["image_mean"], c["image_std"],
                             fixed_size=c["fixed_size"], mask_threshold=c["mask_threshold"])

    def feature_maps(self, images, training=False):
        """The FPN's maps '0', '1', ..., 'pool' (finest first)."""
        maps = self.body(images, training=training)
        return list(self.fpn(list(maps), training=training))

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or "images" not in inputs or "image_sizes" not in inputs:
            raise ValueError(f"{type(self).__name__} takes {{'images': [B, H, W, 3] normalised and padded, "
                             "'image_sizes': [B, 2]}} (RCNNTransform.batch); detect(images) does that.")
        if training and "boxes" in inputs:
            raise UsageError(f"{type(self).__name__} is torchvision's detector for inference; train "
                             "kerasnets.detection.GeneralizedRCNN (FasterRCNN, MaskRCNN) instead.")
        images = ops.convert_to_tensor(inputs["images"], "float32")
        sizes = ops.cast(inputs["image_sizes"], "int32")
        maps = self.feature_maps(images)
        proposals, valid = self.proposals(maps, images, sizes)
        out = self.detections(maps[:-1], proposals, valid, sizes)
        if self.mask_head is not None:
            out["masks"] = self.masks(maps[:-1], out["boxes"], out["classes"], sizes)
        return out

    def anchors(self, maps, images):
        """Per level, the anchors `[H * W * A, 4]` (NumPy, from the static shapes of this call)."""
        height = _static(ops.shape(images)[1], "anchors")
        width = _static(ops.shape(images)[2], "anchors")
        out = []
        for m, base in zip(maps, self.cell_anchors):
            gh, gw = _static(ops.shape(m)[1], "anchors"), _static(ops.shape(m)[2], "anchors")
            out.append(grid_anchors(base, (gh, gw), (height // gh, width // gw)))
        return out

    def proposals(self, maps, images, sizes):
        """torchvision's RegionProposalNetwork.filter_proposals: (boxes `[B, post, 4]`, valid `[B, post]`)."""
        c = self.config
        batch = ops.shape(images)[0]
        boxes, logits, levels = [], [], []
        for level, (m, anchors) in enumerate(zip(maps, self.anchors(maps, images))):
            lg, dl = self.rpn_head(m)
            lg = ops.reshape(lg, (batch, -1))
            dl = ops.reshape(dl, (batch, -1, 4))
            k = min(int(c["rpn_pre_nms_top_n_test"]), anchors.shape[0])
            top, idx = ops.top_k(lg, k)
            anchor = ops.take(ops.convert_to_tensor(anchors), idx, axis=0)
            delta = ops.take_along_axis(dl, idx[..., None], axis=1)
            boxes.append(self.rpn_coder.decode(anchor, delta))
            logits.append(top)
            levels.append(ops.full(ops.shape(top), level, "int32"))
        boxes = clip_to_sizes(ops.concatenate(boxes, axis=1), sizes)
        scores = ops.sigmoid(ops.concatenate(logits, axis=1))
        levels = ops.concatenate(levels, axis=1)
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        valid = (w >= 1e-3) & (h >= 1e-3) & (scores >= float(c["rpn_score_thresh"]))
        keep, _ = greedy_nms(boxes, scores, valid, levels, float(c["rpn_nms_thresh"]), c["rpn_post_nms_top_n_test"])
        return gather(boxes, keep), keep >= 0

    def detections(self, maps, proposals, valid, sizes):
        """torchvision's RoIHeads.postprocess_detections on the proposals."""
        c = self.config
        batch, n = ops.shape(proposals)[0], ops.shape(proposals)[1]
        pooled = multiscale_roi_align(maps, proposals, sizes, 7, 2)
        logits, deltas = self.box_head(ops.reshape(pooled, (-1, 7, 7, ops.shape(pooled)[-1])))
        classes = self.num_classes
        probs = ops.softmax(ops.reshape(logits, (batch, n, classes)), axis=-1)[..., 1:]
        deltas = ops.reshape(deltas, (batch, n, classes, 4))[:, :, 1:]
        boxes = clip_to_sizes(self.box_coder.decode(proposals[:, :, None, :], deltas), sizes)
        count = n * (classes - 1)
        boxes = ops.reshape(boxes, (batch, count, 4))
        scores = ops.reshape(probs, (batch, count))
        labels = ops.reshape(ops.broadcast_to(ops.arange(1, classes, dtype="int32"), ops.shape(probs)), (batch, count))
        usable = ops.reshape(ops.broadcast_to(valid[..., None], ops.shape(probs)), (batch, count))
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        usable = usable & (scores > float(c["box_score_thresh"])) & (w >= 1e-2) & (h >= 1e-2)
        keep, number = greedy_nms(boxes, scores, usable, labels, float(c["box_nms_thresh"]),
                                  c["box_detections_per_img"])
        return {"boxes": gather(boxes, keep), "scores": gather(scores, keep),
                "classes": ops.where(keep >= 0, ops.take_along_axis(labels, ops.maximum(keep, 0), axis=1), -1),
                "num_detections": number}

    def masks(self, maps, boxes, classes, sizes):
        """torchvision's mask branch on the detections: 28x28 probabilities of each box's class."""
        batch, n = ops.shape(boxes)[0], ops.shape(boxes)[1]
        pooled = multiscale_roi_align(maps, boxes, sizes, 14, 2)
        logits = self.mask_head(ops.reshape(pooled, (-1, 14, 14, ops.shape(pooled)[-1])))
        logits = ops.reshape(logits, (batch, n, 28, 28, self.num_classes))
        chosen = ops.sum(logits * ops.one_hot(ops.maximum(classes, 0), self.num_classes)[:, :, None, None, :],
                         axis=-1)
        return ops.sigmoid(chosen)

    # --- inference on photos ---------------------------------------------------------------------------

    def detect(self, images, batch_size=1):
        """Detections for RGB images (H, W, 3; 0-255) of any sizes: per image a dict with `boxes` `[D, 4]` (xyxy
        pixels of that image), `scores`, `classes` (torchvision's labels), `names`, and for Mask R-CNN `masks`
        `[D, h, w]` bool (probability > mask_threshold) and `mask_probabilities`. Each call of the network takes
        `batch_size` images padded to their common size (1: every photo at its own size)."""
        transform = self.transform
        results = []
        images = list(images) if not (isinstance(images, np.ndarray) and images.ndim == 3) else [images]
        for start in range(0, len(images), batch_size):
            batch, sizes, originals = transform.batch(images[start:start + batch_size])
            out = {k: ops.convert_to_numpy(v) for k, v in self._predict_fn()(
                {"images": batch, "image_sizes": sizes}).items()}
            for i, (resized, original) in enumerate(zip(sizes, originals)):
                results.append(transform.postprocess({k: v[i] for k, v in out.items()}, tuple(resized), original,
                                                     self.class_names))
        return results

    # --- weights --------------------------------------------------------------------------------------

    def torch_modules(self):
        """(Keras layer, torchvision module name) of every weighted layer."""
        pairs = []
        for part, prefix in ((self.body, "backbone.body."), (self.fpn, "backbone.fpn."), (self.rpn_head, "rpn.head."),
                             (self.box_head, "roi_heads."), (self.mask_head, "roi_heads.")):
            if part is None:
                continue
            for layer in part.layers:
                if layer.weights:
                    pairs.append((layer, prefix + torch_module(part.name, layer.name, self.config["backbone"])))
        return pairs

    def load_torch_state(self, state, source):
        """Set every weight from a torchvision state dict ({name: ndarray}); every tensor must be used."""
        state = canonical_state(state)
        used = set()
        for layer, module in self.torch_modules():
            values = []
            for variable in layer.weights:
                key = f"{module}.{_PARAMETER.get(variable.name, variable.name)}"
                if key not in state:
                    raise WeightsError(f"{source} has no tensor {key!r} (for layer {layer.name}): it is not a "
                                       f"torchvision {self.builder_label()} state dict.")
                used.add(key)
                values.append(_to_keras(layer, variable.name, state[key]))
            expected = [tuple(v.shape) for v in layer.weights]
            if [tuple(v.shape) for v in values] != expected:
                raise WeightsError(f"{source}: {module} has shapes {[v.shape for v in values]} after conversion, but "
                                   f"layer {layer.name} needs {expected} (another num_classes or another builder?).")
            layer.set_weights(values)
        unused = [k for k in state if k not in used and not k.endswith("num_batches_tracked")]
        if unused:
            raise WeightsError(f"{source} does not fit {self.builder_label()}: {len(unused)} tensors have no "
                               f"layer, e.g. {unused[:4]}.")
        return self

    def builder_label(self):
        c = self.config
        return f"{'maskrcnn' if c['masks'] else 'fasterrcnn'}_{c['backbone'].replace('_v2', '')}_fpn" + (
            "_v2" if c["backbone"] == "resnet50_v2" else "")

    def weighted_layers(self):
        return [layer for layer, _ in self.torch_modules()]


def parameter_count(model):
    """torchvision's `num_params` of `model`: every weight but batch-norm statistics and frozen batch norm's
    scale and shift (buffers of FrozenBatchNorm2d)."""
    total = 0
    for layer in model.weighted_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            total += sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        else:
            total += sum(int(np.prod(w.shape)) for w in layer.weights)
    return total


# -- torchvision's names ------------------------------------------------------------------------------------

_PARAMETER = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
              "moving_mean": "running_mean", "moving_variance": "running_var"}


def _to_keras(layer, variable, tensor):
    tensor = np.asarray(tensor)
    if variable != "kernel":
        return tensor
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return tensor.transpose(2, 3, 1, 0)       # (in, out, kh, kw) -> (kh, kw, out, in)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return tensor.transpose(2, 3, 0, 1)       # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return tensor.transpose(2, 3, 1, 0)       # (out, in, kh, kw) -> (kh, kw, in, out)
    if isinstance(layer, keras.layers.Dense):
        return tensor.T
    return tensor


def torch_module(part, name, backbone):
    """The torchvision module (below backbone.body / backbone.fpn / rpn.head / roi_heads) of a Keras layer."""
    if part == "body":
        if backbone == "mobilenet_v3_large":
            return mobilenet_torch_name(name)
        from kerasnets.models.resnet import torchvision_name

        module = torchvision_name(name)
        if module is None:
            raise WeightsError(f"layer {name} of the backbone has no torchvision name.")
        return module
    patterns = (
        (r"fpn_inner(\d)", r"inner_blocks.\1.0"), (r"fpn_inner(\d)_bn", r"inner_blocks.\1.1"),
        (r"fpn_layer(\d)", r"layer_blocks.\1.0"), (r"fpn_layer(\d)_bn", r"layer_blocks.\1.1"),
        (r"rpn_head_conv(\d)", r"conv.\1.0"), (r"rpn_head_cls_logits", "cls_logits"),
        (r"rpn_head_bbox_pred", "bbox_pred"),
        (r"box_head_fc6", "box_head.fc6"), (r"box_head_fc7", "box_head.fc7"),
        (r"box_head_conv(\d)", r"box_head.\1.0"), (r"box_head_conv(\d)_bn", r"box_head.\1.1"),
        (r"box_head_fc", "box_head.5"),
        (r"box_head_cls_score", "box_predictor.cls_score"), (r"box_head_bbox_pred", "box_predictor.bbox_pred"),
        (r"mask_head_fcn(\d)", None), (r"mask_head_fcn(\d)_bn", None),
        (r"mask_head_conv5_mask", "mask_predictor.conv5_mask"),
        (r"mask_head_mask_fcn_logits", "mask_predictor.mask_fcn_logits"),
    )
    for pattern, target in patterns:
        match = re.fullmatch(pattern, name)
        if match is None:
            continue
        if pattern.startswith("mask_head_fcn"):
            i = int(match[1]) - 1
            return f"mask_head.{i}.{1 if pattern.endswith('_bn') else 0}"
        return match.expand(target)
    raise WeightsError(f"layer {name} of {part} has no torchvision name.")


def canonical_state(state):
    """A state dict with the names of today's torchvision: older files (torchvision's published COCO files
    among them) name the FPN's and RPN head's convolutions without the Conv2dNormActivation index
    (`backbone.fpn.inner_blocks.0.weight`, `rpn.head.conv.weight`) and the mask head's by `mask_fcn{i}`;
    torchvision renames them on load (`_load_from_state_dict`), and so does this."""
    out = {}
    for key, value in state.items():
        new = re.sub(r"^backbone\.fpn\.(inner|layer)_blocks\.(\d)\.(weight|bias)$", r"backbone.fpn.\1_blocks.\2.0.\3",
                     key)
        new = re.sub(r"^rpn\.head\.conv\.(weight|bias)$", r"rpn.head.conv.0.0.\1", new)
        new = re.sub(r"^roi_heads\.mask_head\.mask_fcn(\d)\.(weight|bias)$",
                     lambda m: f"roi_heads.mask_head.{int(m[1]) - 1}.0.{m[2]}", new)
        out[new] = value
    return out


# -- the builders --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class COCOWeights:
    """torchvision's COCO_V1 file of one builder, and its published numbers (torchvision 0.29's source)."""

    builder: str
    file_name: str
    num_params: int
    box_map: float
    mask_map: float | None = None
    eps_zero: bool = False

    @property
    def weights(self):
        from kerasnets.core.torch_weights import TorchvisionWeights

        return TorchvisionWeights(self.builder, self.file_name, None)


#: builders whose published COCO file was trained with FrozenBatchNorm2d's epsilon 0 (torchvision's
#: `overwrite_eps(model, 0.0)` for the COCO_V1 files of the first R-CNN release)
_EPS_ZERO = ("fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn")
COCO_WEIGHTS = {name: COCOWeights(name, d.file, d.num_params, d.box_map, d.mask_map, eps_zero=name in _EPS_ZERO)
                for name, d in COCO_DETECTORS.items() if d.builder.startswith(__name__ + ":")}


def _state_from(weights, record, progress=True):
    """(state dict, source, is the published COCO file) of `weights` ("coco" or a path)."""
    from kerasnets.core.torch_format import load_state_dict
    from kerasnets.core.torch_weights import is_torch_file
    from kerasnets.core.weights import get_file

    if weights == "coco":
        path = get_file(record.weights.file(True), progress=progress)
        return load_state_dict(path), path, True
    if is_torch_file(weights):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist; give a torchvision state dict (.pth / .pt) or "
                               "weights='coco'.")
        return load_state_dict(path), path, path.name == record.file_name
    raise UsageError(f"weights must be None, 'coco' or the path of a torchvision state dict (.pth / .pt); got "
                     f"{weights!r}.")


def _cached_coco(model, record, progress):
    """Load torchvision's COCO file into `model` through the converted cache (converted once, verified on use)."""
    from kerasnets.core import torch_weights
    from kerasnets.core.weights import cache_dir, get_file

    target = cache_dir() / record.weights.converted_name()
    if target.exists() and torch_weights.cached_problem(target) is None:
        return _load_arrays(model, target)
    path = get_file(record.weights.file(True), progress=progress)
    from kerasnets.core.torch_format import load_state_dict

    model.load_torch_state(load_state_dict(path), path)
    torch_weights.ensure_cache_folder()
    _save_arrays(model, target)
    return model


def _arrays_key(layer, module, variable):
    return f"{module}/{variable.name}"


def _save_arrays(model, target):
    from kerasnets.core import torch_weights
    from kerasnets.core.weights import check_free_space, writing_cache
    from kerasnets.utils import atomic_output

    arrays = {_arrays_key(layer, m, v): np.asarray(v.numpy())
              for layer, m in model.torch_modules() for v in layer.weights}
    check_free_space(target, sum(a.nbytes for a in arrays.values()))
    with writing_cache(target), atomic_output(target, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        torch_weights.record_digest(target, tmp)
    return target


def _load_arrays(model, path):
    try:
        with np.load(path, allow_pickle=False) as data:
            for layer, module in model.torch_modules():
                layer.set_weights([data[_arrays_key(layer, module, v)] for v in layer.weights])
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(f"Could not load the converted weights {path}: {e}. Delete the file; it is converted again "
                           "from the downloaded one on next use.") from None
    return model


def _build(builder, weights, num_classes, weights_backbone, progress, backbone, masks, defaults, kwargs):
    record = COCO_WEIGHTS[builder]
    if weights is not None and weights != "coco" and not isinstance(weights, (str, Path)):
        raise UsageError(f"{builder}: weights must be None, 'coco' or a path; got {weights!r}.")
    if weights_backbone not in (None,):
        raise UsageError(f"{builder}: weights_backbone={weights_backbone!r} is not available here (the COCO file "
                         "holds the backbone's weights); use weights='coco' or weights=None.")
    if num_classes is None:
        num_classes = 91
    if weights == "coco" and num_classes != 91:
        raise UsageError(f"{builder}: weights='coco' has 91 classes (COCO's slots); num_classes={num_classes} cannot "
                         "be combined with it.")
    options = {**defaults, **kwargs}
    state = source = None
    published = weights == "coco"
    if weights is not None and weights != "coco":
        state, source, published = _state_from(weights, record, progress)
    if published and record.eps_zero:
        options.setdefault("batchnorm_epsilon", 0.0)
    model = TorchvisionRCNN(backbone, num_classes, masks=masks, **options)
    if weights == "coco":
        _cached_coco(model, record, progress)
    elif state is not None:
        model.load_torch_state(state, source)
    return model


def fasterrcnn_resnet50_fpn(*, weights=None, progress=True, num_classes=None, weights_backbone=None,
                            trainable_backbone_layers=None, **kwargs):
    """torchvision's `fasterrcnn_resnet50_fpn` (Ren et al. 2015 with FPN; COCO box mAP 37.0, 41,755,286
    parameters). `weights`: None, "coco" (fasterrcnn_resnet50_fpn_coco-258fb6c6.pth) or a state dict path;
    keyword arguments are FasterRCNN's (min_size, max_size, rpn_*_test, box_*, ...)."""
    return _build("fasterrcnn_resnet50_fpn", weights, num_classes, weights_backbone, progress, "resnet50", False, {},
                  kwargs)


def maskrcnn_resnet50_fpn(*, weights=None, progress=True, num_classes=None, weights_backbone=None,
                          trainable_backbone_layers=None, **kwargs):
    """torchvision's `maskrcnn_resnet50_fpn` (He et al. 2017; COCO box mAP 37.9, mask 34.6, 44,401,393
    parameters)."""
    return _build("maskrcnn_resnet50_fpn", weights, num_classes, weights_backbone, progress, "resnet50", True, {},
                  kwargs)


def fasterrcnn_resnet50_fpn_v2(*, weights=None, progress=True, num_classes=None, weights_backbone=None,
                               trainable_backbone_layers=None, **kwargs):
    """torchvision's `fasterrcnn_resnet50_fpn_v2` (Li et al. 2021's improved recipe: batch norm in the FPN and
    a conv head; COCO box mAP 46.7, 43,712,278 parameters)."""
    return _build("fasterrcnn_resnet50_fpn_v2", weights, num_classes, weights_backbone, progress, "resnet50_v2",
                  False, {}, kwargs)


def maskrcnn_resnet50_fpn_v2(*, weights=None, progress=True, num_classes=None, weights_backbone=None,
                             trainable_backbone_layers=None, **kwargs):
    """torchvision's `maskrcnn_resnet50_fpn_v2` (COCO box mAP 47.4, mask 41.8, 46,359,409 parameters)."""
    return _build("maskrcnn_resnet50_fpn_v2", weights, num_classes, weights_backbone, progress, "resnet50_v2",
                  True, {}, kwargs)


_MOBILENET_ANCHORS = dict(anchor_sizes=((32, 64, 128, 256, 512),) * 3, aspect_ratios=(0.5, 1.0, 2.0))


def fasterrcnn_mobilenet_v3_large_fpn(*, weights=None, progress=True, num_classes=None, weights_backbone=None,
                                      trainable_backbone_layers=None, **kwargs):
    """torchvision's `fasterrcnn_mobilenet_v3_large_fpn` (COCO box mAP 32.8, 19,386,354 parameters)."""
    defaults = {"rpn_score_thresh": 0.05, **_MOBILENET_ANCHORS}
    return _build("fasterrcnn_mobilenet_v3_large_fpn", weights, num_classes, weights_backbone, progress,
                  "mobilenet_v3_large", False, defaults, kwargs)


def fasterrcnn_mobilenet_v3_large_320_fpn(*, weights=None, progress=True, num_classes=None, weights_backbone=None,
                                          trainable_backbone_layers=None, **kwargs):
    """torchvision's `fasterrcnn_mobilenet_v3_large_320_fpn` (320 px; COCO box mAP 22.8, 19,386,354 parameters)."""
    defaults = {"min_size": 320, "max_size": 640, "rpn_pre_nms_top_n_test": 150, "rpn_post_nms_top_n_test": 150,
                "rpn_score_thresh": 0.05, **_MOBILENET_ANCHORS}
    return _build("fasterrcnn_mobilenet_v3_large_320_fpn", weights, num_classes, weights_backbone, progress,
                  "mobilenet_v3_large", False, defaults, kwargs)


BUILDERS = {f.__name__: f for f in (fasterrcnn_resnet50_fpn, maskrcnn_resnet50_fpn, fasterrcnn_resnet50_fpn_v2,
                                    maskrcnn_resnet50_fpn_v2, fasterrcnn_mobilenet_v3_large_fpn,
                                    fasterrcnn_mobilenet_v3_large_320_fpn)}
