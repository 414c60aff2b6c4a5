"""Pretrained weights: where the official files live, downloading, caching and verification.

Every network that keras.applications publishes ImageNet weights for points at the *official*
file (same URL, same file name, same hash), so a file already in the Keras cache is shared with
keras.applications. Downloads go to `$KERAS_HOME/models` (default `~/.keras/models`), show a
progress bar, are verified against the published hash, and are written atomically: the data
goes to a temporary file in the cache folder that is renamed to its final name only after the
hash matched. A cached file is re-verified before every use and never loaded if it fails.

Set `KERASNETS_WEIGHTS_URL` to serve the same folder layout from a mirror (or, in the tests, from
a local HTTP server).
"""

import hashlib
import os
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kerasnets.utils import atomic_output

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications"
BASE_URL_ENV = "KERASNETS_WEIGHTS_URL"
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


class WeightsError(RuntimeError):
    """Pretrained weights could not be obtained or loaded; the message says why and what to do."""


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


def file_digest(path, algorithm):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def get_file(weights_file, progress=True):
    """Return the local path of `weights_file`, downloading and verifying it if needed."""
    folder = cache_dir()
    target = folder / weights_file.name
    if target.exists():
        problem = _verify(target, weights_file)
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
    _download(weights_file, target, progress)
    return target


def _verify(path, weights_file):
    """None if `path` matches the published hash, else a description of the mismatch."""
    if not weights_file.hash:
        return None
    actual = file_digest(path, weights_file.algorithm)
    if actual == weights_file.hash:
        return None
    return (
        f"failed verification ({weights_file.algorithm} {actual}, expected {weights_file.hash}: "
        "the file is truncated, corrupt or not the published one)"
    )


def _offline_help(weights_file, target):
    return (
        f"If this machine has no internet access, download {weights_file.url} elsewhere and "
        f"copy it to {target}, or pass weights='/path/to/{weights_file.name}'."
    )


def _download(weights_file, target, progress):
    url = weights_file.url
    with atomic_output(target) as tmp_path, open(tmp_path, "wb") as out:
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
            _stream(response, out, total, weights_file.name, progress)
        out.flush()
        problem = _verify(tmp_path, weights_file)
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
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, urllib.error.URLError) as e:
            raise WeightsError(f"The download of {label} broke off after {received} bytes: {e}.") from None
    if total is not None and received != total:
        raise WeightsError(
            f"The download of {label} broke off after {received} of {total} bytes. Nothing was saved; try again."
        )


def load_weights(model, weights, spec=None, include_top=True, progress=True):
    """Load `weights` into `model`: None (nothing), "imagenet" (through `spec`), or a file path.

    Legacy `.h5` files (the official keras.applications format) load by topological order, so a
    kerasnets model loads them when its weighted layers and their variables come in the same order.
    """
    if weights is None:
        return model
    if weights == "imagenet":
        weights_file = spec.file(include_top) if spec is not None else None
        if weights_file is None:
            raise WeightsError(f"No ImageNet weights are published for {model.name} (include_top={include_top}).")
        path = get_file(weights_file, progress=progress)
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"Weights file not found: {path}. Pass weights='imagenet', None, or an existing file.")
    try:
        model.load_weights(str(path))
    except (OSError, ValueError, KeyError) as e:
        raise WeightsError(
            f"Could not load the weights file {path} into {model.name}: {e}. The file is truncated or "
            "corrupt, or it was saved from a different architecture or configuration "
            "(include_top, classes, alpha, input size)."
        ) from None
    return model
