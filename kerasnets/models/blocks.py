"""Reusable building blocks, each named after the paper figure it draws.

Blocks take a Keras tensor and return one; they create their layers in the same order and with
the same names as keras.applications, so the official `.h5` weights (which load by topological
order) fit the networks assembled from them.
"""

from keras import layers

from kerasnets.core.application import channel_axis

RESNET_BN_EPSILON = 1.001e-5


def conv_bn(
    x, filters, kernel_size, *, strides=1, padding="valid", use_bias=True, activation="relu",
    epsilon=RESNET_BN_EPSILON, bn_scale=True, groups=1, name,
):
    """Convolution -> BatchNormalization -> activation, named `{name}_conv`, `{name}_bn`, `{name}_{activation}`."""
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, groups=groups, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(axis=channel_axis(), epsilon=epsilon, scale=bn_scale, name=f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _needs_projection(x, out_channels, stride):
    return stride != 1 or x.shape[channel_axis()] != out_channels


def residual_bottleneck(
    x, filters, *, stride=1, expansion=4, projection=None, width=None, groups=1, stride_on_3x3=False, name
):
    """The bottleneck residual block (He et al. 2016, Fig. 5 right): 1x1 reduce, 3x3, 1x1 expand to
    `expansion * filters` channels.

    The shortcut is the identity, or a strided 1x1 projection (option B) when the shape changes.
    As in keras.applications (and Caffe's ResNet), the stride sits on the first 1x1 convolution
    unless `stride_on_3x3`. With `groups` > 1 and an inner `width`, this is the ResNeXt block
    (Xie et al. 2017, Fig. 3c): the 3x3 convolution splits into `groups` paths.
    """
    out_channels = expansion * filters
    width = filters if width is None else width
    if projection if projection is not None else _needs_projection(x, out_channels, stride):
        shortcut = conv_bn(x, out_channels, 1, strides=stride, activation=None, name=f"{name}_0")
    else:
        shortcut = x
    x = conv_bn(x, width, 1, strides=1 if stride_on_3x3 else stride, name=f"{name}_1")
    x = conv_bn(x, width, 3, strides=stride if stride_on_3x3 else 1, padding="same", groups=groups, name=f"{name}_2")
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


def residual_preact_bottleneck(x, filters, *, stride=1, expansion=4, projection=False, name):
    """The full pre-activation bottleneck unit (He et al. 2016b, "Identity Mappings", Fig. 4e).

    BN-ReLU come before each convolution; the projection shortcut branches off the
    pre-activated input; an identity shortcut is subsampled by a 1x1 max pooling when strided.
    As in keras.applications ResNetV2, the stride sits on the 3x3 convolution.
    """
    preact = layers.BatchNormalization(axis=channel_axis(), epsilon=RESNET_BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if projection:
        shortcut = layers.Conv2D(expansion * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = conv_bn(preact, filters, 1, use_bias=False, name=f"{name}_1")
    x = layers.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
    x = conv_bn(x, filters, 3, strides=stride, use_bias=False, name=f"{name}_2")
    x = layers.Conv2D(expansion * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def make_divisible(value, divisor=8, min_value=None):
    """Round a channel count to a multiple of `divisor`, never below 90 % of `value` (MobileNet v2/v3)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def correct_pad(x, kernel_size):
    """The zero padding that makes a strided 'valid' convolution match TensorFlow's 'same' grid."""
    rows, cols = x.shape[1:3] if channel_axis() == -1 else x.shape[2:4]
    adjust = (1, 1) if rows is None else (1 - rows % 2, 1 - cols % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def relu6(x, name):
    return layers.ReLU(6.0, name=name)(x)


def depthwise_separable(x, filters, *, stride=1, depth_multiplier=1, block_id):
    """A depthwise separable convolution (Howard et al. 2017, Fig. 3): 3x3 depthwise, then 1x1 pointwise,
    each followed by batch norm and ReLU6. Strided layers pad bottom/right, then convolve 'valid'."""
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D(
        3, strides=stride, padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
        use_bias=False, name=f"conv_dw_{block_id}",
    )(x)
    x = layers.BatchNormalization(axis=channel_axis(), name=f"conv_dw_{block_id}_bn")(x)
    x = relu6(x, f"conv_dw_{block_id}_relu")
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=channel_axis(), name=f"conv_pw_{block_id}_bn")(x)
    return relu6(x, f"conv_pw_{block_id}_relu")


def hard_sigmoid(x, name):
    """ReLU6(x + 3) / 6, the piecewise-linear sigmoid of MobileNetV3."""
    return layers.ReLU(6.0, name=f"{name}_relu6")(x + 3.0) * (1.0 / 6.0)


def squeeze_excite(x, filters, ratio, prefix, gate=hard_sigmoid):
    """Squeeze-and-excitation (Hu et al. 2018), with MobileNetV3's hard-sigmoid gate."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(x)
    s = layers.Conv2D(make_divisible(filters * ratio), 1, padding="same", name=f"{prefix}squeeze_excite_conv")(s)
    s = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(s)
    s = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(s)
    s = gate(s, f"{prefix}squeeze_excite_gate")
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, s])


def inverted_residual(
    x, *, expanded, filters, kernel_size=3, stride=1, activation=relu6, se_ratio=None, prefix,
    bn_epsilon=1e-3, bn_momentum=0.999,
):
    """The inverted residual with linear bottleneck (Sandler et al. 2018, Fig. 3b; Table 1):
    1x1 expansion to `expanded` channels (skipped when `expanded` is None), depthwise conv,
    optional squeeze-excite (MobileNetV3), linear 1x1 projection; residual when shapes allow."""
    axis = channel_axis()
    shortcut = x

    def bn(y, name):
        return layers.BatchNormalization(axis=axis, epsilon=bn_epsilon, momentum=bn_momentum, name=name)(y)

    in_channels = x.shape[axis]
    if expanded is not None:
        x = layers.Conv2D(expanded, 1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = activation(bn(x, f"{prefix}expand_bn"), f"{prefix}expand_act")
    if stride == 2:
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        kernel_size, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
        name=f"{prefix}depthwise",
    )(x)
    x = activation(bn(x, f"{prefix}depthwise_bn"), f"{prefix}depthwise_act")
    if se_ratio:
        x = squeeze_excite(x, x.shape[axis], se_ratio, prefix)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = bn(x, f"{prefix}project_bn")
    if stride == 1 and in_channels == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


def bn_relu_conv(x, filters, kernel_size, *, padding="valid", norm_name, conv_name):
    """The pre-activation composite function H of DenseNet (Huang et al. 2017): BN -> ReLU -> Conv."""
    x = layers.BatchNormalization(axis=channel_axis(), epsilon=RESNET_BN_EPSILON, name=f"{norm_name}_bn")(x)
    x = layers.Activation("relu", name=f"{norm_name}_relu")(x)
    return layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False, name=conv_name)(x)


def dense_layer(x, growth_rate, *, bottleneck=4, name):
    """One DenseNet(-B) layer: [BN-ReLU-Conv1x1 to `bottleneck * k` channels,] BN-ReLU-Conv3x3 to k
    channels, concatenated to its input (Sec. 3, "Bottleneck layers")."""
    y = x
    if bottleneck:
        y = bn_relu_conv(y, bottleneck * growth_rate, 1, norm_name=f"{name}_0", conv_name=f"{name}_1_conv")
    y = bn_relu_conv(y, growth_rate, 3, padding="same", norm_name=f"{name}_1", conv_name=f"{name}_2_conv")
    return layers.Concatenate(axis=channel_axis(), name=f"{name}_concat")([x, y])


def dense_block(x, layers_count, growth_rate, *, bottleneck=4, name):
    """A dense block (Fig. 1): each layer sees the feature maps of all preceding layers."""
    for i in range(1, layers_count + 1):
        x = dense_layer(x, growth_rate, bottleneck=bottleneck, name=f"{name}_block{i}")
    return x


def transition(x, compression, *, name):
    """A transition layer: BN-ReLU-Conv1x1 compressing the channels by theta = `compression`, 2x2 avg pool."""
    x = bn_relu_conv(x, int(x.shape[channel_axis()] * compression), 1, norm_name=name, conv_name=f"{name}_conv")
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


#: The five residual-unit orderings of He et al. 2016b ("Identity Mappings", Fig. 4): the
#: operations before the first convolution, between convolutions, after the last convolution of
#: the residual branch, and after the addition.
RESIDUAL_UNITS = {
    "original": dict(pre=(), mid=("bn", "relu"), last=("bn",), after=("relu",)),          # (a)
    "bn_after_addition": dict(pre=(), mid=("bn", "relu"), last=(), after=("bn", "relu")),  # (b)
    "relu_before_addition": dict(pre=(), mid=("bn", "relu"), last=("bn", "relu"), after=()),  # (c)
    "relu_only_preactivation": dict(pre=("relu",), mid=("bn", "relu"), last=("bn",), after=()),  # (d)
    "full_preactivation": dict(pre=("bn", "relu"), mid=("bn", "relu"), last=(), after=()),  # (e)
}


def _apply(x, operations, name):
    for op in operations:
        if op == "bn":
            x = layers.BatchNormalization(axis=channel_axis(), name=f"{name}_bn")(x)
        else:
            x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def residual_unit(x, filters, *, stride=1, unit="original", bottleneck=False, name):
    """A residual unit in one of the orderings of `RESIDUAL_UNITS`: basic (two 3x3 convolutions)
    or bottleneck (1x1, 3x3, 1x1 to 4x `filters`). A 1x1 projection shortcut (from the
    pre-activated input for pre-activation units) is used when the shape changes."""
    if unit not in RESIDUAL_UNITS:
        raise ValueError(f"Unknown residual unit {unit!r}; choose one of {sorted(RESIDUAL_UNITS)}.")
    spec = RESIDUAL_UNITS[unit]
    out_channels = 4 * filters if bottleneck else filters
    convs = ((filters, 1, 1), (filters, 3, stride), (out_channels, 1, 1)) if bottleneck else (
        (filters, 3, stride), (filters, 3, 1))
    branch = _apply(x, spec["pre"], f"{name}_pre")
    preactivated = branch if spec["pre"] else x
    shortcut = x
    if _needs_projection(x, out_channels, stride):
        shortcut = layers.Conv2D(out_channels, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(preactivated)
        if not spec["pre"]:
            shortcut = layers.BatchNormalization(axis=channel_axis(), name=f"{name}_0_bn")(shortcut)
    for i, (width, kernel, conv_stride) in enumerate(convs, start=1):
        if i > 1:
            branch = _apply(branch, spec["mid"], f"{name}_{i - 1}")
        branch = layers.Conv2D(width, kernel, strides=conv_stride, padding="same", use_bias=False,
            name=f"{name}_{i}_conv")(branch)
    branch = _apply(branch, spec["last"], f"{name}_{len(convs)}")
    x = layers.Add(name=f"{name}_add")([shortcut, branch])
    return _apply(x, spec["after"], f"{name}_out")
