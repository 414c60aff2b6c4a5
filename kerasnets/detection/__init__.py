"""Object detection, the region-based family: R-CNN, Fast R-CNN, Faster R-CNN and Mask R-CNN on any
kerasnets backbone, the single-stage SSD (SSDLite heads) and YOLOv1, with the pieces they share (boxes,
anchors, matching, RoI ops, NMS, data, COCO mAP).

    from kerasnets.detection import FasterRCNN, synthetic_shapes, evaluate_detector
    data = synthetic_shapes(2000, 128)
    model = FasterRCNN("resnet18", num_classes=3, image_size=128, freeze_batchnorm=False, anchor_sizes=(16, 32, 64))
    model.compile(optimizer="adamw")
    model.fit(data.tf_dataset(8, training=True), epochs=10)
    detections = model.detect(images)          # per image: boxes (xyxy pixels), scores, classes[, masks]

The building blocks (`boxes`, `anchors`, `matcher`, `ops`, `layers`, `data`, `metrics`) do not depend on
the two-stage models and serve single-stage detectors as well. Importing this package imports Keras.
"""

from kerasnets.detection.anchors import AnchorGenerator
from kerasnets.detection.boxes import (
                                      BoxCoder,
                                      BoxError,
                                      box_iou,
                                      clip_boxes,
                                      convert_format,
)
from kerasnets.detection.data import (
                                      DataError,
                                      DetectionSet,
                                      read_coco,
                                      synthetic_digits,
                                      synthetic_shapes,
                                      tfds_detection,
                                      write_coco,
)
from kerasnets.detection.faster_rcnn import FasterRCNN, FastRCNN, MaskRCNN
from kerasnets.detection.layers import MultiScaleRoIAlign, RoIAlign, RoIPooling
from kerasnets.detection.matcher import BalancedSampler, Matcher
from kerasnets.detection.metrics import coco_evaluate, evaluate_detector
from kerasnets.detection.ops import non_max_suppression, roi_align, roi_pool
from kerasnets.detection.ssd import SSD
from kerasnets.detection.visualize import draw_detections
from kerasnets.detection.yolo import YOLOv1

__all__ = [
    "AnchorGenerator", "BalancedSampler", "BoxCoder", "BoxError", "DataError", "DetectionSet", "FastRCNN",
    "FasterRCNN", "MaskRCNN", "Matcher", "MultiScaleRoIAlign", "RoIAlign", "RoIPooling", "SSD", "YOLOv1", "box_iou",
    "clip_boxes",
    "coco_evaluate", "convert_format", "draw_detections", "evaluate_detector", "non_max_suppression", "read_coco",
    "roi_align", "roi_pool", "synthetic_digits", "synthetic_shapes", "tfds_detection", "write_coco",
]
