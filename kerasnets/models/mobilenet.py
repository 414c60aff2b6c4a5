"""MobileNet v1, v2 and v3, each written as its paper's table.

- v1: "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"
  (Howard et al. 2017), Table 1; width multiplier `alpha`, resolution multiplier = input size.
- v2: "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (Sandler et al., CVPR 2018), Table 2.
- v3: "Searching for MobileNetV3" (Howard et al., ICCV 2019), Tables 1 and 2.

All load the official keras.applications weights. For v1 and v2, ImageNet weights exist only for
certain widths and square sizes; asking for another combination is an error that lists them
(kerasnets never loads the 224 px weights for another size). Without ImageNet weights, any
`alpha` and any input size from 32 px up builds, for training from scratch.
"""

import functools
import warnings

import keras
from keras import layers

from kerasnets import imagenet
from kerasnets.core import application
from kerasnets.core.registry import Family, Grid, Paper
from kerasnets.core.weights import WeightsFile, WeightsSpec, WeightsTable
from kerasnets.models import blocks

preprocess_input = imagenet.preprocessing_function("tf")  # MobileNet v1 and v2 (v3 rescales inside the model)
decode_predictions = imagenet.decode_predictions

# -- shared ------------------------------------------------------------------------------------


def requested_size(input_shape, input_tensor):
    """(rows, cols) the caller asked for, from input_shape or a Keras input_tensor; None if unknown."""
    shape = input_shape
    if shape is None and input_tensor is not None and keras.backend.is_keras_tensor(input_tensor):
        shape = tuple(input_tensor.shape[1:])
    if shape is None or len(shape) != 3:
        return None, None
    return (shape[0], shape[1]) if keras.config.image_data_format() == "channels_last" else (shape[1], shape[2])


def check_imagenet_choice(name, *, alpha, alphas, rows, cols, sizes):
    """The ImageNet weights of `name` exist for `alphas` x square `sizes`; anything else is an error."""
    if alpha not in alphas:
        raise ValueError(
            f"{name}: ImageNet weights exist only for alpha in {list(alphas)}; received alpha={alpha}. "
            "Choose one of those, or use weights=None to train another width from scratch."
        )
    if rows is not None and (rows != cols or rows not in sizes):
        raise ValueError(
            f"{name}: ImageNet weights exist only for square inputs of {list(sizes)} pixels; received "
            f"{rows}x{cols}. Resize the images to one of those sizes, or use weights=None to train at this size."
        )


# -- MobileNet v1 ------------------------------------------------------------------------------
#: Table 1 after the first full convolution (32 filters, stride 2): (pointwise filters, stride) of
#: each depthwise separable layer.
V1_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)
V1_ALPHAS = (0.25, 0.5, 0.75, 1.0)
V1_SIZES = (128, 160, 192, 224)
V1_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


def mobilenet_v1_features(x, alpha, depth_multiplier):
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(axis=application.channel_axis(), name="conv1_bn")(x)
    x = blocks.relu6(x, "conv1_relu")
    for block_id, (filters, stride) in enumerate(V1_LAYERS, start=1):
        x = blocks.depthwise_separable(
            x, int(filters * alpha), stride=stride, depth_multiplier=depth_multiplier, block_id=block_id
        )
    return x


