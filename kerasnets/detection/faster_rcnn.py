"""The module path of earlier releases: Faster R-CNN, Mask R-CNN and Fast R-CNN now live in
`kerasnets.detection.generalized_rcnn` (their parts in `rpn`, `roi_heads`, `transform`; their losses in
`losses`)."""

from kerasnets.detection.common import detector_input_size
from kerasnets.detection.generalized_rcnn import FasterRCNN, FastRCNN, GeneralizedRCNN, MaskRCNN
from kerasnets.detection.losses import bce_with_logits, smooth_l1

__all__ = ["FastRCNN", "FasterRCNN", "GeneralizedRCNN", "MaskRCNN", "bce_with_logits", "detector_input_size",
           "smooth_l1"]
