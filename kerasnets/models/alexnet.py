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
from kerasnets.models.layers import LocalResponseNormalization
from kerasnets.core.registry import register


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


def _plain_network(name, table, default_size, include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, dropout):
    return application.build(
        name, lambda x: stacked_features(x, table),
        lambda x, c, a: dropout_classifier(x, c, a, dropout=dropout),
        default_size=default_size, min_size=default_size // 4,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )


@register("alexnet", family="alexnet", paper="Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks",
          year=2012, input_size=227, preprocessing="caffe", top1=59.3, top5=81.8)
def AlexNet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="alexnet",
    groups=1,
    lrn=True,
    dropout=0.5,
):
    """AlexNet; `groups=2` for the two-GPU split, `lrn=False` to drop local response normalisation."""
    if groups not in (1, 2):
        raise ValueError(f"AlexNet: groups must be 1 (one tower) or 2 (the paper's two GPUs); received {groups}.")
    return _plain_network(name, alexnet_table(groups, lrn), 227, include_top, weights, input_tensor, input_shape,
                          pooling, classes, classifier_activation, dropout)


@register("zfnet", family="alexnet", paper="Zeiler & Fergus, Visualizing and Understanding Convolutional Networks",
          year=2014, input_size=224, preprocessing="caffe", top1=61.6, top5=83.5)
def ZFNet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="zfnet",
    lrn=True,
    dropout=0.5,
):
    """ZFNet, the model of Zeiler & Fergus' Figure 3 (224x224 input)."""
    return _plain_network(name, zfnet_table(lrn), 224, include_top, weights, input_tensor, input_shape,
                          pooling, classes, classifier_activation, dropout)
