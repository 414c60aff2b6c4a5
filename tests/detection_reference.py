"""Float64 NumPy transcriptions of torchvision's CPU kernels (torchvision/csrc/ops/cpu/roi_align_kernel.cpp,
roi_pool_kernel.cpp, nms_kernel.cpp; torchvision/ops/boxes.py, models/detection/_utils.py), loop for loop,
as the oracles of tests/test_detection_ops.py. Layouts: features [H, W, C], boxes [N, 4] xyxy."""

import math

import numpy as np


def _bilinear(f, y, x):
    height, width = f.shape[:2]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return np.zeros(f.shape[2])
    y = max(y, 0.0)
    x = max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return hy * hx * f[y_low, x_low] + hy * lx * f[y_low, x_high] + ly * hx * f[y_high, x_low] + ly * lx * f[y_high,
        x_high]


def roi_align(f, boxes, out, scale, sampling_ratio, aligned):
    f = np.asarray(f, np.float64)
    offset = 0.5 if aligned else 0.0
    result = np.zeros((len(boxes), out, out, f.shape[2]))
    for n, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
        sw, sh = x1 * scale - offset, y1 * scale - offset
        rw, rh = x2 * scale - offset - sw, y2 * scale - offset - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / out, rw / out
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / out)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / out)
        count = max(gh * gw, 1)
        for ph in range(out):
            for pw in range(out):
                acc = np.zeros(f.shape[2])
                for iy in range(gh):
                    y = sh + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        x = sw + pw * bw + (ix + 0.5) * bw / gw
                        acc += _bilinear(f, y, x)
                result[n, ph, pw] = acc / count
    return result


def _c_round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def roi_pool(f, boxes, out, scale):
    f = np.asarray(f, np.float64)
    height, width = f.shape[:2]
    result = np.zeros((len(boxes), out, out, f.shape[2]))
    for n, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
        sw, sh, ew, eh = (_c_round(v * scale) for v in (x1, y1, x2, y2))
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / out, rw / out
        for ph in range(out):
            for pw in range(out):
                hs = min(max(math.floor(ph * bh) + sh, 0), height)
                he = min(max(math.ceil((ph + 1) * bh) + sh, 0), height)
                ws = min(max(math.floor(pw * bw) + sw, 0), width)
                we = min(max(math.ceil((pw + 1) * bw) + sw, 0), width)
                if he <= hs or we <= ws:
                    continue
                result[n, ph, pw] = f[hs:he, ws:we].reshape(-1, f.shape[2]).max(axis=0)
    return result


def nms(boxes, scores, threshold):
    """Indices kept, by decreasing score (stable order for ties)."""
    boxes = np.asarray(boxes, np.float64)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        for j in order[a + 1:]:
            if suppressed[j]:
                continue
            w = max(min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]), 0.0)
            h = max(min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]), 0.0)
            inter = w * h
            union = areas[i] + areas[j] - inter
            if union > 0 and inter / union > threshold:
                suppressed[j] = True
    return keep


def batched_nms(boxes, scores, classes, threshold):
    """Per-class NMS merged by decreasing score (what torchvision's batched_nms returns)."""
    keep = []
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        keep += [int(idx[k]) for k in nms(boxes[idx], scores[idx], threshold)]
    return sorted(keep, key=lambda i: (-scores[i], i))


def encode(reference, boxes, weights):
    wx, wy, ww, wh = weights
    rw, rh = reference[:, 2] - reference[:, 0], reference[:, 3] - reference[:, 1]
    rx, ry = reference[:, 0] + 0.5 * rw, reference[:, 1] + 0.5 * rh
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    bx, by = boxes[:, 0] + 0.5 * bw, boxes[:, 1] + 0.5 * bh
    return np.stack([wx * (bx - rx) / rw, wy * (by - ry) / rh, ww * np.log(bw / rw), wh * np.log(bh / rh)], 1)


CLIP = math.log(1000.0 / 16)


def decode(reference, deltas, weights, clip=CLIP):
    wx, wy, ww, wh = weights
    rw, rh = reference[:, 2] - reference[:, 0], reference[:, 3] - reference[:, 1]
    rx, ry = reference[:, 0] + 0.5 * rw, reference[:, 1] + 0.5 * rh
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw, dh = np.minimum(deltas[:, 2] / ww, clip), np.minimum(deltas[:, 3] / wh, clip)
    cx, cy, w, h = dx * rw + rx, dy * rh + ry, np.exp(dw) * rw, np.exp(dh) * rh
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], 1)


def anchors(image_size, feature_size, sizes, ratios):
    """torchvision AnchorGenerator for one level."""
    scales = np.asarray(sizes, np.float64)
    h_ratios = np.sqrt(np.asarray(ratios, np.float64))
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    base = np.round(np.stack([-ws, -hs, ws, hs], 1) / 2)
    sh, sw = image_size[0] // feature_size[0], image_size[1] // feature_size[1]
    out = []
    for y in range(feature_size[0]):
        for x in range(feature_size[1]):
            out.extend(base + [x * sw, y * sh, x * sw, y * sh])
    return np.asarray(out)


def match(iou, high, low, allow_low_quality):
    """torchvision Matcher on an [M, N] IoU matrix (ground truths that overlap nothing excluded)."""
    matches = iou.argmax(0)
    best = iou.max(0)
    out = matches.copy()
    out[best < low] = -1
    out[(best >= low) & (best < high)] = -2
    if allow_low_quality:
        for g in range(iou.shape[0]):
            top = iou[g].max()
            if top > 0:
                for p in np.flatnonzero(iou[g] == top):
                    out[p] = matches[p]
    return out
