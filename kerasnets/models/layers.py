"""Custom layers, each serialisable and written with `keras.ops` only (TensorFlow and JAX)."""

import math

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


@keras.saving.register_keras_serializable(package="kerasnets")
class StochasticDepth(keras.layers.Dropout):
    """Stochastic depth (Huang et al. 2016), EfficientNet's "drop connect": in training, a residual
    branch is dropped for a whole sample with probability `rate` (`noise_shape=(None, 1, 1, 1)`), the
    kept ones scaled by 1 / (1 - rate).

    Like Keras' BatchNormalization, a frozen layer (`trainable=False`) computes as at inference: the
    frozen stages of a backbone then give the layers that train the features of test time. (A plain
    `Dropout` in a frozen EfficientNet-Lite kept dropping branches: 16 images took YOLOv1's head 100
    steps to a coordinate loss of 0.23 instead of 0.001.)
    """

    def call(self, inputs, training=False):
        return super().call(inputs, training=training if self.trainable else False)


@keras.saving.register_keras_serializable(package="kerasnets")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, Sec. 3.3):

        b[c] = a[c] / (k + alpha * sum_{c' = c - n/2 .. c + n/2} a[c']^2) ** beta

    with AlexNet's constants k=2, n=5, alpha=1e-4, beta=0.75 as defaults. As in the paper (and
    `tf.nn.local_response_normalization`), alpha multiplies the plain sum; Caffe divides it by n.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.axis = int(axis)

    def call(self, inputs):
        x = inputs if self.axis in (-1, len(inputs.shape) - 1) else ops.moveaxis(inputs, self.axis, -1)
        squared = ops.square(x)
        r = self.depth_radius
        padded = ops.pad(squared, [[0, 0]] * (len(x.shape) - 1) + [[r, r]])
        channels = x.shape[-1]
        window_sum = padded[..., 0:channels]
        for offset in range(1, 2 * r + 1):
            window_sum = window_sum + padded[..., offset:offset + channels]
        y = x / ops.power(self.bias + self.alpha * window_sum, self.beta)
        return y if self.axis in (-1, len(inputs.shape) - 1) else ops.moveaxis(y, -1, self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta, "axis": self.axis}


@keras.saving.register_keras_serializable(package="kerasnets")
class Highway(keras.layers.Layer):
    """A highway layer (Srivastava et al. 2015): y = H(x) * T(x) + x * (1 - T(x)),
    H = activation(x W_H + b_H), T = sigmoid(x W_T + b_T). The transform gate's bias starts
    negative (`transform_bias`, -1 to -3 in the paper) so the layer begins close to the identity.
    """

    def __init__(self, activation="relu", transform_bias=-2.0, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.transform_bias = float(transform_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        units = input_shape[-1]
        self.kernel_h = self.add_weight(name="kernel_h", shape=(units, units), initializer=self.kernel_initializer)
        self.bias_h = self.add_weight(name="bias_h", shape=(units,), initializer="zeros")
        self.kernel_t = self.add_weight(name="kernel_t", shape=(units, units), initializer=self.kernel_initializer)
        self.bias_t = self.add_weight(
            name="bias_t", shape=(units,), initializer=keras.initializers.Constant(self.transform_bias)
        )

    def call(self, inputs):
        h = self.activation(ops.matmul(inputs, self.kernel_h) + self.bias_h)
        t = ops.sigmoid(ops.matmul(inputs, self.kernel_t) + self.bias_t)
        return h * t + inputs * (1.0 - t)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_macs(self, input_shapes, output_shape):
        positions = math.prod(input_shapes[0][1:-1])
        return 2 * positions * input_shapes[0][-1] ** 2

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation),
                "transform_bias": self.transform_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package="kerasnets")