def mobilenet_v1_classifier(x, classes, classifier_activation, dropout):
    """Average pool, dropout, then the classifier as a 1x1 convolution (as the official weights have it)."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
    x = layers.Reshape((classes,), name="reshape_2")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


def mobilenet_v1_weights(alpha, rows):
    stem = f"mobilenet_{V1_ALPHA_TEXT[alpha]}_{rows}_tf"
    return WeightsSpec(top=WeightsFile("mobilenet", f"{stem}.h5"), notop=WeightsFile("mobilenet", f"{stem}_no_top.h5"))


V1_WEIGHTS = WeightsTable(mobilenet_v1_weights, f"alpha in {list(V1_ALPHAS)} x input size in {list(V1_SIZES)}")


@application.keras_application(order=(
    "input_shape", "alpha", "depth_multiplier", "dropout", "include_top", "weights", "input_tensor", "pooling",
        "classes",
    "classifier_activation", "name",
))
def mobilenet_v1(alpha=1.0, depth_multiplier=1, dropout=1e-3, **arguments):
    """MobileNet v1 with width multiplier `alpha` and depth multiplier (Sec. 3.3-3.4 of the paper)."""
    if not alpha > 0 or not (isinstance(depth_multiplier, int) and depth_multiplier >= 1):
        raise ValueError(
            f"MobileNet: alpha must be > 0 and depth_multiplier a positive integer; received alpha={alpha}, "
            f"depth_multiplier={depth_multiplier}."
        )
    rows, cols = requested_size(arguments["input_shape"], arguments["input_tensor"])
    spec = None
    if arguments["weights"] == "imagenet":
        check_imagenet_choice("MobileNet", alpha=alpha, alphas=V1_ALPHAS, rows=rows, cols=cols, sizes=V1_SIZES)
        if depth_multiplier != 1:
            raise ValueError("MobileNet: ImageNet weights exist only for depth_multiplier=1; received "
                f"{depth_multiplier}.")
        spec = V1_WEIGHTS.at(alpha, rows or 224)
    default_size = rows if rows == cols and rows in V1_SIZES else 224
    arguments["name"] = arguments["name"] or f"mobilenet_{alpha:0.2f}_{rows or default_size}"
    return application.build(
        functools.partial(mobilenet_v1_features, alpha=alpha, depth_multiplier=depth_multiplier),
        functools.partial(mobilenet_v1_classifier, dropout=dropout),
        default_size=default_size, min_size=32, spec=spec, **arguments,
    )


#: Tables 6 and 7 of the paper: (alpha, size) -> top-1 %, parameters, multiply-adds.
V1_PAPER = {
    (1.0, 224): Paper(70.6, 4.2e6, 569e6), (0.75, 224): Paper(68.4, 2.6e6, 325e6),
    (0.5, 224): Paper(63.7, 1.3e6, 149e6), (0.25, 224): Paper(50.6, 0.5e6, 41e6),
    (1.0, 192): Paper(69.1, 4.2e6, 418e6), (1.0, 160): Paper(67.2, 4.2e6, 290e6), (1.0, 128): Paper(64.4, 4.2e6, 186e6),
}
MOBILENET = Family("mobilenet", "Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
                   "Applications", 2017, input_size=224, preprocessing="tf")
MobileNet = MOBILENET.variant(
    "mobilenet", "MobileNet", mobilenet_v1, model_name=None, weights=V1_WEIGHTS,
    summary="MobileNet v1 (Table 1) with width multiplier `alpha`; ImageNet weights for 4 widths x 4 sizes.",
    top1=70.6, params=4_253_864, mult_adds=568_740_352, paper_params=4.2e6, paper_mult_adds=569e6,
    grid=Grid(alphas=V1_ALPHAS[::-1], sizes=V1_SIZES[::-1], cells=V1_PAPER),
)


# -- MobileNet v2 ------------------------------------------------------------------------------
#: Table 2: expansion factor t, output channels c, repeats n, first stride s.
V2_TABLE = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
V2_SIZES = (96, 128, 160, 192, 224)
V2_BN = dict(epsilon=1e-3, momentum=0.999)


def mobilenet_v2_features(x, alpha):
    axis = application.channel_axis()
    x = layers.Conv2D(blocks.make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False,
        name="Conv1")(x)
    x = layers.BatchNormalization(axis=axis, name="bn_Conv1", **V2_BN)(x)
    x = blocks.relu6(x, "Conv1_relu")
    block_id = 0
    for t, c, n, s in V2_TABLE:
        for i in range(n):
            x = blocks.inverted_residual(
                x, expanded=t * x.shape[axis] if block_id else None, filters=blocks.make_divisible(int(c * alpha), 8),
                stride=s if i == 0 else 1, prefix=f"block_{block_id}_" if block_id else "expanded_conv_",
            )
            block_id += 1
    last = blocks.make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=axis, name="Conv_1_bn", **V2_BN)(x)
    return blocks.relu6(x, "out_relu")


def mobilenet_v2_weights(alpha, rows):
    stem = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
    return WeightsSpec(top=WeightsFile("mobilenet_v2", f"{stem}.h5"), notop=WeightsFile("mobilenet_v2",
        f"{stem}_no_top.h5"))


V2_WEIGHTS = WeightsTable(mobilenet_v2_weights, f"alpha in {list(V2_ALPHAS)} x input size in {list(V2_SIZES)}")


@application.keras_application(order=(
    "input_shape", "alpha", "include_top", "weights", "input_tensor", "pooling", "classes", "classifier_activation",
        "name",
))
def mobilenet_v2(alpha=1.0, **arguments):
    """MobileNetV2 with width multiplier `alpha` (channel counts rounded by `make_divisible(., 8)`)."""
    if not alpha > 0:
        raise ValueError(f"MobileNetV2: alpha must be > 0; received alpha={alpha}.")
    rows, cols = requested_size(arguments["input_shape"], arguments["input_tensor"])
    spec = None
    if arguments["weights"] == "imagenet":
        check_imagenet_choice("MobileNetV2", alpha=alpha, alphas=V2_ALPHAS, rows=rows, cols=cols, sizes=V2_SIZES)
        spec = V2_WEIGHTS.at(alpha, rows or 224)
    default_size = rows if rows == cols and rows in V2_SIZES else 224
    arguments["name"] = arguments["name"] or f"mobilenetv2_{alpha:0.2f}_{rows or default_size}"
    return application.build(
        functools.partial(mobilenet_v2_features, alpha=alpha),
        default_size=default_size, min_size=32, spec=spec, **arguments,
    )


#: Table 4 and the text of Sec. 6.1: (alpha, size) -> top-1 %, parameters, multiply-adds. The paper's
#: 3.4 M parameters are 3.50 M trainable ones here and in torchvision (3,504,872): 3 % apart.
V2_PAPER = {(1.0, 224): Paper(72.0, 3.4e6, 300e6), (1.4, 224): Paper(74.7, None, 585e6)}  # 1.4: the paper's 6.9 M is
# not what its architecture gives (6.11 M trainable here, in keras and in torchvision)
MobileNetV2 = Family(
    "mobilenet", "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018,
    input_size=224, preprocessing="tf",
).variant(
    "mobilenetv2", "MobileNetV2", mobilenet_v2, model_name=None, weights=V2_WEIGHTS,
    summary="MobileNetV2 (Table 2) with width multiplier `alpha`; ImageNet weights for 6 widths x 5 sizes.",
    top1=72.0, params=3_538_984, mult_adds=300_774_272, paper_params=3.4e6, tolerance=0.035, paper_mult_adds=300e6,
    grid=Grid(alphas=(1.4, 1.0, 0.75, 0.5, 0.35), sizes=V2_SIZES[::-1], cells=V2_PAPER),
)


# -- MobileNet v3 ------------------------------------------------------------------------------
#: Tables 1 (Large) and 2 (Small): kernel, expansion ratio, output channels, squeeze-excite,
#: hard-swish (else ReLU), stride. "Minimalistic" variants use 3x3 kernels, no SE, ReLU only.
V3_LARGE = (
    (3, 1, 16, False, False, 1), (3, 4, 24, False, False, 2), (3, 3, 24, False, False, 1),
    (5, 3, 40, True, False, 2), (5, 3, 40, True, False, 1), (5, 3, 40, True, False, 1),
    (3, 6, 80, False, True, 2), (3, 2.5, 80, False, True, 1), (3, 2.3, 80, False, True, 1), (3, 2.3, 80, False, True,
        1),
    (3, 6, 112, True, True, 1), (3, 6, 112, True, True, 1),
    (5, 6, 160, True, True, 2), (5, 6, 160, True, True, 1), (5, 6, 160, True, True, 1),
)
V3_SMALL = (
    (3, 1, 16, True, False, 2), (3, 72 / 16, 24, False, False, 2), (3, 88 / 24, 24, False, False, 1),
    (5, 4, 40, True, True, 2), (5, 6, 40, True, True, 1), (5, 6, 40, True, True, 1),
    (5, 3, 48, True, True, 1), (5, 3, 48, True, True, 1),
    (5, 6, 96, True, True, 2), (5, 6, 96, True, True, 1), (5, 6, 96, True, True, 1),
)
V3_LAST_POINT = {"large": 1280, "small": 1024}
V3_SE_RATIO = 0.25
V3_BN = dict(epsilon=1e-3, momentum=0.999)
V3_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}


def _relu(x, name):
    return layers.ReLU(name=name)(x)


def _hard_swish(x, name):
    return layers.Activation("hard_swish", name=name)(x)


def mobilenet_v3_features(x, table, alpha, minimalistic, include_preprocessing):
    axis = application.channel_axis()
    head_activation = _relu if minimalistic else _hard_swish
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="rescaling")(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    x = head_activation(layers.BatchNormalization(axis=axis, name="conv_bn", **V3_BN)(x), "conv_act")
    for block_id, (kernel, expansion, filters, se, hswish, stride) in enumerate(table):
        if minimalistic:
            kernel, se, hswish = 3, False, False
        x = blocks.inverted_residual(
            x, expanded=blocks.make_divisible(x.shape[axis] * expansion) if block_id else None,
            filters=blocks.make_divisible(filters * alpha), kernel_size=kernel, stride=stride,
            activation=_hard_swish if hswish else _relu, se_ratio=V3_SE_RATIO if se else None,
            prefix=f"expanded_conv_{block_id}_" if block_id else "expanded_conv_",
        )
    x = layers.Conv2D(blocks.make_divisible(x.shape[axis] * 6), 1, padding="same", use_bias=False, name="conv_1")(x)
    return head_activation(layers.BatchNormalization(axis=axis, name="conv_1_bn", **V3_BN)(x), "conv_1_act")


def mobilenet_v3_classifier(x, classes, classifier_activation, last_point, minimalistic, dropout_rate):
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = layers.Conv2D(last_point, 1, padding="same", use_bias=True, name="conv_2")(x)
    x = (_relu if minimalistic else _hard_swish)(x, "conv_2_act")
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="dropout")(x)
    x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


def mobilenet_v3_weights(model_type, alpha, minimalistic):
    key = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    if key not in V3_HASHES:
        return None
    top_hash, notop_hash = V3_HASHES[key]
    return WeightsSpec(
        top=WeightsFile("mobilenet_v3", f"weights_mobilenet_v3_{key}.h5", top_hash),
        notop=WeightsFile("mobilenet_v3", f"weights_mobilenet_v3_{key}_no_top_v2.h5", notop_hash),
    )


V3_WEIGHTS = WeightsTable(mobilenet_v3_weights, "alpha in [0.75, 1.0], or 1.0 minimalistic, at 224 px")


@application.keras_application(order=(
    "model_type", "input_shape", "alpha", "minimalistic", "include_top", "weights", "input_tensor", "classes",
        "pooling",
    "dropout_rate", "classifier_activation", "include_preprocessing", "name",
))
def MobileNetV3(model_type, alpha=1.0, minimalistic=False, dropout_rate=0.2, include_preprocessing=True, **arguments):
    """MobileNetV3 'large' or 'small'. With `include_preprocessing` (default) the model takes raw
    0-255 pixels, as keras.applications' does."""
    if model_type not in V3_LAST_POINT:
        raise ValueError(f"MobileNetV3: model_type must be 'large' or 'small'; received {model_type!r}.")
    label = f"MobileNetV3{model_type.capitalize()}"
    spec = None
    if arguments["weights"] == "imagenet":
        spec = V3_WEIGHTS.at(model_type, alpha, minimalistic)
        if spec is None:
            valid = "alpha=1.0 with minimalistic=True" if minimalistic else "alpha in [0.75, 1.0]"
            raise ValueError(f"{label}: ImageNet weights exist only for {valid}; received alpha={alpha}.")
        rows, cols = requested_size(arguments["input_shape"], arguments["input_tensor"])
        if rows is not None and (rows != cols or rows != 224):
            warnings.warn(
                f"{label}: the ImageNet weights were trained at 224x224; applying them to {rows}x{cols} inputs.",
                stacklevel=3,
            )
    last_point = V3_LAST_POINT[model_type]
    if alpha > 1.0:
        last_point = blocks.make_divisible(last_point * alpha)
    arguments["name"] = arguments["name"] or label
    return application.build(
        functools.partial(mobilenet_v3_features, table=V3_LARGE if model_type == "large" else V3_SMALL, alpha=alpha,
                          minimalistic=minimalistic, include_preprocessing=include_preprocessing),
        functools.partial(mobilenet_v3_classifier, last_point=last_point, minimalistic=minimalistic,
                          dropout_rate=dropout_rate),
        default_size=None, min_size=32, spec=spec, **arguments,
    )


MOBILENET_V3 = Family("mobilenet", "Howard et al., Searching for MobileNetV3", 2019, input_size=224,
    preprocessing="none")
# Top-1, parameters and multiply-adds: Table 3 of the paper (Large 1.0 and Small 1.0).
MobileNetV3Large = MOBILENET_V3.variant(
    "mobilenetv3large", "MobileNetV3Large", MobileNetV3, options=dict(model_type="large"),
        model_name="MobileNetV3Large",
    weights=V3_WEIGHTS, summary="MobileNetV3-Large (Table 1); rescaling of 0-255 input is built in.",
    top1=75.2, params=5_507_432, mult_adds=216_589_760, paper_params=5.4e6, paper_mult_adds=219e6,
)
MobileNetV3Small = MOBILENET_V3.variant(
    "mobilenetv3small", "MobileNetV3Small", MobileNetV3, options=dict(model_type="small"),
        model_name="MobileNetV3Small",
    weights=V3_WEIGHTS, summary="MobileNetV3-Small (Table 2); rescaling of 0-255 input is built in.",
    top1=67.4, params=2_554_968, mult_adds=56_510_400, paper_params=2.5e6, paper_mult_adds=56e6,
)
