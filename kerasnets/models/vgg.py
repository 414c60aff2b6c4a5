"""VGG: Very Deep Convolutional Networks (Simonyan & Zisserman, ICLR 2015), configurations as data.

`CONFIGS` is the paper's Table 1: one row per configuration, one tuple per block of 3x3
convolutions (each block ends in 2x2 max pooling), then FC-4096, FC-4096, FC-classes. An entry
is the number of filters of a 3x3 convolution, `(filters, kernel_size)` for configuration C's
1x1 convolutions, or "LRN" for A-LRN's local response normalisation. VGG16 and VGG19
(configurations D and E) load the official keras.applications weights.
"""

import functools

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application
from kerasnets.core.registry import Family
from kerasnets.core.weights import h5_spec
from kerasnets.models.layers import LocalResponseNormalization

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

preprocess_input = imagenet.preprocessing_function("caffe")
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
            if batch_norm:
                x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
                x = layers.BatchNormalization(axis=application.channel_axis(), name=f"block{b}_bn{i}")(x)
                x = layers.Activation("relu", name=f"block{b}_relu{i}")(x)
            else:
                x = layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    return x


def vgg_classifier(x, classes, classifier_activation, dropout=0.0):
    """FC-4096, FC-4096, FC-classes on the flattened 7x7x512 map (the paper trains with dropout 0.5)."""
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


@application.keras_application(weights=None)
def VGG(config, batch_norm=False, dropout=0.0, **arguments):
    """Any VGG configuration of Table 1 ('A', 'A-LRN', 'B'-'E'); `batch_norm=True` adds batch
    normalisation after each convolution, `dropout` after each hidden fully connected layer."""
    if config not in CONFIGS:
        raise ValueError(f"Unknown VGG configuration {config!r}; choose one of {sorted(CONFIGS)}.")
    arguments["name"] = arguments["name"] or f"vgg_{config.lower().replace('-', '_')}"
    return application.build(
        functools.partial(vgg_features, config=config, batch_norm=batch_norm),
        functools.partial(vgg_classifier, dropout=dropout),
        default_size=224, min_size=32, spec=None if batch_norm else WEIGHTS.get(config), **arguments,
    )


VGG_FAMILY = Family("vgg", "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition",
                    2015, input_size=224, preprocessing="caffe")

# Top-1 / top-5 at a single test scale, trained at S=256 (Table 3, 100 - error); parameters: Table 2.
VGG11 = VGG_FAMILY.variant(
    "vgg11", "VGG11", VGG, options=dict(config="A"), summary="VGG configuration A (11 weight layers).",
    top1=70.4, top5=89.6, params=132_863_336, mult_adds=7_609_090_048, paper_params=133e6,
)
VGG11LRN = VGG_FAMILY.variant(
    "vgg11lrn", "VGG11LRN", VGG, options=dict(config="A-LRN"),
    summary="VGG configuration A-LRN (A with local response normalisation).",
    top1=70.3, top5=89.5, params=132_863_336, mult_adds=7_609_090_048, paper_params=133e6,
)
VGG13 = VGG_FAMILY.variant(
    "vgg13", "VGG13", VGG, options=dict(config="B"), summary="VGG configuration B (13 weight layers).",
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
