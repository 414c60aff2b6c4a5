"""RoI pooling, RoIAlign and non-maximum suppression with `keras.ops` (TensorFlow and JAX).

Semantics are torchvision's (`torchvision.ops.roi_pool`, `roi_align`, `nms`, `batched_nms`),
checked against float64 NumPy transcriptions of its kernels; layouts are Keras's: features
`[B, H, W, C]`, boxes `[B, N, 4]` absolute `xyxy` image pixels, results `[B, N, out, out, C]`.

* RoI pooling (Girshick 2015, Fast R-CNN): box corners scaled by `spatial_scale` and rounded (half
  away from zero), the box divided into `out x out` bins with floor/ceil edges, the maximum of each
  bin (0 for an empty bin).
* RoIAlign (He et al. 2017, Mask R-CNN): no rounding; each bin averages `sampling_ratio^2` bilinear
  samples (`ceil(box size / out)` per axis when `sampling_ratio <= 0`); `aligned=True` shifts the box
  by -0.5 pixel so pixel centres line up. Bilinear interpolation separates into one weight matrix
  per axis, so RoIAlign is two matrix products (dense, cheap to differentiate); the adaptive grid
  is evaluated on a static maximum grid with masks (`max_sampling_grid`, by default large enough
  for boxes up to twice the feature map; larger boxes are sampled on that grid).
* NMS: greedy, highest score first, a box is dropped if its IoU with a kept box is strictly above
  `iou_threshold`. Computed as the fixed point of "keep = no kept higher-scoring box overlaps",
  which is reached in as many passes as the longest suppression chain; the output is padded to a
  fixed size, so it runs inside compiled graphs and exports.
"""

import math

from keras import ops

from kerasnets.detection.boxes import box_iou


def _round_half_away(x):
    """C's `round` (half away from zero), which torchvision's roi_pool uses."""
    return ops.sign(x) * ops.floor(ops.abs(x) + 0.5)


def _static_size(features):
    shape = ops.shape(features)
    if shape[1] is None or shape[2] is None:
        raise ValueError(f"RoI ops need a static feature-map size, got features of shape {tuple(shape)}.")
    return int(shape[1]), int(shape[2])


def _check(features, boxes, output_size):
    if len(ops.shape(features)) != 4:
        raise ValueError(f"RoI ops take features [B, H, W, C], got shape {tuple(ops.shape(features))}.")
    if len(ops.shape(boxes)) != 3 or ops.shape(boxes)[-1] != 4:
        raise ValueError(f"RoI ops take boxes [B, N, 4] (xyxy pixels), got shape {tuple(ops.shape(boxes))}.")
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"output_size must be a positive int or (height, width), got {output_size!r}.")
    return int(size[0]), int(size[1])


def _axis_weights(start, length, bins, grid, max_grid, size, dtype):
    """RoIAlign's per-axis interpolation matrix `[B, N, bins, size]`: row `p` averages the bilinear
    weights of the `grid` samples of bin `p` (torchvision's `bilinear_interpolate`, one axis)."""
    bin_size = length / bins
    p = ops.arange(bins, dtype=dtype)[:, None]
    i = ops.arange(max_grid, dtype=dtype)[None, :]
    grid_f = ops.cast(grid, dtype)[..., None, None]
    pos = (start[..., None, None] + p * bin_size[..., None, None]
           + (i + 0.5) * bin_size[..., None, None] / ops.maximum(grid_f, 1.0))          # [B, N, bins, G]
    used = (i < grid_f) & (pos >= -1.0) & (pos <= float(size))
    pos = ops.clip(pos, 0.0, float(size - 1))
    cells = ops.arange(size, dtype=dtype)
    weights = ops.relu(1.0 - ops.abs(pos[..., None] - cells))                            # [B, N, bins, G, size]
    weights = ops.where(used[..., None], weights, 0.0)
    return ops.sum(weights, axis=-2) / ops.maximum(grid_f, 1.0)


