"""Pretrained weights: where the official files live, downloading, caching and verification.

Every network that keras.applications publishes ImageNet weights for points at the *official*
file (same URL, same file name, same hash), so a file already in the Keras cache is shared with
keras.applications. Downloads go to `$KERAS_HOME/models` (default `~/.keras/models`), show a
progress bar, are verified, and are written atomically: the data goes to a temporary file in the
cache folder that is renamed to its final name only after it passed. A cached file is re-verified
before every use; one that fails is downloaded again, never loaded.

Verification is the published hash (MD5 or SHA-256) where keras.applications publishes one. Where
it publishes none (MobileNet v1 and v2; no hash for these files exists anywhere public), the file
is *structure-verified* against the network being built: a complete HDF5 file (not an HTML page,
not cut short) in the legacy weights layout, whose weighted layers have the network's names (case
aside; not the classifier's, which keras renamed over the years), weight counts and every weight
shape, and whose BatchNormalization statistics are not the untouched 0 / 1 of a network that was
never trained. What this cannot tell apart: another trained file of identical shapes (MobileNet v1
at the same width and another input size).

Set `KERASNETS_WEIGHTS_URL` to serve the same folder layout from a mirror (or, in the tests, from
a local HTTP server).
"""

import contextlib
import errno
import hashlib
import os
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kerasnets.errors import WeightsError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)
from kerasnets.utils import atomic_output, captured_stderr

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications"
BASE_URL_ENV = "KERASNETS_WEIGHTS_URL"
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"




@dataclass(frozen=True)
class WeightsFile:
    """One published weights file: `<base URL>/<folder>/<name>`, checked against `hash`.

    `hash` is the hex digest keras.applications publishes: MD5 (32 digits) or SHA-256 (64).
    """

    folder: str
    name: str
    hash: str | None = None

    @property
    def url(self):
        base = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        return f"{base.rstrip('/')}/{self.folder}/{self.name}"

    @property
    def algorithm(self):
        return "sha256" if self.hash and len(self.hash) == 64 else "md5"


@dataclass(frozen=True)
class WeightsSpec:
    """The ImageNet weights of one network: the file with the classifier top and the one without."""

    top: WeightsFile | None
    notop: WeightsFile | None
    source: str = "keras.applications"

    def file(self, include_top):
        return self.top if include_top else self.notop


@dataclass(frozen=True)
class WeightsTable:
    """Weights published per configuration (MobileNet: one pair of files per width and input size):
    `at(**configuration)` gives the WeightsSpec of one; `choices` names what exists."""

    at: Callable = field(repr=False)
    choices: str
    source: str = "keras.applications"


