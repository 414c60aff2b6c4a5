"""apps/test_imagenet.py as a user runs it: a subprocess, real images, real error paths."""

import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from tests.conftest import IMAGES, ROOT, save_legacy_h5

APP = os.path.join(ROOT, "apps", "test_imagenet.py")
CAT = os.path.join(IMAGES, "chelsea_cat.jpg")


def run_app(*args, env=None):
    return subprocess.run(
        [sys.executable, APP, *map(str, args)], capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})}, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    import keras

    import kerasnets

    keras.utils.set_random_seed(0)
    return save_legacy_h5(kerasnets.ResNet50(weights=None), tmp_path_factory.mktemp("w") / "resnet50.h5")


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """The cat photo as 8-bit BGR, grayscale, RGBA (opaque) and 16-bit PNG files."""
    folder = tmp_path_factory.mktemp("variants")
    bgr = cv2.imread(CAT)
    files = {
        "rgb": (bgr, folder / "rgb.png"),
        "rgba": (np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]), folder / "rgba.png"),
        "rgb16": (bgr.astype(np.uint16) * 257, folder / "rgb16.png"),
        "gray": (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), folder / "gray.png"),
    }
    for image, path in files.values():
        assert cv2.imwrite(str(path), image)
    return {key: path for key, (_, path) in files.items()}


def top_labels(stdout):
    return [line.split("Label: ")[1] for line in stdout.splitlines() if line.startswith("ImageNet ID:")]


def test_classifies_and_annotates(weights_file, variants, tmp_path):
    out = tmp_path / "labelled"
    paths = [variants[k] for k in ("rgb", "rgba", "rgb16", "gray")]
    result = run_app("--image", *paths, "--model", "resnet50", "--weights", weights_file, "--top", "3", "--output", out)
    assert result.returncode == 0, result.stderr
    labels = top_labels(result.stdout)
    assert len(labels) == 4
    # Opaque RGBA and 16-bit (x * 257) convert back to exactly the same 8-bit pixels.
    assert labels[0] == labels[1] == labels[2]
    assert result.stdout.count("Probability") == 4 and "   3  n" in result.stdout
    for path in paths:
        written = cv2.imread(str(out / (path.stem + "_labelled.png")))
        original = cv2.imread(CAT)
        assert written.shape == original.shape and np.any(written != original)


def test_single_output_file(weights_file, tmp_path):
    out = tmp_path / "cat.png"
    result = run_app("--image", CAT, "--model", "resnet50", "--weights", weights_file, "--output", out)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(out)) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["cat.png"]  # no temporary file left


def _png_claiming(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND",
        b"")


def bad_inputs(folder):
    cat = open(CAT, "rb").read()
    png = cv2.imencode(".png", cv2.imread(CAT))[1].tobytes()
    files = {
        "text.jpg": b"this is not an image",
        "truncated.jpg": cat[: len(cat) // 2],
        "truncated.png": png[: len(png) // 2],
        "empty.png": b"",
        "huge.png": _png_claiming(100_000, 100_000),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {
        "missing": (folder / "missing.jpg", "no such file"),
        "folder": (folder, "is a folder"),
        "text": (folder / "text.jpg", "not a readable image"),
        "truncated jpeg": (folder / "truncated.jpg", "not a readable image"),
        "truncated png": (folder / "truncated.png", "not a readable image"),
        "empty": (folder / "empty.png", "the file is empty"),
        "too large": (folder / "huge.png", "too large to decode safely"),
    }


def test_bad_inputs_exit_with_one_clear_line(tmp_path):
    for case, (path, message) in bad_inputs(tmp_path).items():
        result = run_app("--image", path)
        assert result.returncode == 1, case
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (case, result.stderr)
        assert str(path) in lines[0]


def test_unknown_model_and_bad_weights(tmp_path):
    result = run_app("--image", CAT, "--model", "resnet5")
    assert result.returncode == 1 and "Unknown model 'resnet5'" in result.stderr and "Traceback" not in result.stderr
    result = run_app("--image", CAT, "--model", "resnet50", "--weights", tmp_path / "nope.h5")
    assert result.returncode == 1 and "not an existing file" in result.stderr


def test_offline_imagenet_weights_is_one_clear_line(tmp_path):
    env = {"KERAS_HOME": str(tmp_path), "KERASNETS_WEIGHTS_URL": "http://127.0.0.1:9"}
    result = run_app("--image", CAT, "--model", "resnet50", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in result.stderr
    assert not any(tmp_path.joinpath("models").iterdir())


def test_list_models():
    result = run_app("--image", CAT, "--list")
    assert result.returncode == 0 and "vgg16" in result.stdout and "resnet50" in result.stdout
