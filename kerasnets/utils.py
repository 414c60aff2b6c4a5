"""Small process-level helpers shared by the library and the apps."""

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from kerasnets.errors import OutputError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)

_REDIRECT_LOCK = threading.Lock()
_REDIRECT = {"depth": 0, "saved": None, "sink": None}


@contextlib.contextmanager
def captured_stderr():
    """Capture what C and C++ libraries print on file descriptor 2; yields a getter for the text.

    Used around image decoding (libpng, libjpeg messages become part of our error message) and
    around the TensorFlow import in command-line tools (its start-up log lines are noise there).
    File descriptors are process-wide, so concurrent captures (tf.data decoding images in parallel
    threads) share one redirection, counted: the first to enter redirects, the last to leave
    restores, and each reads what was written while it was inside (possibly with a neighbour's lines).
    """
    captured = {"text": ""}
    with _REDIRECT_LOCK:
        if _REDIRECT["depth"] == 0:
            try:
                saved = os.dup(2)
            except OSError:  # no real stderr (embedded interpreters): nothing to capture
                saved = None
            if saved is not None:
                sink = tempfile.TemporaryFile(mode="w+b")
                os.dup2(sink.fileno(), 2)
                _REDIRECT.update(saved=saved, sink=sink)
        _REDIRECT["depth"] += 1
        sink = _REDIRECT["sink"]
        start = os.lseek(sink.fileno(), 0, os.SEEK_END) if sink is not None else 0
    try:
        yield lambda: captured["text"]
    finally:
        with _REDIRECT_LOCK:
            if sink is not None:
                end = os.lseek(sink.fileno(), 0, os.SEEK_END)
                captured["text"] = os.pread(sink.fileno(), end - start, start).decode("utf-8", "replace").strip()
            _REDIRECT["depth"] -= 1
            if _REDIRECT["depth"] == 0 and _REDIRECT["saved"] is not None:
                os.dup2(_REDIRECT["saved"], 2)
                os.close(_REDIRECT["saved"])
                _REDIRECT["sink"].close()
                _REDIRECT.update(saved=None, sink=None)


def import_keras_quietly():
    """Import Keras (and its backend, with its devices) without TensorFlow's start-up log lines;
    returns the module.

    If the import fails, what the backend printed is attached to the exception.
    """
    with captured_stderr() as printed:
        try:
            import keras

            if keras.backend.backend() == "tensorflow":  # the devices start here (CUDA probes log on stderr)
                import tensorflow as tf

                tf.config.list_physical_devices()
        except Exception as e:
            error = e
        else:
            error = None
    if error is not None:
        raise ImportError(f"Keras could not be imported: {error}\n{printed()}") from error
    return keras


