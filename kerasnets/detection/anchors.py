"""Anchors as in Faster R-CNN (Ren et al. 2015, section 3.1.1) and torchvision's AnchorGenerator.

At every feature-map cell, one base anchor per (aspect ratio, size) pair: for size `s` and ratio
`r = h / w`, `w = s / sqrt(r)`, `h = s * sqrt(r)`, centred on 0 and rounded to whole pixels; the
base anchors are shifted by the stride (image size // feature size, integer division) to each cell's
top-left corner. Anchors are ordered cell by cell (row-major), and inside a cell ratio-major:
anchor `a = ratio_index * len(sizes) + size_index`, the layout of the RPN head's outputs.
The anchors of a fixed input size are constants, computed once in NumPy.

SSD's default boxes (Liu et al. 2016, section 2.2; torchvision's `DefaultBoxGenerator`) are `ssd_anchors`:
centred on the cells, normalised (yc, xc, h, w), the layout TFLite's detection post-process op reads.
"""

import math

import numpy as np


class AnchorGenerator:
    """Anchors for one or more feature maps: `sizes` and `aspect_ratios` are tuples per level
    (one level: `sizes=((32, 64, 128),)`, `aspect_ratios=((0.5, 1.0, 2.0),)`)."""

    def __init__(self, sizes=((32, 64, 128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),)):
        sizes = tuple(tuple(float(s) for s in level) for level in sizes)
        aspect_ratios = tuple(tuple(float(r) for r in level) for level in aspect_ratios)
        if len(aspect_ratios) == 1 and len(sizes) > 1:
            aspect_ratios = aspect_ratios * len(sizes)
        if len(sizes) != len(aspect_ratios):
            raise ValueError(f"AnchorGenerator: {len(sizes)} levels of sizes but {len(aspect_ratios)} of aspect "
                "ratios.")
        if any(s <= 0 for level in sizes for s in level) or any(r <= 0 for level in aspect_ratios for r in level):
            raise ValueError("AnchorGenerator: sizes and aspect ratios must be positive.")
        self.sizes = sizes
        self.aspect_ratios = aspect_ratios

    def num_anchors_per_location(self):
        """Anchors per cell at each level."""
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios)]

    def base_anchors(self, level=0):
        """`[A, 4]` float32 `xyxy` anchors centred on the origin (torchvision's `generate_anchors`)."""
        scales = np.asarray(self.sizes[level], dtype=np.float32)
        ratios = np.asarray(self.aspect_ratios[level], dtype=np.float32)
        h_ratios = np.sqrt(ratios)
        w_ratios = 1.0 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2).astype(np.float32)

    def grid_anchors(self, image_size, feature_sizes):
        """Anchors of all levels for an image of `(height, width)` and feature maps of
        `[(h, w), ...]` sizes: a list of `[h * w * A, 4]` float32 arrays, one per level."""
        if len(feature_sizes) != len(self.sizes):
            raise ValueError(f"AnchorGenerator has {len(self.sizes)} levels but got {len(feature_sizes)} feature maps.")
        out = []
        for level, (fh, fw) in enumerate(feature_sizes):
            stride_h, stride_w = image_size[0] // fh, image_size[1] // fw
            shift_x = np.arange(fw, dtype=np.float32) * stride_w
            shift_y = np.arange(fh, dtype=np.float32) * stride_h
            sy, sx = np.meshgrid(shift_y, shift_x, indexing="ij")
            shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1)
            out.append((shifts[:, None, :] + self.base_anchors(level)[None, :, :]).reshape(-1, 4))
        return out

    def get_config(self):
        return {"sizes": [list(s) for s in self.sizes], "aspect_ratios": [list(r) for r in self.aspect_ratios]}


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
