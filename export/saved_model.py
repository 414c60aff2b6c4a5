"""Keras model -> SavedModel with the network's preprocessing baked in.

The exported `serving_default` signature takes RGB images `[N, H, W, 3]` with pixel values 0-255
and returns class probabilities: no consumer needs to know about 'caffe' BGR means or 'tf' scaling.
"""

import os
import shutil
import tempfile
from pathlib import Path

import keras

from export.errors import ExportError
from kerasnets.core.registry import preprocessing_for
from kerasnets.models.layers import ImagePreprocessing
from kerasnets.utils import current_umask


def resolve_preprocessing(model, preprocessing=None):
    """The preprocessing mode to bake in: the one given, else the registered network's."""
    if preprocessing is None and _takes_raw_pixels(model):
        preprocessing = "none"
    if preprocessing is None:
        preprocessing = preprocessing_for(model)
    if preprocessing is None:
        raise ExportError(
            f"Cannot tell which preprocessing {model.name!r} expects; pass preprocessing='caffe', 'tf', "
            "'torch' or 'none' (none: the model already takes 0-255 pixels)."
        )
    return preprocessing


def _takes_raw_pixels(model):
    """True when the model's first layer after the input is an ImagePreprocessing layer (e.g. a
    kerasnets.transfer classifier): it already takes 0-255 pixels."""
    first = next((layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)), None)
    return isinstance(first, ImagePreprocessing)


def image_size(model, size=None):
    """(height, width) of the model's input; `size` is required when the model accepts any size."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ExportError(f"{model.name} has {len(shape)} inputs; an image classifier export needs exactly one.")
    if len(shape) != 4 or shape[-1] != 3:
        raise ExportError(f"{model.name} takes inputs of shape {shape}; an image classifier export needs [N, H, W, 3].")
    height, width = shape[1:3]
    if size is not None:
        if (height, width) not in ((None, None), (size, size)):
            raise ExportError(f"{model.name} has a fixed {height}x{width} input; --size {size} does not match it.")
        return size, size
    if height is None or width is None:
        raise ExportError(f"{model.name} accepts any input size; choose one with size=... (--size).")
    return height, width


def with_preprocessing(model, preprocessing=None, size=None):
    """A model that takes raw 0-255 RGB pixels: `ImagePreprocessing(mode)` then `model`.

    Only the first output is kept (auxiliary classifiers are for training).
    """
    mode = resolve_preprocessing(model, preprocessing)
    height, width = image_size(model, size)
    inputs = keras.Input((height, width, 3), name="image")
    outputs = model(ImagePreprocessing(mode, name="preprocessing")(inputs))
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return keras.Model(inputs, outputs, name=f"{model.name}_raw_pixels")


def atomic_directory(path, write):
    """Call `write(tmp_dir)`, then move the finished directory to `path` (replacing an old one)."""
    path = Path(path)
    if not path.parent.exists() or not os.access(path.parent, os.W_OK):
        raise ExportError(f"{path}: the folder {path.parent} does not exist or is not writable.")
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_saved_model(model, path, batch_size=None, output_name="probabilities"):
    """Export `model` (already taking raw pixels) as a SavedModel with a `serving_default` signature."""
    import tensorflow as tf

    shape = (batch_size, *model.input_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", lambda image: {output_name: model(image, training=False)},
                         input_signature=[tf.TensorSpec(shape, tf.float32, name="image")])
    archive.write_out(str(path), verbose=False)


def to_saved_model(model, path, preprocessing=None, size=None):
    """Write `model` as a SavedModel at `path` whose `serving_default` takes 0-255 RGB `[N, H, W, 3]`
    images and returns `{"probabilities": [N, classes]}`. The directory appears only when complete."""
    wrapped = with_preprocessing(model, preprocessing, size)
    return atomic_directory(path, lambda tmp: write_saved_model(wrapped, tmp))
