"""torchvision's COCO-trained single-stage detectors in Keras: `ssd300_vgg16` (Liu et al. 2016, the SSD paper's
network) and `ssdlite320_mobilenet_v3_large` (Howard et al. 2019, section 6.3; SSDLite heads of Sandler et al.
2018), named and parameterised as torchvision's builders, and loading torchvision's state dicts exactly.

    from kerasnets.detection.torchvision_ssd import ssdlite320_mobilenet_v3_large
    model = ssdlite320_mobilenet_v3_large(weights="coco")          # torchvision's COCO file, read without torch
    for d in model.detect([photo]):
        print(list(zip(d["names"], d["scores"])), d["boxes"])      # COCO names, scores, xyxy pixels of the photo

What torchvision computes, part by part (torchvision 0.29's `models/detection/ssd.py`, `ssdlite.py`,
`anchor_utils.py`, `transform.py`):

* Transform (`GeneralizedRCNNTransform` with `fixed_size`): every image is resized to 300x300 (SSD300) or 320x320
  (SSDlite) with bilinear interpolation (`align_corners=False`, no antialiasing; `torch_bilinear_resize`), the
  aspect ratio not kept; normalised with `image_mean`/`image_std` on 0-1 pixels (SSD300: mean (0.48235, 0.45882,
  0.40784), std 1/255, i.e. 0-255 pixels minus 123, 117, 104; SSDlite: 0.5/0.5, i.e. -1..1). The normalisation
  is the network's first layer, so saved and exported models take RGB pixels 0-255. Detections are clipped to
  the resized image and mapped back to each image's size (boxes times original / resized).
* SSD300-VGG16: VGG-16's convolutions with the third max pooling in ceil mode (75 -> 38), conv4_3 L2-normalised
  over channels and scaled by a learned per-channel weight (initially 20), pool5 3x3 stride 1, fc6 as a 3x3
  convolution of dilation 6, fc7 1x1, four extra blocks (1x1 then 3x3, stride 2 twice, then valid twice): maps
  38, 19, 10, 5, 3, 1; heads are 3x3 convolutions (Xavier-initialised).
* SSDlite320-MobileNetV3-Large: torchvision's MobileNetV3-Large (symmetric padding, BatchNorm eps 0.001
  momentum 0.03, `reduced_tail` halving the last stage when there is no ImageNet backbone, as for the COCO file),
  maps at the expansion layer of the C4 block (stride 16, 672 channels) and at the end (stride 32), four extra
  blocks (1x1 to half, 3x3 depthwise stride 2, 1x1; BN + ReLU6) to 5, 3, 2, 1; heads of a 3x3 depthwise
  convolution, BN, ReLU6 and a 1x1 convolution (normal init, std 0.03).
* Default boxes (`DefaultBoxGenerator`): per level the sizes s_k and sqrt(s_k s_k+1) and, per aspect ratio a,
  (s_k sqrt(a), s_k / sqrt(a)) and its transpose, clipped to [0, 1], centred on ((i + 0.5) / f_k) with f_k the
  image size over `steps` (SSD300) or the map size (SSDlite); location-major, box-minor (`default_boxes`).
* Box coding: torchvision's `BoxCoder(weights=(10, 10, 5, 5))`, dw/dh clamped at log(1000/16).
* Post-processing: softmax over the classes (0 = background); per class, the boxes scoring strictly above
  `score_thresh`, the `topk_candidates` best, greedy NMS within the class (IoU strictly above `nms_thresh`
  suppresses); the `detections_per_img` best of all classes. Classes are torchvision's labels (COCO's 91 slots,
  `kerasnets.detection.coco`), and `detect` adds their `names`.

Weights: `weights="coco"` downloads torchvision's file (`<name>_coco-<8 hex>.pth`, SHA-256 prefix verified,
cached, converted once; `kerasnets.core.torch_weights`), `weights=<path>` maps any state dict of the same
torchvision model; `weights_backbone="imagenet"` loads torchvision's ImageNet classifier file into the backbone
(VGG-16's `vgg16_features-amdegroot-88682ab5.pth`, MobileNetV3-Large's `mobilenet_v3_large-8738ca79.pth`).

Export: `python -m export ssdlite320_mobilenet_v3_large --weights coco --quantize int8 --representative DIR
--output coco_ssdlite.tflite`: the network, the default boxes and TFLite's `TFLite_Detection_PostProcess` with
per-class NMS (`use_regular_nms`, torchvision's algorithm), the background column of the scores zeroed so that the
op's class index is the COCO label and the label file is COCO's 91 slots.
"""

import math
import warnings
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from kerasnets.core.torch_weights import TorchLayout, TorchvisionWeights, is_torch_file
from kerasnets.detection.boxes import HEAD_WEIGHTS, BoxCoder, box_iou, clip_boxes
from kerasnets.detection.coco import COCO_CATEGORY_NAMES
from kerasnets.detection.losses import smooth_l1
from kerasnets.detection.ops import gather_rows, non_max_suppression
from kerasnets.detection.pretrained import COCO_DETECTORS
from kerasnets.detection.single_stage import SingleStageDetector
from kerasnets.detection.transform import DetectionTransform
from kerasnets.errors import WeightsError


@dataclass(frozen=True)
class CocoWeights:
    """torchvision's COCO file of one detector (`*_Weights.COCO_V1`) and what torchvision's metadata says of it."""

    weights: TorchvisionWeights
    num_params: int
    box_map: float  # COCO val2017 box mAP (%)
    backbone: TorchvisionWeights  # the ImageNet file `weights_backbone="imagenet"` loads


