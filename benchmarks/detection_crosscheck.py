#!/usr/bin/env python3
"""One-off cross-check of tests/detection_reference.py (the NumPy oracles of the detection op tests)
against torchvision itself. Runs in a separate environment that has torch and torchvision (never a
kerasnets dependency):

    python3 -m venv /path/to/torch-venv && /path/to/torch-venv/bin/pip install torch torchvision
    /path/to/torch-venv/bin/python -m benchmarks.detection_crosscheck      # from the repository root
"""


import numpy as np
import torch
import torchvision
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator

from tests import detection_reference as ref

rng = np.random.default_rng(0)
H, W, C = 10, 12, 3


def boxes_case(n=30, scale=1.0):
    ih, iw = H / scale, W / scale
    xy = rng.uniform([-2, -2], [iw, ih], (n, 2))
    wh = rng.uniform(0.1, 0.8, (n, 2)) * [iw, ih]
    made = np.array([[0, 0, iw, ih], [iw - 1, ih - 1, iw, ih], [-3, -3, 1, 1], [2, 2, 2, 2], [5, 5, 3, 4],
                     [0.5 / scale, 1.5 / scale, 4.5 / scale, 2.5 / scale], [iw + 0.5, ih + 0.5, iw + 4, ih + 4]])
    return np.concatenate([np.concatenate([xy, xy + wh], 1), made])


worst = {}
for scale, out in ((1.0, 3), (0.5, 7), (0.25, 2)):
    f = rng.normal(size=(H, W, C))
    b = boxes_case(scale=scale)
    tf_ = torch.tensor(f.transpose(2, 0, 1)[None])
    tb = torch.tensor(np.concatenate([np.zeros((len(b), 1)), b], 1))
    for aligned in (True, False):
        for sr in (-1, 0, 2):
            want = torchvision.ops.roi_align(tf_, tb, out, scale, sr, aligned).numpy().transpose(0, 2, 3, 1)
            got = ref.roi_align(f, b, out, scale, sr, aligned)
            worst["roi_align"] = max(worst.get("roi_align", 0), float(np.abs(got - want).max()))
    want = torchvision.ops.roi_pool(tf_, tb, out, scale).numpy().transpose(0, 2, 3, 1)
    worst["roi_pool"] = max(worst.get("roi_pool", 0), float(np.abs(ref.roi_pool(f, b, out, scale) - want).max()))
mismatches = 0
for seed in range(20):
    centres = rng.uniform(0, 50, (15, 2)).repeat(6, 0) + rng.normal(0, 1.5, (90, 2))
    size = rng.uniform(8, 20, (15, 2)).repeat(6, 0) * rng.uniform(0.85, 1.15, (90, 2))
    boxes = np.concatenate([centres - size / 2, centres + size / 2], 1)
    scores = rng.permutation(90) / 90 + 0.01
    classes = rng.integers(0, 3, 90)
    for thr in (0.3, 0.5, 0.7):
        mismatches += torchvision.ops.nms(torch.tensor(boxes), torch.tensor(scores), thr).tolist() != ref.nms(boxes,
            scores, thr)
        mismatches += torchvision.ops.batched_nms(torch.tensor(boxes), torch.tensor(scores), torch.tensor(classes),
                                                  thr).tolist() != ref.batched_nms(boxes, scores, classes, thr)

ref_boxes = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(60, 100, (20, 2))], 1)
gt = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(60, 120, (20, 2))], 1)
coder = det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))
enc = coder.encode_single(torch.tensor(gt), torch.tensor(ref_boxes)).numpy()
worst["encode"] = float(np.abs(enc - ref.encode(ref_boxes, gt, (10, 10, 5, 5))).max())
deltas = rng.normal(size=(20, 4)) * 3
dec = coder.decode_single(torch.tensor(deltas), torch.tensor(ref_boxes)).numpy()
worst["decode"] = float(np.abs(dec - ref.decode(ref_boxes, deltas, (10, 10, 5, 5))).max())
gen = AnchorGenerator(((32, 64),), ((0.5, 1.0, 2.0),))
anchors = gen.grid_anchors([(4, 5)], [[torch.tensor(16), torch.tensor(16)]])[0].numpy()
worst["anchors"] = float(np.abs(anchors - ref.anchors((64, 80), (4, 5), (32, 64), (0.5, 1.0, 2.0))).max())
iou = torchvision.ops.box_iou(torch.tensor(gt[:6]), torch.tensor(ref_boxes)).numpy()
iou[:, :3] = iou[:, 3:6]  # ties
m_tv = det_utils.Matcher(0.7, 0.3, True)(torch.tensor(iou)).numpy()
worst["matcher_mismatches"] = int((m_tv != ref.match(iou, 0.7, 0.3, True)).sum())
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
print("max |reference - torchvision|:", worst, "NMS mismatches:", mismatches)
