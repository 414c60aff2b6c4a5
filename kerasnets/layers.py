"""Custom layers, each serialisable and written with `keras.ops` only (TensorFlow and JAX)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasnets")
class ScaledResidual(keras.layers.Layer):
    """`x + scale * residual`: the scaled residual of Inception-ResNet (Szegedy et al. 2016, Fig. 20).

    Scaling residuals by 0.1-0.3 stabilises the training of very wide residual Inception networks.
    Called on `[x, residual]`; it has no weights (keras.applications calls it CustomScaleLayer).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        x, residual = inputs
        return ops.add(x, ops.multiply(residual, self.scale))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
