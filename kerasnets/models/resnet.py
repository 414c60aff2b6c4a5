"""ResNet v1 (He et al., CVPR 2016), v2 with pre-activation units (He et al., ECCV 2016),
ResNeXt (Xie et al., CVPR 2017), and the CIFAR residual networks of both ResNet papers.

`STAGES` is Table 1 of the first paper: the residual block and the number of blocks in each of
the stages conv2_x .. conv5_x, whose bottleneck widths are 64, 128, 256, 512. The v2 networks
use the same table with the full pre-activation unit ("Identity Mappings in Deep Residual
Networks"). ResNet-50/101/152 and their V2 load the official keras.applications weights.
"""

import functools

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application
from kerasnets.models import blocks
from kerasnets.core.registry import register
from kerasnets.core.weights import h5_spec

STAGE_WIDTHS = (64, 128, 256, 512)
STAGES = {
    "resnet18": (blocks.residual_basic, (2, 2, 2, 2)),
    "resnet34": (blocks.residual_basic, (3, 4, 6, 3)),
    "resnet50": (blocks.residual_bottleneck, (3, 4, 6, 3)),
    "resnet101": (blocks.residual_bottleneck, (3, 4, 23, 3)),
    "resnet152": (blocks.residual_bottleneck, (3, 8, 36, 3)),
}

