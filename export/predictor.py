"""The fast CPU inference path: a Keras model run by LiteRT (XNNPACK) behind `predict`.

On a small CPU, batch-1 inference through Keras pays for TensorFlow's per-op dispatch; the same
float32 graph converted to TFLite and run by XNNPACK is 2-3x faster with outputs equal to ~1e-6
(measured in benchmarks/README.md). `LiteRTPredictor(model)` converts once and then takes the
same inputs as `model.predict` (preprocessed or not, exactly as the Keras model does):

    fast = LiteRTPredictor(kerasnets.MobileNetV2(weights="imagenet"))
    probabilities = fast.predict(kerasnets.preprocess_input(images, mode="tf"))
"""

import os

import numpy as np

from export.errors import ExportError


class LiteRTPredictor:
    """`model`'s inference through the LiteRT interpreter. quantize: 'none' (float32, the default:
    same outputs), 'float16' or 'dynamic' (smaller, approximate). threads: default all CPU cores."""

    def __init__(self, model, quantize="none", threads=None):
        from export.tflite import convert

        if quantize not in ("none", "float16", "dynamic"):
            raise ExportError("LiteRTPredictor runs float32, float16 or dynamic models; received "
                f"quantize={quantize!r} "
                              "(int8 needs calibration data: export it with export.to_tflite).")
        from export.verify import interpreter

        self.name = model.name
        self.threads = threads or os.cpu_count() or 1
        self.model_bytes = convert(model, quantize, preprocessing="none")
        self.runner = interpreter(self.model_bytes, num_threads=self.threads)
        self._input = self.runner.get_input_details()[0]
        self._output = self.runner.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])

    def predict_one(self, image):
        """Outputs for one input `[H, W, C]` (or `[1, H, W, C]`)."""
        x = np.asarray(image, dtype=np.float32).reshape((1, *self.input_shape))
        self.runner.set_tensor(self._input["index"], x)
        self.runner.invoke()
        return self.runner.get_tensor(self._output["index"])[0].copy()

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs for a batch `[N, H, W, C]`, like `keras.Model.predict` (one image per invoke)."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ExportError(f"{self.name} takes inputs of shape [N, {', '.join(map(str, self.input_shape))}]; "
                              f"received {list(x.shape)}.")
        return np.stack([self.predict_one(image) for image in x])

    __call__ = predict
