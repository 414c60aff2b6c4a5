"""Feature maps of any registered kerasnets network, for the detectors.

`backbone_features(name, image_size, strides)` builds the network's `include_top=False` body for a
fixed input size and returns a model from raw RGB pixels (0-255; the network's own preprocessing is
its first layer) to the feature maps at the requested strides: for each stride, the output of the
last layer whose map is exactly `image size / stride` (ResNet: `conv4_block*_out` at 16, VGG:
`block5_conv3`, MobileNetV2: `block_13_expand_relu`). `fpn_network` adds a feature pyramid
(Lin et al. 2017): 1x1 lateral convolutions, nearest-neighbour top-down additions, 3x3 outputs.
"""

import keras

from kerasnets.core.registry import get_model, model_info
from kerasnets.detection.common import freeze_batchnorm_layers
from kerasnets.models.layers import ImagePreprocessing


def backbone_features(backbone, image_size, strides=(16,), weights=None, freeze_batchnorm=True, backbone_kwargs=None):
    """(model, ModelInfo): raw pixels `[B, H, W, 3]` -> one feature map per stride. `backbone_kwargs`
    go to the builder (e.g. `{"alpha": 0.5}` for the MobileNets)."""
    info = model_info(backbone)
    height, width = image_size
    for stride in strides:
        if height % stride or width % stride:
            raise ValueError(f"image size {height}x{width} is not a multiple of the feature stride {stride}; "
                             f"choose a size divisible by {max(strides)}.")
    body = get_model(info.name, include_top=False, weights=weights, input_shape=(height, width, info.channels),
                     **(backbone_kwargs or {}))
    if info.channels != 3:
        raise ValueError(f"backbone {info.name!r} reads {info.channels}-channel images; detectors need RGB networks.")
    chosen, found = {}, set()
    for layer in body.layers:
        out = layer.output
        if isinstance(out, (list, tuple)) or len(out.shape) != 4:
            continue
        h, w = out.shape[1:3]
        if h and w and height % h == 0 and h * (width // w) == height and w * (height // h) == width:
            found.add(height // h)
        for stride in strides:
            if h == height // stride and w == width // stride:
                chosen[stride] = layer
    missing = [s for s in strides if s not in chosen]
    if missing:
        raise ValueError(f"backbone {info.name!r} has no feature map at stride {missing} for a {height}x{width} input "
                         f"(it has strides {sorted(found)}).")
    if freeze_batchnorm:
        freeze_batchnorm_layers(body)
    inner = keras.Model(body.input, [chosen[s].output for s in strides], name=f"{info.name}_body")
    pixels = keras.Input((height, width, 3), name="images")
    outputs = inner(ImagePreprocessing(info.preprocessing, name="preprocessing")(pixels))
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    return keras.Model(pixels, outputs, name=f"{info.name}_features"), info


def fpn_network(feature_shapes, channels=256, name="fpn"):
    """A feature pyramid on maps of the given shapes (finest first) -> as many maps of `channels`."""
    inputs = [keras.Input(shape[1:], name=f"c{i}") for i, shape in enumerate(feature_shapes)]
    laterals = [keras.layers.Conv2D(channels, 1, name=f"{name}_lateral{i}")(x) for i, x in enumerate(inputs)]
    merged = [None] * len(laterals)
    merged[-1] = laterals[-1]
    for i in range(len(laterals) - 2, -1, -1):
        h, w = feature_shapes[i][1:3]
        up = keras.layers.Resizing(h, w, interpolation="nearest", name=f"{name}_up{i}")(merged[i + 1])
        merged[i] = keras.layers.Add(name=f"{name}_add{i}")([laterals[i], up])
    outputs = [keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_out{i}")(x) for i, x in enumerate(merged)]
    return keras.Model(inputs, outputs, name=name)