def h5_spec(folder, stem, top_hash, notop_hash):
    """The keras.applications naming scheme `<stem>_weights_tf_dim_ordering_tf_kernels[_notop].h5`."""
    return WeightsSpec(
        top=WeightsFile(folder, f"{stem}_weights_tf_dim_ordering_tf_kernels.h5", top_hash),
        notop=WeightsFile(folder, f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5", notop_hash),
    )


def cache_dir():
    """`$KERAS_HOME/models`, or `~/.keras/models`: the folder keras.applications caches into."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


@contextlib.contextmanager
def writing_cache(target):
    """Around a write into the weights cache: an OSError (a read-only folder, a full disk) becomes a
    WeightsError naming the file, the folder and the fix. The writers are atomic, so nothing is left
    under the final name."""
    try:
        yield
    except WeightsError:
        raise
    except OSError as e:
        raise WeightsError(_cache_write_message(Path(target), e)) from None


def _cache_write_message(target, error):
    text = str(error)
    full = error.errno in (errno.ENOSPC, errno.EDQUOT) or "errno = 28" in text or "No space left" in text
    if full:
        reason = "no space left on the disk"
        fix = "free some disk space, or set KERAS_HOME to a folder on a disk with room"
    else:
        reason = error.strerror or text.splitlines()[0][:200]
        fix = "set KERAS_HOME to a writable folder"
    return (f"Cannot write {target.name} into the weights cache {target.parent} ({reason}): {fix}. Nothing was left "
            "under the final name.")


#: Free space kept on top of a file's size before it is written into the cache (bytes).
FREE_SPACE_MARGIN = 4 << 20


def check_free_space(target, nbytes):
    """Before writing about `nbytes` to `target` in the cache: a WeightsError if its disk has less
    room (some writers, HDF5's, cannot fail cleanly half-way through)."""
    import shutil

    target = Path(target)
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return
    if nbytes + FREE_SPACE_MARGIN > free:
        raise WeightsError(
            f"Cannot write {target.name} ({nbytes / 2**20:.1f} MiB) into the weights cache {target.parent}: only "
            f"{free / 2**20:.1f} MiB are free on its disk. Free some disk space, or set KERAS_HOME to a folder on a "
            "disk with room."
        )


def file_digest(path, algorithm):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def get_file(weights_file, progress=True, check=None):
    """Return the local path of `weights_file`, downloading and verifying it if needed.

    Files with a published hash are checked against it; others by `check(path)` (a description of
    what is wrong, or None), run before a download is moved into the cache and on a cached file.
    """
    folder = cache_dir()
    target = folder / weights_file.name
    if target.exists():
        problem = _verify(target, weights_file, check)
        if problem is None:
            return target
        warnings.warn(f"The cached weights file {target} {problem}; downloading it again.", stacklevel=2)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(
            f"Cannot create the weights cache folder {folder} ({e.strerror}). "
            "Set KERAS_HOME to a writable folder."
        ) from None
    with writing_cache(target):
        _download(weights_file, target, progress, check)
    return target


def _verify(path, weights_file, check=None):
    """None if `path` matches the published hash (or, without one, passes `check`), else a
    description of what is wrong. A hash shorter than the digest is a prefix of it (torchvision
    names its files after the first 8 hex digits of their SHA-256)."""
    if weights_file.hash:
        actual = file_digest(path, weights_file.algorithm)
        if actual.startswith(weights_file.hash.lower()):
            return None
        return (
            f"failed verification ({weights_file.algorithm} {actual}, expected {weights_file.hash}: "
            "the file is truncated, corrupt or not the published one)"
        )
    problem = hdf5_problem(path) if weights_file.name.endswith(".h5") else None
    if problem is None and check is not None:
        problem = check(path)
    return None if problem is None else f"failed verification ({problem})"


def hdf5_problem(path):
    """None if `path` is a complete HDF5 file, else what it is instead (an HTML page, cut short, ...)."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head.startswith(HDF5_SIGNATURE):
        text = head.lstrip().lower()
        if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
            return "it is an HTML/XML page, not an HDF5 weights file: the server answered with a web page"
        if not head:
            return "the file is empty"
        return "it is not an HDF5 file (no HDF5 signature)"
    import h5py

    try:
        with captured_stderr(), h5py.File(path, "r"):
            pass
    except OSError as e:
        message = str(e)
        if "truncated" in message:
            return f"the HDF5 file is cut short ({message.split('(', 1)[-1].rstrip(')')})"
        return f"the HDF5 file cannot be opened ({message})"
    return None


def _attribute_list(group, name):
    """A list attribute of a legacy Keras HDF5 group (split into name0, name1, ... when long), as str."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values += list(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]


def legacy_layers(path):
    """The weighted layers of a legacy Keras HDF5 weights file, in file order, as (layer name,
    [(weight name, array)]); every array is read, so damage inside the file shows up here."""
    import h5py

    with captured_stderr(), h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        names = _attribute_list(group, "layer_names")
        if not names:
            raise ValueError("the file has no legacy Keras layer list (layer_names)")
        layers = []
        for name in names:
            weight_names = _attribute_list(group[name], "weight_names")
            if weight_names:
                layers.append((name, [(w, group[name][w][()]) for w in weight_names]))
    return layers


def model_layers(model):
    """The weighted layers of `model` as legacy loading sees them: (name, [shape]) in layer order,
    each layer's trainable weights first (the order of keras' legacy HDF5 files)."""
    layers = []
    for layer in model.layers:
        weights = layer.trainable_weights + layer.non_trainable_weights
        if weights:
            layers.append((layer.name, [tuple(int(d) for d in w.shape) for w in weights]))
    return layers


def structure_problem(path, model, names=True, trained=True):
    """None if the legacy HDF5 weights file `path` fits `model` (same number of weighted layers, same
    number and shape of weights in each, with `names` the same layer names ignoring case, except the
    classifier's; with `trained`, BatchNormalization statistics that were learned), else the first
    difference."""
    try:
        file_layers = legacy_layers(path)
    except (OSError, ValueError, KeyError) as e:
        return f"it is not a readable Keras weights file: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    expected = model_layers(model)
    if len(file_layers) != len(expected):
        return (f"it has {len(file_layers)} layers with weights where {model.name} has {len(expected)}: the weights "
                "of another network or configuration")
    for index, ((file_name, weights), (name, shapes)) in enumerate(zip(file_layers, expected)):
        is_classifier = index == len(expected) - 1
        if names and not is_classifier and file_name.split("/")[-1].lower() != name.lower():
            return f"its layer {index + 1} is {file_name!r} where {model.name} has {name!r}"
        file_shapes = [tuple(array.shape) for _, array in weights]
        if file_shapes != shapes:
            return (f"its layer {file_name!r} has weights of shapes {file_shapes} where {model.name}'s {name!r} has "
                    f"{shapes}: the weights of another network or configuration")
    if trained:
        statistics = [(w, a) for _, weights in file_layers for w, a in weights if "moving_" in w]
        if statistics and all((a == 0).all() if "moving_mean" in w else (a == 1).all() for w, a in statistics):
            return ("every BatchNormalization layer still has its initial statistics (mean 0, variance 1): "
                    "the weights of a network that was never trained")
    return None


def _parameter_count(path):
    """(values, tensors) stored in a Keras 3 `.weights.h5` file (its model variables only)."""
    import h5py
    import numpy as np

    counts = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and not name.startswith("optimizer"):
            counts.append(int(np.prod(item.shape)))

    with captured_stderr(), h5py.File(path, "r") as f:
        f.visititems(visit)
    return sum(counts), len(counts)


def _network_of_size(values):
    """The registered networks (at their default configuration) with exactly `values` weights. The
    registry sits above this module (it imports it), so it is looked up, not imported: it is loaded
    whenever a registered builder runs."""
    import sys

    registry = sys.modules.get("kerasnets.core.registry")
    if registry is None:
        return []
    return [spec.name for spec in registry.specs() if spec.params == values]


def keras_weights_problem(path, model):
    """None if the Keras 3 `.weights.h5` file `path` holds as many values as `model` has, else a
    one-line description naming both networks as far as they can be told."""
    import numpy as np

    values, tensors = _parameter_count(path)
    expected = sum(int(np.prod(w.shape)) for w in model.weights)
    if values == expected:
        return None
    names = _network_of_size(values)
    whose = f"the size of {' or '.join(names)}" if names else "another network or configuration"
    return (f"it holds {values:,} weights in {tensors} tensors ({whose}) where {model.name} has {expected:,} in "
            f"{len(model.weights)}")


#: What works without the internet, in the words of the Python API (the apps say it with their options).
OFFLINE_ALTERNATIVES = ("EfficientNet-Lite0/1/2 (kerasnets.EfficientNetLite0(weights=\"imagenet\"), whose weights "
                        "come with pip packages) or weights=None (an untrained network)")


def _offline_help(weights_file, target):
    return (
        f"If this machine has no internet access, download {weights_file.url} elsewhere and "
        f"copy it to {target}, or pass weights='/path/to/{weights_file.name}'. Works offline: "
        f"{OFFLINE_ALTERNATIVES}."
    )


def _download(weights_file, target, progress, check=None):
    url = weights_file.url
    # unbuffered: a write that fails (a full disk) fails at once, never again when the file is closed
    with atomic_output(target) as tmp_path, open(tmp_path, "wb", buffering=0) as out:
        try:
            response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
        except urllib.error.HTTPError as e:
            raise WeightsError(
                f"Could not download the weights file {weights_file.name}: the server answered "
                f"{e.code} {e.reason} for {url}. {_offline_help(weights_file, target)}"
            ) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise WeightsError(
                f"Could not download the weights file {weights_file.name} from {url}: "
                f"{reason}. {_offline_help(weights_file, target)}"
            ) from None
        with response:
            total = int(response.headers.get("Content-Length") or 0) or None
            if total:
                check_free_space(target, total)
            _stream(response, out, total, weights_file.name, progress)
        out.flush()
        problem = _verify(tmp_path, weights_file, check)
        if problem is not None:
            raise WeightsError(
                f"The downloaded weights file {weights_file.name} from {url} {problem}. Nothing "
                f"was saved. Try again; if it persists, the server does not serve the official file."
            )
    return target


def _stream(response, out, total, label, progress):
    from tqdm.auto import tqdm

    received = 0
    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Downloading {label}",
        disable=not progress, leave=True,
    ) as bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, urllib.error.URLError) as e:
                raise WeightsError(f"The download of {label} broke off after {received} bytes: {e}.") from None
            if not chunk:
                break
            out.write(chunk)  # an OSError here is the cache's (a full disk): see writing_cache
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received != total:
        raise WeightsError(
            f"The download of {label} broke off after {received} of {total} bytes. Nothing was saved; try again."
        )


