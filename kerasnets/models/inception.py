"""The Inception family, each network written as its table of modules.

- GoogLeNet (Inception v1): "Going Deeper with Convolutions" (Szegedy et al., CVPR 2015), Table 1,
  with the two auxiliary classifiers of Sec. 5 as optional extra outputs.
- Inception v3: "Rethinking the Inception Architecture for Computer Vision" (Szegedy et al., CVPR
  2016), in the TF-slim/keras.applications layout that the official weights fit.
- Inception-v4, Inception-ResNet-v1 and -v2: "Inception-v4, Inception-ResNet and the Impact of
  Residual Connections on Learning" (Szegedy et al., AAAI 2017).

A module is a list of branches concatenated along channels; a branch is a sequence of steps:
`Conv(filters, kernel, strides, padding)` (convolution, batch norm without scale, ReLU), `Pool`,
or `Fork` (parallel convolutions concatenated, Fig. 7's expanded 1x3 / 3x1 filter bank). Writing
the modules as data makes the paper's figures readable as code and every module one function.
"""

import functools
from dataclasses import dataclass

import keras
from keras import layers

from kerasnets import imagenet
from kerasnets.core import application
from kerasnets.core.registry import Family
from kerasnets.core.weights import WeightsFile, WeightsSpec, h5_spec
from kerasnets.models.layers import ScaledResidual

preprocess_input = imagenet.preprocessing_function("tf")
decode_predictions = imagenet.decode_predictions

BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Conv:
    """Convolution without bias -> BatchNormalization(scale=False) -> ReLU; with `batch_norm=False`
    (GoogLeNet, which predates batch norm) a biased convolution -> ReLU."""

    filters: int
    kernel: int | tuple = 1
    strides: int = 1
    padding: str = "same"
    batch_norm: bool = True

    def __call__(self, x, name):
        if not self.batch_norm:
            return layers.Conv2D(
                self.filters, self.kernel, strides=self.strides, padding=self.padding, activation="relu",
                    name=f"{name}_conv"
            )(x)
        x = layers.Conv2D(
            self.filters, self.kernel, strides=self.strides, padding=self.padding, use_bias=False, name=f"{name}_conv"
        )(x)
        x = layers.BatchNormalization(axis=application.channel_axis(), scale=False, epsilon=BN_EPSILON,
            name=f"{name}_bn")(x)
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
    ("mixed8", ((Conv(192), valid(320, 3, 2)), (Conv(192), Conv(192, (1, 7)), Conv(192, (7, 1)), valid(192, 3, 2)),
        (MAX,))),
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


INCEPTION_V3_WEIGHTS = h5_spec("inception_v3", "inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564",
    "bcbd6486424b2319ff4ef7d526e38f63")


@application.keras_application()
def inception_v3(aux_logits=False, **arguments):
    """Inception v3 (299x299). `aux_logits=True` adds the auxiliary classifier as a second output
    for training (its weights are not published: it starts random even with ImageNet weights)."""
    if aux_logits and not arguments["include_top"]:
        raise ValueError("InceptionV3: aux_logits=True needs include_top=True (the auxiliary head is a classifier).")
    model = application.build(
        inception_v3_features, default_size=299, min_size=75, spec=INCEPTION_V3_WEIGHTS, **arguments,
    )
    if not aux_logits:
        return model
    aux = inception_v3_aux_classifier(model.get_layer("mixed7").output, arguments["classes"],
                                      arguments["classifier_activation"])
    return keras.Model(model.inputs, [model.output, aux], name=model.name)


INCEPTION_V3_PAPER = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision"
# Single-crop top-1 / top-5: Table 3 of the paper.
InceptionV3 = Family("inception", INCEPTION_V3_PAPER, 2016, input_size=299, preprocessing="tf").variant(
    "inceptionv3", "InceptionV3", inception_v3, model_name="inception_v3", weights=INCEPTION_V3_WEIGHTS,
    summary="Inception v3 in the keras.applications layout; loads the official weights.",
    top1=78.8, top5=94.4, params=23_851_784, mult_adds=5_713_216_096,
)


# -- Inception-ResNet-v2 --------------------------------------------------------------------
IRV2_MIXED_5B = ((Conv(96),), (Conv(48), Conv(64, 5)), (Conv(64), Conv(96, 3), Conv(96, 3)), (AVG, Conv(64)))
IRV2_BLOCK35 = ((Conv(32),), (Conv(32), Conv(32, 3)), (Conv(32), Conv(48, 3), Conv(64, 3)))  # Fig. 16
IRV2_MIXED_6A = ((valid(384, 3, 2),), (Conv(256), Conv(256, 3), valid(384, 3, 2)), (MAX,
    ))  # Fig. 7, k,l,m,n = 256,256,384,384
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
    x = residual_stages(x, IRV2_STAGES)  # defined with Inception-ResNet-v1 below
    return Conv(1536)(x, "conv_7b")