def roi_align(features, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=True,
              max_sampling_grid=None):
    """RoIAlign of `boxes` `[B, N, 4]` (xyxy, image pixels) on `features` `[B, H, W, C]` ->
    `[B, N, out_h, out_w, C]`, with torchvision's `roi_align` semantics. Boxes get no gradient."""
    out_h, out_w = _check(features, boxes, output_size)
    height, width = _static_size(features)
    dtype = features.dtype
    boxes = ops.stop_gradient(ops.cast(boxes, dtype))
    offset = 0.5 if aligned else 0.0
    x1 = boxes[..., 0] * spatial_scale - offset
    y1 = boxes[..., 1] * spatial_scale - offset
    roi_w = boxes[..., 2] * spatial_scale - offset - x1
    roi_h = boxes[..., 3] * spatial_scale - offset - y1
    if not aligned:
        roi_w = ops.maximum(roi_w, 1.0)
        roi_h = ops.maximum(roi_h, 1.0)
    if sampling_ratio > 0:
        grid_h = grid_w = ops.full(ops.shape(x1), int(sampling_ratio), "int32")
        max_h = max_w = int(sampling_ratio)
    else:
        grid_h = ops.cast(ops.ceil(roi_h / out_h), "int32")
        grid_w = ops.cast(ops.ceil(roi_w / out_w), "int32")
        if max_sampling_grid:
            max_h = max_w = int(max_sampling_grid)
        else:
            max_h = math.ceil(2 * height / out_h) + 1
            max_w = math.ceil(2 * width / out_w) + 1
        grid_h = ops.minimum(grid_h, max_h)
        grid_w = ops.minimum(grid_w, max_w)
    wy = _axis_weights(y1, roi_h, out_h, grid_h, max_h, height, dtype)                 # [B, N, out_h, H]
    wx = _axis_weights(x1, roi_w, out_w, grid_w, max_w, width, dtype)                  # [B, N, out_w, W]
    rows = ops.einsum("bnph,bhwc->bnpwc", wy, features)
    return ops.einsum("bnpwc,bnqw->bnpqc", rows, wx)


