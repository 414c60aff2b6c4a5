"""AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) and ZFNet (Zeiler & Fergus, ECCV 2014).

Both are a plain stack of layers, written here as tables: ("conv", filters, kernel, stride,
padding, groups), ("lrn",), ("pool", size, stride, padding), ("pad", pixels). Then three fully
connected layers with dropout 0.5.

AlexNet (Fig. 2): 227x227 input (the paper's "224" does not divide), 11x11/4 convolution, local
response normalisation, overlapping 3x3/2 max pooling; `groups=2` reproduces the two-GPU split of
conv2, conv4 and conv5 (60.97 M parameters), `groups=1` is the one-tower variant (62.38 M).
ZFNet (Fig. 3): 7x7/2 first layer and 5x5/2 second, which keeps the first-layer filters and the
feature maps finer; its layer output sizes are those of the paper's Figure 3.
"""

from keras import layers

from kerasnets.core import application
from kerasnets.core.registry import Family
from kerasnets.models.layers import LocalResponseNormalization


def alexnet_table(groups=1, lrn=True):
    norm = (("lrn",),) if lrn else ()
    return (
        ("conv", 96, 11, 4, "valid", 1), *norm, ("pool", 3, 2, "valid"),
        ("conv", 256, 5, 1, "same", groups), *norm, ("pool", 3, 2, "valid"),
        ("conv", 384, 3, 1, "same", 1),
        ("conv", 384, 3, 1, "same", groups),
        ("conv", 256, 3, 1, "same", groups), ("pool", 3, 2, "valid"),
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


def _plain_network(table, default_size, dropout, arguments):
    return application.build(
        lambda x: stacked_features(x, table),
        lambda x, c, a: dropout_classifier(x, c, a, dropout=dropout),
        default_size=default_size, min_size=default_size // 4, **arguments,
    )


@application.keras_application(weights=None)
def alexnet(groups=1, lrn=True, dropout=0.5, **arguments):
    """AlexNet; `groups=2` for the two-GPU split, `lrn=False` to drop local response normalisation."""
    if groups not in (1, 2):
        raise ValueError(f"AlexNet: groups must be 1 (one tower) or 2 (the paper's two GPUs); received {groups}.")
    return _plain_network(alexnet_table(groups, lrn), 227, dropout, arguments)


@application.keras_application(weights=None)
def zfnet(lrn=True, dropout=0.5, **arguments):
    """ZFNet, the model of Zeiler & Fergus' Figure 3 (224x224 input)."""
    return _plain_network(zfnet_table(lrn), 224, dropout, arguments)


# Top-1 / top-5: AlexNet Table 2 (one CNN, 40.7 / 18.2 % error); ZFNet Table 2 (one net, 38.4 / 16.5 %).
AlexNet = Family("alexnet", "Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks",
                 2012, input_size=227, preprocessing="caffe").variant(
    "alexnet", "AlexNet", alexnet, summary="AlexNet (Fig. 2), one tower by default; 60.97 M parameters with groups=2.",
    top1=59.3, top5=81.8, params=62_378_344, mult_adds=1_135_256_096,
)
ZFNet = Family("alexnet", "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks", 2014,
               input_size=224, preprocessing="caffe").variant(
    "zfnet", "ZFNet", zfnet, summary="ZFNet (Fig. 3): 7x7/2 first layer, 5x5/2 second.",
    top1=61.6, top5=83.5, params=62_357_608, mult_adds=1_168_032_896,
)
