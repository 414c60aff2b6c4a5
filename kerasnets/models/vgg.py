"""VGG: Very Deep Convolutional Networks (Simonyan & Zisserman, ICLR 2015), configurations as data.

`CONFIGS` is the paper's Table 1: one row per configuration, one tuple per block of 3x3
convolutions (each block ends in 2x2 max pooling), then FC-4096, FC-4096, FC-classes. An entry
is the number of filters of a 3x3 convolution, `(filters, kernel_size)` for configuration C's
1x1 convolutions, or "LRN" for A-LRN's local response normalisation.

ImageNet weights: VGG16 and VGG19 (configurations D and E) load the official keras.applications
weights ('caffe' preprocessing). torchvision publishes weights for A, B, D and E, with and without
batch normalisation ('torch' preprocessing): VGG11 and VGG13 load them, and so do the batch-norm
VGGs (`VGG11BN` ... `VGG19BN`) and `VGG16Torchvision` / `VGG19Torchvision`, torchvision's files
for D and E. The batch-norm VGG is torchvision's (the paper has none): a convolution with its
bias, then batch norm (epsilon 1e-5), then ReLU. `variant="torchvision"` is torchvision's
`VGG` class: an adaptive 7x7 average pooling before the classifier (the identity at 224 px, so
the paper's network loads the same files) and dropout 0.5 in the classifier. The first fully
connected layer reads the flattened 7x7x512 map; PyTorch flattens it channels-first, so its
weights are re-ordered on loading.
"""

import functools

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application, torch_weights
from kerasnets.core.registry import Family
from kerasnets.core.torch_weights import TorchLayout, TorchvisionWeights
from kerasnets.core.weights import h5_spec
from kerasnets.models.layers import AdaptiveAveragePooling2D, LocalResponseNormalization

CONFIGS = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "A-LRN": ((64, "LRN"), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "C": ((64, 64), (128, 128), (256, 256, (256, 1)), (512, 512, (512, 1)), (512, 512, (512, 1))),
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "E": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}

