"""ResNet v1 (He et al., CVPR 2016), v2 with pre-activation units (He et al., ECCV 2016),
ResNeXt (Xie et al., CVPR 2017), and the CIFAR residual networks of both ResNet papers.

`STAGES` is Table 1 of the first paper: the residual block and the number of blocks in each of
the stages conv2_x .. conv5_x, whose bottleneck widths are 64, 128, 256, 512. The v2 networks
use the same table with the full pre-activation unit ("Identity Mappings in Deep Residual
Networks").

Two parameterisations of the v1 networks, `variant=`:

- "keras": keras.applications' layout (Caffe's ResNet): convolutions with biases, batch norm
  epsilon 1.001e-5, the stride of a bottleneck on its first 1x1 convolution, 'same' padding.
  ResNet-50/101/152 (`ResNet50`, ...) and their V2 load the official keras.applications weights.
- "torchvision": torchvision's layout, which its published ImageNet weights need: no bias under
  batch norm, epsilon 1e-5, symmetric padding before strided 3x3 convolutions (Keras' 'same' pads
  only bottom and right), and in bottlenecks the stride on the 3x3 convolution ("ResNet v1.5").
  ResNet-18/34 (which keras.applications never had) and every ResNeXt use it by default, with
  torchvision's weights and 'torch' preprocessing: 11,689,512 trainable parameters for ResNet-18,
  21,797,672 for ResNet-34, 25,028,904 for ResNeXt-50 32x4d, as the papers and torchvision count.
  `ResNet50Torchvision` (and 101, 152) are torchvision's v1.5 ResNets with its weights.
"""

import functools
import re

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application, torch_weights
from kerasnets.core.registry import Family
from kerasnets.core.torch_weights import TorchLayout, TorchvisionWeights
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

#: torchvision's ImageNet weights (torchvision.models.resnet: the IMAGENET1K_V1 files, trained with
#: torchvision's classic recipe and evaluated at resize 256 / crop 224; ResNeXt-101 64x4d has only
#: the newer recipe's file, evaluated at resize 232 / crop 224) and their top-1 accuracy there.
TORCHVISION = {
    "resnet18": TorchvisionWeights("resnet18", "resnet18-f37072fd.pth", 69.758),
    "resnet34": TorchvisionWeights("resnet34", "resnet34-b627a593.pth", 73.314),
    "resnet50": TorchvisionWeights("resnet50", "resnet50-0676ba61.pth", 76.130),
    "resnet101": TorchvisionWeights("resnet101", "resnet101-63fe2227.pth", 77.374),
    "resnet152": TorchvisionWeights("resnet152", "resnet152-394f9c45.pth", 78.312),
    "resnext50": TorchvisionWeights("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth", 77.618),
    "resnext101": TorchvisionWeights("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth", 79.312),
    "resnext101_64x4d": TorchvisionWeights("resnext101_64x4d", "resnext101_64x4d-173b62eb.pth", 83.246),
}
VARIANTS = ("keras", "torchvision")
TORCHVISION_BN_EPSILON = 1e-5
#: The block options of torchvision's layout.
TORCHVISION_BLOCK = dict(use_bias=False, epsilon=TORCHVISION_BN_EPSILON, symmetric_padding=True)

preprocess_input = imagenet.preprocessing_function("caffe")  # ResNet50/101/152 (keras.applications' weights)
decode_predictions = imagenet.decode_predictions


def resnet_stem(x, preact=False, variant="keras"):
    """conv1: 7x7/2, 64 filters, then 3x3/2 max pooling (Table 1); v2 defers BN-ReLU to the units.
    Both pad symmetrically (3 and 1 pixels), as Caffe and PyTorch do."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    if preact:
        x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    elif variant == "torchvision":
        x = blocks.conv_bn(x, 64, 7, strides=2, use_bias=False, epsilon=TORCHVISION_BN_EPSILON, name="conv1")
    else:
        x = blocks.conv_bn(x, 64, 7, strides=2, name="conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)  # after ReLU, zeros pad a max pooling as -inf would
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def resnet_v1_features(x, depth, variant="keras"):
    """Stem, then stages conv2..conv5 of `depth`'s row of Table 1; conv3..conv5 halve the grid."""
    block, repeats = STAGES[depth]
    options = {}
    if variant == "torchvision":
        options = dict(TORCHVISION_BLOCK)
        if block is blocks.residual_bottleneck:
            options["stride_on_3x3"] = True
    x = resnet_stem(x, variant=variant)
    for stage, (width, count) in enumerate(zip(STAGE_WIDTHS, repeats), start=2):
        for i in range(1, count + 1):
            stride = 2 if stage > 2 and i == 1 else 1
            x = block(x, width, stride=stride, name=f"conv{stage}_block{i}", **options)
    return x