INCEPTION_RESNET_V2_WEIGHTS = WeightsSpec(
    top=WeightsFile("inception_resnet_v2", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
        "e693bd0210a403b3192acc6073ad2e96"),
    notop=WeightsFile("inception_resnet_v2", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "d19885ff4a710c122648d3b5c3b684e4"),
)


@application.keras_application()
def inception_resnet_v2(**arguments):
    """Inception-ResNet-v2 (299x299); loads the official keras.applications weights."""
    return application.build(
        inception_resnet_v2_features, default_size=299, min_size=75, spec=INCEPTION_RESNET_V2_WEIGHTS, **arguments,
    )


INCEPTION_V4 = Family("inception", "Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual "
                      "Connections on Learning", 2017, input_size=299, preprocessing="tf")
# Single-crop top-1 / top-5: Table 2 of the paper.
InceptionResNetV2 = INCEPTION_V4.variant(
    "inceptionresnetv2", "InceptionResNetV2", inception_resnet_v2, model_name="inception_resnet_v2",
    weights=INCEPTION_RESNET_V2_WEIGHTS, summary="Inception-ResNet-v2 (Fig. 15); loads the official weights.",
    top1=80.1, top5=95.1, params=55_873_736, mult_adds=13_155_794_016,
)


# -- GoogLeNet (Inception v1) ---------------------------------------------------------------
#: Table 1: per module, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; "pool" is a 3x3/2 max pool.
GOOGLENET_TABLE = (
    ("inception_3a", (64, 96, 128, 16, 32, 32)),
    ("inception_3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("inception_4a", (192, 96, 208, 16, 48, 64)),
    ("inception_4b", (160, 112, 224, 24, 64, 64)),
    ("inception_4c", (128, 128, 256, 24, 64, 64)),
    ("inception_4d", (112, 144, 288, 32, 64, 64)),
    ("inception_4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("inception_5a", (256, 160, 320, 32, 128, 128)),
    ("inception_5b", (384, 192, 384, 48, 128, 128)),
)
#: The modules whose outputs feed the auxiliary classifiers (Sec. 5).
GOOGLENET_AUX_AFTER = ("inception_4a", "inception_4d")


def v1_module(widths, batch_norm=False, naive=False):
    """The Inception module of Fig. 2: (a) naive, or (b) with 1x1 dimension reductions."""
    f1, f3r, f3, f5r, f5, proj = widths
    pool = Pool("max", 3, 1, "same")
    if naive:
        return ((Conv(f1, 1, batch_norm=batch_norm),), (Conv(f3, 3, batch_norm=batch_norm),),
                (Conv(f5, 5, batch_norm=batch_norm),), (pool,))
    return (
        (Conv(f1, 1, batch_norm=batch_norm),),
        (Conv(f3r, 1, batch_norm=batch_norm), Conv(f3, 3, batch_norm=batch_norm)),
        (Conv(f5r, 1, batch_norm=batch_norm), Conv(f5, 5, batch_norm=batch_norm)),
        (pool, Conv(proj, 1, batch_norm=batch_norm)),
    )


def googlenet_stem(x, batch_norm=False):
    """conv 7x7/2, max pool 3x3/2, LRN, conv 1x1 (reduce), conv 3x3, LRN, max pool 3x3/2 (Table 1, Fig. 3)."""
    from kerasnets.models.layers import LocalResponseNormalization

    x = Conv(64, 7, 2, batch_norm=batch_norm)(x, "conv1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    if not batch_norm:
        x = LocalResponseNormalization(name="lrn1")(x)
    x = Conv(64, 1, batch_norm=batch_norm)(x, "conv2_reduce")
    x = Conv(192, 3, batch_norm=batch_norm)(x, "conv2")
    if not batch_norm:
        x = LocalResponseNormalization(name="lrn2")(x)
    return layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)


def googlenet_aux_classifier(x, classes, classifier_activation, name):
    """Sec. 5: 5x5/3 average pool, 1x1 conv with 128 filters, FC 1024, dropout 70 %, FC classes."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_avgpool")(x)
    x = layers.Conv2D(128, 1, activation="relu", name=f"{name}_conv")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


def googlenet_features(x, batch_norm=False, naive=False):
    x = googlenet_stem(x, batch_norm)
    pools = 2
    for entry in GOOGLENET_TABLE:
        if entry == "pool":
            pools += 1
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{pools}")(x)
        else:
            name, widths = entry
            x = inception_module(x, v1_module(widths, batch_norm, naive), name)
    return x


@application.keras_application(weights=None)
def googlenet(aux_logits=False, batch_norm=False, naive=False, **arguments):
    """GoogLeNet. `aux_logits=True` adds the classifiers on 4a and 4d as two extra outputs (train them
    with `compile_with_auxiliary`); `batch_norm=True` adds BN after every convolution (BN-Inception
    style, no LRN); `naive=True` uses the modules of Fig. 2a (no reductions) to show what 1x1 buys."""
    if aux_logits and not arguments["include_top"]:
        raise ValueError("GoogLeNet: aux_logits=True needs include_top=True (the auxiliary heads are classifiers).")
    model = application.build(
        functools.partial(googlenet_features, batch_norm=batch_norm, naive=naive),
        functools.partial(application.pooled_classifier, dropout=0.4),
        default_size=224, min_size=32, **arguments,
    )
    if not aux_logits:
        return model
    auxiliary = [
        googlenet_aux_classifier(model.get_layer(after).output, arguments["classes"],
            arguments["classifier_activation"],
                                 f"aux{i}")
        for i, after in enumerate(GOOGLENET_AUX_AFTER, start=1)
    ]
    return keras.Model(model.inputs, [model.output, *auxiliary], name=model.name)


# Top-5: Table 2 of the paper (single model, single crop: 10.07 % error); parameters and
# multiply-adds: Table 1 (6.8 M, 1.5 G), which our count exceeds by 3 % (the paper's table rounds).
GoogLeNet = Family("inception", "Szegedy et al., Going Deeper with Convolutions", 2015, input_size=224,
                   preprocessing="caffe").variant(
    "googlenet", "GoogLeNet", googlenet, summary="GoogLeNet (Inception v1), Table 1 as data.",
    top5=89.93, params=6_998_552, mult_adds=1_582_671_872, paper_params=6.8e6, paper_mult_adds=1.55e9, tolerance=0.05,
)


def compile_with_auxiliary(model, optimizer="sgd", loss="sparse_categorical_crossentropy", aux_weight=0.3,
    metrics=("accuracy",), **kwargs):
    """Compile a model with auxiliary classifier outputs: the main loss weighs 1.0, each auxiliary
    loss `aux_weight` (0.3 in GoogLeNet, Sec. 5); metrics are reported for the main output."""
    n_aux = len(model.outputs) - 1
    if n_aux < 1:
        raise ValueError(f"{model.name} has a single output; build it with aux_logits=True.")
    model.compile(
        optimizer=optimizer, loss=[loss] * (n_aux + 1), loss_weights=[1.0] + [aux_weight] * n_aux,
        metrics=[list(metrics)] + [[] for _ in range(n_aux)], **kwargs,
    )
    return model


# -- Inception-v4 --------------------------------------------------------------------------
def _stem_branches(x, name):
    """The Inception-v4 / Inception-ResNet-v2 stem of Fig. 3: three convolutions, then three
    two-branch concatenations (35x35x384 for a 299x299 input)."""
    x = run_steps(x, (valid(32, 3, 2), valid(32), Conv(64, 3)), name)
    x = inception_module(x, ((MAX,), (valid(96, 3, 2),)), "mixed_3a")
    x = inception_module(x, ((Conv(64), valid(96)), (Conv(64), Conv(64, (1, 7)), Conv(64, (7, 1)), valid(96))),
        "mixed_4a")
    return inception_module(x, ((valid(192, 3, 2),), (MAX,)), "mixed_5a")


V4_A = ((AVG, Conv(96)), (Conv(96),), (Conv(64), Conv(96, 3)), (Conv(64), Conv(96, 3), Conv(96, 3)))  # Fig. 4
V4_REDUCTION_A = ((valid(384, 3, 2),), (Conv(192), Conv(224, 3), valid(256, 3, 2)), (MAX,))  # Fig. 7, k l m n
V4_B = (  # Fig. 5
    (AVG, Conv(128)), (Conv(384),), (Conv(192), Conv(224, (1, 7)), Conv(256, (7, 1))),
    (Conv(192), Conv(192, (1, 7)), Conv(224, (7, 1)), Conv(224, (1, 7)), Conv(256, (7, 1))),
)
V4_REDUCTION_B = ((Conv(192), valid(192, 3, 2)), (Conv(256), Conv(256, (1, 7)), Conv(320, (7, 1)), valid(320, 3, 2)),
    (MAX,))  # Fig. 8
V4_C = (  # Fig. 6
    (AVG, Conv(256)), (Conv(256),), (Conv(384), Fork((Conv(256, (1, 3)), Conv(256, (3, 1))))),
    (Conv(384), Conv(448, (1, 3)), Conv(512, (3, 1)), Fork((Conv(256, (3, 1)), Conv(256, (1, 3))))),
)
#: Fig. 9: 4 x Inception-A, Reduction-A, 7 x Inception-B, Reduction-B, 3 x Inception-C.
V4_STAGES = (("inception_a", V4_A, 4), ("reduction_a", V4_REDUCTION_A, 1), ("inception_b", V4_B, 7),
             ("reduction_b", V4_REDUCTION_B, 1), ("inception_c", V4_C, 3))


def inception_v4_features(x):
    x = _stem_branches(x, "stem")
    for name, module, repeats in V4_STAGES:
        for i in range(1, repeats + 1):
            x = inception_module(x, module, f"{name}_{i}" if repeats > 1 else name)
    return x


@application.keras_application(weights=None)
def inception_v4(dropout=0.2, **arguments):
    """Inception-v4 (Fig. 9); the top keeps 80 % of the activations (dropout 0.2) before the classifier."""
    return _v4_paper_network(inception_v4_features, dropout, arguments)


def _v4_paper_network(features, dropout, arguments):
    """The 299 px networks of the Inception-v4 paper: a body, then average pooling, dropout, classifier."""
    return application.build(
        features, functools.partial(application.pooled_classifier, dropout=dropout),
        default_size=299, min_size=75, **arguments,
    )


InceptionV4 = INCEPTION_V4.variant(
    "inceptionv4", "InceptionV4", inception_v4, model_name="inception_v4", summary="Inception-v4 (Figs. 3-9).",
    top1=80.0, top5=95.0, params=42_711_400, mult_adds=12_253_974_624, paper_params=42.7e6,
)


# -- Inception-ResNet-v1 --------------------------------------------------------------------
IRV1_STEM = (valid(32, 3, 2), valid(32), Conv(64, 3), MAX, valid(80, 1), valid(192), valid(256, 3, 2))  # Fig. 14
IRV1_A = ((Conv(32),), (Conv(32), Conv(32, 3)), (Conv(32), Conv(32, 3), Conv(32, 3)))  # Fig. 10
IRV1_REDUCTION_A = ((valid(384, 3, 2),), (Conv(192), Conv(192, 3), valid(256, 3, 2)), (MAX,))  # Fig. 7, k=l=192
IRV1_B = ((Conv(128),), (Conv(128), Conv(128, (1, 7)), Conv(128, (7, 1))))  # Fig. 11
IRV1_REDUCTION_B = ((Conv(256), valid(384, 3, 2)), (Conv(256), valid(256, 3, 2)), (Conv(256), Conv(256, 3), valid(256,
    3, 2)), (MAX,))  # Fig. 12
IRV1_C = ((Conv(192),), (Conv(192), Conv(192, (1, 3)), Conv(192, (3, 1))))  # Fig. 13
#: Fig. 15 with the v1 blocks: (name, module, residual scale or None for a reduction, repeats).
IRV1_STAGES = (("block35", IRV1_A, 0.17, 5), ("reduction_a", IRV1_REDUCTION_A, None, 1), ("block17", IRV1_B, 0.1, 10),
               ("reduction_b", IRV1_REDUCTION_B, None, 1), ("block8", IRV1_C, 0.2, 5))


def residual_stages(x, stages):
    """Inception-ResNet stages: residual blocks (scaled) and reduction modules; the last block is linear."""
    last_stage = stages[-1][0]
    for name, module, scale, repeats in stages:
        if scale is None:
            x = inception_module(x, module, name)
            continue
        for i in range(1, repeats + 1):
            last = name == last_stage and i == repeats
            x = inception_residual(x, module, 1.0 if last else scale, f"{name}_{i}", None if last else "relu")
    return x


def inception_resnet_v1_features(x):
    return residual_stages(run_steps(x, IRV1_STEM, "stem"), IRV1_STAGES)


@application.keras_application(weights=None)
def inception_resnet_v1(dropout=0.2, **arguments):
    """Inception-ResNet-v1 (Figs. 10-15): the cheaper residual Inception, about Inception-v3's cost."""
    return _v4_paper_network(inception_resnet_v1_features, dropout, arguments)


InceptionResNetV1 = INCEPTION_V4.variant(
    "inceptionresnetv1", "InceptionResNetV1", inception_resnet_v1, model_name="inception_resnet_v1",
    summary="Inception-ResNet-v1 (Figs. 10-15).", top1=78.7, top5=94.5, params=22_769_848, mult_adds=6_206_361_696,
)
