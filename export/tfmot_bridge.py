"""Quantization-aware training and pruning with tensorflow-model-optimization (tfmot).

tfmot works only on tf_keras (Keras 2) models, and importing it switches `tf.keras` to tf_keras
for the whole process. So the work runs in a subprocess (`export._tfmot_worker`): the Keras 3
model's config is translated to tf_keras, its weights are copied over, the outputs are checked to
be identical, then tfmot wraps the model, fine-tunes it, and it is converted to TFLite. This
process adds the Android metadata and writes the file atomically, as `to_tflite` does.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from export import metadata as metadata_lib
from export.errors import ExportError
from export.saved_model import image_size, resolve_preprocessing
from export.tflite import _check_writable, check_quantization, load_labels
from kerasnets.utils import atomic_output, temporary_folder

WORKER = "export._tfmot_worker"


def load_image_folder(folder, size, limit_per_class=None):
    """(images float32 0-255 [N, H, W, 3], labels int [N], class names) from one sub-folder per class."""
    from kerasnets.train.datasets import DataError, load_image_arrays

    try:
        return load_image_arrays(folder, size, limit_per_class)
    except DataError as e:
        raise ExportError(str(e)) from None


def _training_arrays(train_data, size):
    if isinstance(train_data, (str, os.PathLike)):
        x, y, _ = load_image_folder(train_data, size)
        return x, y
    x, y = train_data
    return np.asarray(x, dtype="float32"), np.asarray(y, dtype="int64")


def run_worker(job_dir, timeout=3600):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL",
        "2")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", WORKER, str(job_dir)], env=env, timeout=timeout,
                            stdout=sys.stdout if sys.stdout.isatty() else subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    report_path = Path(job_dir) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if result.returncode != 0:
        message = report.get("error") or (result.stderr or "").strip().splitlines()[-1:] or ["unknown failure"]
        raise ExportError(message if isinstance(message, str) else message[0])
    if result.stdout:
        print(result.stdout, end="")
    return report


def optimize_to_tflite(model, path, data, epochs=1, sparsity=None, preprocessing=None, labels=None, quantize="int8",
                       batch_size=32, learning_rate=1e-4, size=None):
    """Quantization-aware training (sparsity None) or pruning to `sparsity`, then TFLite with metadata.

    data: a folder with one sub-folder of images per class, or `(images, labels)` arrays with
    0-255 RGB images. Returns the worker's report (output check, sparsity reached, history).
    """
    check_quantization(quantize)
    if sparsity is not None and not 0 < sparsity < 1:
        raise ExportError(f"the pruning sparsity must be between 0 and 1 (exclusive); received {sparsity}.")
    if sparsity is None and quantize != "int8":
        raise ExportError("quantization-aware training produces an int8 model: use quantize='int8'.")
    classes = model.output_shape[-1]
    label_list = load_labels(labels, classes)
    mode = resolve_preprocessing(model, preprocessing)
    height, width = image_size(model, size)
    _check_writable(path)
    x, y = _training_arrays(data, (height, width))
    if y.max() >= classes:
        raise ExportError(f"the training data has labels up to {int(y.max())} but the model has {classes} classes.")
    with temporary_folder("kerasnets-tfmot-") as job:
        job_dir = Path(job)
        (job_dir / "model.json").write_text(json.dumps(model.get_config()))
        np.savez(job_dir / "weights.npz", *[np.asarray(w) for w in model.get_weights()])
        check = x[: min(4, len(x))]
        from kerasnets.imagenet import preprocess_input

        reference = model.predict(check if mode == "none" else preprocess_input(check.copy(), mode=mode), verbose=0)
        np.savez(job_dir / "data.npz", x=x, y=y, check=check, reference=np.asarray(reference))
        (job_dir / "job.json").write_text(json.dumps(dict(
            mode="prune" if sparsity is not None else "qat", sparsity=sparsity, epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, quantize=quantize, preprocessing=mode, name=model.name,
        )))
        report = run_worker(job_dir)
        tflite_bytes = (job_dir / "model.tflite").read_bytes()
    from export.verify import check_operators

    check_operators(tflite_bytes, what=f"the TFLite file of {model.name}")  # before anything is written
    what = f"pruned to {sparsity:.0%} sparsity" if sparsity is not None else "quantization-aware trained"
    description = (f"{model.name} image classifier, {what} with tensorflow-model-optimization and exported by "
        "kerasnets "
                   f"({quantize if quantize != 'none' else 'float32'}); '{mode}' preprocessing is built in.")
    meta_bytes = metadata_lib.build_metadata(name=model.name, description=description)
    with atomic_output(path) as tmp:
        tmp.write_bytes(metadata_lib.attach(tflite_bytes, meta_bytes, label_list))
    return report


def quantization_aware(model, train_data, path, epochs=1, **kwargs):
    """Fine-tune `model` with quantization-aware training and write an int8 (uint8 I/O) `.tflite`."""
    return optimize_to_tflite(model, path, train_data, epochs=epochs, sparsity=None, quantize="int8", **kwargs)


def prune(model, train_data, path, target_sparsity=0.5, epochs=10, quantize="none", learning_rate=1e-3, **kwargs):
    """Prune the pointwise-convolution and dense kernels of `model` to `target_sparsity` zeros by
    magnitude while fine-tuning (sparsity ramps up over the first half, the second half recovers),
    then write the `.tflite` with the pruned weights in TFLite's sparse format."""
    return optimize_to_tflite(model, path, train_data, epochs=epochs, sparsity=target_sparsity, quantize=quantize,
                              learning_rate=learning_rate, **kwargs)