WEIGHTS = {
    "D": h5_spec("vgg16", "vgg16", "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    "E": h5_spec("vgg19", "vgg19", "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
}

#: torchvision's ImageNet weights: (configuration, batch_norm) -> the file, and its top-1 accuracy.
TORCHVISION = {
    ("A", False): TorchvisionWeights("vgg11", "vgg11-8a719046.pth", 69.020),
    ("A", True): TorchvisionWeights("vgg11_bn", "vgg11_bn-6002323d.pth", 70.370),
    ("B", False): TorchvisionWeights("vgg13", "vgg13-19584684.pth", 69.928),
    ("B", True): TorchvisionWeights("vgg13_bn", "vgg13_bn-abd245e5.pth", 71.586),
    ("D", False): TorchvisionWeights("vgg16", "vgg16-397923af.pth", 71.592),
    ("D", True): TorchvisionWeights("vgg16_bn", "vgg16_bn-6c64b313.pth", 73.360),
    ("E", False): TorchvisionWeights("vgg19", "vgg19-dcbb9e9d.pth", 72.376),
    ("E", True): TorchvisionWeights("vgg19_bn", "vgg19_bn-c79401a0.pth", 74.218),
}
VARIANTS = ("paper", "torchvision")
BN_EPSILON = 1e-5  # torchvision's (PyTorch's default)

preprocess_input = imagenet.preprocessing_function("caffe")  # VGG16, VGG19 (keras.applications' weights)
decode_predictions = imagenet.decode_predictions


def vgg_features(x, config, batch_norm=False):
    """The convolutional blocks of one configuration, named `block{b}_conv{i}` and `block{b}_pool`."""
    for b, block in enumerate(CONFIGS[config], start=1):
        for i, conv in enumerate(block, start=1):
            if conv == "LRN":
                x = LocalResponseNormalization(name=f"block{b}_lrn")(x)
                continue
            filters, kernel = conv if isinstance(conv, tuple) else (conv, 3)
            name = f"block{b}_conv{i}"
            if batch_norm:  # torchvision's: the convolution keeps its bias
                x = layers.Conv2D(filters, kernel, padding="same", name=name)(x)
                x = layers.BatchNormalization(axis=application.channel_axis(), epsilon=BN_EPSILON,
                                              name=f"block{b}_bn{i}")(x)
                x = layers.Activation("relu", name=f"block{b}_relu{i}")(x)
            else:
                x = layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    return x


def vgg_classifier(x, classes, classifier_activation, dropout=0.0, adaptive=False):
    """FC-4096, FC-4096, FC-classes on the flattened 7x7x512 map (the paper trains with dropout 0.5);
    `adaptive` first pools any map to 7x7, as torchvision does."""
    if adaptive:
        x = AdaptiveAveragePooling2D(7, name="avgpool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def torchvision_names(config, batch_norm):
    """Keras layer -> torchvision module: `features.<index in the Sequential>` for convolutions and
    batch norms, `classifier.0/3/6` for the fully connected layers."""
    names, index = {}, 0
    for b, block in enumerate(CONFIGS[config], start=1):
        for i, conv in enumerate(block, start=1):
            if conv == "LRN":
                index += 1
                continue
            names[f"block{b}_conv{i}"] = f"features.{index}"
            if batch_norm:
                names[f"block{b}_bn{i}"] = f"features.{index + 1}"
            index += 3 if batch_norm else 2  # conv [, bn], relu
        index += 1  # max pooling
    names.update(fc1="classifier.0", fc2="classifier.3", predictions="classifier.6")
    return names


def torchvision_layout(config, batch_norm):
    label = f"configuration {config}{' with batch norm' if batch_norm else ''}"
    return TorchLayout(torchvision_names(config, batch_norm).get, f"a torchvision VGG state dict of {label}",
                       flattened={"fc1": "flatten"}.get, optional=("classifier.",))


def default_name(config, batch_norm, variant):
    """'vgg_a', 'vgg_d_bn', 'vgg_d_torchvision', ... (registered networks use their registry name)."""
    return (f"vgg_{config.lower().replace('-', '_')}{'_bn' if batch_norm else ''}"
            f"{'_torchvision' if variant == 'torchvision' else ''}")


@application.keras_application(weights=None)
def VGG(config, batch_norm=False, dropout=None, variant="paper", **arguments):
    """Any VGG configuration of Table 1 ('A', 'A-LRN', 'B'-'E'); `batch_norm=True` adds batch
    normalisation after each convolution (torchvision's), `dropout` after each hidden fully
    connected layer (default 0 for the paper's variant, 0.5 for torchvision's). `variant="torchvision"`
    pools the last map to 7x7 adaptively. Weights: keras.applications' for D and E without batch
    norm in the paper's variant, torchvision's otherwise (A, B, D, E)."""
    if config not in CONFIGS:
        raise ValueError(f"Unknown VGG configuration {config!r}; choose one of {sorted(CONFIGS)}.")
    if variant not in VARIANTS:
        raise ValueError(f"VGG: variant must be one of {VARIANTS}; received variant={variant!r}.")
    torchvision = variant == "torchvision"
    dropout = (0.5 if torchvision else 0.0) if dropout is None else dropout
    arguments["name"] = arguments["name"] or default_name(config, batch_norm, variant)
    features = functools.partial(vgg_features, config=config, batch_norm=batch_norm)
    top = functools.partial(vgg_classifier, dropout=dropout, adaptive=torchvision)
    keras_weights = None if batch_norm or torchvision else WEIGHTS.get(config)
    if keras_weights is not None:
        return application.build(features, top, default_size=224, min_size=32, spec=keras_weights, **arguments)
    full = functools.partial(VGG, config, batch_norm=batch_norm, variant=variant, weights=None, name=arguments["name"])
    arguments, finish = torch_weights.prepare(
        f"VGG({config!r}{', batch_norm=True' if batch_norm else ''}, variant={variant!r})", arguments,
        TORCHVISION.get((config, batch_norm)), default_size=224, min_size=32, build_full=full,
        layout=torchvision_layout(config, batch_norm),
    )
    return finish(application.build(features, top, default_size=224, min_size=32, validate=False, **arguments))


VGG_FAMILY = Family("vgg", "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition",
                    2015, input_size=224, preprocessing="caffe")

# Top-1 / top-5 at a single test scale, trained at S=256 (Table 3, 100 - error); parameters: Table 2.
VGG11 = VGG_FAMILY.variant(
    "vgg11", "VGG11", VGG, options=dict(config="A"), weights=TORCHVISION["A", False], preprocessing="torch",
    summary="VGG configuration A (11 weight layers); loads torchvision's ImageNet weights.",
    top1=70.4, top5=89.6, params=132_863_336, mult_adds=7_609_090_048, paper_params=133e6,
)
VGG11LRN = VGG_FAMILY.variant(
    "vgg11lrn", "VGG11LRN", VGG, options=dict(config="A-LRN"),
    summary="VGG configuration A-LRN (A with local response normalisation).",
    top1=70.3, top5=89.5, params=132_863_336, mult_adds=7_609_090_048, paper_params=133e6,
)
VGG13 = VGG_FAMILY.variant(
    "vgg13", "VGG13", VGG, options=dict(config="B"), weights=TORCHVISION["B", False], preprocessing="torch",
    summary="VGG configuration B (13 weight layers); loads torchvision's ImageNet weights.",
    top1=71.3, top5=90.1, params=133_047_848, mult_adds=11_308_466_176, paper_params=133e6,
)
VGG16C = VGG_FAMILY.variant(
    "vgg16c", "VGG16C", VGG, options=dict(config="C"),
    summary="VGG configuration C (16 weight layers, three of them 1x1).",
    top1=71.9, top5=90.6, params=133_638_952, mult_adds=11_770_888_192, paper_params=134e6,
)
VGG16 = VGG_FAMILY.variant(
    "vgg16", "VGG16", VGG, options=dict(config="D"), weights=WEIGHTS["D"],
    summary="VGG16, configuration D; loads the official keras.applications weights.",
    top1=73.0, top5=91.2, params=138_357_544, mult_adds=15_470_264_320, paper_params=138e6, paper_mult_adds=15.3e9,
        # mult-adds: the ResNet paper, Sec. 4.1
)
VGG19 = VGG_FAMILY.variant(
    "vgg19", "VGG19", VGG, options=dict(config="E"), weights=WEIGHTS["E"],
    summary="VGG19, configuration E; loads the official keras.applications weights.",
    top1=72.7, top5=91.0, params=143_667_240, mult_adds=19_632_062_464, paper_params=144e6, paper_mult_adds=19.6e9,
)

# torchvision's VGG class (adaptive 7x7 pooling, dropout 0.5) with its weights; no paper reports
# the batch-norm VGGs, and torchvision's D and E weights differ from keras.applications'.
_TORCHVISION = dict(variant="torchvision")
VGG11BN = VGG_FAMILY.variant(
    "vgg11_bn", "VGG11BN", VGG, options=dict(config="A", batch_norm=True, **_TORCHVISION),
    weights=TORCHVISION["A", True], preprocessing="torch",
    summary="VGG configuration A with batch normalisation (torchvision's); loads torchvision's ImageNet weights.",
    params=132_874_344, mult_adds=7_609_090_048,
)
VGG13BN = VGG_FAMILY.variant(
    "vgg13_bn", "VGG13BN", VGG, options=dict(config="B", batch_norm=True, **_TORCHVISION),
    weights=TORCHVISION["B", True], preprocessing="torch",
    summary="VGG configuration B with batch normalisation (torchvision's); loads torchvision's ImageNet weights.",
    params=133_059_624, mult_adds=11_308_466_176,
)
VGG16BN = VGG_FAMILY.variant(
    "vgg16_bn", "VGG16BN", VGG, options=dict(config="D", batch_norm=True, **_TORCHVISION),
    weights=TORCHVISION["D", True], preprocessing="torch",
    summary="VGG configuration D with batch normalisation (torchvision's); loads torchvision's ImageNet weights.",
    params=138_374_440, mult_adds=15_470_264_320,
)
VGG19BN = VGG_FAMILY.variant(
    "vgg19_bn", "VGG19BN", VGG, options=dict(config="E", batch_norm=True, **_TORCHVISION),
    weights=TORCHVISION["E", True], preprocessing="torch",
    summary="VGG configuration E with batch normalisation (torchvision's); loads torchvision's ImageNet weights.",
    params=143_689_256, mult_adds=19_632_062_464,
)
VGG16Torchvision = VGG_FAMILY.variant(
    "vgg16_torchvision", "VGG16Torchvision", VGG, options=dict(config="D", **_TORCHVISION),
    weights=TORCHVISION["D", False], preprocessing="torch",
    summary="VGG16 as torchvision has it; loads torchvision's ImageNet weights.",
    params=138_357_544, mult_adds=15_470_264_320,
)
VGG19Torchvision = VGG_FAMILY.variant(
    "vgg19_torchvision", "VGG19Torchvision", VGG, options=dict(config="E", **_TORCHVISION),
    weights=TORCHVISION["E", False], preprocessing="torch",
    summary="VGG19 as torchvision has it; loads torchvision's ImageNet weights.",
    params=143_667_240, mult_adds=19_632_062_464,
)