def roi_pool(features, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling of `boxes` `[B, N, 4]` (xyxy, image pixels) on `features` `[B, H, W, C]` ->
    `[B, N, out_h, out_w, C]`, with torchvision's `roi_pool` semantics."""
    out_h, out_w = _check(features, boxes, output_size)
    height, width = _static_size(features)
    dtype = features.dtype
    boxes = ops.stop_gradient(ops.cast(boxes, dtype))
    corners = _round_half_away(boxes * spatial_scale)
    x1, y1, x2, y2 = (corners[..., k] for k in range(4))

    def bin_masks(start, end, bins, size):
        length = ops.maximum(end - start + 1.0, 1.0)
        bin_size = length / bins
        p = ops.arange(bins, dtype=dtype)
        lo = ops.clip(ops.floor(p * bin_size[..., None]) + start[..., None], 0.0, float(size))
        hi = ops.clip(ops.ceil((p + 1.0) * bin_size[..., None]) + start[..., None], 0.0, float(size))
        cells = ops.arange(size, dtype=dtype)
        mask = (cells >= lo[..., None]) & (cells < hi[..., None])                        # [B, N, bins, size]
        return mask, hi > lo

    mask_h, nonempty_h = bin_masks(y1, y2, out_h, height)
    mask_w, nonempty_w = bin_masks(x1, x2, out_w, width)
    lowest = ops.cast(-3.0e38, dtype)
    columns = []
    for q in range(out_w):  # max over the columns of bin q: [B, N, H, C]
        m = mask_w[:, :, q, None, :, None]
        columns.append(ops.max(ops.where(m, features[:, None], lowest), axis=3))
    columns = ops.stack(columns, axis=2)                                                  # [B, N, out_w, H, C]
    rows = []
    for p in range(out_h):
        m = mask_h[:, :, p, None, :, None]
        rows.append(ops.max(ops.where(m, columns, lowest), axis=3))                     # [B, N, out_w, C]
    pooled = ops.stack(rows, axis=2)                                                      # [B, N, out_h, out_w, C]
    nonempty = nonempty_h[..., :, None] & nonempty_w[..., None, :]
    return ops.where(nonempty[..., None], pooled, 0.0)


def non_max_suppression(boxes, scores, iou_threshold=0.5, score_threshold=None, max_output=100,
                        classes=None, max_candidates=None):
    """Greedy NMS with a fixed-size output, for `boxes` `[..., N, 4]` (xyxy) and `scores` `[..., N]`
    (one leading batch axis or none).

    Only boxes with score strictly above `score_threshold` take part; `classes` `[..., N]` makes it
    class-aware (boxes of different classes never suppress each other: torchvision's `batched_nms`
    per-class coordinate offsets); `max_candidates` keeps only that many top-scoring boxes before
    suppressing. Returns `(indices, count)`: int32 `[..., max_output]` indices into N of the kept
    boxes by decreasing score, padded with -1, and int32 `[...]` the number of kept boxes.
    """
    boxes = ops.convert_to_tensor(boxes)
    scores = ops.convert_to_tensor(scores)
    unbatched = len(ops.shape(scores)) == 1
    if unbatched:
        boxes, scores = boxes[None], scores[None]
        classes = None if classes is None else ops.convert_to_tensor(classes)[None]
    if len(ops.shape(boxes)) != 3 or ops.shape(boxes)[-1] != 4 or len(ops.shape(scores)) != 2:
        raise ValueError(f"non_max_suppression takes boxes [B, N, 4] and scores [B, N] (or no batch axis), got "
                         f"{tuple(ops.shape(boxes))} and {tuple(ops.shape(scores))}.")
    n = ops.shape(scores)[-1]
    if n is None:
        raise ValueError("non_max_suppression needs a static number of boxes N (pad to a fixed size).")
    max_output = int(max_output)
    k = n if max_candidates is None else min(int(max_candidates), n)
    dtype = "float32"
    boxes = ops.cast(boxes, dtype)
    scores = ops.cast(scores, dtype)
    if k == 0 or max_output == 0:
        batch = ops.shape(scores)[0]
        indices = ops.full((batch, max_output), -1, "int32")
        count = ops.zeros((batch,), "int32")
        return (indices[0], count[0]) if unbatched else (indices, count)
    top_scores, order = ops.top_k(scores, k, sorted=True)                                 # ties: lower index first
    top_boxes = ops.take_along_axis(boxes, order[..., None], axis=1)
    valid = top_scores > (-math.inf if score_threshold is None else float(score_threshold))
    valid = valid & ops.all(ops.isfinite(top_boxes), axis=-1)
    if classes is not None:
        top_classes = ops.cast(ops.take_along_axis(ops.convert_to_tensor(classes), order, axis=1), dtype)
        extent = ops.max(ops.where(valid[..., None], ops.abs(top_boxes), 0.0), axis=(1, 2), keepdims=True)
        top_boxes = top_boxes + top_classes[..., None] * (extent + 1.0)
    overlap = box_iou(top_boxes, top_boxes) > float(iou_threshold)                         # [B, K, K]
    earlier = ops.arange(k)[:, None] < ops.arange(k)[None, :]
    suppressor = overlap & earlier & valid[:, :, None]

    def step(keep, changed, i):
        new = valid & ~ops.any(suppressor & keep[:, :, None], axis=1)
        return new, ops.any(new != keep), i + 1

    keep, _, _ = ops.while_loop(lambda keep, changed, i: changed & (i <= k), step,
                                (valid, ops.convert_to_tensor(True), ops.convert_to_tensor(0)))
    rank = ops.where(keep, -ops.cast(ops.arange(k), dtype)[None, :], -math.inf)
    if max_output > k:
        rank = ops.pad(rank, [[0, 0], [0, max_output - k]], constant_values=-math.inf)
        order = ops.pad(order, [[0, 0], [0, max_output - k]], constant_values=-1)
    best, position = ops.top_k(rank, max_output, sorted=True)
    indices = ops.where(best > -math.inf, ops.take_along_axis(order, position, axis=1), -1)
    indices = ops.cast(indices, "int32")
    count = ops.minimum(ops.sum(ops.cast(keep, "int32"), axis=-1), max_output)
    return (indices[0], count[0]) if unbatched else (indices, count)


def gather_rows(values, indices, fill=0.0):
    """`values` `[B, N, ...]` at `indices` `[B, K]` (-1 marks padding and gives `fill`)."""
    safe = ops.maximum(indices, 0)
    valid = indices >= 0
    for _ in range(len(ops.shape(values)) - 2):
        safe = ops.expand_dims(safe, -1)
        valid = ops.expand_dims(valid, -1)
    out = ops.take_along_axis(values, safe, axis=1)
    return ops.where(valid, out, ops.cast(fill, out.dtype))


def padded_detections(boxes, scores, classes, idx, count):
    """The padded output dict of every detector from NMS indices `idx` (`-1` = none) into candidates."""
    return {"boxes": gather_rows(boxes, idx), "scores": gather_rows(scores, idx),
            "classes": ops.where(idx >= 0, ops.take_along_axis(classes, ops.maximum(idx, 0), axis=1), -1),
            "num_detections": count}
