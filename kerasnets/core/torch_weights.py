"""PyTorch weights for Keras models: torchvision's published ImageNet files, and what every PyTorch
source shares (a state dict mapped onto Keras layers by name, the verified cache of converted files).

**torchvision's files.** torchvision publishes ImageNet weights for networks keras.applications
never had (AlexNet, VGG-11/13 and the batch-norm VGGs, ResNet-18/34, ResNeXt, GoogLeNet) as
`<base>/models/<name>-<first 8 hex digits of the file's SHA-256>.pth`, the base being
`TORCHVISION_BASE_URL` (or `KERASNETS_WEIGHTS_URL`, a mirror with the same layout). A
`TorchvisionWeights` record names one file; `weights="imagenet"`:

1. downloads the `.pth` into the Keras cache with the machinery of `kerasnets.core.weights`
   (progress bar, atomic write, the SHA-256 prefix of the file name verified; a file that fails is
   never kept), unless a verified copy is there already;
2. reads it without PyTorch (`kerasnets.core.torch_format`, both `torch.save` formats), maps each
   tensor onto the Keras layer of the same role (`assign_state`: convolution kernels transposed,
   batch-norm statistics, the first dense layer after a flatten re-ordered from PyTorch's C, H, W
   to Keras' H, W, C) and writes the Keras arrays, keyed by layer name, to
   `<cache>/<name>-<8 digits>.keras.npz` (atomically, with its SHA-256 recorded beside it);
3. loads that file, re-verified before every use (a file that fails is converted again), into
   whatever configuration was built: with or without the classifier, auxiliary heads or not.

`weights="/path/file.pth"` (or `.pt`) maps a local state dict in the same layout directly.

**Mapping by name.** A family module gives, for its Keras layer names, the PyTorch module names
(`torch_name(keras_name)`), and, for a dense layer that follows a flatten, the flatten layer.
Every weighted Keras layer must receive its tensors and every tensor of the file must find its
layer (BatchNorm's `num_batches_tracked` and the declared optional parts excepted); a shape that
differs is an error naming both sides.
"""

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from kerasnets.core.torch_format import load_state_dict
from kerasnets.core.weights import (
    BASE_URL_ENV,
    WeightsError,
    WeightsFile,
    cache_dir,
    check_free_space,
    file_digest,
    get_file,
    writing_cache,
)
from kerasnets.utils import atomic_output

#: Where torchvision publishes its weights: `<base>/models/<file>` (see torchvision.models.*_Weights).
TORCHVISION_BASE_URL = "https://download.pytorch.org"
TORCHVISION_FOLDER = "models"
TORCH_SUFFIXES = (".pth", ".pt")


@dataclass(frozen=True)
class TorchvisionFile(WeightsFile):
    """A torchvision weights file; `hash` is the SHA-256 prefix its name carries."""

    @property
    def url(self):
        base = os.environ.get(BASE_URL_ENV) or TORCHVISION_BASE_URL
        return f"{base.rstrip('/')}/{self.folder}/{self.name}"

    @property
    def algorithm(self):
        return "sha256"


@dataclass(frozen=True)
class TorchvisionWeights:
    """The ImageNet weights torchvision publishes for one network.

    `model` is torchvision's builder (`torchvision.models.resnet18`), `file_name` the published
    file, `top1` torchvision's single-crop ImageNet accuracy for it (%). The same file serves
    include_top=True and False (the state dict holds the classifier)."""

    model: str
    file_name: str
    top1: float | None = None

    def __post_init__(self):
        stem, _, digits = self.file_name.removesuffix(".pth").rpartition("-")
        if not (stem and len(digits) == 8 and all(c in "0123456789abcdef" for c in digits)):
            raise ValueError(f"{self.file_name!r} is not a torchvision weights name `<name>-<8 hex digits>.pth`.")

    @property
    def sha256_prefix(self):
        return self.file_name.removesuffix(".pth").rpartition("-")[2]

    @property
    def source(self):
        """Where the weights come from, in words (the README's table and `--list` show it)."""
        return f"torchvision {self.file_name}"

    @property
    def top(self):
        return TorchvisionFile(TORCHVISION_FOLDER, self.file_name, self.sha256_prefix)

    notop = top

    def file(self, include_top):
        return self.top

    def converted_name(self):
        """The file name of the converted weights in the Keras cache."""
        import keras

        layout = "" if keras.config.image_data_format() == "channels_last" else "_channels_first"
        return f"{self.file_name.removesuffix('.pth')}{layout}.keras.npz"


