"""Reusable building blocks, each named after the paper figure it draws.

Blocks take a Keras tensor and return one; they create their layers in the same order and with
the same names as keras.applications, so the official `.h5` weights (which load by topological
order) fit the networks assembled from them.
"""

from keras import layers

from kerasnets.application import channel_axis

RESNET_BN_EPSILON = 1.001e-5


def conv_bn(
    x, filters, kernel_size, *, strides=1, padding="valid", use_bias=True, activation="relu",
    epsilon=RESNET_BN_EPSILON, bn_scale=True, name,
):
    """Convolution -> BatchNormalization -> activation, named `{name}_conv`, `{name}_bn`, `{name}_{activation}`."""
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(axis=channel_axis(), epsilon=epsilon, scale=bn_scale, name=f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _needs_projection(x, out_channels, stride):
    return stride != 1 or x.shape[channel_axis()] != out_channels


def residual_bottleneck(x, filters, *, stride=1, expansion=4, projection=None, name):
    """The bottleneck residual block (He et al. 2016, Fig. 5 right): 1x1 reduce, 3x3, 1x1 expand.

    The shortcut is the identity, or a strided 1x1 projection (option B) when the shape changes.
    As in keras.applications (and Caffe's ResNet), the stride sits on the first 1x1 convolution.
    """
    out_channels = expansion * filters
    if projection if projection is not None else _needs_projection(x, out_channels, stride):
        shortcut = conv_bn(x, out_channels, 1, strides=stride, activation=None, name=f"{name}_0")
    else:
        shortcut = x
    x = conv_bn(x, filters, 1, strides=stride, name=f"{name}_1")
    x = conv_bn(x, filters, 3, padding="same", name=f"{name}_2")
    x = conv_bn(x, out_channels, 1, activation=None, name=f"{name}_3")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def residual_basic(x, filters, *, stride=1, projection=None, name):
    """The basic residual block (He et al. 2016, Fig. 5 left): two 3x3 convolutions."""
    if projection if projection is not None else _needs_projection(x, filters, stride):
        shortcut = conv_bn(x, filters, 1, strides=stride, activation=None, name=f"{name}_0")
    else:
        shortcut = x
    x = conv_bn(x, filters, 3, strides=stride, padding="same", name=f"{name}_1")
    x = conv_bn(x, filters, 3, padding="same", activation=None, name=f"{name}_2")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)
