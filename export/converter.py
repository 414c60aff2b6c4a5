"""TFLite converter settings per quantization mode, shared by every export path (Keras 3 models
through a SavedModel, and tf_keras models in the tfmot worker). Imports nothing from Keras."""

import warnings

import numpy as np

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


def pixel_range_anchor(height, width):
    """An image holding both 0 and 255, so calibration pins the uint8 input to scale 1, zero point 0."""
    anchor = np.zeros((1, height, width, 3), "float32")
    anchor[:, : height // 2] = 255.0
    return anchor


def configure(converter, quantize, calibration=None, int8_io="uint8", sparse=False):
    """Set `converter` up for `quantize`: built-in ops only; float16 weights; dynamic-range int8;
    or full integer int8 calibrated on `calibration` (`[1, H, W, 3]` 0-255 arrays) with uint8 (or
    int8) input and output. `sparse` stores pruned weights in TFLite's sparse format (DENSIFY op)."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = ([tf.lite.Optimize.DEFAULT] if quantize != "none" else []) + (
        [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else [])
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        height, width = calibration[0].shape[1:3]
        samples = [pixel_range_anchor(height, width), *calibration]
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = tf.uint8 if int8_io == "uint8" else tf.int8
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
        if int8_io == "int8":
            warnings.warn(
                "int8 input/output: Android's ImageClassifier (Task Library, MediaPipe) accepts only uint8 "
                "or float32 input and will refuse this file.", stacklevel=3,
            )
    return converter
