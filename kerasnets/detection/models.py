"""Every detector class, imported together so that Keras knows them all: `import kerasnets` registers this
module when Keras is imported (before or after), so `keras.models.load_model` reads any kerasnets detector,
torchvision's COCO detectors included."""

from kerasnets.detection.base import Detector
from kerasnets.detection.generalized_rcnn import FasterRCNN, FastRCNN, GeneralizedRCNN, MaskRCNN
from kerasnets.detection.single_stage import SingleStageDetector
from kerasnets.detection.ssd import SSD
from kerasnets.detection.torchvision_rcnn import TorchvisionRCNN
from kerasnets.detection.torchvision_ssd import SSD300VGG16, SSDLite320MobileNetV3Large, TorchvisionSSD
from kerasnets.detection.yolo import YOLOv1

#: name -> class of every detector (the list the tests' harness and the apps walk)
DETECTORS = {cls.__name__: cls for cls in (FasterRCNN, MaskRCNN, FastRCNN, SSD, YOLOv1, TorchvisionRCNN, SSD300VGG16,
                                           SSDLite320MobileNetV3Large)}

__all__ = ["DETECTORS", "Detector", "FastRCNN", "FasterRCNN", "GeneralizedRCNN", "MaskRCNN", "SSD", "SSD300VGG16",
           "SSDLite320MobileNetV3Large", "SingleStageDetector", "TorchvisionRCNN", "TorchvisionSSD", "YOLOv1"]