# -- torchvision's names -----------------------------------------------------------------------

_BLOCK_LAYER = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)")


def torchvision_name(keras_name):
    """The torchvision module of a ResNet/ResNeXt layer: conv1, bn1, layer{s}.{i}.conv{j} / bn{j},
    layer{s}.{i}.downsample.0 / .1 (the projection shortcut), fc."""
    fixed = {"conv1_conv": "conv1", "conv1_bn": "bn1", "predictions": "fc"}
    if keras_name in fixed:
        return fixed[keras_name]
    match = _BLOCK_LAYER.fullmatch(keras_name)
    if match is None:
        return None
    stage, block, conv, kind = int(match[1]), int(match[2]), int(match[3]), match[4]
    prefix = f"layer{stage - 1}.{block - 1}"
    if conv == 0:
        return f"{prefix}.downsample.{0 if kind == 'conv' else 1}"
    return f"{prefix}.{kind}{conv}"


TORCHVISION_LAYOUT = TorchLayout(torchvision_name, "a torchvision ResNet / ResNeXt state dict of this depth",
                                 optional=("fc.",))


def _torchvision_network(label, key, features, arguments, full):
    """Build a network in torchvision's layout; PyTorch weights (torchvision's file for `key`, or a
    .pth path) are mapped by name."""
    arguments, finish = torch_weights.prepare(
        label, arguments, TORCHVISION.get(key), default_size=224, min_size=32, build_full=full,
        layout=TORCHVISION_LAYOUT,
    )
    return finish(application.build(features, default_size=224, min_size=32, validate=False, **arguments))


def registered_name(depth, variant):
    """The registry's name of a ResNet v1 in `variant`: 'resnet18', 'resnet50', 'resnet50_torchvision', ..."""
    default = "torchvision" if STAGES[depth][0] is blocks.residual_basic else "keras"
    return depth if variant == default else f"{depth}_{variant}"


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
def ResNet(depth, preact=False, variant=None, **arguments):
    """A ResNet of Table 1: `depth` in 'resnet18' .. 'resnet152'; `preact=True` for v2 (bottleneck
    depths). `variant` is "keras" (keras.applications' layout and weights) or "torchvision"
    (torchvision's layout and weights: ResNet v1.5 for the bottleneck depths); the default is
    torchvision's for ResNet-18/34 and keras' for ResNet-50/101/152 and the v2 networks."""
    if depth not in STAGES or (preact and STAGES[depth][0] is not blocks.residual_bottleneck):
        choices = [d for d in STAGES if not preact or STAGES[d][0] is blocks.residual_bottleneck]
        raise ValueError(f"Unknown ResNet{'V2' if preact else ''} depth {depth!r}; choose one of {choices}.")
    if variant is None:
        variant = "torchvision" if STAGES[depth][0] is blocks.residual_basic and not preact else "keras"
    if variant not in VARIANTS:
        raise ValueError(f"ResNet: variant must be one of {VARIANTS}; received variant={variant!r}.")
    if preact and variant != "keras":
        raise ValueError("ResNet: the pre-activation (v2) networks exist only in keras.applications' layout; "
                         "use variant='keras' (or leave it out) with preact=True.")
    if variant == "torchvision":
        name = registered_name(depth, variant)
        arguments["name"] = arguments["name"] or name
        full = functools.partial(ResNet, depth, variant="torchvision", weights=None, name=name)
        return _torchvision_network(f"ResNet({depth!r}, variant='torchvision')", depth,
                                    functools.partial(resnet_v1_features, depth=depth, variant=variant), arguments,
                                    full)
    if weights_hint := _keras_variant_without_weights(depth, preact, arguments["weights"]):
        raise ValueError(weights_hint)
    key = f"{depth}v2" if preact else depth
    arguments["name"] = arguments["name"] or (key if preact else registered_name(depth, variant))
    return application.build(
        functools.partial(resnet_v2_features, depth=depth) if preact else
        functools.partial(resnet_v1_features, depth=depth, variant=variant),
        default_size=224, min_size=32, spec=WEIGHTS.get(key), **arguments,
    )


