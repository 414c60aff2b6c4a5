"""Checks the export layer runs before any work (they import neither Keras nor TensorFlow): where
the files go, what the source and the label file are. Each raises ExportError naming the problem
and the fix; nothing is written, deleted or overwritten."""

import os
import zipfile

from export.errors import ExportError
from kerasnets.utils import OutputError, check_output

SAVED_MODEL_MARKERS = ("saved_model.pb", "saved_model.pbtxt")


def check_tflite_output(path, inputs=()):
    """The `.tflite` file to write: ends in .tflite, its folder exists and is writable, it is not a
    folder and not one of `inputs` (the source model, the label file)."""
    try:
        return check_output(path, what="output (--output)", suffixes=(".tflite",), inputs=inputs)
    except OutputError as e:
        raise ExportError(str(e)) from None


def is_saved_model(path):
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, m)) for m in SAVED_MODEL_MARKERS)


def check_saved_model_destination(path, inputs=()):
    """A SavedModel goes to a new folder, an empty one, or replaces an earlier SavedModel; anything
    else at `path` (a file, a folder of other files) is an error that names it, never deleted."""
    text = os.fspath(path)
    if os.path.lexists(text) and not os.path.isdir(text):
        raise ExportError(
            f"{text}: a file is in the way of the SavedModel folder (--saved-model); it is left as it is. "
            "Choose a new folder name."
        )
    for source in inputs:
        if source is not None and os.path.exists(source) and os.path.abspath(source).startswith(
                os.path.join(os.path.abspath(text), "")):
            raise ExportError(f"{text}: the SavedModel folder contains the input {source}; choose another folder.")
    if os.path.isdir(text) and os.listdir(text) and not is_saved_model(text):
        shown = ", ".join(sorted(os.listdir(text))[:3]) + (", ..." if len(os.listdir(text)) > 3 else "")
        raise ExportError(
            f"{text}: the folder holds other files ({shown}) and is not a SavedModel; a SavedModel replaces only an "
            "earlier SavedModel. Choose a new or empty folder; nothing was deleted."
        )
    try:
        check_output(text, what="SavedModel folder (--saved-model)", folder=True)
    except OutputError as e:
        raise ExportError(str(e)) from None
    return text


def check_keras_source(path):
    """A saved model to export: an existing `.keras` file (a zip archive holding config.json)."""
    text = os.fspath(path)
    if not os.path.exists(text):
        raise ExportError(f"{text}: no such model file.")
    if os.path.isdir(text):
        raise ExportError(f"{text}: is a folder; give a .keras model file (or a registered network name).")
    if not zipfile.is_zipfile(text):
        raise ExportError(
            f"{text}: not a Keras model file (a .keras file is a zip archive written by model.save(); this file "
            "is not one: truncated, corrupt, or another format)."
        )
    with zipfile.ZipFile(text) as archive:
        if "config.json" not in archive.namelist():
            raise ExportError(f"{text}: not a Keras model file (the archive holds no config.json).")
    return text


#: Fewer calibration images than this give unstable int8 ranges: the export warns (TF's guide uses ~100-500).
MIN_CALIBRATION_IMAGES = 32


def read_label_file(path):
    """The labels of a label file, one per line (UTF-8), blank lines left out."""
    text = os.fspath(path)
    try:
        with open(text, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise ExportError(f"{text}: is a folder; --labels takes a text file with one label per line.") from None
    except OSError as e:
        raise ExportError(f"{text}: cannot read the label file ({e.strerror}).") from None
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ExportError(
            f"{text}: the label file is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); save it as "
            "UTF-8, one label per line."
        ) from None
    return [line.strip() for line in content.splitlines() if line.strip()]


def is_detector(model):
    """True for a model export.detection exports: it has anchors and gives TFLite_Detection_PostProcess's inputs."""
    return all(hasattr(model, a) for a in ("anchors", "postprocess_inputs", "box_scales", "num_classes"))
