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
from kerasnets.core.registry import Family
from kerasnets.core.weights import h5_spec
from kerasnets.models import blocks

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

preprocess_input = imagenet.preprocessing_function("caffe")
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
            x = blocks.residual_preact_bottleneck(x, width, stride=stride, projection=i == 1,
                name=f"conv{stage}_block{i}")
    x = layers.BatchNormalization(axis=application.channel_axis(), epsilon=blocks.RESNET_BN_EPSILON, name="post_bn")(x)
    return layers.Activation("relu", name="post_relu")(x)


@application.keras_application(weights=None)
def ResNet(depth, preact=False, **arguments):
    """A ResNet of Table 1: `depth` in 'resnet18' .. 'resnet152'; `preact=True` for v2 (bottleneck depths)."""
    if depth not in STAGES or (preact and STAGES[depth][0] is not blocks.residual_bottleneck):
        choices = [d for d in STAGES if not preact or STAGES[d][0] is blocks.residual_bottleneck]
        raise ValueError(f"Unknown ResNet{'V2' if preact else ''} depth {depth!r}; choose one of {choices}.")
    key = f"{depth}v2" if preact else depth
    arguments["name"] = arguments["name"] or key
    return application.build(
        functools.partial(resnet_v2_features if preact else resnet_v1_features, depth=depth),
        default_size=224, min_size=32, spec=WEIGHTS.get(key), **arguments,
    )


RESNET = Family("resnet", "He et al., Deep Residual Learning for Image Recognition", 2016,
                input_size=224, preprocessing="caffe")

# Top-1 / top-5: 10-crop validation (Table 3, 100 - error; ResNet-34 option B; ResNet-18: Table 2,
# top-1 only). Multiply-adds: Table 1.
ResNet18 = RESNET.variant(
    "resnet18", "ResNet18", ResNet, options=dict(depth="resnet18"), summary="ResNet-18 (basic blocks).",
    top1=72.12, params=11_703_912, mult_adds=1_814_073_344, paper_mult_adds=1.8e9,
)
ResNet34 = RESNET.variant(
    "resnet34", "ResNet34", ResNet, options=dict(depth="resnet34"), summary="ResNet-34 (basic blocks).",
    top1=75.48, top5=92.54, params=21_823_208, mult_adds=3_663_761_408, paper_mult_adds=3.6e9,
)
ResNet50 = RESNET.variant(
    "resnet50", "ResNet50", ResNet, options=dict(depth="resnet50"), weights=WEIGHTS["resnet50"],
    summary="ResNet-50; loads the official keras.applications weights.",
    top1=77.15, top5=93.29, params=25_636_712, mult_adds=3_857_973_248, paper_mult_adds=3.8e9,
)
ResNet101 = RESNET.variant(
    "resnet101", "ResNet101", ResNet, options=dict(depth="resnet101"), weights=WEIGHTS["resnet101"],
    summary="ResNet-101; loads the official keras.applications weights.",
    top1=78.25, top5=93.95, params=44_707_176, mult_adds=7_570_194_432, paper_mult_adds=7.6e9,
)
ResNet152 = RESNET.variant(
    "resnet152", "ResNet152", ResNet, options=dict(depth="resnet152"), weights=WEIGHTS["resnet152"],
    summary="ResNet-152; loads the official keras.applications weights.",
    top1=78.57, top5=94.29, params=60_419_944, mult_adds=11_282_415_616, paper_mult_adds=11.3e9,
)

RESNET_V2 = Family("resnet", "He et al., Identity Mappings in Deep Residual Networks", 2016,
                   input_size=224, preprocessing="tf")

