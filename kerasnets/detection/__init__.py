"""Object detection: R-CNN, Fast R-CNN, Faster R-CNN and Mask R-CNN (`GeneralizedRCNN`), SSD (SSDLite heads)
and YOLOv1 (`SingleStageDetector`), on any kerasnets backbone, with the parts they are composed of.

    from kerasnets.detection import FasterRCNN, synthetic_shapes, evaluate_detector
    data = synthetic_shapes(2000, 128)
    model = FasterRCNN("resnet18", num_classes=3, image_size=128, freeze_batchnorm=False, anchor_sizes=(16, 32, 64))
    model.compile(optimizer="adamw")
    model.fit(data.tf_dataset(8, training=True), epochs=10)
    detections = model.detect(images)          # per image: boxes (xyxy pixels), scores, classes[, masks]

The modules, each importing only those above it:

    coco                                           COCO's 91 category slots (torchvision's indices)
    boxes, anchors, matcher, ops, losses, common   box formats and coder, anchors, matching, RoI ops and NMS,
                                                   loss terms, the input-size check and backbone freezing
    layers, backbone, transform                    RoI pooling layers, backbone maps (+FPN), resize/map back
    base                                           `Detector`: config, detect, predict, losses/metrics plumbing
    rpn, roi_heads                                 `RegionProposalNetwork`, `RoIHeads` (the two stages' parts)
    generalized_rcnn                               `GeneralizedRCNN` and its configurations FasterRCNN,
                                                   MaskRCNN, FastRCNN
    single_stage, ssd, yolo                        `SingleStageDetector`, SSD, YOLOv1
    models                                         every detector class (registered with Keras on import)
    data, metrics, diagnosis, visualize, rcnn      datasets and COCO files, COCO mAP, Hoiem et al.'s error
                                                   breakdown, drawing, R-CNN (2014)
    torchvision_ssd                                torchvision's COCO-trained ssd300_vgg16 and
                                                   ssdlite320_mobilenet_v3_large, loaded exactly
    torchvision_rcnn                               torchvision's COCO Faster / Mask R-CNN builders, loaded exactly
    pretrained                                     the table of every COCO detector, build_pretrained, list_pretrained

Names are imported on first use, so importing this package (or one of its modules) loads only what is used.
"""

from kerasnets.utils import lazy_exports

_EXPORTS = {
    "kerasnets.detection.anchors": ("AnchorGenerator", "ssd_anchors"),
    "kerasnets.detection.boxes": ("BoxCoder", "BoxError", "box_iou", "clip_boxes", "convert_format"),
    "kerasnets.detection.data": ("DataError", "DetectionSet", "read_coco", "synthetic_digits", "synthetic_shapes",
                                 "tfds_detection", "write_coco"),
    "kerasnets.detection.base": ("Detector",),
    "kerasnets.detection.transform": ("DetectionTransform",),
    "kerasnets.detection.rpn": ("RegionProposalNetwork",),
    "kerasnets.detection.roi_heads": ("RoIHeads",),
    "kerasnets.detection.generalized_rcnn": ("GeneralizedRCNN", "FasterRCNN", "FastRCNN", "MaskRCNN"),
    "kerasnets.detection.single_stage": ("SingleStageDetector",),
    "kerasnets.detection.ssd": ("SSD",),
    "kerasnets.detection.yolo": ("YOLOv1",),
    "kerasnets.detection.models": ("DETECTORS",),
    "kerasnets.detection.layers": ("MultiScaleRoIAlign", "RoIAlign", "RoIPooling"),
    "kerasnets.detection.matcher": ("BalancedSampler", "Matcher"),
    "kerasnets.detection.metrics": ("coco_evaluate", "evaluate_detector"),
    "kerasnets.detection.diagnosis": ("ErrorBreakdown", "error_analysis", "plot_breakdowns"),
    "kerasnets.detection.ops": ("non_max_suppression", "roi_align", "roi_pool"),
    "kerasnets.detection.visualize": ("draw_detections",),
    "kerasnets.detection.torchvision_ssd": ("ssd300_vgg16", "ssdlite320_mobilenet_v3_large"),
    "kerasnets.detection.torchvision_rcnn": ("TorchvisionRCNN", "fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn",
                                             "fasterrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn_v2",
                                             "fasterrcnn_mobilenet_v3_large_fpn",
                                             "fasterrcnn_mobilenet_v3_large_320_fpn"),
    "kerasnets.detection.pretrained": ("COCO_DETECTORS", "build_pretrained", "list_pretrained"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
