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
from kerasnets.models import blocks
from kerasnets.core.registry import register
from kerasnets.core.weights import h5_spec

#: Table 1: layers per dense block.
BLOCKS = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
    "densenet264": (6, 12, 64, 48),
}
WEIGHTS = {
    "densenet121": h5_spec("densenet", "densenet121", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": h5_spec("densenet", "densenet169", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": h5_spec("densenet", "densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}

preprocess_input = functools.partial(imagenet.preprocess_input, mode="torch")
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


def DenseNetBC(
    block_sizes,
    growth_rate=32,
    compression=0.5,
    bottleneck=4,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet",
    weights_spec=None,
):
    """A general ImageNet DenseNet: `block_sizes` per dense block, growth rate k, compression theta
    (1.0 gives DenseNet-B), `bottleneck` width factor (0 for no bottleneck layers)."""
    if not 0 < compression <= 1 or growth_rate < 1 or not block_sizes:
        raise ValueError(
            f"DenseNet: need 0 < compression <= 1, growth_rate >= 1 and at least one block; received "
            f"compression={compression}, growth_rate={growth_rate}, block_sizes={block_sizes}."
        )
    return application.build(
        name,
        functools.partial(densenet_features, block_sizes=tuple(block_sizes), growth_rate=growth_rate,
                          compression=compression, bottleneck=bottleneck),
        default_size=224, min_size=32, spec=weights_spec,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )


def _depth(key, default_weights, doc):
    def builder(
        include_top=True,
        weights=default_weights,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=key,
    ):
        return DenseNetBC(
            BLOCKS[key], include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
            pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
            weights_spec=WEIGHTS.get(key),
        )

    builder.__name__ = builder.__qualname__ = key.replace("densenet", "DenseNet")
    builder.__doc__ = doc
    return builder


_INFO = dict(family="densenet", paper="Huang et al., Densely Connected Convolutional Networks", year=2017,
             input_size=224, preprocessing="torch")
# Single-crop top-1 from the authors' published ImageNet results (100 - error): 25.02, 23.80, 22.58, 22.15 error.
DenseNet121 = register("densenet121", top1=74.98, top5=92.29, imagenet_weights=True, **_INFO)(
    _depth("densenet121", "imagenet", "DenseNet-121 (k=32); loads the official keras.applications weights.")
)
DenseNet169 = register("densenet169", top1=76.20, top5=93.15, imagenet_weights=True, **_INFO)(
    _depth("densenet169", "imagenet", "DenseNet-169 (k=32); loads the official keras.applications weights.")
)
DenseNet201 = register("densenet201", top1=77.42, top5=93.66, imagenet_weights=True, **_INFO)(
    _depth("densenet201", "imagenet", "DenseNet-201 (k=32); loads the official keras.applications weights.")
)
DenseNet264 = register("densenet264", top1=77.85, top5=93.88, **_INFO)(
    _depth("densenet264", None, "DenseNet-264 (k=32), Table 1's deepest configuration; no published Keras weights.")
)