def load_weights(model, weights, spec=None, include_top=True, progress=True):
    """Load `weights` into `model`: None (nothing), "imagenet" (through `spec`), or a file path.

    Legacy `.h5` files (the official keras.applications format) load by topological order, so a
    kerasnets model loads them when its weighted layers and their variables come in the same order.
    A file that does not fit the model is a WeightsError of one line, before Keras reads it.
    """
    if weights is None:
        return model
    if weights == "imagenet":
        weights_file = spec.file(include_top) if spec is not None else None
        if weights_file is None:
            raise WeightsError(f"No ImageNet weights are published for {model.name} (include_top={include_top}).")
        check = None if weights_file.hash else (lambda candidate: structure_problem(candidate, model))
        path = get_file(weights_file, progress=progress, check=check)
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"Weights file not found: {path}. Pass weights='imagenet', None, or an existing file.")
        if path.suffix.lower() in (".pth", ".pt"):
            raise WeightsError(
                f"{path} is a PyTorch state dict, and {model.name} has no PyTorch (torchvision) weight mapping: this "
                "network takes Keras weights files (the keras.applications .h5, or a .weights.h5 saved by Keras). "
                "The networks that read .pth files are those with torchvision weights (see kerasnets.list_models())."
            )
        problem = _local_file_problem(path, model)
        if problem is not None:
            raise WeightsError(
                f"Could not load the weights file {path} into {model.name}: {problem}. Load weights saved from the "
                "same network and configuration (include_top, classes, alpha, input size)."
            )
    try:
        with warnings.catch_warnings(), captured_stderr():
            warnings.simplefilter("ignore")
            model.load_weights(str(path))
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"Could not load the weights file {path} into {model.name}: {first[:300]}. The file is truncated or "
            "corrupt, or it was saved from a different architecture or configuration "
            "(include_top, classes, alpha, input size)."
        ) from None
    return model


def _local_file_problem(path, model):
    """What makes a local weights file unusable for `model`, found before Keras reads it (Keras prints
    pages of warnings and tensors for a mismatched file), or None."""
    name = path.name.lower()
    if not name.endswith(".h5"):
        return None  # other formats (e.g. a converted checkpoint) are Keras' to judge
    problem = hdf5_problem(path)
    if problem is not None:
        return problem
    with contextlib.suppress(OSError, ValueError, KeyError):
        if name.endswith(".weights.h5"):
            return keras_weights_problem(path, model)
        import h5py

        with captured_stderr(), h5py.File(path, "r") as f:
            legacy = "layer_names" in f.attrs or "model_weights" in f
        if legacy:
            return structure_problem(path, model, names=False, trained=False)
    return None