def current_umask():
    """The process umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: A temporary left by a process that still runs is removed only after this long (seconds).
STALE_AFTER_S = 24 * 3600


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temporaries(folder, prefix):
    """Remove what a killed process left in `folder` under `prefix` (`.<name>.<pid>.*.part*` files of
    atomic_output, `<prefix><pid>-*` folders of temporary_folder): entries whose process is gone, or
    that are older than STALE_AFTER_S. Returns the number removed; never raises."""
    import shutil
    import time

    removed = 0
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return 0
    for entry in entries:
        rest = entry.name[len(prefix):]
        pid_text = rest.split(".", 1)[0].split("-", 1)[0]
        if not pid_text.isdigit() or (".part" not in rest and not entry.is_dir(follow_symlinks=False)):
            continue
        try:
            old = time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
            if int(pid_text) == os.getpid() and not old:
                continue
            if old or not _process_alive(int(pid_text)):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def temporary_folder(prefix):
    """A temporary folder `<tmp>/<prefix><pid>-XXXX`, removed afterwards; the ones a killed process
    left (its pid is gone) are removed first."""
    import shutil

    remove_stale_temporaries(tempfile.gettempdir(), prefix)
    folder = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path, suffix=None):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, else removed.

    Readers never see a half-written file under the final name. The file gets the usual
    permissions (0666 less the umask), not the 0600 of a temporary file. `suffix` defaults to
    that of `path` (some writers choose the format from it).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    remove_stale_temporaries(path.parent, f".{path.name}.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=f".part{suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise




def is_folder_path(path):
    """True when `path` names a folder: it ends with a path separator, or is an existing folder."""
    text = os.fspath(path)
    return text.endswith((os.sep, "/")) or os.path.isdir(text)


def _nearest_existing(folder):
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _write_problem(folder):
    """None if a file can be created in `folder` (tried: a permission check is not enough for root, nor
    for /proc, read-only mounts or full quotas), else the reason."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".kerasnets-write-check-")
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def check_output(path, *, what="output", suffixes=None, inputs=(), folder=False, create_parents=False,
                 default_suffix=None):
    """Check, before any work is done, that `path` can be written; raise OutputError naming the fix.

    A file output must not be an existing folder, must not be one of `inputs` (never overwrite an
    input), must end in one of `suffixes` (lower case, with the dot; `default_suffix` stands in for
    none), and its folder must exist (or, with `create_parents`, the nearest existing ancestor)
    and be writable. A `folder` output (also any path ending in a separator) must not be a file,
    and it or its nearest existing ancestor must be a writable folder. Returns `path` as a string.
    """
    text = os.fspath(path)
    if not text.strip():
        raise OutputError(f"the {what} path is empty; give a file name.")
    if folder or text.endswith((os.sep, "/")):
        if os.path.exists(text) and not os.path.isdir(text):
            raise OutputError(f"{text}: the {what} is an existing file; give a folder path.")
        parent = _nearest_existing(text)
        if not parent.is_dir():
            raise OutputError(f"{text}: cannot create the {what} because {parent} is a file, not a folder.")
        problem = "not writable" if not os.access(parent, os.W_OK) else _write_problem(parent)
        if problem:
            raise OutputError(f"{text}: cannot write the {what}; {parent} is not writable ({problem}).")
        return text
    if os.path.isdir(text):
        hint = f" ending in {suffixes[0]}" if suffixes else ""
        raise OutputError(f"{text}: is a folder; the {what} must be a file name{hint}.")
    for source in inputs:
        if source is not None and os.path.exists(text) and _same_file(text, source):
            raise OutputError(f"{text}: is an input file and would be overwritten; choose another {what} path.")
    if suffixes is not None:
        suffix = os.path.splitext(text)[1].lower() or default_suffix
        if suffix not in suffixes:
            listed = " or ".join(suffixes) if len(suffixes) <= 3 else (
                f"{suffixes[0]} or {suffixes[1]} (or {', '.join(suffixes[2:])})")
            raise OutputError(
                f"{text}: the {what} must end in {listed}"
                + (f"; received {suffix!r}." if suffix else " (the file name has no suffix).")
            )
    parent = Path(os.path.dirname(os.path.abspath(text)))
    if not parent.is_dir():
        ancestor = _nearest_existing(parent)
        if not ancestor.is_dir():
            raise OutputError(f"{text}: {ancestor} is a file, not a folder; the {what} cannot go inside it.")
        if not create_parents:
            raise OutputError(f"{text}: the folder {parent} does not exist; create it first.")
        parent = ancestor
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{text}: the folder {parent} is not writable.")
    problem = _write_problem(parent)
    if problem:
        raise OutputError(f"{text}: no file can be written in the folder {parent} ({problem}); choose another "
                          f"{what} path.")
    return text


@contextlib.contextmanager
def created_folders(*paths):
    """Create the folders `paths` (with their parents); if the block fails, remove the ones this
    call created that are still empty, so a failed run leaves no empty output folder behind."""
    created = []
    try:
        for path in paths:
            missing = []
            folder = Path(os.path.abspath(path))
            while not folder.exists():
                missing.append(folder)
                folder = folder.parent
            os.makedirs(path, exist_ok=True)
            created += missing  # deepest first
        yield
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        raise


