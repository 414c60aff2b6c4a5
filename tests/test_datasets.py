"""kerasnets.datasets: image folders (odd files skipped and counted, splits, unusual images) and the
tf.data pipelines; apps/fine_tune.py end to end on the offline digits demo, and its error messages."""

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT

APP = os.path.join(ROOT, "apps", "fine_tune.py")


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def messy_folder(tmp_path):
    """Three classes of tiny images in every format kerasnets reads, plus three files that are not images."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for label, name in enumerate(["cat", "dog", "fox"]):
        for i in range(6):
            base = np.full((20 + i, 24, 3), 60 * label, np.uint8) + rng.integers(0, 30, (20 + i, 24, 3), dtype=np.uint8)
            _write(root / name / f"{i}.png", base)
        _write(root / name / "gray.jpg", base[..., 0])
        _write(root / name / "sub" / "rgba.png", np.dstack([base, np.full(base.shape[:2], 255, np.uint8)]))
        _write(root / name / "deep.png", base.astype(np.uint16) * 257)
    (root / "cat" / "notes.jpg").write_text("not an image")
    (root / "dog" / "empty.png").write_bytes(b"")
    data = (root / "fox" / "0.png").read_bytes()
    (root / "fox" / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "README.txt").write_text("ignored: not in a class folder")
    (root / "empty_class").mkdir()
    return root


def test_scan_counts_classes_and_skips_files_that_are_not_images(messy_folder):
    from kerasnets.train.datasets import scan_image_folder

    with pytest.warns(UserWarning, match="skipped an unreadable image"):
        folder = scan_image_folder(messy_folder)
    assert folder.class_names == ["cat", "dog", "fox"]  # the empty sub-folder is not a class
    assert folder.counts().tolist() == [9, 9, 10]  # 6 + gray + rgba + 16-bit (fox: + the truncated png, found later)
    assert sorted(os.path.basename(p) for p, _ in folder.skipped) == ["empty.png", "notes.jpg"]


def test_pipeline_drops_undecodable_images_and_reads_unusual_formats(messy_folder):
    from kerasnets.train.datasets import image_dataset, scan_image_folder

    with pytest.warns(UserWarning):
        folder = scan_image_folder(messy_folder)
        data = image_dataset(folder, 16, batch_size=8)
        batches = list(data.as_numpy_iterator())
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert images.shape == (27, 16, 16, 3) and images.dtype == np.float32 and 0 <= images.min() <= images.max() <= 255
    assert labels.shape == (27, 3) and labels.sum(axis=0).tolist() == [9, 9, 9]
    assert len(folder.skipped) == 3 and "truncated.png" in folder.skipped[-1][0]
    assert sum(len(x) for x, _ in image_dataset(folder, 16, batch_size=8, cache=False, training=True)) == 27


def test_stratified_split_and_ready_made_split_folders(tmp_path):
    from kerasnets.train.datasets import DataError, split_image_folder

    image = np.zeros((8, 8, 3), np.uint8)
    for name, count in [("a", 10), ("b", 5), ("c", 2)]:
        for i in range(count):
            _write(tmp_path / "flat" / name / f"{i}.png", image)
    train, validation = split_image_folder(tmp_path / "flat", 0.2, seed=1)
    assert train.counts().tolist() == [8, 4, 1] and validation.counts().tolist() == [2, 1, 1]
    assert not set(train.paths) & set(validation.paths)
    assert split_image_folder(tmp_path / "flat", 0.2, seed=1)[1].paths == validation.paths  # reproducible
    for split, names in [("train", "ab"), ("val", "ab")]:
        for name in names:
            _write(tmp_path / "splits" / split / name / "0.png", image)
    train, validation = split_image_folder(tmp_path / "splits", 0.5)
    assert train.root.name == "train" and validation.root.name == "val" and len(train) == len(validation) == 2
    _write(tmp_path / "splits" / "val" / "z" / "0.png", image)
    with pytest.raises(DataError, match="the classes in train/ .* and val/ .* differ"):
        split_image_folder(tmp_path / "splits")


@pytest.mark.parametrize("case, message", [
    ("missing", "the data folder does not exist"),
    ("empty", "found 0 with images"),
    ("one_class", r"at least 2 class sub-folders .* found 1 with images \(only\)"),
    ("only_junk", "found 0 with images"),
])
def test_unusable_folders_say_what_a_classifier_needs(tmp_path, case, message):
    from kerasnets.train.datasets import DataError, scan_image_folder

    root = tmp_path / "data"
    if case != "missing":
        root.mkdir()
    if case == "one_class":
        _write(root / "only" / "0.png", np.zeros((4, 4, 3), np.uint8))
    if case == "only_junk":
        (root / "a").mkdir()
        (root / "a" / "x.jpg").write_text("junk")
    with pytest.raises(DataError, match=message):
        scan_image_folder(root)


def test_augmentation_names(tmp_path):
    from kerasnets.train.datasets import DataError, augmentation

    assert augmentation("none") is None
    assert [layer.name.split("_")[1] for layer in augmentation("default").layers] == ["flip", "rotation", "zoom",
        "contrast"]
    with pytest.raises(DataError, match="unknown augmentation blur"):
        augmentation("flip,blur")


def test_shared_folder_readers(messy_folder):
    """The export calibration and the tfmot bridge read folders through kerasnets.datasets."""
    from export.tflite import representative_images
    from export.tfmot_bridge import load_image_folder

    with pytest.warns(UserWarning):
        images, labels, names = load_image_folder(messy_folder, (12, 12))
        samples = representative_images(messy_folder, (12, 12), limit=5)
    assert images.shape == (27, 12, 12, 3) and labels.tolist().count(2) == 9 and names == ["cat", "dog", "fox"]
    assert len(samples) == 5 and samples[0].shape == (1, 12, 12, 3)


def test_tensorflow_datasets_by_name(tmp_path):
    """A dataset prepared in a tfds data folder (here scikit-learn's digits stored with tfds' own
    writer; users get theirs from `tfds build`) trains like an image folder."""
    import tensorflow as tf
    import tensorflow_datasets as tfds
    from sklearn.datasets import load_digits

    from kerasnets.train.datasets import DataError, tfds_splits

    digits = load_digits()
    images = np.repeat(np.round(digits.images * 255 / 16).astype(np.uint8)[..., None], 3, axis=-1)
    features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 3)),
                                           "label": tfds.features.ClassLabel(names=[f"digit {d}" for d in range(10)])})
    split = tf.data.Dataset.from_tensor_slices({"image": images[:300], "label": digits.target[:300]})
    tfds.dataset_builders.store_as_tfds_dataset("kerasnets_digits", "1.0.0", features, {"train": split},
                                                data_dir=str(tmp_path), disable_shuffling=True)
    train, validation, names = tfds_splits("kerasnets_digits", 16, data_dir=str(tmp_path), batch_size=50)
    assert names[3] == "digit 3"
    sizes = [len(x) for x, _ in train], [len(x) for x, _ in validation]
    assert sum(sizes[0]) == 240 and sum(sizes[1]) == 60  # no validation split: the last 20 % of train
    x, y = next(iter(validation))
    assert x.shape == (50, 16, 16, 3) and y.shape == (50, 10) and float(tf.reduce_max(x)) > 200
    assert np.argmax(y, axis=-1).tolist() == digits.target[240:290].tolist()
    with pytest.raises(DataError, match="tfds build no_such_dataset"):
        tfds_splits("no_such_dataset", 16, data_dir=str(tmp_path))


def _app(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": ROOT}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, APP, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return result, time.perf_counter() - start


def test_app_rejects_bad_data_before_loading_tensorflow(tmp_path):
    result, seconds = _app("--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "m.keras"))
    assert result.returncode == 1 and "the data folder does not exist" in result.stderr
    assert "Traceback" not in result.stderr and seconds < 20
    (tmp_path / "one" / "a").mkdir(parents=True)
    _write(tmp_path / "one" / "a" / "0.png", np.zeros((4, 4, 3), np.uint8))
    result, _ = _app("--data", str(tmp_path / "one"), "--output", str(tmp_path / "m.keras"))
    assert result.returncode == 1 and "at least 2 class sub-folders" in result.stderr
    result, _ = _app("--data", str(tmp_path / "one"), "--output", str(tmp_path / "m.h5"))
    assert result.returncode == 2 and "--output must end in .keras" in result.stderr


def test_app_names_unknown_models_and_layers(tmp_path):
    for name in "ab":
        for i in range(2):
            _write(tmp_path / "d" / name / f"{i}.png", np.zeros((8, 8, 3), np.uint8))
    common = ["--data", str(tmp_path / "d"), "--output", str(tmp_path / "m.keras"), "--weights", "none",
        "--image-size", "32"]
    result, _ = _app(*common, "--model", "resnet5")
    assert result.returncode == 1 and "Unknown model 'resnet5'" in result.stderr and "resnet50" in result.stderr
    result, _ = _app(*common, "--model", "mobilenet", "--scenario", "fine_tune_from", "--fine-tune-from",
        "conv_pw_13_rel")
    assert result.returncode == 1 and "did you mean conv_pw_13_relu" in result.stderr
    assert "warning: --weights none with --scenario fine_tune_from" in result.stderr  # a frozen random body
    assert not list(tmp_path.glob("m*")) and not list(tmp_path.glob(".m*"))  # nothing half-written


@pytest.mark.slow
def test_offline_demo_from_digits_to_int8_tflite(tmp_path):
    """The README's demo: EfficientNet-Lite0 fine-tuned from its ImageNet weights (a pip package, nothing
    downloaded), >= 95 % held-out accuracy in float, int8 LiteRT within 1 point."""
    import keras

    output = tmp_path / "demo" / "model.keras"
    result, seconds = _app("--demo", "--output", str(output), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "demo" / "model_summary.json").read_text())
    print(f"\ndigits demo: Keras float {summary['keras_accuracy']:.4f}, LiteRT int8 {summary['tflite_accuracy']:.4f}, "
          f"{summary['validation_images']} images, {summary['tflite_bytes']} bytes, {seconds:.0f} s")
    assert summary["validation_images"] == 359 and summary["model"] == "efficientnet_lite0_classifier"
    assert summary["scenario"] == "fine_tune_from" and "trains blocks 0-30 of 31" in result.stdout
    assert summary["keras_accuracy"] >= 0.95
    assert abs(summary["tflite_accuracy"] - summary["keras_accuracy"]) <= 0.01
    for name in ("model_curves.png", "model_confusion.png", "model_labels.txt", "model_report.txt",
        "model_int8.tflite"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert (tmp_path / "demo" / "model_labels.txt").read_text().split() == [str(d) for d in range(10)]
    assert "Held-out accuracy on 359 validation images: Keras float32" in result.stdout

    from export.metadata import read
    from kerasnets.train.datasets import read_images, scan_image_folder

    metadata = read((tmp_path / "demo" / "model_int8.tflite").read_bytes())
    assert metadata.labels == [str(d) for d in range(10)] and metadata.mean == [0.0] and metadata.std == [1.0]
    model = keras.models.load_model(output)
    folder = scan_image_folder(tmp_path / "demo" / "digits")
    images = read_images(folder.paths[::50], summary["image_size"])
    assert np.mean(np.argmax(model.predict(images, verbose=0),
        axis=-1) == folder.labels[::50]) >= 0.9  # reloaded: raw pixels in
