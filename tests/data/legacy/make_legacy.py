"""Writes tiny detectors with the code of main at 01f00f5 (before the detection rebuild), and their detections."""
import json
import os
import sys

import keras
import numpy as np

from kerasnets.detection import SSD, FasterRCNN, MaskRCNN, YOLOv1, synthetic_shapes

out = sys.argv[1]
keras.utils.set_random_seed(0)
data = synthetic_shapes(4, 64, seed=0, min_size=10, max_size=28)
images = data.images[:2].astype("float32")
common = dict(backbone="mobilenet", backbone_kwargs={"alpha": 0.25}, num_classes=3, image_size=64,
              freeze_batchnorm=False, class_names=["circle", "rectangle", "triangle"])
two = dict(anchor_sizes=(8, 16, 32), rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=30, representation_size=16,
           box_detections_per_img=10, box_score_thresh=0.0, seed=1)
models = {
    "faster_rcnn": FasterRCNN(**common, **two),
    "mask_rcnn": MaskRCNN(**common, **two, mask_channels=4),
    "ssd": SSD(**common, extra_levels=1, extra_channels=16, score_thresh=0.0, nms_candidates=50, detections_per_img=10),
    "yolov1": YOLOv1(**common, grid=2, hidden=8, head_channels=8, score_thresh=0.0, detections_per_img=10),
}
expected = {}
for name, model in models.items():
    # spread the heads' outputs so that scores differ (random heads give near-ties)
    for w in model.weights:
        if "bias" in w.path and any(k in w.path for k in ("cls", "class", "head_fc2", "objectness")):
            w.assign(np.random.default_rng(3).normal(0, 1, w.shape).astype("float32"))
    path = os.path.join(out, f"{name}.keras")
    model.save(path)
    det = model.predict_on_batch(images)
    expected[name] = {k: np.asarray(v).tolist() for k, v in det.items() if k != "masks"}
    if "masks" in det:
        expected[name]["mask_mean"] = float(np.asarray(det["masks"]).mean())
    print(name, os.path.getsize(path), det["num_detections"])
np.save(os.path.join(out, "images.npy"), images.astype(np.uint8))
with open(os.path.join(out, "detections.json"), "w") as f:
    json.dump(expected, f)