def _keras_variant_without_weights(depth, preact, weights):
    """The error for ImageNet weights asked of a keras-layout network that has none, naming the fix."""
    if weights != "imagenet" or preact or depth in WEIGHTS:
        return None
    builder = depth.replace("resnet", "ResNet")
    return (f"ResNet({depth!r}, variant='keras'): no ImageNet weights are published for keras.applications' layout "
            f"of this depth; torchvision's are, for its layout: variant='torchvision' (kerasnets.{builder}), or use "
            "weights=None.")


RESNET = Family("resnet", "He et al., Deep Residual Learning for Image Recognition", 2016,
                input_size=224, preprocessing="caffe")

# Top-1 / top-5: 10-crop validation (Table 3, 100 - error; ResNet-34 option B; ResNet-18: Table 2,
# top-1 only). Multiply-adds: Table 1. ResNet-18/34: torchvision's layout and weights ('torch' preprocessing).
ResNet18 = RESNET.variant(
    "resnet18", "ResNet18", ResNet, options=dict(depth="resnet18", variant="torchvision"),
    weights=TORCHVISION["resnet18"], preprocessing="torch",
    summary="ResNet-18 (basic blocks) in torchvision's layout; loads torchvision's ImageNet weights.",
    top1=72.12, params=11_699_112, mult_adds=1_814_073_344, paper_mult_adds=1.8e9,
)
ResNet34 = RESNET.variant(
    "resnet34", "ResNet34", ResNet, options=dict(depth="resnet34", variant="torchvision"),
    weights=TORCHVISION["resnet34"], preprocessing="torch",
    summary="ResNet-34 (basic blocks) in torchvision's layout; loads torchvision's ImageNet weights.",
    top1=75.48, top5=92.54, params=21_814_696, mult_adds=3_663_761_408, paper_mult_adds=3.6e9,
)
ResNet50 = RESNET.variant(
    "resnet50", "ResNet50", ResNet, options=dict(depth="resnet50", variant="keras"), weights=WEIGHTS["resnet50"],
    summary="ResNet-50; loads the official keras.applications weights.",
    top1=77.15, top5=93.29, params=25_636_712, mult_adds=3_857_973_248, paper_mult_adds=3.8e9,
)
ResNet101 = RESNET.variant(
    "resnet101", "ResNet101", ResNet, options=dict(depth="resnet101", variant="keras"), weights=WEIGHTS["resnet101"],
    summary="ResNet-101; loads the official keras.applications weights.",
    top1=78.25, top5=93.95, params=44_707_176, mult_adds=7_570_194_432, paper_mult_adds=7.6e9,
)
ResNet152 = RESNET.variant(
    "resnet152", "ResNet152", ResNet, options=dict(depth="resnet152", variant="keras"), weights=WEIGHTS["resnet152"],
    summary="ResNet-152; loads the official keras.applications weights.",
    top1=78.57, top5=94.29, params=60_419_944, mult_adds=11_282_415_616, paper_mult_adds=11.3e9,
)