_V2_HASHES = {
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
WEIGHTS = {
    **{name: h5_spec("resnet", name, *hashes) for name, hashes in _V2_HASHES.items()},
    "resnet50": h5_spec("resnet", "resnet50", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": h5_spec("resnet", "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": h5_spec("resnet", "resnet152", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}

preprocess_input = functools.partial(imagenet.preprocess_input, mode="caffe")
decode_predictions = imagenet.decode_predictions


def resnet_stem(x, preact=False):
    """conv1: 7x7/2, 64 filters, then 3x3/2 max pooling (Table 1); v2 defers BN-ReLU to the units."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    if preact:
        x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    else:
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


def resnet_v2_features(x, depth):
    """Stem, then pre-activation stages; as in keras.applications, each of conv2..conv4 ends in a
    strided unit, and a final BN-ReLU follows conv5."""
    _, repeats = STAGES[depth]
    x = resnet_stem(x, preact=True)
    for stage, (width, count) in enumerate(zip(STAGE_WIDTHS, repeats), start=2):
        for i in range(1, count + 1):
            stride = 2 if i == count and stage < 5 else 1
            x = blocks.residual_preact_bottleneck(x, width, stride=stride, projection=i == 1, name=f"conv{stage}_block{i}")
    x = layers.BatchNormalization(axis=application.channel_axis(), epsilon=blocks.RESNET_BN_EPSILON, name="post_bn")(x)
    return layers.Activation("relu", name="post_relu")(x)


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
    preact=False,
):
    """A ResNet of Table 1: `depth` in 'resnet18' .. 'resnet152'; `preact=True` for v2 (bottleneck depths)."""
    if depth not in STAGES or (preact and STAGES[depth][0] is not blocks.residual_bottleneck):
        choices = [d for d in STAGES if not preact or STAGES[d][0] is blocks.residual_bottleneck]
        raise ValueError(f"Unknown ResNet{'V2' if preact else ''} depth {depth!r}; choose one of {choices}.")
    features = resnet_v2_features if preact else resnet_v1_features
    key = f"{depth}v2" if preact else depth
    return application.build(
        name or key,
        functools.partial(features, depth=depth),
        default_size=224, min_size=32, spec=WEIGHTS.get(key),
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )


def _depth(depth, default_weights, doc, preact=False):
    key = f"{depth}v2" if preact else depth

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
        return ResNet(
            depth, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation, name=name, preact=preact,
        )

    builder.__name__ = builder.__qualname__ = key.replace("resnet", "ResNet").replace("v2", "V2")
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

_V2_INFO = dict(_INFO, paper="He et al., Identity Mappings in Deep Residual Networks", preprocessing="tf")

# Table 5 of "Identity Mappings" (single 224 crop) reports ResNet-152 v2 at 78.0 / 94.0 ... only for 152 and 200;
# the 320-crop figures are not comparable, so only ResNet-152 v2 carries a paper number.
ResNet50V2 = register("resnet50v2", imagenet_weights=True, **_V2_INFO)(
    _depth("resnet50", "imagenet", "ResNet-50 v2 (pre-activation); loads the official keras.applications weights.", preact=True)
)
ResNet101V2 = register("resnet101v2", imagenet_weights=True, **_V2_INFO)(
    _depth("resnet101", "imagenet", "ResNet-101 v2 (pre-activation); loads the official keras.applications weights.", preact=True)
)
ResNet152V2 = register("resnet152v2", top1=78.0, top5=94.0, imagenet_weights=True, **_V2_INFO)(
    _depth("resnet152", "imagenet", "ResNet-152 v2 (pre-activation); loads the official keras.applications weights.", preact=True)
)


# -- ResNeXt ----------------------------------------------------------------------------------
#: Xie et al. 2017, Table 1: blocks per stage, cardinality C and bottleneck width d of conv2.
RESNEXT = {"resnext50": ((3, 4, 6, 3), 32, 4), "resnext101": ((3, 4, 23, 3), 32, 8)}


def resnext_features(x, depth):
    """Stem, then four stages of aggregated-transformation blocks: the grouped 3x3 has C * d * 2^i
    channels and the block outputs 256 * 2^i (Table 1); the stride sits on the 3x3 convolution."""
    repeats, cardinality, bottleneck_width = RESNEXT[depth]
    x = resnet_stem(x)
    for stage, count in enumerate(repeats):
        for i in range(1, count + 1):
            x = blocks.residual_bottleneck(
                x, 64 * 2**stage, stride=2 if stage > 0 and i == 1 else 1,
                width=cardinality * bottleneck_width * 2**stage, groups=cardinality, stride_on_3x3=True,
                name=f"conv{stage + 2}_block{i}",
            )
    return x


def _resnext(depth, top1, doc):
    def builder(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name=depth):
        return application.build(
            name, functools.partial(resnext_features, depth=depth), default_size=224, min_size=32,
            include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
            pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        )

    builder.__name__ = builder.__qualname__ = depth.replace("resnext", "ResNeXt")
    builder.__doc__ = doc
    return register(depth, family="resnet", paper="Xie et al., Aggregated Residual Transformations for Deep Neural Networks",
                    year=2017, input_size=224, preprocessing="caffe", top1=top1)(builder)


# 224x224 single-crop top-1 from Table 3 (100 - error): 32x4d ResNeXt-50 22.2, 32x4d ResNeXt-101 21.2 %.
ResNeXt50 = _resnext("resnext50", 77.8, "ResNeXt-50 (32x4d), 25.0 M parameters, 4.2 G multiply-adds.")
ResNeXt101 = _resnext("resnext101", None, "ResNeXt-101 (32x8d), the wider 101-layer ResNeXt (88.8 M parameters).")


# -- CIFAR residual networks --------------------------------------------------------------------
CIFAR_WIDTHS = (16, 32, 64)


def cifar_resnet_features(x, depth, unit, bottleneck):
    per_stage = (depth - 2) // (9 if bottleneck else 6)
    preact = unit in ("relu_only_preactivation", "full_preactivation")
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv1_conv")(x)
    if not preact:  # pre-activation units start with their own BN-ReLU
        x = layers.BatchNormalization(axis=application.channel_axis(), name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    for stage, width in enumerate(CIFAR_WIDTHS):
        for i in range(1, per_stage + 1):
            x = blocks.residual_unit(
                x, width, stride=2 if stage > 0 and i == 1 else 1, unit=unit, bottleneck=bottleneck,
                name=f"conv{stage + 2}_block{i}",
            )
    if preact:
        x = layers.BatchNormalization(axis=application.channel_axis(), name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    return x


def CifarResNet(
    depth=20,
    unit="original",
    bottleneck=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name=None,
):
    """The CIFAR-10 ResNets: 3x3 conv, three stages of 16/32/64 filters on 32/16/8 px maps, average
    pool, FC. Basic units give depth 6n+2 (ResNet-20/32/44/56/110, He et al. 2016 Sec. 4.2);
    bottleneck units depth 9n+2 (ResNet-164, He et al. 2016b). `unit` chooses one of the five
    orderings of `blocks.RESIDUAL_UNITS` (Fig. 4 of the second paper); shortcuts are identities,
    with a 1x1 projection where the shape changes."""
    bottleneck = depth >= 164 if bottleneck is None else bottleneck
    step = 9 if bottleneck else 6
    if depth < step + 2 or (depth - 2) % step:
        kind = "bottleneck units need depth = 9n + 2 (e.g. 164)" if bottleneck else "basic units need depth = 6n + 2 (20, 32, 44, 56, 110)"
        raise ValueError(f"CifarResNet: {kind}; received depth={depth}.")
    if unit not in blocks.RESIDUAL_UNITS:
        raise ValueError(f"CifarResNet: unit must be one of {sorted(blocks.RESIDUAL_UNITS)}; received {unit!r}.")
    return application.build(
        name or f"cifar_resnet{depth}",
        functools.partial(cifar_resnet_features, depth=depth, unit=unit, bottleneck=bottleneck),
        default_size=32, min_size=8,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )


_CIFAR = dict(family="resnet", paper="He et al., Deep Residual Learning / Identity Mappings (CIFAR-10)", input_size=32,
              preprocessing="none")
for _depth_value in (20, 56, 110, 164):
    register(f"cifar_resnet{_depth_value}", year=2016, **_CIFAR)(functools.partial(CifarResNet, _depth_value))