# Table 5 of "Identity Mappings" (single 224 crop) reports only ResNet-152 v2 (78.0 / 94.0) and 200;
# the 320-crop figures are not comparable.
ResNet50V2 = RESNET_V2.variant(
    "resnet50v2", "ResNet50V2", ResNet, options=dict(depth="resnet50", preact=True), weights=WEIGHTS["resnet50v2"],
    summary="ResNet-50 v2 (pre-activation); loads the official keras.applications weights.",
    params=25_613_800, mult_adds=3_482_255_360,
)
ResNet101V2 = RESNET_V2.variant(
    "resnet101v2", "ResNet101V2", ResNet, options=dict(depth="resnet101", preact=True), weights=WEIGHTS["resnet101v2"],
    summary="ResNet-101 v2 (pre-activation); loads the official keras.applications weights.",
    params=44_675_560, mult_adds=7_194_476_544,
)
ResNet152V2 = RESNET_V2.variant(
    "resnet152v2", "ResNet152V2", ResNet, options=dict(depth="resnet152", preact=True), weights=WEIGHTS["resnet152v2"],
    summary="ResNet-152 v2 (pre-activation); loads the official keras.applications weights.",
    top1=78.0, top5=94.0, params=60_380_648, mult_adds=10_906_697_728,
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


@application.keras_application(weights=None)
def ResNeXt(depth, **arguments):
    """A ResNeXt of Table 1: `depth` in 'resnext50' (32x4d), 'resnext101' (32x8d)."""
    if depth not in RESNEXT:
        raise ValueError(f"Unknown ResNeXt depth {depth!r}; choose one of {sorted(RESNEXT)}.")
    arguments["name"] = arguments["name"] or depth
    return application.build(functools.partial(resnext_features, depth=depth), default_size=224, min_size=32,
        **arguments)


RESNEXT_FAMILY = Family("resnet", "Xie et al., Aggregated Residual Transformations for Deep Neural Networks", 2017,
                        input_size=224, preprocessing="caffe")

# 224x224 single-crop top-1 from Table 3 (100 - error): 32x4d ResNeXt-50 22.2 %.
ResNeXt50 = RESNEXT_FAMILY.variant(
    "resnext50", "ResNeXt50", ResNeXt, options=dict(depth="resnext50"),
    summary="ResNeXt-50 (32x4d), 25.0 M parameters, 4.2 G multiply-adds.",
    top1=77.8, params=25_131_240, mult_adds=4_230_479_872, paper_params=25.0e6, paper_mult_adds=4.2e9,
)
ResNeXt101 = RESNEXT_FAMILY.variant(
    "resnext101", "ResNeXt101", ResNeXt, options=dict(depth="resnext101"),
    summary="ResNeXt-101 (32x8d), the wider 101-layer ResNeXt.",
    params=89_095_656, mult_adds=16_414_015_488,
)


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


@application.keras_application(
    order=("depth", *application.ARGUMENTS, "unit", "bottleneck"), weights=None, classes=10
)
def CifarResNet(depth=20, unit="original", bottleneck=None, **arguments):
    """The CIFAR-10 ResNets: 3x3 conv, three stages of 16/32/64 filters on 32/16/8 px maps, average
    pool, FC. Basic units give depth 6n+2 (ResNet-20/32/44/56/110, He et al. 2016 Sec. 4.2);
    bottleneck units depth 9n+2 (ResNet-164, He et al. 2016b). `unit` chooses one of the five
    orderings of `blocks.RESIDUAL_UNITS` (Fig. 4 of the second paper); shortcuts are identities,
    with a 1x1 projection where the shape changes."""
    bottleneck = depth >= 164 if bottleneck is None else bottleneck
    step = 9 if bottleneck else 6
    if depth < step + 2 or (depth - 2) % step:
        kind = ("bottleneck units need depth = 9n + 2 (e.g. 164)" if bottleneck
                else "basic units need depth = 6n + 2 (20, 32, 44, 56, 110)")
        raise ValueError(f"CifarResNet: {kind}; received depth={depth}.")
    if unit not in blocks.RESIDUAL_UNITS:
        raise ValueError(f"CifarResNet: unit must be one of {sorted(blocks.RESIDUAL_UNITS)}; received {unit!r}.")
    arguments["name"] = arguments["name"] or f"cifar_resnet{depth}"
    return application.build(
        functools.partial(cifar_resnet_features, depth=depth, unit=unit, bottleneck=bottleneck),
        default_size=32, min_size=8, **arguments,
    )


CIFAR = Family("resnet", "He et al., Deep Residual Learning / Identity Mappings (CIFAR-10)", 2016,
               input_size=32, preprocessing="none")
# Parameters: Table 6 of the first paper (ResNet-20/56/110), Table 2 of the second (ResNet-164).
CifarResNet20 = CIFAR.variant("cifar_resnet20", "CifarResNet20", CifarResNet, options=dict(depth=20),
                              summary="CIFAR-10 ResNet-20.", params=274_042, mult_adds=40_813_184, paper_params=0.27e6)
CifarResNet56 = CIFAR.variant("cifar_resnet56", "CifarResNet56", CifarResNet, options=dict(depth=56),
                              summary="CIFAR-10 ResNet-56.", params=860_026, mult_adds=125_747_840, paper_params=0.85e6)
CifarResNet110 = CIFAR.variant("cifar_resnet110", "CifarResNet110", CifarResNet, options=dict(depth=110),
                               summary="CIFAR-10 ResNet-110.", params=1_739_002, mult_adds=253_149_824,
                                   paper_params=1.7e6)
CifarResNet164 = CIFAR.variant("cifar_resnet164", "CifarResNet164", CifarResNet, options=dict(depth=164),
                               summary="CIFAR-10 ResNet-164 (bottleneck units).", params=1_729_274,
                                   mult_adds=247_646_720, paper_params=1.7e6)
