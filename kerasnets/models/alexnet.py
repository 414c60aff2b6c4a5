"""AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) and ZFNet (Zeiler & Fergus, ECCV 2014).

Both are a plain stack of layers, written here as tables: ("conv", filters, kernel, stride,
padding, groups), ("lrn",), ("pool", size, stride, padding), ("pad", pixels). Then three fully
connected layers with dropout 0.5.

AlexNet (Fig. 2): 227x227 input (the paper's "224" does not divide), 11x11/4 convolution, local
response normalisation, overlapping 3x3/2 max pooling; `groups=2` reproduces the two-GPU split of
conv2, conv4 and conv5 (60.97 M parameters), `groups=1` is the one-tower variant (62.38 M).
ZFNet (Fig. 3): 7x7/2 first layer and 5x5/2 second, which keeps the first-layer filters and the
feature maps finer; its layer output sizes are those of the paper's Figure 3.

`variant="torchvision"` (`AlexNetTorchvision`) is the AlexNet torchvision publishes ImageNet
weights for: the one-tower network of Krizhevsky's "One weird trick for parallelizing
convolutional neural networks" (2014): 64-192-384-256-256 filters, no LRN, a 224x224 input padded
by 2 pixels on every side before the 11x11/4 convolution, an adaptive 6x6 average pooling before
the classifier (the identity at 224 px), dropout before fc6 and fc7, 'torch' preprocessing
(61,100,840 parameters). The fully connected layers read PyTorch's channels-first flattening;
fc6's weights are re-ordered on loading.
"""

import functools

from keras import layers

from kerasnets.core import application, torch_weights
from kerasnets.core.registry import Family
from kerasnets.core.torch_weights import TorchLayout, TorchvisionWeights
from kerasnets.models.layers import AdaptiveAveragePooling2D, LocalResponseNormalization

#: torchvision's ImageNet weights (torchvision.models.AlexNet_Weights.IMAGENET1K_V1) and their top-1 there.
TORCHVISION = TorchvisionWeights("alexnet", "alexnet-owt-7be5be79.pth", 56.522)
VARIANTS = ("paper", "torchvision")


def alexnet_table(groups=1, lrn=True):
    norm = (("lrn",),) if lrn else ()
    return (
        ("conv", 96, 11, 4, "valid", 1), *norm, ("pool", 3, 2, "valid"),
        ("conv", 256, 5, 1, "same", groups), *norm, ("pool", 3, 2, "valid"),
        ("conv", 384, 3, 1, "same", 1),
        ("conv", 384, 3, 1, "same", groups),
        ("conv", 256, 3, 1, "same", groups), ("pool", 3, 2, "valid"),
    )


def alexnet_torchvision_table():
    """torchvision's AlexNet `features`: PyTorch's padding 2 of conv1 is an explicit symmetric pad."""
    return (
        ("pad", 2), ("conv", 64, 11, 4, "valid", 1), ("pool", 3, 2, "valid"),  # 224 -> 55 -> 27
        ("conv", 192, 5, 1, "same", 1), ("pool", 3, 2, "valid"),               # 27 -> 13
        ("conv", 384, 3, 1, "same", 1),
        ("conv", 256, 3, 1, "same", 1),
        ("conv", 256, 3, 1, "same", 1), ("pool", 3, 2, "valid"),               # 13 -> 6
    )


def zfnet_table(lrn=True):
    norm = (("lrn",),) if lrn else ()
    return (
        ("pad", 1), ("conv", 96, 7, 2, "valid", 1), ("pool", 3, 2, "same"), *norm,  # 110x110x96 -> 55x55x96
        ("conv", 256, 5, 2, "valid", 1), ("pool", 3, 2, "same"), *norm,              # 26x26x256 -> 13x13x256
        ("conv", 384, 3, 1, "same", 1),                                               # 13x13x384
        ("conv", 384, 3, 1, "same", 1),                                               # 13x13x384
        ("conv", 256, 3, 1, "same", 1), ("pool", 3, 2, "valid"),                      # 13x13x256 -> 6x6x256
    )


def stacked_features(x, table):
    """Build a plain layer stack from its table; layers are named conv1.., lrn1.., pool1.."""
    counts = {}
    for kind, *args in table:
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{kind}{counts[kind]}"
        if kind == "conv":
            filters, kernel, stride, padding, groups = args
            x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, groups=groups,
                              activation="relu", name=name)(x)
        elif kind == "lrn":
            x = LocalResponseNormalization(name=name)(x)
        elif kind == "pool":
            size, stride, padding = args
            x = layers.MaxPooling2D(size, strides=stride, padding=padding, name=name)(x)
        elif kind == "pad":
            x = layers.ZeroPadding2D(args[0], name=name)(x)
        else:
            raise ValueError(f"unknown layer kind {kind!r} in a network table")
    return x


