"""COCO mAP through pycocotools (the reference implementation of the COCO detection metrics; no
hand-written AP here)."""

import contextlib
import io

import numpy as np

from kerasnets.detection.data import coco_dict

#: The twelve numbers of COCOeval.summarize(), in its order.
STAT_NAMES = ("mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def coco_evaluate(dataset, detections, iou_types=("bbox",), max_detections=100):
    """COCO metrics of `detections` (one dict per image of `dataset`: `boxes` `[D, 4]` xyxy,
    `scores` `[D]`, `classes` `[D]` 0-based, and `masks` `[D, H, W]` for "segm") against the
    ground truth of the DetectionSet `dataset`. Returns `{iou_type: {stat name: value}}` with
    `mAP` = mAP@[.5:.95] and `mAP50` = mAP@.5 (pycocotools' COCOeval, -1 where undefined)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError("COCO mAP needs pycocotools: pip install 'kerasnets[detection]'.") from None
    if len(detections) != len(dataset):
        raise ValueError(f"{len(detections)} detection results for {len(dataset)} images.")
    if "segm" in iou_types and dataset.masks is None:
        raise ValueError("segm evaluation needs a dataset with masks.")
    gt = COCO()
    gt.dataset = coco_dict(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    out = {}
    for iou_type in iou_types:
        results = coco_dict(dataset, [_with_masks(d, iou_type) for d in detections])
        if not results:
            out[iou_type] = dict.fromkeys(STAT_NAMES, 0.0)
            continue
        if iou_type == "bbox":
            results = [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes(results)
            evaluator = COCOeval(gt, dt, iou_type)
            evaluator.params.maxDets = [1, 10, max_detections]
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        out[iou_type] = {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
    return out


def _with_masks(det, iou_type):
    det = {k: np.asarray(v) for k, v in det.items() if v is not None}
    if iou_type == "segm" and "masks" not in det:
        raise ValueError("segm evaluation needs 'masks' in every detection result.")
    if iou_type != "segm":
        det.pop("masks", None)
    return det


def evaluate_detector(model, dataset, batch_size=8, iou_types=None):
    """COCO metrics of a detector (`model.detect(images)`) on a DetectionSet; masks are evaluated
    when the model predicts them and the set has them. Returns (metrics, detections, seconds per image)."""
    import time

    start = time.perf_counter()
    detections = model.detect(dataset.images, batch_size=batch_size)
    per_image = (time.perf_counter() - start) / max(len(dataset), 1)
    if iou_types is None:
        iou_types = ("bbox",
            "segm") if dataset.masks is not None and detections and "masks" in detections[0] else ("bbox",)
    return coco_evaluate(dataset, detections, iou_types), detections, per_image
