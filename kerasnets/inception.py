"""The Inception family, each network written as its table of modules.

- Inception v3: "Rethinking the Inception Architecture for Computer Vision" (Szegedy et al., CVPR
  2016), in the TF-slim/keras.applications layout that the official weights fit.
- Inception-ResNet-v2: "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
  Learning" (Szegedy et al., AAAI 2017).

A module is a list of branches concatenated along channels; a branch is a sequence of steps:
`Conv(filters, kernel, strides, padding)` (convolution, batch norm without scale, ReLU), `Pool`,
or `Fork` (parallel convolutions concatenated, Fig. 7's expanded 1x3 / 3x1 filter bank). Writing
the modules as data makes the paper's figures readable as code and every module one function.
"""

import functools
from dataclasses import dataclass

import keras
from keras import layers

from kerasnets import application, imagenet
from kerasnets.layers import ScaledResidual
from kerasnets.registry import register
from kerasnets.weights import WeightsFile, WeightsSpec, h5_spec

preprocess_input = functools.partial(imagenet.preprocess_input, mode="tf")
decode_predictions = imagenet.decode_predictions

BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Conv:
    """Convolution without bias -> BatchNormalization(scale=False) -> ReLU."""

    filters: int
    kernel: int | tuple = 1
    strides: int = 1
    padding: str = "same"

    def __call__(self, x, name):
        x = layers.Conv2D(
            self.filters, self.kernel, strides=self.strides, padding=self.padding, use_bias=False, name=f"{name}_conv"
        )(x)
        x = layers.BatchNormalization(axis=application.channel_axis(), scale=False, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)


@dataclass(frozen=True)
class Pool:
    kind: str = "avg"  # or "max"
    size: int = 3
    strides: int = 1
    padding: str = "same"

    def __call__(self, x, name):
        pool = layers.AveragePooling2D if self.kind == "avg" else layers.MaxPooling2D
        return pool(self.size, strides=self.strides, padding=self.padding, name=f"{name}_{self.kind}pool")(x)


@dataclass(frozen=True)
class Fork:
    """Parallel steps on the same input, concatenated (the expanded filter bank of Fig. 7)."""

    steps: tuple

    def __call__(self, x, name):
        outputs = [step(x, f"{name}_{i}") for i, step in enumerate(self.steps)]
        return layers.Concatenate(axis=application.channel_axis(), name=f"{name}_concat")(outputs)


def branches(x, module, name):
    """Run each branch of `module` on `x`; returns the list of branch outputs."""
    outputs = []
    for b, branch in enumerate(module):
        y = x
        for s, step in enumerate(branch):
            y = step(y, f"{name}_b{b}_{s}")
        outputs.append(y)
    return outputs


def inception_module(x, module, name):
    """An Inception module: the branches concatenated along channels, named `name`."""
    return layers.Concatenate(axis=application.channel_axis(), name=name)(branches(x, module, name))


def inception_residual(x, module, scale, name, activation="relu"):
    """An Inception-ResNet block (Figs. 16-19): branches -> concat -> linear 1x1 conv -> x + scale * r."""
    mixed = layers.Concatenate(axis=application.channel_axis(), name=f"{name}_mixed")(branches(x, module, name))
    residual = layers.Conv2D(x.shape[application.channel_axis()], 1, name=f"{name}_conv")(mixed)
    x = ScaledResidual(scale, name=f"{name}_scale")([x, residual])
    return layers.Activation(activation, name=f"{name}_relu")(x) if activation else x


def run_steps(x, steps, name):
    for i, step in enumerate(steps):
        x = step(x, f"{name}_{i}")
    return x


AVG = Pool("avg")
MAX = Pool("max", 3, 2, "valid")


def valid(filters, kernel=3, strides=1):
    return Conv(filters, kernel, strides, "valid")


# -- Inception v3 ---------------------------------------------------------------------------
# The stem of Table 1 (conv, conv, conv padded, pool, conv 1x1, conv 3x3, pool), shared with
# Inception-ResNet-v2's keras.applications layout.
V3_STEM = (valid(32, 3, 2), valid(32), Conv(64, 3), MAX, valid(80, 1), valid(192), MAX)


