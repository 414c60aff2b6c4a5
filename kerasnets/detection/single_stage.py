"""`SingleStageDetector`: backbone + head network + anchors + box coding + loss + post-processing, the shape of
SSD, RetinaNet, FCOS and YOLO (torchvision's `SSD`/`RetinaNet` classes have the same seams).

A subclass builds `self.network` (raw RGB images -> its raw outputs) on `self.features` and says how to read
those outputs: `decode_boxes(raw)` (xyxy pixels, unclipped), `class_scores(raw)` (per box and class, in
[0, 1]), `training_losses(inputs, raw)` (the named losses) and, for the export, `postprocess_inputs(images)`,
`anchors` and `box_scales` (the inputs and attributes of TFLite's `TFLite_Detection_PostProcess`).

Post-processing is that op's algorithm (fast NMS), so the Keras model and its `.tflite` file detect the
same boxes: each box keeps its best class, boxes under `score_thresh` are dropped, one class-agnostic greedy
NMS at `nms_thresh` among the `topk_candidates` best (None: all), at most `detections_per_img`, and the
survivors are clipped to the image afterwards (TFLite's op never clips; clipping first would change the
overlaps and so which boxes survive).
"""

from keras import ops

from kerasnets.detection.backbone import backbone_features
from kerasnets.detection.base import Detector
from kerasnets.detection.boxes import clip_boxes
from kerasnets.detection.common import detector_input_size, freeze_backbone
from kerasnets.detection.ops import non_max_suppression, padded_detections


class SingleStageDetector(Detector):
    """Base of SSD and YOLOv1 (not built directly)."""

    exportable = True

    def _build_backbone(self, strides):
        """`self.features` for the configured backbone at `strides`, frozen as configured; the input size."""
        c = self.config
        size = detector_input_size(c["image_size"], self.num_classes, c["class_names"])
        self.image_size = size
        self.features, self.backbone_info = backbone_features(c["backbone"], size, strides, c["backbone_weights"],
                                                              c["freeze_batchnorm"], c["backbone_kwargs"])
        if c["frozen_stride"] is not None:
            freeze_backbone(self.features, size[0], int(c["frozen_stride"]))
        return size

    def call(self, inputs, training=False):
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        raw = self.network(images, training=training)
        if training and isinstance(inputs, dict) and "boxes" in inputs:
            return self.training_losses(inputs, raw)
        return self.postprocess_detections(raw)

    def postprocess_detections(self, raw):
        """Padded detections of the raw outputs (fast NMS, clipped after)."""
        c = self.config
        boxes = self.decode_boxes(raw)
        probs = self.class_scores(raw)
        scores = ops.max(probs, axis=-1)
        classes = ops.cast(ops.argmax(probs, axis=-1), "int32")
        idx, count = non_max_suppression(boxes, scores, c["nms_thresh"], score_threshold=c["score_thresh"],
                                         max_output=c["detections_per_img"], max_candidates=c["topk_candidates"])
        return padded_detections(clip_boxes(boxes, *self.image_size), scores, classes, idx, count)

    # --- what a subclass defines ---------------------------------------------------------------------

    def decode_boxes(self, raw):
        raise NotImplementedError

    def class_scores(self, raw):
        raise NotImplementedError

    def training_losses(self, inputs, raw):
        raise NotImplementedError
