"""kerasnets' exceptions: one hierarchy under `KerasnetsError`, and how the apps report them.

    KerasnetsError                  anything kerasnets refuses, with a one-line message naming the fix
    ├── UsageError (ValueError)     bad command-line or argument combination: exit status 2
    ├── InputError (ValueError)     an input file (a saved model, a label file) cannot be used
    ├── ImageError (ValueError)     an image file cannot be read
    ├── OutputError (ValueError)    an output path cannot be written (checked before any work)
    ├── DataError (ValueError)      a data set (image folder, COCO file, tfds name) cannot be used
    │   └── BoxError                boxes, classes or masks of one image cannot be used
    ├── WeightsError (RuntimeError) pretrained weights cannot be obtained or loaded
    └── ExportError (ValueError)    an export cannot be done

Each class also derives from the built-in exception it always was (ValueError or RuntimeError),
so `except ValueError` written against earlier releases still catches it. The old import paths
(`kerasnets.images.ImageError`, `kerasnets.core.weights.WeightsError`,
`kerasnets.train.datasets.DataError`, `kerasnets.detection.data.DataError`,
`kerasnets.detection.boxes.BoxError`, `kerasnets.utils.OutputError`, `export.errors.ExportError`)
are these same classes.

`run_app(main, argv, prog)` is the apps' one wrapper: a KerasnetsError (or a ValueError or OSError
from Keras or the file system) becomes one line on stderr, `error: <message>`, and exit status 1;
a UsageError exits 2, as argparse does. This module imports nothing heavy.
"""

import os
import sys

#: Exit statuses, the same in every app and the export CLI.
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class KerasnetsError(Exception):
    """The base of every exception kerasnets raises on purpose; its message is one line naming the fix."""

    exit_status = EXIT_RUNTIME


class UsageError(KerasnetsError, ValueError):
    """The arguments cannot work together (the apps exit with status 2, like argparse)."""

    exit_status = EXIT_USAGE


class InputError(KerasnetsError, ValueError):
    """An input file (a saved model, a label file, ...) is missing or cannot be used."""


class ImageError(KerasnetsError, ValueError):
    """An image file could not be read; the message names the file and the problem."""


class OutputError(KerasnetsError, ValueError):
    """An output path cannot be written (missing or read-only folder, a folder where a file goes,
    an unsupported suffix, an input file); raised before any work is done."""


class DataError(KerasnetsError, ValueError):
    """Data cannot be used (an image folder, a COCO file, a tensorflow-datasets name, a detection
    set); the message names the folder, file or dataset, the problem and the fix."""


class BoxError(DataError):
    """Boxes, classes or masks cannot be used; the message names the image and the problem."""


class WeightsError(KerasnetsError, RuntimeError):
    """Pretrained weights could not be obtained or loaded; the message says why and what to do."""


class ExportError(KerasnetsError, ValueError):
    """An export could not be done; nothing was written under the output name."""


def program_name(default):
    """The name the user typed: the console script (`kerasnets-detect`) when run as one, else `default`
    (e.g. `apps/detect.py`'s `detect.py`, or `python -m export`)."""
    base = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if base.startswith("kerasnets-"):
        return base
    return default


def one_line(error):
    """The message of `error` on one line (a multi-line message keeps its first line)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    first = text.splitlines()[0]
    if isinstance(error, OSError) and not isinstance(error, KerasnetsError):
        return _os_message(error)
    return first


def app_syntax(message):
    """A weights message of the Python API (`weights='/path/x.h5'`, `weights=None`) in the apps' option
    syntax (`--weights PATH`, `--weights none`)."""
    import re

    text = str(message)
    text = re.sub(r"pass weights='(/path/to/[^']*)'", r"pass --weights \1", text)
    text = re.sub(r"Works offline: .*?\(an untrained network\)\.",
                  "Works offline: efficientnet_lite0 (also _lite1, _lite2), whose ImageNet weights come with pip "
                  "packages, or --weights none (an untrained network).", text)
    return text.replace("weights='imagenet', None, or an existing file", "--weights imagenet, none, or a file path")


def _os_message(error):
    where = f"{error.filename}: " if getattr(error, "filename", None) else ""
    reason = error.strerror or str(error).splitlines()[0]
    hint = ""
    if error.errno == 28:
        hint = " Free some space or choose another folder; nothing was left under the final name."
    elif error.errno in (13, 30):
        hint = " Choose a writable folder (or set KERAS_HOME to one for the weights cache)."
    return f"{where}{reason}.{hint}"


def run_app(main, argv=None):
    """Run an app's `main(argv)`: its return value is the exit status; a KerasnetsError (a ValueError
    raised by a builder, an OSError of the file system) becomes `error: <one line>` on stderr and
    status 1 (2 for a UsageError). Other exceptions are bugs and keep their traceback."""
    import warnings

    from kerasnets.utils import filtered_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    original = warnings.formatwarning

    def format_warning(message, category, filename, lineno, line=None):
        """kerasnets' own warnings as `warning: <message>`; others keep Python's format."""
        if getattr(category, "__module__", "").startswith(("kerasnets", "export")) or filename.startswith(_PACKAGES):
            return f"warning: {message}\n"
        return original(message, category, filename, lineno, line)

    warnings.formatwarning = format_warning
    try:
        with filtered_stderr():
            try:
                return main(argv)
            except (KerasnetsError, ValueError, OSError) as e:
                text = one_line(e)
                print(f"error: {app_syntax(text) if isinstance(e, WeightsError) else text}", file=sys.stderr)
                return getattr(e, "exit_status", EXIT_RUNTIME)
            except KeyboardInterrupt:
                print("error: interrupted; every file already written is complete, none is half-written.",
                      file=sys.stderr)
                return 130
    finally:
        warnings.formatwarning = original


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGES = (os.path.join(_ROOT, "kerasnets") + os.sep, os.path.join(_ROOT, "export") + os.sep)
