"""Keras model -> TFLite: float32, float16, dynamic-range or full-integer int8, with metadata.

The conversion goes through a SavedModel of the model with its preprocessing baked in and batch
size 1, so the file takes `[1, H, W, 3]` RGB pixels: float32 0-255, or uint8 for int8 files (the
input quantization is pinned to scale 1, zero point 0, so raw pixel bytes are the right input).
"""

import itertools
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from export import metadata as metadata_lib
from export.checks import MIN_CALIBRATION_IMAGES, read_label_file
from export.converter import QUANTIZATIONS, configure
from export.errors import ExportError
from export.saved_model import resolve_preprocessing, with_preprocessing, write_saved_model
from kerasnets.utils import OutputError, atomic_output, check_output, temporary_folder

REPRESENTATIVE_SAMPLES = 100


class CalibrationWarning(UserWarning):
    """int8 calibration on too few images."""


def warn_few_calibration_images(count, source):
    if count < MIN_CALIBRATION_IMAGES:
        warnings.warn(
            f"int8 calibration on only {count} image{'s' if count != 1 else ''} ({source}): the quantization ranges "
            f"may not fit real inputs; use at least {MIN_CALIBRATION_IMAGES} typical images ({REPRESENTATIVE_SAMPLES} "
            "are read when available).", CalibrationWarning, stacklevel=3)


def load_labels(labels, classes):
    """Labels as a list: None -> ImageNet names for 1000 classes, a path -> one label per line."""
    if labels is None:
        if classes != 1000:
            raise ExportError(
                f"The model has {classes} classes; pass a label file with one label per line (--labels)."
            )
        from kerasnets.imagenet import class_names

        return class_names()
    if isinstance(labels, (str, os.PathLike)):
        labels = read_label_file(labels)
    labels = list(labels)
    if len(labels) != classes:
        raise ExportError(f"The label file has {len(labels)} labels but the model has {classes} classes.")
    return labels


def representative_images(data, size, limit=REPRESENTATIVE_SAMPLES):
    """Calibration images as float32 `[1, H, W, 3]` arrays with 0-255 pixels, from a folder of
    images, a `tf.data.Dataset`, or an iterable of arrays (single images or batches)."""
    from kerasnets.train.datasets import image_files, read_images

    if isinstance(data, (str, os.PathLike)):
        folder = Path(data)
        if not folder.is_dir():
            raise ExportError(f"{folder}: the representative-data folder does not exist.")
        images = read_images(image_files(folder)[:limit * 2], size, limit=limit)
        if not len(images):
            raise ExportError(f"{folder}: no readable images to calibrate int8 quantization with.")
        warn_few_calibration_images(len(images), folder)
        return [image[None] for image in images]
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    if not isinstance(data, Iterable):
        raise ExportError("representative_data must be a folder of images, a tf.data.Dataset or an iterable of arrays.")
    samples = []
    for item in itertools.islice(data, limit):
        item = item[0] if isinstance(item, tuple) else item
        array = np.asarray(item, dtype="float32")
        for image in (array if array.ndim == 4 else array[None]):
            samples.append(image[None])
    if not samples:
        raise ExportError("representative_data is empty.")
    warn_few_calibration_images(min(len(samples), limit), "representative_data")
    return samples[:limit]


def convert(model, quantize="none", representative_data=None, preprocessing=None, size=None, int8_io="uint8"):
    """Convert a Keras classifier to TFLite bytes (no metadata); see `to_tflite`."""

    check_quantization(quantize)
    if int8_io not in ("uint8", "int8"):
        raise ExportError(f"int8_io must be 'uint8' or 'int8'; received {int8_io!r}.")
    if quantize == "int8" and representative_data is None:
        raise ExportError(
            "int8 quantization needs representative data to calibrate with: a folder of typical images "
            "(--representative DIR), a tf.data.Dataset or an iterable of arrays."
        )
    wrapped = with_preprocessing(model, preprocessing, size)
    height, width = wrapped.input_shape[1:3]
    calibration = representative_images(representative_data, (height, width)) if quantize == "int8" else None
    with temporary_folder("kerasnets-export-") as tmp:
        write_saved_model(wrapped, tmp, batch_size=1)
        return _convert_saved_model(tmp, model.name, quantize, calibration, int8_io)