def is_torch_file(weights):
    """Whether `weights` names a PyTorch state dict (by its suffix)."""
    return isinstance(weights, (str, os.PathLike)) and Path(weights).suffix.lower() in TORCH_SUFFIXES


# -- a state dict onto Keras layers ----------------------------------------------------------------

#: Keras variable name -> PyTorch parameter or buffer name.
_TORCH_PARAMETER = {
    "kernel": "weight", "bias": "bias",
    "gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var",
}


def _convert(layer, name, tensor, flatten_chw):
    """The PyTorch tensor `name` of `layer` in Keras' layout."""
    from keras import layers

    if name != "kernel":
        return tensor
    if isinstance(layer, layers.DepthwiseConv2D):
        return tensor.transpose(2, 3, 0, 1)  # (C, multiplier, kh, kw) -> (kh, kw, C, multiplier)
    if isinstance(layer, layers.Conv2D):
        return tensor.transpose(2, 3, 1, 0)  # (out, in / groups, kh, kw) -> (kh, kw, in / groups, out)
    if isinstance(layer, layers.Dense):
        if flatten_chw is not None and tensor.ndim == 2 and tensor.shape[1] == int(np.prod(flatten_chw)):
            c, h, w = flatten_chw  # PyTorch flattens (C, H, W), Keras (channels_last) (H, W, C)
            tensor = tensor.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(tensor.shape[0], -1)
        return tensor.T  # (out, in) -> (in, out)
    return tensor


def _flatten_chw(model, flatten):
    """(C, H, W) of the map that the Flatten layer `flatten` reads, or None when nothing needs re-ordering."""
    import keras

    if flatten is None or keras.config.image_data_format() != "channels_last":
        return None
    shape = model.get_layer(flatten).input.shape
    if len(shape) != 4 or None in shape[1:]:
        return None
    _, h, w, c = shape
    return c, h, w


@dataclass(frozen=True)
class TorchLayout:
    """How a family's Keras layers are named in PyTorch: `torch_name(keras_name)` gives the module
    (None: the layer has no counterpart, an error), `flattened` maps a dense layer that reads a
    flattened map to its Flatten layer, `optional` lists the module prefixes a configuration may
    leave out (the classifier without the top, auxiliary heads), `expected` says in words what
    state dict fits (for errors)."""

    torch_name: Callable
    expected: str
    flattened: Callable = lambda keras_name: None
    optional: tuple = ()


def assign_state(model, state, layout, source):
    """Set every weighted layer of `model` from the PyTorch state dict `state` ({name: ndarray}).

    Every weighted layer must be filled and every tensor used, except BatchNorm's
    `num_batches_tracked` and tensors under `layout.optional`; a shape that differs after conversion
    is an error naming both sides. Returns `model`."""
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        module = layout.torch_name(layer.name)
        if module is None:
            raise WeightsError(
                f"{model.name} has a layer {layer.name!r} that no tensor of {layout.expected} fills: it is not the "
                "network that state dict belongs to."
            )
        chw = _flatten_chw(model, layout.flattened(layer.name))
        values = []
        for variable in layer.weights:
            key = f"{module}.{_TORCH_PARAMETER.get(variable.name, variable.name)}"
            if key not in state:
                raise WeightsError(
                    f"{source} has no tensor {key!r} for layer {layer.name} of {model.name}: it is not "
                    f"{layout.expected}."
                )
            used.add(key)
            values.append(_convert(layer, variable.name, state[key], chw))
        expected = [tuple(v.shape) for v in layer.weights]
        if [v.shape for v in values] != expected:
            raise WeightsError(
                f"{source}: {module} has shapes {[v.shape for v in values]} after conversion, but layer "
                f"{layer.name} of {model.name} needs {expected} (another variant or depth, or another number of "
                "classes?)."
            )
        layer.set_weights(values)
    unused = [k for k in state if k not in used and not k.endswith(".num_batches_tracked")
              and not k.startswith(tuple(layout.optional))]
    if unused:
        raise WeightsError(
            f"{source} does not fit {model.name}: {len(unused)} tensors have no layer, e.g. {unused[:5]} "
            f"(it is not {layout.expected}, or another variant or depth)."
        )
    return model


# -- the converted cache ---------------------------------------------------------------------------