#: torchvision 0.29's `SSD300_VGG16_Weights.COCO_V1` and `SSDLite320_MobileNet_V3_Large_Weights.COCO_V1` (the table
#: in kerasnets.detection.pretrained), with the backbones' `VGG16_Weights.IMAGENET1K_FEATURES` and
#: `MobileNet_V3_Large_Weights.IMAGENET1K_V1`.
_BACKBONE_WEIGHTS = {
    "ssd300_vgg16": TorchvisionWeights("vgg16", "vgg16_features-amdegroot-88682ab5.pth"),
    "ssdlite320_mobilenet_v3_large": TorchvisionWeights("mobilenet_v3_large", "mobilenet_v3_large-8738ca79.pth",
                                                        top1=74.042),
}
WEIGHTS = {name: CocoWeights(TorchvisionWeights(name, COCO_DETECTORS[name].file), COCO_DETECTORS[name].num_params,
                             COCO_DETECTORS[name].box_map, backbone) for name, backbone in _BACKBONE_WEIGHTS.items()}


# -- torchvision's transform and default boxes, in NumPy ----------------------------------------------------------


def _bilinear_matrix(n_in, n_out):
    """`[n_out, n_in]` float32 weights of PyTorch's 1-D bilinear interpolation (`align_corners=False`)."""
    scale = np.float32(n_in / n_out)
    src = np.maximum((np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (src - i0).astype(np.float32)
    matrix = np.zeros((n_out, n_in), np.float32)
    np.add.at(matrix, (np.arange(n_out), i0), 1 - frac)
    np.add.at(matrix, (np.arange(n_out), i1), frac)
    return matrix


def torch_bilinear_resize(image, size):
    """An `[H, W, C]` image resized to `size` (height, width) as `torch.nn.functional.interpolate(...,
    mode="bilinear", align_corners=False)` does (float32)."""
    image = np.asarray(image, np.float32)
    rows = _bilinear_matrix(image.shape[0], size[0])
    cols = _bilinear_matrix(image.shape[1], size[1])
    return np.einsum("ih,hwc,jw->ijc", rows, image, cols, optimize=True).astype(np.float32)


class FixedSizeTransform(DetectionTransform):
    """torchvision's `GeneralizedRCNNTransform(fixed_size=...)` for 0-255 pixels: bilinear resize to the model's
    size (normalisation is the network's first layer), detections mapped back with their COCO `names`."""

    def __init__(self, image_size, class_names):
        super().__init__(image_size)
        self.class_names = list(class_names)

    def batch(self, images):
        from kerasnets.images import check_rgb_images

        arrays = check_rgb_images(images)
        sizes = [a.shape[:2] for a in arrays]
        batch = np.stack([torch_bilinear_resize(a, self.image_size) for a in arrays])
        return batch.astype("float32"), sizes

    def postprocess(self, detections, image_size):
        out = super().postprocess(detections, image_size)
        out["names"] = [self.class_names[c] for c in out["classes"]]
        return out


def default_box_scales(num_outputs, min_ratio, max_ratio):
    """DefaultBoxGenerator's scales s_0 .. s_m (and 1.0) from `min_ratio`, `max_ratio`."""
    if num_outputs > 1:
        span = max_ratio - min_ratio
        return [min_ratio + span * k / (num_outputs - 1.0) for k in range(num_outputs)] + [1.0]
    return [min_ratio, max_ratio]


def default_boxes(feature_sizes, image_size, aspect_ratios, scales, steps=None, clip=True):
    """torchvision's DefaultBoxGenerator output for one image: `[N, 4]` float32 xyxy pixels, each level's locations
    row-major and, per location, the boxes (s_k, s_k), (s'_k, s'_k), then (w, h), (h, w) per aspect ratio."""
    height, width = image_size
    out = []
    for k, (fh, fw) in enumerate(feature_sizes):
        s_k, s_next = scales[k], scales[k + 1]
        s_prime = math.sqrt(s_k * s_next)
        pairs = [[s_k, s_k], [s_prime, s_prime]]
        for ar in aspect_ratios[k]:
            w, h = s_k * math.sqrt(ar), s_k / math.sqrt(ar)
            pairs.extend([[w, h], [h, w]])
        pairs = np.asarray(pairs, np.float32)
        if clip:
            pairs = np.clip(pairs, 0, 1)
        x_f, y_f = (width / steps[k], height / steps[k]) if steps is not None else (fw, fh)
        shift_x = (np.arange(fw, dtype=np.float32) + np.float32(0.5)) / np.float32(x_f)
        shift_y = (np.arange(fh, dtype=np.float32) + np.float32(0.5)) / np.float32(y_f)
        sy, sx = np.meshgrid(shift_y, shift_x, indexing="ij")
        centres = np.repeat(np.stack([sx.ravel(), sy.ravel()], axis=1), len(pairs), axis=0)
        sizes = np.tile(pairs, (fh * fw, 1))
        out.append(np.concatenate([centres, sizes], axis=1))
    boxes = np.concatenate(out, axis=0).astype(np.float32)
    scale = np.array([width, height], np.float32)
    return np.concatenate([(boxes[:, :2] - np.float32(0.5) * boxes[:, 2:]) * scale,
                           (boxes[:, :2] + np.float32(0.5) * boxes[:, 2:]) * scale], axis=1).astype(np.float32)


# -- layers ---------------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasnets")
class L2Normalization(keras.layers.Layer):
    """SSD's conv4_3 normalisation (Liu et al. 2016, section 3.1; ParseNet): each location's channel vector divided
    by its L2 norm (at least 1e-12, `F.normalize`) and multiplied by a learned per-channel `scale_weight`."""

    def __init__(self, scale=20.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def build(self, input_shape):
        self.scale_weight = self.add_weight(name="scale_weight", shape=(input_shape[-1],),
                                            initializer=keras.initializers.Constant(self.scale))

    def call(self, x):
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        return x / ops.maximum(norm, 1e-12) * self.scale_weight

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


class _Builder:
    """Creates the Keras layers of a torchvision module tree, naming each after its module (dots as underscores)
    and recording the module name for the state dict (`self.torch`)."""

    def __init__(self, kernel_initializer, bn_epsilon=1e-3, bn_momentum=0.03):
        self.torch = {}
        self.init = kernel_initializer
        self.bn = dict(epsilon=bn_epsilon, momentum=1.0 - bn_momentum)

    def _name(self, module):
        name = module.replace(".", "_")
        self.torch[name] = module
        return name

    def conv(self, x, module, filters, kernel, stride=1, padding=0, dilation=1, depthwise=False, bias=True):
        """PyTorch's Conv2d(padding=padding): symmetric zero padding, then a valid convolution."""
        if padding and stride == 1 and 2 * padding == dilation * (kernel - 1):
            mode = "same"  # symmetric for odd kernels at stride 1
        else:
            if padding:
                x = keras.layers.ZeroPadding2D(padding, name=f"{module.replace('.', '_')}_pad")(x)
            mode = "valid"
        if depthwise:
            layer = keras.layers.DepthwiseConv2D(kernel, stride, padding=mode, dilation_rate=dilation, use_bias=bias,
                                                 depthwise_initializer=self.init, name=self._name(module))
        else:
            layer = keras.layers.Conv2D(filters, kernel, stride, padding=mode, dilation_rate=dilation, use_bias=bias,
                                        kernel_initializer=self.init, name=self._name(module))
        return layer(x)

    def norm(self, x, module):
        return keras.layers.BatchNormalization(**self.bn, name=self._name(module))(x)

    def conv_norm_act(self, x, module, filters, kernel, stride=1, depthwise=False, activation=None):
        """torchvision's Conv2dNormActivation: conv (no bias, padding (k - 1) // 2) `.0`, BatchNorm `.1`, activation."""
        x = self.conv(x, f"{module}.0", filters, kernel, stride, (kernel - 1) // 2, depthwise=depthwise, bias=False)
        x = self.norm(x, f"{module}.1")
        return activate(x, activation, module.replace(".", "_") + "_act")


def activate(x, activation, name):
    if activation is None:
        return x
    if activation == "relu6":
        return keras.layers.ReLU(6.0, name=name)(x)
    if activation == "relu":
        return keras.layers.ReLU(name=name)(x)
    return hard_swish(x, name)


def hard_swish(x, name):
    """x * relu6(x + 3) / 6 written as (x / 6) * relu6(x + 3): the same function, but not a pattern the TFLite
    converter fuses into HARD_SWISH, which XNNPACK does not run in int8 (measured on SSDlite320, 1 thread: 20 int8
    HARD_SWISH operators on TFLite's reference kernels took 11.7 of 23.1 ms, the int8 file 1.24x its float32 file's
    latency; written this way every operator but the softmax and the post-process stays in XNNPACK: 13.0 vs 18-20
    ms). The cost: three int8 roundings where the fused kernel has one (int8 vs Keras box IoU on random weights
    0.76 instead of 0.82). Other forms measured: min(max(x / 6 + 0.5, 0), 1) * x becomes MINIMUM + RELU, which
    XNNPACK does not take in int8 either (24 ms); x * (relu6(x + 3) / 6) is fused into HARD_SWISH again."""
    gate = keras.layers.ReLU(6.0, name=f"{name}_gate")(x + 3.0)  # ADD with a fused RELU6 in the file
    return keras.layers.Multiply(name=name)([x * (1.0 / 6.0), gate])  # x * (relu6(x + 3) / 6) is fused again


def _hard_sigmoid(x, name):
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x + 3.0) * (1.0 / 6.0)


# -- the networks ---------------------------------------------------------------------------------------------------

#: VGG-16's convolutions: torchvision's `features` index -> output channels ("M" a max pooling).
VGG16_FEATURES = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg_indices():
    """(features index, channels or "M") of torchvision's vgg16().features (each conv followed by a ReLU)."""
    out, i = [], 0
    for v in VGG16_FEATURES:
        out.append((i, v))
        i += 1 if v == "M" else 2
    return out


def ssd300_feature_maps(b, x):
    """SSDFeatureExtractorVGG on normalised images `[B, 300, 300, 3]`: the six maps (38, 19, 10, 5, 3, 1)."""
    maxpool4 = 23
    for index, v in _vgg_indices():
        if index == 30:  # maxpool5 is replaced by the fc block
            break
        module = f"backbone.features.{index}" if index < maxpool4 else f"backbone.extra.0.{index - maxpool4}"
        if v == "M":  # 2x2 stride 2; ceil mode (third pooling) == "same" here
            x = keras.layers.MaxPooling2D(2, 2, padding="same", name=module.replace(".", "_"))(x)
        else:
            x = b.conv(x, module, v, 3, padding=1)
            x = keras.layers.ReLU(name=module.replace(".", "_") + "_relu")(x)
        if index == 21:  # conv4_3's ReLU (index 22): L2-normalised and rescaled
            maps = [L2Normalization(20.0, name=b._name("backbone"))(x)]
    x = keras.layers.MaxPooling2D(3, 1, padding="same", name="backbone_extra_0_7_0")(x)
    x = keras.layers.ReLU(name="backbone_extra_0_7_1_relu")(b.conv(x, "backbone.extra.0.7.1", 1024, 3, padding=6,
                                                                   dilation=6))
    x = keras.layers.ReLU(name="backbone_extra_0_7_3_relu")(b.conv(x, "backbone.extra.0.7.3", 1024, 1))
    maps.append(x)
    for k, (mid, out, stride, pad) in enumerate(((256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 1, 0),
                                                 (128, 256, 1, 0)), start=1):
        x = keras.layers.ReLU(name=f"backbone_extra_{k}_1")(b.conv(x, f"backbone.extra.{k}.0", mid, 1))
        x = keras.layers.ReLU(name=f"backbone_extra_{k}_3")(b.conv(x, f"backbone.extra.{k}.2", out, 3, stride, pad))
        maps.append(x)
    return maps


def make_divisible(value, divisor=8):
    """torchvision's `_make_divisible`."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def mobilenet_v3_large_setting(width_mult=1.0, reduced_tail=False, dilated=False):
    """torchvision's `_mobilenet_v3_conf("mobilenet_v3_large")`: (input, kernel, expanded, output channels, SE,
    activation, stride, dilation) per block, and the last channel count."""
    r = 2 if reduced_tail else 1
    d = 2 if dilated else 1
    table = [
        (16, 3, 16, 16, False, "relu", 1, 1), (16, 3, 64, 24, False, "relu", 2, 1),
        (24, 3, 72, 24, False, "relu", 1, 1),
        (24, 5, 72, 40, True, "relu", 2, 1), (40, 5, 120, 40, True, "relu", 1, 1), (40, 5, 120, 40, True, "relu", 1, 1),
        (40, 3, 240, 80, False, "hswish", 2, 1), (80, 3, 200, 80, False, "hswish", 1, 1),
        (80, 3, 184, 80, False, "hswish", 1, 1), (80, 3, 184, 80, False, "hswish", 1, 1),
        (80, 3, 480, 112, True, "hswish", 1, 1), (112, 3, 672, 112, True, "hswish", 1, 1),
        (112, 5, 672, 160 // r, True, "hswish", 2, d), (160 // r, 5, 960 // r, 160 // r, True, "hswish", 1, d),
        (160 // r, 5, 960 // r, 160 // r, True, "hswish", 1, d),
    ]
    adjust = lambda c: make_divisible(c * width_mult, 8)  # noqa: E731
    return [(adjust(i), k, adjust(e), adjust(o), se, act, s, dil) for i, k, e, o, se, act, s, dil in table]


#: torchvision's feature index of MobileNetV3-Large's C4 block (the last strided one).
C4 = 13


def mobilenet_module(index, part=None):
    """The module of MobileNetV3 `features[index]` (its `block[part]`) inside SSDLiteFeatureExtractorMobileNet."""
    if index < C4:
        return f"backbone.features.0.{index}" + ("" if part is None else f".block.{part}")
    if index == C4:
        return "backbone.features.0.13" if part == 0 else f"backbone.features.1.0.{part}"
    return f"backbone.features.1.{index - C4}" + ("" if part is None else f".block.{part}")


def ssdlite_feature_maps(b, x, width_mult=1.0, reduced_tail=False, dilated=False, min_depth=16):
    """SSDLiteFeatureExtractorMobileNet on normalised images `[B, 320, 320, 3]`: the C4 expansion (20x20), the
    last layer (10x10) and four extra blocks (5, 3, 2, 1)."""
    setting = mobilenet_v3_large_setting(width_mult, reduced_tail, dilated)
    x = b.conv_norm_act(x, mobilenet_module(0), setting[0][0], 3, 2, activation="hswish")
    maps = []
    for index, (cin, kernel, expanded, cout, se, act, stride, dilation) in enumerate(setting, start=1):
        shortcut = x
        part = 0
        if expanded != cin:
            x = b.conv_norm_act(x, mobilenet_module(index, part), expanded, 1, activation=act)
            part += 1
            if index == C4:
                maps.append(x)
        dw = mobilenet_module(index, part)
        pad = (kernel - 1) // 2 * dilation
        x = b.conv(x, f"{dw}.0", None, kernel, 1 if dilation > 1 else stride, pad, dilation, depthwise=True,
                   bias=False)
        x = activate(b.norm(x, f"{dw}.1"), act, dw.replace(".", "_") + "_act")
        part += 1
        if se:
            module = mobilenet_module(index, part)
            name = module.replace(".", "_")
            s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_avgpool")(x)
            s = keras.layers.ReLU(name=f"{name}_relu")(b.conv(s, f"{module}.fc1", make_divisible(expanded // 4), 1))
            s = _hard_sigmoid(b.conv(s, f"{module}.fc2", expanded, 1), name)
            x = keras.layers.Multiply(name=f"{name}_scale")([s, x])
            part += 1
        x = b.conv_norm_act(x, mobilenet_module(index, part), cout, 1)
        if stride == 1 and cin == cout:
            x = keras.layers.Add(name=mobilenet_module(index).replace(".", "_") + "_add")([x, shortcut])
    last = len(setting) + 1
    x = b.conv_norm_act(x, mobilenet_module(last), 6 * setting[-1][3], 1, activation="hswish")
    maps.append(x)
    depth = lambda d: max(min_depth, int(d * 1.0))  # noqa: E731  (torchvision builds the extras at width 1.0)
    for k, out in enumerate((depth(512), depth(256), depth(256), depth(128))):
        module = f"backbone.extra.{k}"
        x = b.conv_norm_act(x, f"{module}.0", out // 2, 1, activation="relu6")
        x = b.conv_norm_act(x, f"{module}.1", None, 3, 2, depthwise=True, activation="relu6")
        x = b.conv_norm_act(x, f"{module}.2", out, 1, activation="relu6")
        maps.append(x)
    return maps


# -- the detector ---------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasnets")
class TorchvisionSSD(SingleStageDetector):
    """torchvision's `SSD` class (not built directly: `SSD300VGG16`, `SSDLite320MobileNetV3Large`, or the builders
    `ssd300_vgg16`, `ssdlite320_mobilenet_v3_large`, which load weights). `num_classes` counts the background
    (COCO: 91); the detections' classes are torchvision's labels 1 .. num_classes - 1."""

    loss_names = ("bbox_regression", "classification")
    #: torchvision's builder, its input size, default-box settings and BatchNorm of the heads (subclasses)
    architecture = None
    size = None
    #: TFLite_Detection_PostProcess with per-class NMS, as torchvision suppresses (export.detection reads it)
    regular_nms = True
    #: the exported file's default score threshold: torchvision's score_thresh (0.001 SSDlite, 0.01 SSD300) is COCO
    #: evaluation's; at 0.001 the file's per-class NMS over 90 classes took 125 ms of SSDlite320's 1-thread latency,
    #: at 0.05 17 ms (measured here, float32; int8 alike)
    export_score_threshold = 0.05

    def _setup(self):
        c = self.config
        if c["num_classes"] < 2:
            raise ValueError(f"{type(self).__name__}: num_classes counts the background class too, so it must be at "
                             f"least 2; got {c['num_classes']}.")
        if c["class_names"] is None:
            self.class_names = (list(COCO_CATEGORY_NAMES) if self.num_classes == len(COCO_CATEGORY_NAMES)
                                else ["__background__"] + [str(i) for i in range(1, self.num_classes)])
        elif len(c["class_names"]) != self.num_classes:
            raise ValueError(f"{len(c['class_names'])} class names for num_classes={self.num_classes} (the names "
                             "include the background's, index 0).")
        for key in ("image_mean", "image_std"):
            if len(c[key]) != 3:
                raise ValueError(f"{key} needs 3 values (R, G, B), got {c[key]!r}.")
        self.image_size = (self.size, self.size)
        builder = self._builder()
        self.network = self._build_network(builder)
        self.torch_names = builder.torch
        shapes = [tuple(int(d) for d in s[1:3]) for s in self._level_shapes]
        self.feature_sizes = shapes
        #: xyxy pixel default boxes `[N, 4]` (torchvision's DefaultBoxGenerator for one image)
        self.anchor_boxes = default_boxes(shapes, self.image_size, self.aspect_ratios, self.box_scales_per_level,
                                          self.steps)
        w = self.anchor_boxes[:, 2] - self.anchor_boxes[:, 0]
        h = self.anchor_boxes[:, 3] - self.anchor_boxes[:, 1]
        cx = self.anchor_boxes[:, 0] + 0.5 * w
        cy = self.anchor_boxes[:, 1] + 0.5 * h
        height, width = self.image_size
        #: normalised (yc, xc, h, w) default boxes, the layout TFLite_Detection_PostProcess reads
        self.anchors = np.stack([cy / height, cx / width, h / height, w / width], axis=1).astype(np.float32)
        self.coder = BoxCoder(HEAD_WEIGHTS)
        self._freeze(c["trainable_backbone_layers"])
        self._track_losses()
        self.built = True

    # --- the network ------------------------------------------------------------------------------------------

    @property
    def num_anchors_per_location(self):
        return [2 + 2 * len(r) for r in self.aspect_ratios]

    def _normalisation(self, images):
        mean = np.asarray(self.config["image_mean"], np.float64)
        std = np.asarray(self.config["image_std"], np.float64)
        scale, offset = 1.0 / (255.0 * std), -mean / std
        return keras.layers.Rescaling([float(s) for s in scale], [float(o) for o in offset], name="normalize")(images)

    def _build_network(self, b):
        """images (RGB 0-255) -> (box deltas `[B, N, 4]` (dx, dy, dw, dh), class logits `[B, N, num_classes]`)."""
        images = keras.Input((*self.image_size, 3), name="images")
        maps = self.feature_maps(b, self._normalisation(images))
        self._level_shapes = [tuple(m.shape) for m in maps]
        deltas, logits = [], []
        for level, (m, a) in enumerate(zip(maps, self.num_anchors_per_location)):
            d = self.head(b, m, f"head.regression_head.module_list.{level}", a * 4)
            c = self.head(b, m, f"head.classification_head.module_list.{level}", a * self.num_classes)
            deltas.append(keras.layers.Reshape((-1, 4), name=f"regression_flat{level}")(d))
            logits.append(keras.layers.Reshape((-1, self.num_classes), name=f"classification_flat{level}")(c))
        deltas = keras.layers.Concatenate(axis=1, name="bbox_regression")(deltas)
        logits = keras.layers.Concatenate(axis=1, name="cls_logits")(logits)
        return keras.Model(images, [deltas, logits], name=f"{self.architecture}_network")

    def torch_layout(self):
        """How this network's layers are named in torchvision's state dict."""
        return TorchLayout(torch_name=self.torch_names.get,
                           expected=f"a state dict of torchvision.models.detection.{self.architecture}")

    def _freeze(self, trainable_layers):
        """torchvision's `trainable_backbone_layers`: the backbone's stages before the last `trainable_layers`
        are frozen (counted in the parameters, not trained)."""
        stages = self.backbone_stages
        if not 0 <= trainable_layers <= len(stages):
            raise ValueError(f"trainable_backbone_layers should be in the range [0, {len(stages)}], got "
                             f"{trainable_layers}.")
        freeze_before = self.backbone_length if trainable_layers == 0 else stages[len(stages) - trainable_layers]
        for layer in self.network.layers:
            index = self.backbone_index(self.torch_names.get(layer.name, ""))
            if index is not None and index < freeze_before:
                layer.trainable = False

    # --- reading the outputs (torchvision's postprocess_detections) ------------------------------------------

    def decode_boxes(self, raw):
        """Boxes `[B, N, 4]` (xyxy pixels of the resized image, unclipped) from the deltas."""
        return self.coder.decode(ops.convert_to_tensor(self.anchor_boxes)[None], raw[0])

    def class_scores(self, raw):
        """Softmax over the classes `[B, N, num_classes]` (column 0 the background)."""
        return ops.softmax(raw[1], axis=-1)

    def postprocess_detections(self, raw):
        """torchvision's SSD.postprocess_detections, batched with fixed sizes: boxes clipped to the image; per class
        (1 .. C - 1) the `topk_candidates` best boxes scoring above `score_thresh`, NMS within the class; the
        `detections_per_img` best of all classes."""
        c = self.config
        boxes = clip_boxes(self.decode_boxes(raw), *self.image_size)                        # [B, N, 4]
        scores = self.class_scores(raw)[..., 1:]                                           # [B, N, K]
        n, k = int(scores.shape[1]), self.num_classes - 1
        per_class = ops.reshape(ops.transpose(scores, (0, 2, 1)), (-1, n))                 # [B * K, N]
        class_boxes = ops.reshape(ops.repeat(boxes[:, None], k, axis=1), (-1, n, 4))      # [B * K, N, 4]
        top = min(int(c["topk_candidates"]), n)
        idx, _ = non_max_suppression(class_boxes, per_class, c["nms_thresh"], score_threshold=c["score_thresh"],
                                     max_output=top, max_candidates=top)                   # [B * K, top]
        kept = ops.where(idx >= 0, ops.take_along_axis(per_class, ops.maximum(idx, 0), axis=1), -math.inf)
        kept = ops.reshape(kept, (-1, k * top))
        flat_idx = ops.reshape(idx, (-1, k * top))
        count = min(int(c["detections_per_img"]), k * top)
        best, position = ops.top_k(kept, count, sorted=True)                               # [B, D]
        valid = best > -math.inf
        anchor = ops.where(valid, ops.take_along_axis(flat_idx, position, axis=1), -1)
        classes = ops.where(valid, ops.cast(position // top + 1, "int32"), -1)
        detections = {"boxes": gather_rows(boxes, anchor), "scores": ops.where(valid, best, 0.0),
                      "classes": classes, "num_detections": ops.sum(ops.cast(valid, "int32"), axis=-1)}
        pad = int(c["detections_per_img"]) - count
        if pad > 0:  # fewer candidates than detections_per_img: pad to the fixed size
            detections = {key: ops.pad(v, [[0, 0], [0, pad]] + [[0, 0]] * (len(v.shape) - 2),
                                       constant_values=-1 if key == "classes" else 0)
                          if key != "num_detections" else v for key, v in detections.items()}
        return detections

    @property
    def transform(self):
        return FixedSizeTransform(self.image_size, self.class_names)

    # --- training (torchvision's SSD.compute_loss) ---------------------------------------------------------------

    def training_losses(self, inputs, raw):
        """Smooth L1 (beta 1) on the matched default boxes' deltas and cross-entropy on the positives and the hard
        negatives (`(1 - positive_fraction) / positive_fraction` per positive), both over the positives. The batch's
        `classes` are torchvision's labels (1 .. num_classes - 1; 0 is the background; -1 pads)."""
        deltas, logits = raw
        gt_boxes, gt_classes, gt_valid = self.ground_truth(inputs)
        anchors = ops.convert_to_tensor(self.anchor_boxes)
        iou = box_iou(gt_boxes, anchors)                                                   # [B, M, N]
        iou = ops.where(gt_valid[..., None], iou, -1.0)
        best = ops.max(iou, axis=1)
        matches = ops.where(best >= self.config["iou_thresh"], ops.cast(ops.argmax(iou, axis=1), "int32"), -1)
        # SSDMatcher: every ground truth also takes its best default box
        m = ops.shape(iou)[1]
        claims = (ops.one_hot(ops.argmax(iou, axis=2), ops.shape(iou)[2]) > 0) & gt_valid[..., None]   # [B, M, N]
        claimant = ops.argmax(ops.where(claims, ops.arange(1, m + 1)[None, :, None], 0), axis=1)
        matches = ops.where(ops.any(claims, axis=1), ops.cast(claimant, "int32"), matches)
        positive = matches >= 0
        index = ops.maximum(matches, 0)
        matched = ops.take_along_axis(gt_boxes, index[..., None], axis=1)
        matched = ops.where(positive[..., None], matched, anchors[None])
        targets = self.coder.encode(anchors[None], matched)
        pos_f = ops.cast(positive, "float32")
        count = ops.maximum(ops.sum(pos_f), 1.0)
        box = ops.sum(ops.sum(smooth_l1(deltas - targets, 1.0), axis=-1) * pos_f) / count
        labels = ops.where(positive, ops.take_along_axis(gt_classes, index, axis=1), 0)
        ce = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)          # [B, N]
        ratio = (1.0 - self.config["positive_fraction"]) / self.config["positive_fraction"]
        negative_loss = ops.where(positive, -math.inf, ops.stop_gradient(ce))
        rank = ops.argsort(ops.argsort(-negative_loss, axis=-1), axis=-1)
        quota = ratio * ops.sum(pos_f, axis=-1, keepdims=True)
        hard = ops.cast(ops.cast(rank, "float32") < quota, "float32") * (1.0 - pos_f)
        classification = ops.sum(ce * (pos_f + hard)) / count
        return {"bbox_regression": box, "classification": classification}

    # --- export: the inputs of TFLite's TFLite_Detection_PostProcess ----------------------------------------------

    @property
    def box_scales(self):
        """(y, x, h, w) scales of the box encodings: torchvision's coder weights (10, 10, 5, 5)."""
        wx, wy, ww, wh = self.coder.weights
        return wy, wx, wh, ww

    def postprocess_inputs(self, images):
        """Raw pixels -> (box encodings `[B, N, 4]` (ty, tx, th, tw), class scores `[B, N, num_classes]` with the
        background column zeroed: the op then reports torchvision's labels as its class indices)."""
        deltas, logits = self.network(images, training=False)
        encodings = ops.stack([deltas[..., 1], deltas[..., 0], deltas[..., 3], deltas[..., 2]], axis=-1)
        probs = ops.softmax(logits, axis=-1)
        return encodings, ops.concatenate([ops.zeros_like(probs[..., :1]), probs[..., 1:]], axis=-1)

    # --- weights ------------------------------------------------------------------------------------------------

    def load_torch_state(self, state, source):
        """Set the network from a torchvision state dict ({name: ndarray}) of this model."""
        from kerasnets.core.torch_weights import assign_state

        assign_state(self.network, state, self.torch_layout(), source)
        return self

    def load_backbone_state(self, state, source):
        """Set the backbone from torchvision's ImageNet classifier state dict (its `features.*`)."""
        filled = 0
        for layer in self.network.layers:
            module = self.torch_names.get(layer.name)
            name = self.classifier_name(module) if module else None
            if not layer.weights or name is None:
                continue
            values = []
            for variable in layer.weights:
                key = f"{name}.{_PARAMETER[variable.name]}"
                if key not in state:
                    raise WeightsError(f"{source} has no tensor {key!r} for {module}: it is not torchvision's "
                                       f"{self.backbone_model} ImageNet state dict.")
                values.append(_to_keras(layer, variable.name, state[key]))
            if [tuple(v.shape) for v in values] != [tuple(v.shape) for v in layer.weights]:
                raise WeightsError(f"{source}: {name} has shapes {[v.shape for v in values]}, but {layer.name} needs "
                                   f"{[tuple(v.shape) for v in layer.weights]} (another width_mult?).")
            layer.set_weights(values)
            filled += 1
        if not filled:
            raise WeightsError(f"{source} filled no layer of {self.name}'s backbone.")
        return self


