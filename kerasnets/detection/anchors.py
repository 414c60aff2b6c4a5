"""Anchors as in Faster R-CNN (Ren et al. 2015, section 3.1.1) and torchvision's AnchorGenerator.

At every feature-map cell, one base anchor per (aspect ratio, size) pair: for size `s` and ratio
`r = h / w`, `w = s / sqrt(r)`, `h = s * sqrt(r)`, centred on 0 and rounded to whole pixels; the
base anchors are shifted by the stride (image size // feature size, integer division) to each cell's
top-left corner. Anchors are ordered cell by cell (row-major), and inside a cell ratio-major:
anchor `a = ratio_index * len(sizes) + size_index`, the layout of the RPN head's outputs.
The anchors of a fixed input size are constants, computed once in NumPy.
"""

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
