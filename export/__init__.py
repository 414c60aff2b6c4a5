"""kerasnets export layer: Keras model -> SavedModel -> TFLite (float32/float16/dynamic/int8) with
Android metadata -> verified with the LiteRT interpreter.

    import kerasnets, export
    model = kerasnets.MobileNet(alpha=0.5, input_shape=(160, 160, 3), weights="imagenet")
    export.to_tflite(model, "mobilenet_0.5_160_int8.tflite", quantize="int8", representative_data="photos/")
    export.to_saved_model(model, "mobilenet_saved_model")
    export.detector_to_tflite(ssd, "ssd_int8.tflite", quantize="int8", representative_data="photos/")

The export layer is TensorFlow-only (the converter is TensorFlow's).
"""

from export.detection import detector_to_tflite
from export.errors import ExportError
from export.saved_model import to_saved_model, with_preprocessing
from export.tflite import QUANTIZATIONS, to_tflite
from export.verify import verify

__all__ = ["QUANTIZATIONS", "ExportError", "detector_to_tflite", "to_saved_model", "to_tflite", "verify",
           "with_preprocessing"]