def check_quantization(quantize):
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {', '.join(QUANTIZATIONS)}; received {quantize!r}.")


def _convert_saved_model(saved_model, name, quantize, calibration=None, int8_io="uint8"):
    import tensorflow as tf

    from export.verify import check_operators

    converter = configure(tf.lite.TFLiteConverter.from_saved_model(saved_model), quantize, calibration, int8_io)
    try:
        data = converter.convert()
    except Exception as e:  # the converter's own errors are long MLIR dumps
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"TFLite conversion of {name} failed: {first}") from e
    check_operators(data, what=f"the TFLite file of {name}")  # built-in operators only, before anything is written
    return data


def to_tflite(model, path, quantize="none", representative_data=None, labels=None, preprocessing=None, size=None,
              int8_io="uint8", description=None):
    """Export `model` as a `.tflite` classifier that Android's ImageClassifier loads as it is.

    quantize: 'none' (float32), 'float16', 'dynamic' (int8 weights) or 'int8' (full integer,
    calibrated on `representative_data`, uint8 input/output unless `int8_io='int8'`).
    labels: None (ImageNet names for 1000 classes), a label file path, or a list.
    The file carries metadata (name, description, RGB image input with mean 0 / std 1 on 0-255
    pixels since preprocessing is built in, and the label file). Written atomically.
    """
    from export.checks import is_detector

    if is_detector(model):
        raise ExportError(f"{model.name} is an object detector ({type(model).__name__}); export it with "
                          "export.detection.detector_to_tflite (python -m export DETECTOR.keras does so).")
    classes = model.output_shape[0][-1] if isinstance(model.output_shape, list) else model.output_shape[-1]
    label_list = load_labels(labels, classes)
    mode = resolve_preprocessing(model, preprocessing)
    _check_writable(path)
    tflite_bytes = convert(model, quantize, representative_data, mode, size, int8_io)
    summary = description or (
        f"{model.name} image classifier exported by kerasnets ({quantize if quantize != 'none' else 'float32'}); "
        f"'{mode}' preprocessing is built in, so the input is RGB pixels 0-255."
    )
    metadata = metadata_lib.build_metadata(name=model.name, description=summary)
    with atomic_output(path) as tmp:
        tmp.write_bytes(metadata_lib.attach(tflite_bytes, metadata, label_list))
    return Path(path)


def _check_writable(path):
    """Before converting: `path` is not a folder, and its folder exists and is writable."""
    try:
        check_output(path, what="TFLite file")
    except OutputError as e:
        raise ExportError(str(e)) from None


def image_model_to_tflite(model, path, size, quantize="float16"):
    """Export an image-to-image model (e.g. a style `TransformNet`) taking and returning RGB 0-255
    `[1, size, size, 3]` float tensors; 'float16' halves the file for phones. Written atomically."""
    if quantize not in ("none", "float16", "dynamic"):
        raise ExportError(f"image models export as none, float16 or dynamic; received quantize={quantize!r}.")
    height, width = (size, size) if isinstance(size, int) else size
    inputs = keras_input((height, width, 3))
    fixed = type(model)(inputs, model(inputs), name=model.name) if model.input_shape[1] is None else model
    _check_writable(path)
    with temporary_folder("kerasnets-export-") as tmp:
        write_saved_model(fixed, tmp, batch_size=1, output_name="image")
        data = _convert_saved_model(tmp, model.name, quantize)
    with atomic_output(path) as out:
        out.write_bytes(data)
    return Path(path)


def keras_input(shape):
    import keras

    return keras.Input(shape, name="image")