_PARAMETER = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
              "moving_variance": "running_var"}


def _to_keras(layer, variable, tensor):
    from kerasnets.core.torch_weights import _convert

    return _convert(layer, variable, tensor, None)


def _ssd300_head(b, x, module, outputs):
    return b.conv(x, module, outputs, 3, padding=1)


@keras.saving.register_keras_serializable(package="kerasnets")
class SSD300VGG16(TorchvisionSSD):
    """torchvision's `ssd300_vgg16` network (built with random weights; the builder `ssd300_vgg16` loads them)."""

    architecture = "ssd300_vgg16"
    size = 300
    aspect_ratios = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
    box_scales_per_level = (0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05)
    steps = (8, 16, 32, 64, 100, 300)
    backbone_stages = (0, 4, 9, 16, 23)  # torchvision's _vgg_extractor: the first layer of each VGG stage
    backbone_length = 31
    backbone_model = "vgg16"

    def __init__(self, num_classes=91, *, score_thresh=0.01, nms_thresh=0.45, detections_per_img=200, iou_thresh=0.5,
                 topk_candidates=400, positive_fraction=0.25, image_mean=(0.48235, 0.45882, 0.40784),
                 image_std=(1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0), trainable_backbone_layers=5, class_names=None,
                 **kwargs):
        super().__init__(**kwargs)
        self._setup()

    def _builder(self):
        return _Builder(keras.initializers.GlorotUniform())  # torchvision's xavier_uniform_ (biases 0)

    def feature_maps(self, b, x):
        return ssd300_feature_maps(b, x)

    def head(self, b, x, module, outputs):
        return _ssd300_head(b, x, module, outputs)

    @staticmethod
    def backbone_index(module):
        """The index in torchvision's vgg16().features of a module of the extractor (None: not VGG's)."""
        parts = module.split(".")
        if module.startswith("backbone.features."):
            return int(parts[2])
        if module.startswith("backbone.extra.0.") and parts[3] != "7":
            return 23 + int(parts[3])
        return None

    def classifier_name(self, module):
        index = self.backbone_index(module)
        return None if index is None else f"features.{index}"


@keras.saving.register_keras_serializable(package="kerasnets")
class SSDLite320MobileNetV3Large(TorchvisionSSD):
    """torchvision's `ssdlite320_mobilenet_v3_large` network (random weights; the builder of that name loads them).
    `reduced_tail` halves the last stage (torchvision: whenever there is no ImageNet backbone, as for COCO)."""

    architecture = "ssdlite320_mobilenet_v3_large"
    size = 320
    aspect_ratios = ((2, 3),) * 6
    box_scales_per_level = tuple(default_box_scales(6, 0.2, 0.95))
    steps = None
    backbone_stages = (0, 2, 4, 7, 13, 16)  # torchvision's _mobilenet_extractor: C0, the strided blocks, the last
    backbone_length = 17
    backbone_model = "mobilenet_v3_large"

    def __init__(self, num_classes=91, *, score_thresh=0.001, nms_thresh=0.55, detections_per_img=300,
                 iou_thresh=0.5, topk_candidates=300, positive_fraction=0.25, image_mean=(0.5, 0.5, 0.5),
                 image_std=(0.5, 0.5, 0.5), width_mult=1.0, reduced_tail=False, dilated=False,
                 trainable_backbone_layers=6, class_names=None, **kwargs):
        super().__init__(**kwargs)
        self._setup()

    def _builder(self):
        return _Builder(keras.initializers.RandomNormal(0.0, 0.03), bn_epsilon=1e-3, bn_momentum=0.03)

    def feature_maps(self, b, x):
        c = self.config
        return ssdlite_feature_maps(b, x, c["width_mult"], c["reduced_tail"], c["dilated"])

    def head(self, b, x, module, outputs):
        x = b.conv_norm_act(x, f"{module}.0", None, 3, depthwise=True, activation="relu6")
        return b.conv(x, f"{module}.1", outputs, 1)

    @staticmethod
    def backbone_index(module):
        """The index in torchvision's mobilenet_v3_large().features of a module of the extractor."""
        parts = module.split(".")
        if not module.startswith("backbone.features."):
            return None
        return int(parts[3]) if parts[2] == "0" else C4 + (int(parts[3]) if parts[3] != "0" else 0)

    def classifier_name(self, module):
        """The classifier file's name of a backbone module (`features.13.block.0` for the C4 expansion...)."""
        if not module.startswith("backbone.features."):
            return None
        parts = module.split(".")
        rest = ".".join(parts[4:])
        if parts[2] == "0" and parts[3] != str(C4):
            return f"features.{'.'.join(parts[3:])}"
        if parts[2] == "0":                              # backbone.features.0.13.{0,1}: C4's expansion
            return f"features.{C4}.block.0.{rest}"
        if parts[3] == "0":                              # backbone.features.1.0.{j}...: C4's block[j]
            return f"features.{C4}.block.{rest}"
        return f"features.{C4 + int(parts[3])}" + (f".{rest}" if rest else "")


# -- the builders -------------------------------------------------------------------------------------------------


def _validate_trainable_layers(is_trained, trainable_backbone_layers, max_value, default_value):
    """torchvision's `_validate_trainable_layers`."""
    if not is_trained:
        if trainable_backbone_layers is not None:
            warnings.warn("Changing trainable_backbone_layers has no effect if neither pretrained nor pretrained "
                          f"backbone weights are used; falling back to trainable_backbone_layers={max_value} so that "
                          "all layers are trainable.", stacklevel=3)
        trainable_backbone_layers = max_value
    if trainable_backbone_layers is None:
        trainable_backbone_layers = default_value
    if not 0 <= trainable_backbone_layers <= max_value:
        raise ValueError(f"trainable_backbone_layers should be in the range [0, {max_value}], got "
                         f"{trainable_backbone_layers}.")
    return trainable_backbone_layers


def _check_weights(label, weights, weights_backbone):
    if weights is not None and weights != "coco" and not is_torch_file(weights):
        raise ValueError(f"{label}: weights must be None, 'coco' or the path of a torchvision state dict (.pth/.pt); "
                         f"got {weights!r}.")
    if weights_backbone is not None and weights_backbone != "imagenet" and not is_torch_file(weights_backbone):
        raise ValueError(f"{label}: weights_backbone must be None, 'imagenet' or the path of torchvision's ImageNet "
                         f"state dict (.pth/.pt); got {weights_backbone!r}.")


