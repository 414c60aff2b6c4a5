"""VGG features for style transfer: named intermediate activations of any kerasnets VGG ('relu2_2',
'conv4_2', or the Keras names 'block2_conv2'; Keras' VGG convolutions include their ReLU), the
layer presets of Gatys et al. and Johnson et al., and image batches in the form the losses take."""

import os
import re

import keras
import numpy as np
from keras import ops

LAYER_PRESETS = {
    "johnson": {"model": "vgg16", "style": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"), "content": ("relu2_2",)},
    "gatys": {"model": "vgg19", "style": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
        "content": ("conv4_2",)},
}


def layer_spec(layers_spec):
    """A preset name ('johnson', 'gatys') or a dict {model, style, content} -> a checked dict."""
    spec = LAYER_PRESETS.get(layers_spec) if isinstance(layers_spec, str) else layers_spec
    if not isinstance(spec, dict) or not {"model", "style", "content"} <= set(spec):
        raise ValueError(
            f"layers must be one of {sorted(LAYER_PRESETS)} or a dict with 'model', 'style' and 'content'; "
            f"received {layers_spec!r}."
        )
    return {"model": spec["model"], "style": tuple(spec["style"]), "content": tuple(spec["content"])}


def keras_layer_name(name):
    """'relu3_3' / 'conv3_3' -> 'block3_conv3'; Keras names pass through."""
    match = re.fullmatch(r"(?:relu|conv)(\d)_(\d)", name)
    return f"block{match.group(1)}_conv{match.group(2)}" if match else name


def feature_extractor(model="vgg16", layer_names=("relu2_2",), weights="imagenet", input_shape=(None, None, 3)):
    """A frozen model mapping caffe-preprocessed images to `{name: activation}` for `layer_names`."""
    import kerasnets

    vgg = kerasnets.get_model(model, include_top=False, weights=weights, input_shape=input_shape)
    available = [layer.name for layer in vgg.layers if "conv" in layer.name]
    outputs = {}
    for name in dict.fromkeys(layer_names):
        keras_name = keras_layer_name(name)
        if keras_name not in available:
            raise ValueError(
                f"{model} has no layer {name!r}; use reluB_I / convB_I (e.g. relu2_2) or one of {available}."
            )
        outputs[name] = vgg.get_layer(keras_name).output
    extractor = keras.Model(vgg.inputs, outputs, name=f"{model}_features")
    extractor.trainable = False
    return extractor


def minimum_size(layer_names):
    """The smallest input (px) that still has a 1x1 map at the deepest requested layer."""
    blocks = [int(keras_layer_name(n)[5]) for n in layer_names if keras_layer_name(n).startswith("block")]
    return 2 ** (max(blocks) - 1) if blocks else 1


def as_image_batch(image, size=None):
    """An RGB 0-255 float `[1, H, W, 3]` tensor from a path or an `[H, W, 3]` array; `size` bounds the long side."""
    from kerasnets.images import load_image, resize

    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    image = np.asarray(image, dtype="float32")
    if image.ndim == 4:
        image = image[0]
    if size is not None:
        h, w = image.shape[:2]
        scale = size / max(h, w)
        image = resize(image.astype("uint8") if image.max() > 1 else image, (max(1, round(h * scale)), max(1,
            round(w * scale))))
    return ops.convert_to_tensor(np.asarray(image, dtype="float32")[None])


def preprocess(images):
    """Caffe preprocessing of RGB 0-255 images (any dtype), as the VGG feature extractors expect."""
    from kerasnets.imagenet import preprocess_input

    return preprocess_input(ops.cast(images, keras.config.floatx()), mode="caffe")
