"""ResNet: Deep Residual Learning for Image Recognition (He et al., CVPR 2016).

`STAGES` is the paper's Table 1: the residual block and the number of blocks in each of the
stages conv2_x .. conv5_x, whose bottleneck widths are 64, 128, 256, 512. ResNet-50/101/152
load the official keras.applications weights.
"""

import functools

from keras import layers

from kerasnets import application, blocks, imagenet
from kerasnets.registry import register
from kerasnets.weights import h5_spec

STAGE_WIDTHS = (64, 128, 256, 512)
STAGES = {
    "resnet18": (blocks.residual_basic, (2, 2, 2, 2)),
    "resnet34": (blocks.residual_basic, (3, 4, 6, 3)),
    "resnet50": (blocks.residual_bottleneck, (3, 4, 6, 3)),
    "resnet101": (blocks.residual_bottleneck, (3, 4, 23, 3)),
    "resnet152": (blocks.residual_bottleneck, (3, 8, 36, 3)),
}

WEIGHTS = {
    "resnet50": h5_spec("resnet", "resnet50", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": h5_spec("resnet", "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": h5_spec("resnet", "resnet152", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}

preprocess_input = functools.partial(imagenet.preprocess_input, mode="caffe")
decode_predictions = imagenet.decode_predictions


def resnet_stem(x):
    """conv1: 7x7/2, 64 filters, then 3x3/2 max pooling (Table 1)."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = blocks.conv_bn(x, 64, 7, strides=2, name="conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def resnet_v1_features(x, depth):
    """Stem, then stages conv2..conv5 of `depth`'s row of Table 1; conv3..conv5 halve the grid."""
    block, repeats = STAGES[depth]
    x = resnet_stem(x)
    for stage, (width, count) in enumerate(zip(STAGE_WIDTHS, repeats), start=2):
        for i in range(1, count + 1):
            stride = 2 if stage > 2 and i == 1 else 1
            x = block(x, width, stride=stride, name=f"conv{stage}_block{i}")
    return x


def ResNet(
    depth,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """A ResNet v1 of Table 1: `depth` in 'resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'."""
    if depth not in STAGES:
        raise ValueError(f"Unknown ResNet depth {depth!r}; choose one of {sorted(STAGES)}.")
    return application.build(
        name or depth,
        functools.partial(resnet_v1_features, depth=depth),
        default_size=224, min_size=32, spec=WEIGHTS.get(depth),
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )


def _depth(depth, default_weights, doc):
    def builder(
        include_top=True,
        weights=default_weights,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=depth,
    ):
        return ResNet(
            depth, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation, name=name,
        )

    builder.__name__ = builder.__qualname__ = depth.replace("resnet", "ResNet")
    builder.__doc__ = doc
    return builder


_PAPER = "He et al., Deep Residual Learning for Image Recognition"
_INFO = dict(family="resnet", paper=_PAPER, year=2016, input_size=224, preprocessing="caffe")

# 10-crop validation top-1 / top-5 (Table 3, 100 - error; ResNet-34 option B). ResNet-18: Table 2, top-1 only.
ResNet18 = register("resnet18", top1=72.12, **_INFO)(_depth("resnet18", None, "ResNet-18 (basic blocks)."))
ResNet34 = register("resnet34", top1=75.48, top5=92.54, **_INFO)(_depth("resnet34", None, "ResNet-34 (basic blocks)."))
ResNet50 = register("resnet50", top1=77.15, top5=93.29, imagenet_weights=True, **_INFO)(
    _depth("resnet50", "imagenet", "ResNet-50; loads the official keras.applications weights.")
)
ResNet101 = register("resnet101", top1=78.25, top5=93.95, imagenet_weights=True, **_INFO)(
    _depth("resnet101", "imagenet", "ResNet-101; loads the official keras.applications weights.")
)
ResNet152 = register("resnet152", top1=78.57, top5=94.29, imagenet_weights=True, **_INFO)(
    _depth("resnet152", "imagenet", "ResNet-152; loads the official keras.applications weights.")
)