def _state_of(path):
    from kerasnets.core.torch_format import load_state_dict

    return load_state_dict(path)


def _build(cls, label, weights, progress, num_classes, weights_backbone, trainable_backbone_layers, max_layers,
           default_layers, kwargs, infer=None):
    _check_weights(label, weights, weights_backbone)
    if "size" in kwargs:
        warnings.warn("The size of the model is already fixed; ignoring the parameter.", stacklevel=3)
        kwargs.pop("size")
    state = _state_of(weights) if is_torch_file(weights) else None
    if weights is not None:
        weights_backbone = None
        if weights == "coco" and num_classes not in (None, len(COCO_CATEGORY_NAMES)):
            raise ValueError(f"{label}: the COCO weights have {len(COCO_CATEGORY_NAMES)} classes (background "
                             f"included); num_classes={num_classes} cannot be combined with weights='coco'.")
        if state is not None and infer is not None:
            for key, value in infer(state, kwargs).items():
                if key == "num_classes" and num_classes is None:
                    num_classes = value
                elif key != "num_classes":
                    kwargs.setdefault(key, value)
    num_classes = len(COCO_CATEGORY_NAMES) if num_classes is None else int(num_classes)
    trainable = _validate_trainable_layers(weights is not None or weights_backbone is not None,
                                           trainable_backbone_layers, max_layers, default_layers)
    kwargs.setdefault("name", label)
    model = cls(num_classes, trainable_backbone_layers=trainable, **kwargs)
    coco = WEIGHTS[label]
    if weights == "coco":
        from kerasnets.core.torch_weights import converted_weights, load_layer_arrays

        path = converted_weights(coco.weights, lambda: model.network, model.torch_layout(), progress=progress)
        load_layer_arrays(model.network, path)
    elif state is not None:
        model.load_torch_state(state, weights)
    elif weights_backbone is not None:
        if weights_backbone == "imagenet":
            from kerasnets.core.weights import get_file

            weights_backbone = get_file(coco.backbone.top, progress=progress)
        model.load_backbone_state(_state_of(weights_backbone), weights_backbone)
    return model


