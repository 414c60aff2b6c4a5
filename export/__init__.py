"""kerasnets export layer: Keras model -> SavedModel -> TFLite (float32/float16/dynamic/int8) with
Android metadata -> verified with the LiteRT interpreter.

    import kerasnets, export
    model = kerasnets.MobileNet(alpha=0.5, input_shape=(160, 160, 3), weights="imagenet")
    export.to_tflite(model, "mobilenet_0.5_160_int8.tflite", quantize="int8", representative_data="photos/")
    export.to_saved_model(model, "mobilenet_saved_model")
    export.detector_to_tflite(ssd, "ssd_int8.tflite", quantize="int8", representative_data="photos/")

The export layer is TensorFlow-only (the converter is TensorFlow's). Names load on first use, so
`python -m export` checks its arguments, and imports TensorFlow quietly, before anything else.
"""

from kerasnets.utils import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "export.detection": ("detector_to_tflite",),
    "export.errors": ("ExportError",),
    "export.saved_model": ("to_saved_model", "with_preprocessing"),
    "export.tflite": ("QUANTIZATIONS", "to_tflite"),
})

# `verify` is also the name of its module: bound eagerly (the module is light), so that importing
# `export.verify` anywhere cannot replace the function by the module on the package.
from export.verify import verify  # noqa: E402, F401

__all__ = sorted([*__all__, "verify"])
