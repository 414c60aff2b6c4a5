"""Run an exported `.tflite` with the LiteRT interpreter and compare it with the Keras model."""

import os
import time
from dataclasses import dataclass

import numpy as np

from export.errors import ExportError


@dataclass
class Verification:
    path: str
    size_bytes: int
    input_dtype: str
    input_shape: tuple
    output_dtype: str
    output_shape: tuple
    max_abs_diff: float
    top1_agreement: float
    latency_ms: float
    samples: int

    def __str__(self):
        return (
            f"{os.path.basename(self.path)}: {self.size_bytes / 1e6:.2f} MB, input "
            f"{self.input_dtype}{list(self.input_shape)}, "
            f"output {self.output_dtype}{list(self.output_shape)}, max |TFLite - Keras| = {self.max_abs_diff:.2e}, "
            f"top-1 agreement {self.top1_agreement:.1%} on {self.samples} images, {self.latency_ms:.1f} ms/image "
            "(LiteRT, CPU)"
        )


def quantize_input(x, detail):
    """`x` (float pixels) as the LiteRT input `detail` takes it: unchanged for float32, else quantized
    with the tensor's scale and zero point and clipped to its integer type."""
    if detail["dtype"] == np.float32:
        return np.asarray(x, np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(np.asarray(x) / scale + zero), info.min, info.max).astype(detail["dtype"])


def interpreter(model, num_threads=None):
    """A ready LiteRT interpreter (XNNPACK) for a `.tflite` path or the model's bytes."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the export extra installs it
        raise ExportError(
            "running .tflite files needs the LiteRT interpreter: pip install 'kerasnets[export]'"
        ) from None
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    runner = Interpreter(**source, num_threads=num_threads)
    runner.allocate_tensors()
    return runner


def run(runner, images):
    """Probabilities (float) for `images` (float 0-255, `[N, H, W, 3]`), one image at a time."""
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    results = []
    for image in images:
        runner.set_tensor(inp["index"], quantize_input(image[None], inp))
        runner.invoke()
        y = runner.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y)
    return np.stack(results)


def verify(model_path, keras_model, images, preprocessing=None, repeats=20):
    """Compare the `.tflite` at `model_path` with `keras_model` (taking preprocessed input, as built)
    on `images` (float 0-255 RGB `[N, H, W, 3]`), and time LiteRT's batch-1 latency."""
    from export.saved_model import with_preprocessing

    runner = interpreter(model_path)
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    images = np.asarray(images, dtype="float32")
    reference = np.asarray(with_preprocessing(keras_model, preprocessing, size=inp["shape"][1]).predict(images,
        verbose=0))
    got = run(runner, images)
    start = time.perf_counter()
    for _ in range(repeats):
        runner.invoke()
    latency = (time.perf_counter() - start) / repeats * 1000
    return Verification(
        path=str(model_path), size_bytes=os.path.getsize(model_path), input_dtype=np.dtype(inp["dtype"]).name,
        input_shape=tuple(int(d) for d in inp["shape"]), output_dtype=np.dtype(out["dtype"]).name,
        output_shape=tuple(int(d) for d in out["shape"]),
        max_abs_diff=float(np.max(np.abs(got - reference))),
        top1_agreement=float(np.mean(np.argmax(got, axis=1) == np.argmax(reference, axis=1))),
        latency_ms=latency, samples=len(images),
    )
