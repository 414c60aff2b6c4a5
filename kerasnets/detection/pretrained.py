"""Every COCO-trained detector kerasnets loads from torchvision's published files: the table the apps'
`--list` prints and `build_pretrained(name, **kwargs)` builds from. Builders are named by "module:function"
strings and imported on use (the SSD builders live in `kerasnets.detection.torchvision_ssd`). The numbers are
torchvision 0.29's (`*_Weights.COCO_V1.meta`: file, num_params, COCO-val2017 box / mask mAP)."""

import importlib
from dataclasses import dataclass

from kerasnets.errors import UsageError


@dataclass(frozen=True)
class PretrainedDetector:
    builder: str
    file: str
    num_params: int
    box_map: float
    mask_map: float | None = None

    def build(self, **kwargs):
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)(**kwargs)


_RCNN = "kerasnets.detection.torchvision_rcnn"
_SSD = "kerasnets.detection.torchvision_ssd"
COCO_DETECTORS = {
    "fasterrcnn_resnet50_fpn": PretrainedDetector(f"{_RCNN}:fasterrcnn_resnet50_fpn",
                                                  "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", 41_755_286, 37.0),
    "fasterrcnn_resnet50_fpn_v2": PretrainedDetector(f"{_RCNN}:fasterrcnn_resnet50_fpn_v2",
                                                     "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", 43_712_278, 46.7),
    "fasterrcnn_mobilenet_v3_large_fpn": PretrainedDetector(
        f"{_RCNN}:fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth", 19_386_354,
        32.8),
    "fasterrcnn_mobilenet_v3_large_320_fpn": PretrainedDetector(
        f"{_RCNN}:fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
        19_386_354, 22.8),
    "maskrcnn_resnet50_fpn": PretrainedDetector(f"{_RCNN}:maskrcnn_resnet50_fpn",
                                                "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth", 44_401_393, 37.9, 34.6),
    "maskrcnn_resnet50_fpn_v2": PretrainedDetector(f"{_RCNN}:maskrcnn_resnet50_fpn_v2",
                                                   "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth", 46_359_409, 47.4,
                                                   41.8),
    "ssd300_vgg16": PretrainedDetector(f"{_SSD}:ssd300_vgg16", "ssd300_vgg16_coco-b556d3b4.pth", 35_641_826, 25.1),
    "ssdlite320_mobilenet_v3_large": PretrainedDetector(
        f"{_SSD}:ssdlite320_mobilenet_v3_large", "ssdlite320_mobilenet_v3_large_coco-a79551df.pth", 3_440_060, 21.3),
}


def build_pretrained(name, **kwargs):
    """The builder `name` of COCO_DETECTORS called with `kwargs` (e.g. weights="coco")."""
    if name not in COCO_DETECTORS:
        raise UsageError(f"no COCO detector {name!r}; choose one of {', '.join(sorted(COCO_DETECTORS))}.")
    return COCO_DETECTORS[name].build(**kwargs)


def list_pretrained():
    """A text table of the COCO detectors: name, box mAP, mask mAP, parameters, torchvision's file."""
    rows = [f"{'model':<40} {'box mAP':>7} {'mask mAP':>8} {'params':>12}  file"]
    for name, d in COCO_DETECTORS.items():
        mask = f"{d.mask_map:.1f}" if d.mask_map is not None else "-"
        rows.append(f"{name:<40} {d.box_map:>7.1f} {mask:>8} {d.num_params:>12,}  {d.file}")
    return "\n".join(rows)