def save_figure(figure, path, **options):
    """Write a matplotlib figure atomically (the format follows the suffix, PNG by default) and close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_output(path) as tmp:
            figure.savefig(tmp, format=os.path.splitext(os.fspath(path))[1][1:] or "png", **options)
    finally:
        plt.close(figure)


def lazy_exports(package, exports):
    """`(__all__, __getattr__, __dir__)` for a package whose public names (`exports`: module ->
    names) are imported from their modules on first use, so that importing the package, or a
    light module of it, does not start Keras and TensorFlow."""
    import importlib
    import sys

    location = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name not in location:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(location[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(location))

    return sorted(location), __getattr__, __dir__


#: Lines that TensorFlow, XLA and LiteRT print on stderr of a run that works: start-up notices, device
#: probes and converter chatter (E-level lines among them: "failed call to cuInit", oneDNN's int64 note).
NOISE_PATTERNS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*",  # absl INFO / WARNING lines
    r"E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] (?:failed call to cuInit|.*oneDNN|Unable to register cu|"
    r".*computation placer already registered|.*TF-TRT|.*cuda|.*CUDA).*",
    r"To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.",
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
    r"INFO: Initialized TensorFlow Lite runtime\.",
    r"fully_quantize: \d, inference_type: \d+, input_inference_type: .*",
    r"Summary on the non-converted ops:|-{5,}|\s*\* Accepted dialects: .*|\s*\* Non-Converted Ops: .*|"
    r"\s*\* \d+ ARITH ops.*|\s*- arith\.\S+: .*",
    r"WARNING:absl:.*(?:Compiled the loaded model|No training configuration found|Please consider providing the "
    r"trackable_obj).*",
)
QUIET_ENV = "KERASNETS_NATIVE_LOGS"


@contextlib.contextmanager
def filtered_stderr(patterns=NOISE_PATTERNS):
    """While inside: what anything in the process (C++ libraries included) writes on file descriptor 2
    passes through a filter that drops the lines matching `patterns` (whole lines) and forwards every
    other line at once, so real errors and warnings still show. `KERASNETS_NATIVE_LOGS=1` turns the
    filter off."""
    import re
    import sys

    if os.environ.get(QUIET_ENV) == "1":
        yield
        return
    try:
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        yield
        return
    noise = re.compile("|".join(f"(?:{p})" for p in patterns))

    def forward():
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            parts = re.split(rb"(\r\n|\n|\r)", pending)  # text, end, text, end, ..., the unfinished rest
            pending = parts.pop()
            kept = b"".join(text + end for text, end in zip(parts[::2], parts[1::2])
                            if not noise.fullmatch(text.decode("utf-8", "replace")))
            if kept:
                with contextlib.suppress(OSError):
                    os.write(saved, kept)
        if pending and not noise.fullmatch(pending.decode("utf-8", "replace")):
            with contextlib.suppress(OSError):
                os.write(saved, pending)

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=forward, name="kerasnets-stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end (children that still hold it aside)
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)


#: The default of an argument that was not passed (renamed_argument tells it from None).
class _Unset:
    def __repr__(self):
        return "<not given>"


UNSET = _Unset()


def renamed_argument(function, new, new_value, old, old_value, default=None):
    """The value of an argument renamed from `old` to `new` (one spelling across the package): the
    new one, else the old one with a DeprecationWarning, else `default`; both at once is an error."""
    import warnings

    if old_value is UNSET:
        return default if new_value is UNSET else new_value
    if new_value is not UNSET:
        raise TypeError(f"{function}() got both {new}= and its old spelling {old}=; pass {new}= only.")
    warnings.warn(f"{function}({old}=...) is deprecated; the argument is spelt {new}= everywhere in kerasnets.",
                  DeprecationWarning, stacklevel=3)
    return old_value