def dropout_classifier(x, classes, classifier_activation, dropout=0.5, width=4096):
    """FC-4096, dropout, FC-4096, dropout, FC-classes (Sec. 4.2)."""
    x = layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = layers.Dense(width, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def torchvision_classifier(x, classes, classifier_activation, dropout=0.5):
    """torchvision's AlexNet top: adaptive 6x6 average pooling, flatten, dropout, FC-4096, dropout,
    FC-4096, FC-classes."""
    x = AdaptiveAveragePooling2D(6, name="avgpool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


#: Keras layer -> torchvision module (indices in torchvision's `features` and `classifier` Sequentials).
TORCHVISION_NAMES = {
    "conv1": "features.0", "conv2": "features.3", "conv3": "features.6", "conv4": "features.8", "conv5": "features.10",
    "fc6": "classifier.1", "fc7": "classifier.4", "predictions": "classifier.6",
}
TORCHVISION_LAYOUT = TorchLayout(TORCHVISION_NAMES.get, "torchvision's AlexNet state dict",
                                 flattened={"fc6": "flatten"}.get, optional=("classifier.",))


def _plain_network(table, default_size, dropout, arguments):
    return application.build(
        lambda x: stacked_features(x, table),
        lambda x, c, a: dropout_classifier(x, c, a, dropout=dropout),
        default_size=default_size, min_size=default_size // 4, **arguments,
    )


@application.keras_application(weights=None)
def alexnet(groups=None, lrn=None, dropout=0.5, variant="paper", **arguments):
    """AlexNet; `groups=2` for the two-GPU split, `lrn=False` to drop local response normalisation;
    `variant="torchvision"` for torchvision's one-tower network and its ImageNet weights."""
    if variant not in VARIANTS:
        raise ValueError(f"AlexNet: variant must be one of {VARIANTS}; received variant={variant!r}.")
    if variant == "torchvision":
        if groups not in (None, 1) or lrn:
            raise ValueError("AlexNet: torchvision's variant has one tower and no local response normalisation; "
                             f"drop groups={groups!r} and lrn={lrn!r}, or use variant='paper'.")
        arguments["name"] = arguments["name"] or "alexnet_torchvision"
        full = functools.partial(alexnet, variant="torchvision", weights=None, name=arguments["name"])
        arguments, finish = torch_weights.prepare(
            "AlexNet(variant='torchvision')", arguments, TORCHVISION, default_size=224, min_size=63, build_full=full,
            layout=TORCHVISION_LAYOUT,
        )
        model = application.build(
            lambda x: stacked_features(x, alexnet_torchvision_table()),
            functools.partial(torchvision_classifier, dropout=dropout),
            default_size=224, min_size=63, validate=False, **arguments,
        )
        return finish(model)
    groups = 1 if groups is None else groups
    if groups not in (1, 2):
        raise ValueError(f"AlexNet: groups must be 1 (one tower) or 2 (the paper's two GPUs); received {groups}.")
    if arguments["weights"] == "imagenet":
        raise ValueError("AlexNet: no ImageNet weights are published for the paper's network; torchvision "
                         "publishes them for its one-tower variant: AlexNet(variant='torchvision') "
                         "(kerasnets.AlexNetTorchvision), or use weights=None.")
    arguments["name"] = arguments["name"] or "alexnet"
    return _plain_network(alexnet_table(groups, True if lrn is None else lrn), 227, dropout, arguments)


@application.keras_application(weights=None)
def zfnet(lrn=True, dropout=0.5, **arguments):
    """ZFNet, the model of Zeiler & Fergus' Figure 3 (224x224 input)."""
    return _plain_network(zfnet_table(lrn), 224, dropout, arguments)


# Top-1 / top-5: AlexNet Table 2 (one CNN, 40.7 / 18.2 % error); ZFNet Table 2 (one net, 38.4 / 16.5 %).
ALEXNET = Family("alexnet", "Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks",
                 2012, input_size=227, preprocessing="caffe")
AlexNet = ALEXNET.variant(
    "alexnet", "AlexNet", alexnet, model_name=None,
    summary="AlexNet (Fig. 2), one tower by default; 60.97 M parameters with groups=2.",
    top1=59.3, top5=81.8, params=62_378_344, mult_adds=1_135_256_096,
)
AlexNetTorchvision = Family(
    "alexnet", "Krizhevsky, One weird trick for parallelizing convolutional neural networks", 2014, input_size=224,
    preprocessing="torch",
).variant(
    "alexnet_torchvision", "AlexNetTorchvision", alexnet, options=dict(variant="torchvision", groups=None, lrn=None),
    weights=TORCHVISION, summary="torchvision's AlexNet (64-192-384-256-256); loads torchvision's ImageNet weights.",
    params=61_100_840, mult_adds=714_188_480,
)
ZFNet = Family("alexnet", "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks", 2014,
               input_size=224, preprocessing="caffe").variant(
    "zfnet", "ZFNet", zfnet, summary="ZFNet (Fig. 3): 7x7/2 first layer, 5x5/2 second.",
    top1=61.6, top5=83.5, params=62_357_608, mult_adds=1_168_032_896,
)