# torchvision's ResNet v1.5 (stride on the 3x3 convolution of the bottleneck), with its weights:
# another network than keras.applications' ResNet50, so another registry entry. No paper reports it.
ResNet50Torchvision = RESNET.variant(
    "resnet50_torchvision", "ResNet50Torchvision", ResNet, options=dict(depth="resnet50", variant="torchvision"),
    weights=TORCHVISION["resnet50"], preprocessing="torch",
    summary="ResNet-50 v1.5 in torchvision's layout; loads torchvision's ImageNet weights.",
    params=25_610_152, mult_adds=4_089_184_256,
)
ResNet101Torchvision = RESNET.variant(
    "resnet101_torchvision", "ResNet101Torchvision", ResNet, options=dict(depth="resnet101", variant="torchvision"),
    weights=TORCHVISION["resnet101"], preprocessing="torch",
    summary="ResNet-101 v1.5 in torchvision's layout; loads torchvision's ImageNet weights.",
    params=44_654_504, mult_adds=7_801_405_440,
)
ResNet152Torchvision = RESNET.variant(
    "resnet152_torchvision", "ResNet152Torchvision", ResNet, options=dict(depth="resnet152", variant="torchvision"),
    weights=TORCHVISION["resnet152"], preprocessing="torch",
    summary="ResNet-152 v1.5 in torchvision's layout; loads torchvision's ImageNet weights.",
    params=60_344_232, mult_adds=11_513_626_624,
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
#: Xie et al. 2017, Table 1: blocks per stage, cardinality C and bottleneck width d of conv2
#: (torchvision adds the 101-layer 64x4d).
RESNEXT = {
    "resnext50": ((3, 4, 6, 3), 32, 4),
    "resnext101": ((3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ((3, 4, 23, 3), 64, 4),
}


def resnext_features(x, depth):
    """Stem, then four stages of aggregated-transformation blocks: the grouped 3x3 has C * d * 2^i
    channels and the block outputs 256 * 2^i (Table 1); the stride sits on the 3x3 convolution.
    torchvision's layout (no bias under batch norm, epsilon 1e-5, symmetric padding)."""
    repeats, cardinality, bottleneck_width = RESNEXT[depth]
    x = resnet_stem(x, variant="torchvision")
    for stage, count in enumerate(repeats):
        for i in range(1, count + 1):
            x = blocks.residual_bottleneck(
                x, 64 * 2**stage, stride=2 if stage > 0 and i == 1 else 1,
                width=cardinality * bottleneck_width * 2**stage, groups=cardinality, stride_on_3x3=True,
                name=f"conv{stage + 2}_block{i}", **TORCHVISION_BLOCK,
            )
    return x


@application.keras_application(weights=None)
def ResNeXt(depth, **arguments):
    """A ResNeXt of Table 1: `depth` in 'resnext50' (32x4d), 'resnext101' (32x8d), 'resnext101_64x4d',
    in torchvision's layout, with its ImageNet weights."""
    if depth not in RESNEXT:
        raise ValueError(f"Unknown ResNeXt depth {depth!r}; choose one of {sorted(RESNEXT)}.")
    arguments["name"] = arguments["name"] or depth
    full = functools.partial(ResNeXt, depth, weights=None, name=depth)
    return _torchvision_network(f"ResNeXt({depth!r})", depth, functools.partial(resnext_features, depth=depth),
                                arguments, full)


RESNEXT_FAMILY = Family("resnet", "Xie et al., Aggregated Residual Transformations for Deep Neural Networks", 2017,
                        input_size=224, preprocessing="torch")

# 224x224 single-crop top-1 from Table 3 (100 - error): 32x4d ResNeXt-50 22.2 %.
ResNeXt50 = RESNEXT_FAMILY.variant(
    "resnext50", "ResNeXt50", ResNeXt, options=dict(depth="resnext50"), weights=TORCHVISION["resnext50"],
    summary="ResNeXt-50 (32x4d), 25.0 M parameters, 4.2 G multiply-adds; loads torchvision's ImageNet weights.",
    top1=77.8, params=25_097_128, mult_adds=4_230_479_872, paper_params=25.0e6, paper_mult_adds=4.2e9,
)
ResNeXt101 = RESNEXT_FAMILY.variant(
    "resnext101", "ResNeXt101", ResNeXt, options=dict(depth="resnext101"), weights=TORCHVISION["resnext101"],
    summary="ResNeXt-101 (32x8d), the wider 101-layer ResNeXt; loads torchvision's ImageNet weights.",
    params=88_994_216, mult_adds=16_414_015_488,
)
# torchvision evaluates these weights (its newer recipe) at resize 232, crop 224.
ResNeXt101_64x4d = RESNEXT_FAMILY.variant(
    "resnext101_64x4d", "ResNeXt101_64x4d", ResNeXt, options=dict(depth="resnext101_64x4d"),
    weights=TORCHVISION["resnext101_64x4d"], crop_fraction=224 / 232,
    summary="ResNeXt-101 (64x4d); loads torchvision's ImageNet weights.",
    params=83_658_152, mult_adds=15_460_270_080,
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