def v3_35x35(pool_filters):
    """Fig. 5 (as implemented): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
    return ((Conv(64),), (Conv(48), Conv(64, 5)), (Conv(64), Conv(96, 3), Conv(96, 3)), (AVG, Conv(pool_filters)))


def v3_17x17(width):
    """Fig. 6: 7x7 factorised into 1x7 and 7x1 ('n = 7'), `width` filters in the inner layers."""
    return (
        (Conv(192),),
        (Conv(width), Conv(width, (1, 7)), Conv(192, (7, 1))),
        (Conv(width), Conv(width, (7, 1)), Conv(width, (1, 7)), Conv(width, (7, 1)), Conv(192, (1, 7))),
        (AVG, Conv(192)),
    )


V3_8x8 = (  # Fig. 7: the expanded filter bank of the coarsest grid
    (Conv(320),),
    (Conv(384), Fork((Conv(384, (1, 3)), Conv(384, (3, 1))))),
    (Conv(448), Conv(384, 3), Fork((Conv(384, (1, 3)), Conv(384, (3, 1))))),
    (AVG, Conv(192)),
)

V3_MODULES = (
    ("mixed0", v3_35x35(32)),
    ("mixed1", v3_35x35(64)),
    ("mixed2", v3_35x35(64)),
    ("mixed3", ((valid(384, 3, 2),), (Conv(64), Conv(96, 3), valid(96, 3, 2)), (MAX,))),  # grid reduction, Fig. 10
    ("mixed4", v3_17x17(128)),
    ("mixed5", v3_17x17(160)),
    ("mixed6", v3_17x17(160)),
    ("mixed7", v3_17x17(192)),
    ("mixed8", ((Conv(192), valid(320, 3, 2)), (Conv(192), Conv(192, (1, 7)), Conv(192, (7, 1)), valid(192, 3, 2)), (MAX,))),
    ("mixed9", V3_8x8),
    ("mixed10", V3_8x8),
)


def inception_v3_features(x):
    x = run_steps(x, V3_STEM, "stem")
    for name, module in V3_MODULES:
        x = inception_module(x, module, name)
    return x


def inception_v3_aux_classifier(x, classes, classifier_activation):
    """The auxiliary classifier on the 17x17 grid (Fig. 8): 5x5/3 avg pool, 1x1 conv 128, 5x5 conv 768, FC."""
    x = layers.AveragePooling2D(5, strides=3, name="aux_avgpool")(x)
    x = Conv(128)(x, "aux_0")
    x = valid(768, 5)(x, "aux_1")
    x = layers.GlobalAveragePooling2D(name="aux_flatten")(x)
    return layers.Dense(classes, activation=classifier_activation, name="aux_predictions")(x)


INCEPTION_V3_WEIGHTS = h5_spec("inception_v3", "inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63")


@register(
    "inceptionv3", family="inception", paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision",
    year=2016, input_size=299, preprocessing="tf", imagenet_weights=True, top1=78.8, top5=94.4,
)
def InceptionV3(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
    aux_logits=False,
):
    """Inception v3 (299x299). `aux_logits=True` adds the auxiliary classifier as a second output
    for training (its weights are not published: it starts random even with ImageNet weights)."""
    model = application.build(
        name, inception_v3_features, default_size=299, min_size=75, spec=INCEPTION_V3_WEIGHTS,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )
    if not aux_logits:
        return model
    if not include_top:
        raise ValueError("InceptionV3: aux_logits=True needs include_top=True (the auxiliary head is a classifier).")
    aux = inception_v3_aux_classifier(model.get_layer("mixed7").output, classes, classifier_activation)
    return keras.Model(model.inputs, [model.output, aux], name=model.name)


# -- Inception-ResNet-v2 --------------------------------------------------------------------
IRV2_MIXED_5B = ((Conv(96),), (Conv(48), Conv(64, 5)), (Conv(64), Conv(96, 3), Conv(96, 3)), (AVG, Conv(64)))
IRV2_BLOCK35 = ((Conv(32),), (Conv(32), Conv(32, 3)), (Conv(32), Conv(48, 3), Conv(64, 3)))  # Fig. 16
IRV2_MIXED_6A = ((valid(384, 3, 2),), (Conv(256), Conv(256, 3), valid(384, 3, 2)), (MAX,))  # Fig. 7, k,l,m,n = 256,256,384,384
IRV2_BLOCK17 = ((Conv(192),), (Conv(128), Conv(160, (1, 7)), Conv(192, (7, 1))))  # Fig. 17
IRV2_MIXED_7A = (  # Fig. 18
    (Conv(256), valid(384, 3, 2)), (Conv(256), valid(288, 3, 2)), (Conv(256), Conv(288, 3), valid(320, 3, 2)), (MAX,),
)
IRV2_BLOCK8 = ((Conv(192),), (Conv(192), Conv(224, (1, 3)), Conv(256, (3, 1))))  # Fig. 19

#: (name, module, residual scale, repeats) after the stem, as in Fig. 15.
IRV2_STAGES = (
    ("block35", IRV2_BLOCK35, 0.17, 10),
    ("mixed_6a", IRV2_MIXED_6A, None, 1),
    ("block17", IRV2_BLOCK17, 0.1, 20),
    ("mixed_7a", IRV2_MIXED_7A, None, 1),
    ("block8", IRV2_BLOCK8, 0.2, 10),
)


def inception_resnet_v2_features(x):
    x = run_steps(x, V3_STEM, "stem")
    x = inception_module(x, IRV2_MIXED_5B, "mixed_5b")
    for name, module, scale, repeats in IRV2_STAGES:
        if scale is None:
            x = inception_module(x, module, name)
            continue
        for i in range(1, repeats + 1):
            last = name == "block8" and i == repeats  # the very last block is linear, scale 1
            x = inception_residual(x, module, 1.0 if last else scale, f"{name}_{i}", None if last else "relu")
    return Conv(1536)(x, "conv_7b")


INCEPTION_RESNET_V2_WEIGHTS = WeightsSpec(
    top=WeightsFile("inception_resnet_v2", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5", "e693bd0210a403b3192acc6073ad2e96"),
    notop=WeightsFile("inception_resnet_v2", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "d19885ff4a710c122648d3b5c3b684e4"),
)


@register(
    "inceptionresnetv2", family="inception", paper="Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    year=2017, input_size=299, preprocessing="tf", imagenet_weights=True, top1=80.1, top5=95.1,
)
def InceptionResNetV2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet_v2",
):
    """Inception-ResNet-v2 (299x299); loads the official keras.applications weights."""
    return application.build(
        name, inception_resnet_v2_features, default_size=299, min_size=75, spec=INCEPTION_RESNET_V2_WEIGHTS,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )
