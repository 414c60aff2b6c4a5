"""VGG: Very Deep Convolutional Networks (Simonyan & Zisserman, ICLR 2015), configurations as data.

`CONFIGS` is the paper's Table 1: one row per configuration, one tuple per block of 3x3
convolutions (each block ends in 2x2 max pooling), then FC-4096, FC-4096, FC-classes. An entry
is the number of filters of a 3x3 convolution, `(filters, kernel_size)` for configuration C's
1x1 convolutions, or "LRN" for A-LRN's local response normalisation. VGG16 and VGG19 (configurations D and E) load the official keras.applications
weights; the other rows have the same signature with `weights=None` or a path.
"""

import functools

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application
from kerasnets.models.layers import LocalResponseNormalization
from kerasnets.core.registry import register
from kerasnets.core.weights import h5_spec

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

preprocess_input = functools.partial(imagenet.preprocess_input, mode="caffe")
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


def VGG(
    config,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    batch_norm=False,
    dropout=0.0,
):
    """Any VGG configuration of Table 1 ('A', 'A-LRN', 'B'-'E'), optionally with batch normalisation after each conv."""
    if config not in CONFIGS:
        raise ValueError(f"Unknown VGG configuration {config!r}; choose one of {sorted(CONFIGS)}.")
    spec = None if batch_norm else WEIGHTS.get(config)
    return application.build(
        name or f"vgg_{config.lower().replace('-', '_')}",
        functools.partial(vgg_features, config=config, batch_norm=batch_norm),
        functools.partial(vgg_classifier, dropout=dropout),
        default_size=224, min_size=32, spec=spec,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )


def _configuration(config, default_name, default_weights, doc):
    def builder(
        include_top=True,
        weights=default_weights,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=default_name,
        batch_norm=False,
        dropout=0.0,
    ):
        return VGG(
            config, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation, name=name, batch_norm=batch_norm, dropout=dropout,
        )

    builder.__name__ = builder.__qualname__ = default_name.upper()
    builder.__doc__ = doc
    return builder


_PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition"
_INFO = dict(family="vgg", paper=_PAPER, year=2015, input_size=224, preprocessing="caffe")

# Top-1 / top-5 at a single test scale, trained at S=256 (Table 3 of the paper, 100 - error).
VGG11 = register("vgg11", top1=70.4, top5=89.6, **_INFO)(
    _configuration("A", "vgg11", None, "VGG configuration A (11 weight layers).")
)
VGG11LRN = register("vgg11lrn", top1=70.3, top5=89.5, **_INFO)(
    _configuration("A-LRN", "vgg11lrn", None, "VGG configuration A-LRN (A with local response normalisation).")
)
VGG13 = register("vgg13", top1=71.3, top5=90.1, **_INFO)(
    _configuration("B", "vgg13", None, "VGG configuration B (13 weight layers).")
)
VGG16C = register("vgg16c", top1=71.9, top5=90.6, **_INFO)(
    _configuration("C", "vgg16c", None, "VGG configuration C (16 weight layers, three of them 1x1).")
)
VGG16 = register("vgg16", top1=73.0, top5=91.2, imagenet_weights=True, **_INFO)(
    _configuration("D", "vgg16", "imagenet", "VGG16, configuration D; loads the official keras.applications weights.")
)
VGG19 = register("vgg19", top1=72.7, top5=91.0, imagenet_weights=True, **_INFO)(
    _configuration("E", "vgg19", "imagenet", "VGG19, configuration E; loads the official keras.applications weights.")
)