def sidecar(path):
    """`<path>.sha256`: the digest of a converted file, recorded when it was written."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def cached_problem(path):
    """None if the converted file matches the SHA-256 recorded at conversion, else what is wrong."""
    try:
        recorded = sidecar(path).read_text().split()[0]
    except (OSError, IndexError):
        return "has no record of its SHA-256 (the conversion did not finish)"
    actual = file_digest(path, "sha256")
    return None if actual == recorded else f"failed verification (sha256 {actual}, recorded {recorded})"


def record_digest(path, tmp):
    """Write `<path>.sha256` for the file now at `tmp` (about to become `path`), atomically."""
    digest = file_digest(tmp, "sha256")
    with atomic_output(sidecar(path), suffix=".sha256") as out:
        out.write_text(f"{digest}  {Path(path).name}\n")
    return digest


def ensure_cache_folder():
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(
            f"Cannot create the weights cache folder {folder} ({e.strerror}). Set KERAS_HOME to a writable folder."
        ) from None
    return folder


def save_layer_arrays(model, target):
    """Write every weighted layer's arrays to `target` (.npz, keys `<layer>/<variable>`), atomically,
    with its SHA-256 recorded beside it."""
    arrays = {f"{layer.name}/{v.name}": np.asarray(v.numpy() if hasattr(v, "numpy") else v)
              for layer in model.layers for v in layer.weights}
    check_free_space(target, sum(a.nbytes for a in arrays.values()))
    with writing_cache(target), atomic_output(target, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        record_digest(target, tmp)
    return target


def load_layer_arrays(model, path):
    """Set every weighted layer of `model` from a file written by `save_layer_arrays` (extra arrays,
    e.g. the classifier of a model built without its top, are ignored)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            for layer in model.layers:
                if layer.weights:
                    layer.set_weights([data[f"{layer.name}/{v.name}"] for v in layer.weights])
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(
            f"Could not load the converted weights {path} into {model.name}: {e}. Delete the file; it is converted "
            "again from the downloaded one on next use."
        ) from None
    return model


def converted_weights(weights, build_full, layout, progress=True, log=None):
    """The path of `weights` (a TorchvisionWeights) converted for Keras, in the Keras cache.

    A verified converted file is used as it is; otherwise the `.pth` is obtained (downloaded and
    verified, or taken verified from the cache), mapped onto `build_full()` (the network with every
    layer the file has weights for) and written atomically."""
    folder = cache_dir()
    target = folder / weights.converted_name()
    if target.exists():
        problem = cached_problem(target)
        if problem is None:
            return target
        warnings.warn(f"The converted weights file {target} {problem}; converting it again.", stacklevel=3)
    pth = get_file(weights.file(True), progress=progress)
    start = time.perf_counter()
    state = load_state_dict(pth)
    model = build_full()
    assign_state(model, state, layout, pth)
    ensure_cache_folder()
    save_layer_arrays(model, target)
    if log is not None:
        log(f"converted {pth.name} to {target} in {time.perf_counter() - start:.1f} s")
    return target


# -- a family builder with PyTorch weights -----------------------------------------------------------


def prepare(label, arguments, weights_source, *, default_size, min_size, build_full, layout, channels=3):
    """Validate a keras.applications call whose weights may be PyTorch's, and obtain them before
    the model is built (a missing file, no network or a corrupt download is reported first).

    `weights_source` is the network's TorchvisionWeights, or None if torchvision publishes none.
    Returns `(arguments, finish)`: build the model with `arguments` (its weights argument replaced
    by None when the weights are PyTorch's, `validate=False`), then `finish(model)` loads them."""
    from kerasnets.core import application

    weights = arguments["weights"]
    application.validate_arguments(
        label, include_top=arguments["include_top"], weights=weights, classes=arguments["classes"],
        pooling=arguments["pooling"], classifier_activation=arguments["classifier_activation"],
        spec=weights_source if weights == "imagenet" else None,
    )
    arguments = dict(arguments)
    arguments["input_shape"] = application.obtain_input_shape(
        label, arguments["input_shape"], default_size=default_size, min_size=min_size,
        include_top=arguments["include_top"], weights=weights, channels=channels,
    )
    converted = state = None
    if weights == "imagenet":
        converted = converted_weights(weights_source, build_full, layout)
    elif is_torch_file(weights):
        state = load_state_dict(weights)
    if converted is not None or state is not None:
        arguments["weights"] = None

    def finish(model):
        if converted is not None:
            return load_layer_arrays(model, converted)
        if state is not None:
            return assign_state(model, state, layout, weights)
        return model

    return arguments, finish