def _num_classes_of(state, anchors_per_location, bias_key):
    bias = state.get(bias_key)
    return {} if bias is None else {"num_classes": int(bias.shape[0]) // anchors_per_location}


def ssd300_vgg16(*, weights=None, progress=True, num_classes=None, weights_backbone="imagenet",
                 trainable_backbone_layers=None, **kwargs):
    """torchvision's `ssd300_vgg16` (Liu et al. 2016): SSD300 on VGG-16, 8,732 default boxes, 35,641,826 parameters;
    COCO box mAP 25.1 with `weights="coco"` (`ssd300_vgg16_coco-b556d3b4.pth`). `weights`: None, "coco" or a
    torchvision state dict (.pth/.pt) of this model; `weights_backbone`: "imagenet" (torchvision's VGG-16 features
    file, used only when `weights` is None), a path to it, or None. Keyword arguments are torchvision's SSD's
    (`score_thresh` 0.01, `nms_thresh` 0.45, `detections_per_img` 200, `topk_candidates` 400, `iou_thresh` 0.5,
    `positive_fraction`, `image_mean`, `image_std`)."""
    return _build(SSD300VGG16, "ssd300_vgg16", weights, progress, num_classes, weights_backbone,
                  trainable_backbone_layers, 5, 4, kwargs,
                  infer=lambda s, _: _num_classes_of(s, 4, "head.classification_head.module_list.0.bias"))


def _ssdlite_shape(state, kwargs):
    """num_classes and reduced_tail of an SSDlite state dict (a user's fine-tuned torchvision model)."""
    out = _num_classes_of(state, 6, "head.classification_head.module_list.0.1.bias")
    last = state.get("backbone.features.1.3.0.weight")
    if last is not None:
        full = 6 * make_divisible(160 * float(kwargs.get("width_mult", 1.0)))
        out["reduced_tail"] = bool(last.shape[0] != full)
    return out


def ssdlite320_mobilenet_v3_large(*, weights=None, progress=True, num_classes=None, weights_backbone="imagenet",
                                  trainable_backbone_layers=None, **kwargs):
    """torchvision's `ssdlite320_mobilenet_v3_large` (Howard et al. 2019): SSDlite at 320x320 on MobileNetV3-Large,
    3,234 default boxes, 3,440,060 parameters (reduced tail); COCO box mAP 21.3 with `weights="coco"`
    (`ssdlite320_mobilenet_v3_large_coco-a79551df.pth`). `weights_backbone` "imagenet" loads torchvision's
    `mobilenet_v3_large-8738ca79.pth` (full tail); without it (None, or any `weights`) the tail is reduced, as in
    torchvision. Keyword arguments are torchvision's (`score_thresh` 0.001, `nms_thresh` 0.55,
    `detections_per_img` 300, `topk_candidates` 300, `width_mult`, `dilated`, ...); `reduced_tail` overrides
    torchvision's rule (for a state dict it is read from the file)."""
    if not is_torch_file(weights):  # a state dict says itself whether its tail is reduced
        kwargs.setdefault("reduced_tail", weights is not None or weights_backbone is None)
    return _build(SSDLite320MobileNetV3Large, "ssdlite320_mobilenet_v3_large", weights, progress, num_classes,
                  weights_backbone, trainable_backbone_layers, 6, 6, kwargs, infer=_ssdlite_shape)


#: builder name -> builder (the names `python -m export` and the apps accept)
BUILDERS = {"ssd300_vgg16": ssd300_vgg16, "ssdlite320_mobilenet_v3_large": ssdlite320_mobilenet_v3_large}
