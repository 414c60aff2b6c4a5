"""DenseNet: Densely Connected Convolutional Networks (Huang et al., CVPR 2017).

`DenseNetBC(blocks, growth_rate, compression, ...)` builds any DenseNet-BC of the paper's Table 1:
a 7x7/2 stem with 2k filters and 3x3/2 max pooling, dense blocks of bottleneck layers (1x1 to 4k
channels, then 3x3 to k) joined by transition layers that compress the channels by theta.
DenseNet-121/169/201 (k = 32, theta = 0.5) load the official keras.applications weights.
"""

import functools

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application
from kerasnets.core.registry import Family
from kerasnets.core.weights import h5_spec
from kerasnets.models import blocks

#: Table 1: layers per dense block.
BLOCKS = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
    "densenet264": (6, 12, 64, 48),
}
WEIGHTS = {
    "densenet121": h5_spec("densenet", "densenet121", "9d60b8095a5708f2dcce2bca79d332c7",
        "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": h5_spec("densenet", "densenet169", "d699b8f76981ab1b30698df4c175e90b",
        "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": h5_spec("densenet", "densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807",
        "c13680b51ded0fb44dff2d8f86ac8bb1"),
}

preprocess_input = imagenet.preprocessing_function("torch")
decode_predictions = imagenet.decode_predictions


def densenet_features(x, block_sizes, growth_rate, compression, bottleneck):
    axis = application.channel_axis()
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(2 * growth_rate, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=axis, epsilon=blocks.RESNET_BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, size in enumerate(block_sizes, start=2):
        x = blocks.dense_block(x, size, growth_rate, bottleneck=bottleneck, name=f"conv{stage}")
        if stage < len(block_sizes) + 1:
            x = blocks.transition(x, compression, name=f"pool{stage}")
    x = layers.BatchNormalization(axis=axis, epsilon=blocks.RESNET_BN_EPSILON, name="bn")(x)
    return layers.Activation("relu", name="relu")(x)


@application.keras_application(weights=None)
def DenseNetBC(block_sizes, growth_rate=32, compression=0.5, bottleneck=4, **arguments):
    """A general ImageNet DenseNet: `block_sizes` per dense block, growth rate k, compression theta
    (1.0 gives DenseNet-B), `bottleneck` width factor (0 for no bottleneck layers)."""
    if not 0 < compression <= 1 or growth_rate < 1 or not block_sizes:
        raise ValueError(
            f"DenseNet: need 0 < compression <= 1, growth_rate >= 1 and at least one block; received "
            f"compression={compression}, growth_rate={growth_rate}, block_sizes={block_sizes}."
        )
    block_sizes = tuple(block_sizes)
    key = next((k for k, v in BLOCKS.items() if v == block_sizes and growth_rate == 32), None)
    standard = compression == 0.5 and bottleneck == 4
    arguments["name"] = arguments["name"] or key or "densenet"
    return application.build(
        functools.partial(densenet_features, block_sizes=block_sizes, growth_rate=growth_rate,
                          compression=compression, bottleneck=bottleneck),
        default_size=224, min_size=32, spec=WEIGHTS.get(key) if standard else None, **arguments,
    )


DENSENET = Family("densenet", "Huang et al., Densely Connected Convolutional Networks", 2017,
                  input_size=224, preprocessing="torch")

# Single-crop top-1 / top-5 from the authors' published ImageNet results (100 - error).
DenseNet121 = DENSENET.variant(
    "densenet121", "DenseNet121", DenseNetBC, options=dict(block_sizes=BLOCKS["densenet121"]),
    weights=WEIGHTS["densenet121"], summary="DenseNet-121 (k=32); loads the official keras.applications weights.",
    top1=74.98, top5=92.29, params=8_062_504, mult_adds=2_834_161_664,
)
DenseNet169 = DENSENET.variant(
    "densenet169", "DenseNet169", DenseNetBC, options=dict(block_sizes=BLOCKS["densenet169"]),
    weights=WEIGHTS["densenet169"], summary="DenseNet-169 (k=32); loads the official keras.applications weights.",
    top1=76.20, top5=93.15, params=14_307_880, mult_adds=3_359_843_328,
)
DenseNet201 = DENSENET.variant(
    "densenet201", "DenseNet201", DenseNetBC, options=dict(block_sizes=BLOCKS["densenet201"]),
    weights=WEIGHTS["densenet201"], summary="DenseNet-201 (k=32); loads the official keras.applications weights.",
    top1=77.42, top5=93.66, params=20_242_984, mult_adds=4_291_365_888,
)
DenseNet264 = DENSENET.variant(
    "densenet264", "DenseNet264", DenseNetBC, options=dict(block_sizes=BLOCKS["densenet264"]),
    summary="DenseNet-264 (k=32), Table 1's deepest configuration; no published Keras weights.",
    top1=77.85, top5=93.88, params=33_736_232, mult_adds=5_751_653_376,
)