class ConvHighway(keras.layers.Layer):
    """A convolutional highway layer: H and T are 'same'-padded convolutions that keep the channels."""

    def __init__(self, kernel_size=3, activation="relu", transform_bias=-2.0, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.activation = keras.activations.get(activation)
        self.transform_bias = float(transform_bias)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.transform = keras.layers.Conv2D(channels, self.kernel_size, padding="same", name="h")
        self.gate = keras.layers.Conv2D(
            channels, self.kernel_size, padding="same", name="t",
            bias_initializer=keras.initializers.Constant(self.transform_bias),
        )
        self.transform.build(input_shape)
        self.gate.build(input_shape)

    def call(self, inputs):
        h = self.activation(self.transform(inputs))
        t = ops.sigmoid(self.gate(inputs))
        return h * t + inputs * (1.0 - t)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_macs(self, input_shapes, output_shape):
        kernel = self.kernel_size if isinstance(self.kernel_size, (tuple, list)) else (self.kernel_size,) * 2
        return 2 * math.prod(output_shape[1:]) * math.prod(kernel) * input_shapes[0][-1]

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation), "transform_bias": self.transform_bias}


@keras.saving.register_keras_serializable(package="kerasnets")
class ImagePreprocessing(keras.layers.Layer):
    """`kerasnets.preprocess_input` as a layer, so a model can take raw RGB pixels (0-255).

    Used by the export layer to bake each network's preprocessing ('caffe', 'tf', 'torch', or
    'none') into SavedModel and TFLite files.
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        from kerasnets.imagenet import PREPROCESSING_MODES

        if mode not in (*PREPROCESSING_MODES, "none"):
            raise ValueError(f"Unknown preprocessing mode {mode!r}; choose one of {(*PREPROCESSING_MODES, 'none')}.")
        self.mode = mode

    def call(self, inputs):
        from kerasnets.imagenet import preprocess_input

        x = ops.cast(inputs, self.compute_dtype)
        return x if self.mode == "none" else preprocess_input(x, mode=self.mode)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="kerasnets")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average pooling to a fixed `output_size` grid, whatever the input size: PyTorch's
    `nn.AdaptiveAvgPool2d`, which torchvision's AlexNet (6x6), VGG (7x7) and GoogLeNet's auxiliary
    heads (4x4) put before their first fully connected layer.

    Output cell (i, j) averages rows floor(i H / h) .. ceil((i + 1) H / h) - 1 and the same for
    columns, as PyTorch does; the windows may overlap (or repeat rows, for an input smaller than
    the output). An input already of the output size passes unchanged. Needs static height and
    width (the networks use it only under their fixed-size classifier).
    """

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"AdaptiveAveragePooling2D: output_size must be a positive int or a pair; "
                             f"received {output_size!r}.")
        self.output_size = size
        self.data_format = keras.config.image_data_format() if data_format is None else data_format

    def _spatial(self, shape):
        return tuple(shape[1:3]) if self.data_format == "channels_last" else tuple(shape[2:4])

    @staticmethod
    def pooling_matrix(size, out):
        """(out, size): row i averages input positions floor(i size / out) .. ceil((i + 1) size / out) - 1."""
        matrix = [[0.0] * size for _ in range(out)]
        for i in range(out):
            start, end = (i * size) // out, -((-(i + 1) * size) // out)
            for k in range(start, end):
                matrix[i][k] = 1.0 / (end - start)
        return matrix

    def build(self, input_shape):
        height, width = self._spatial(input_shape)
        if height is None or width is None:
            raise ValueError(f"{self.name}: AdaptiveAveragePooling2D needs a fixed input height and width; "
                             f"received input shape {tuple(input_shape)}.")
        self._identity = (height, width) == self.output_size
        self._rows = self.pooling_matrix(height, self.output_size[0])
        self._cols = self.pooling_matrix(width, self.output_size[1])
        super().build(input_shape)

    def call(self, inputs):
        if self._identity:
            return inputs
        rows = ops.convert_to_tensor(self._rows, dtype=inputs.dtype)
        cols = ops.convert_to_tensor(self._cols, dtype=inputs.dtype)
        if self.data_format == "channels_last":
            return ops.einsum("ih,bhwc,jw->bijc", rows, inputs, cols)
        return ops.einsum("ih,bchw,jw->bcij", rows, inputs, cols)

    def compute_output_shape(self, input_shape):
        h, w = self.output_size
        if self.data_format == "channels_last":
            return (input_shape[0], h, w, input_shape[3])
        return (input_shape[0], input_shape[1], h, w)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "data_format": self.data_format}
