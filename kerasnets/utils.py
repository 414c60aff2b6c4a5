"""Small process-level helpers shared by the library and the apps."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def captured_stderr():
    """Capture what C and C++ libraries print on file descriptor 2; yields a getter for the text.

    Used around image decoding (libpng, libjpeg messages become part of our error message) and
    around the TensorFlow import in command-line tools (its start-up log lines are noise there).
    """
    captured = {"text": ""}
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters): nothing to capture
        yield lambda: captured["text"]
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: captured["text"]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured["text"] = sink.read().decode("utf-8", "replace").strip()


def import_keras_quietly():
    """Import Keras (and its backend) without TensorFlow's start-up log lines; returns the module.

    If the import fails, what the backend printed is attached to the exception.
    """
    with captured_stderr() as printed:
        try:
            import keras
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


@contextlib.contextmanager
def atomic_output(path, suffix=None):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, else removed.

    Readers never see a half-written file under the final name. The file gets the usual
    permissions (0666 less the umask), not the 0600 of a temporary file. `suffix` defaults to
    that of `path` (some writers choose the format from it).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".part{suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
