"""apps/train_detector.py and apps/detect.py: argument checks, clear errors, and (slow) a tiny
end-to-end run from training to an annotated image."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasnets.cli import detect, train_detector
from tests.conftest import ROOT


def test_train_detector_rejects_bad_arguments(capsys):
    for argv in (["--image-size", "100"], ["--data", "pictures/"], ["--epochs", "0"]):
        with pytest.raises(SystemExit) as e:
            train_detector.parse_args(argv)
        assert e.value.code == 2
    assert "multiple of 32" in capsys.readouterr().err


def test_train_detector_reports_unreadable_coco(tmp_path, capsys):
    bad = tmp_path / "instances.json"
    bad.write_text("{")
    assert train_detector.main(["--data", f"coco:{bad}", "--output", str(tmp_path / "out")]) == 1
    assert "not a readable COCO json" in capsys.readouterr().err


def test_detect_reports_missing_and_unreadable_files(tmp_path, capsys):
    from kerasnets.images import save_image

    image = tmp_path / "a.png"
    save_image(image, np.zeros((16, 16, 3), np.uint8))
    assert detect.main(["--image", str(tmp_path / "none.png"), "--model", "m.keras"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert detect.main(["--image", str(image), "--model", str(tmp_path / "none.keras")]) == 1
    assert "no such model file" in capsys.readouterr().err
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip")
    assert detect.main(["--image", str(image), "--model", str(garbage), "--output", str(tmp_path / "o.png")]) == 1
    assert "not a Keras model file" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_train_then_detect_end_to_end(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": ROOT}
    train = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "train_detector.py"), "--model", "mask_rcnn",
                            "--backbone", "mobilenetv2", "--alpha", "0.35", "--image-size", "64", "--train-images",
                                "16",
                            "--val-images", "4", "--epochs", "2", "--batch-size", "4", "--rois-per-image", "32",
                            "--output", str(out)], env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert train.returncode == 0, train.stderr[-3000:]
    for name in ("model.keras", "history.csv", "curves.png", "metrics.json", "examples.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "metrics.json").read_text())
    assert set(report["coco"]) == {"bbox", "segm"} and report["epochs_in_history"] == 2
    from kerasnets.detection import synthetic_shapes
    from kerasnets.images import load_image, save_image

    save_image(tmp_path / "in.png", synthetic_shapes(1, 96, seed=5).images[0])
    run = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "detect.py"), "--image", str(tmp_path / "in.png"),
                          "--model", str(out / "model.keras"), "--output", str(tmp_path / "annotated.png"),
                          "--score-threshold", "0.0", "--json", str(tmp_path / "d.json")],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert load_image(tmp_path / "annotated.png").shape == (96, 96, 3)
    assert isinstance(json.loads((tmp_path / "d.json").read_text()), list)


def test_detect_and_train_detector_check_their_outputs_first(tmp_path, capsys):
    from kerasnets.images import save_image

    image = tmp_path / "a.png"
    save_image(image, np.full((16, 16, 3), 7, np.uint8))
    model = tmp_path / "m.keras"
    model.write_bytes(b"not a zip")
    assert detect.main(["--image", str(image), "--model", str(model), "--output", str(image)]) == 1
    assert "is an input file and would be overwritten" in capsys.readouterr().err
    assert detect.main(["--image", str(image), "--model", str(model), "--output", str(tmp_path / "o.txt")]) == 1
    assert "must end in" in capsys.readouterr().err
    assert detect.main(["--image", str(image), "--model", str(model), "--output", str(tmp_path / "o.png"),
                        "--json", str(tmp_path / "o.csv")]) == 1
    assert "must end in .json" in capsys.readouterr().err
    assert (image.read_bytes()[:4] == b"\x89PNG") and not (tmp_path / "o.png").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert train_detector.main(["--data", "shapes", "--output", str(blocker)]) == 1
    assert "is an existing file" in capsys.readouterr().err


def test_default_model_trains_detects_and_resumes(tmp_path):
    """The README's sequence for the default model (Faster R-CNN), tiny: train_detector.py -> detect.py on its
    model.keras -> train_detector.py --resume (each a fresh process)."""
    out, again = tmp_path / "run", tmp_path / "resumed"
    env = {**os.environ, "PYTHONPATH": ROOT}
    tiny = ["--backbone", "mobilenet", "--alpha", "0.25", "--image-size", "64", "--train-images", "8", "--val-images",
            "4", "--epochs", "1", "--batch-size", "4", "--rois-per-image", "16", "--representation-size", "16"]
    train = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "train_detector.py"), *tiny, "--output",
                            str(out)], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert train.returncode == 0, train.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["model"] == "faster_rcnn"
    from kerasnets.detection import synthetic_shapes
    from kerasnets.images import load_image, save_image

    save_image(tmp_path / "in.png", synthetic_shapes(1, 80, seed=5).images[0])
    run = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "detect.py"), "--image", str(tmp_path / "in.png"),
                          "--model", str(out / "model.keras"), "--output", str(tmp_path / "annotated.png"),
                          "--score-threshold", "0.0", "--json", str(tmp_path / "d.json")],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert load_image(tmp_path / "annotated.png").shape == (80, 80, 3)
    assert isinstance(json.loads((tmp_path / "d.json").read_text()), list)
    resume = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "train_detector.py"), *tiny, "--resume",
                             str(out / "model.keras"), "--output", str(again)], env=env, capture_output=True,
                            text=True, timeout=900, check=False)
    assert resume.returncode == 0, resume.stderr[-3000:]
    assert json.loads((again / "metrics.json").read_text())["resumed_from"] == str(out / "model.keras")


# --- torchvision's COCO detectors in the app (the lecture's example) ------------------------------------------


def test_detect_lists_the_coco_detectors(capsys):
    assert detect.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "fasterrcnn_resnet50_fpn                     37.0        -   41,755,286" in out
    assert "maskrcnn_resnet50_fpn                       37.9     34.6   44,401,393" in out
    assert "ssdlite320_mobilenet_v3_large" in out


@pytest.fixture(scope="module")
def mobilenet_state(tmp_path_factory):
    """A torch.save'd state dict of torchvision's fasterrcnn_mobilenet_v3_large_320_fpn (the stored reference's
    random weights) and torchvision's detections with it (tests/data/torchvision_detection)."""
    from tests.torchvision_oracle import detection_state, save_state_dict

    npz = np.load(os.path.join(ROOT, "tests", "data", "torchvision_detection",
                               "fasterrcnn_mobilenet_v3_large_320_fpn.npz"))
    state = detection_state(json.loads(str(npz["keys_shapes"])), int(npz["seed"]), json.loads(str(npz["scales"])))
    return save_state_dict(state, tmp_path_factory.mktemp("pth") / "mobilenet_320.pth"), npz


def test_detect_with_a_torchvision_state_dict_on_a_folder_of_photos(mobilenet_state, tmp_path, capsys):
    """`--model <COCO detector> --weights FILE.pth --image FOLDER`: per photo, each detection's COCO name, score and
    box, as torchvision found them; one annotated photo per input and the JSON keyed by photo."""
    from skimage import data

    from kerasnets.detection.coco import COCO_CATEGORY_NAMES
    from kerasnets.images import save_image

    path, npz = mobilenet_state
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee"):
        save_image(photos / f"{name}.png", getattr(data, name)())
    (photos / "notes.txt").write_text("not a photo")
    out = tmp_path / "out"
    argv = ["--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--weights", str(path), "--image", str(photos),
            "--output", f"{out}/", "--score-threshold", "0.125", "--json", str(tmp_path / "d.json")]
    assert detect.main(argv) == 0
    printed = capsys.readouterr().out
    assert "fasterrcnn_mobilenet_v3_large_320_fpn (" in printed and "19,386,354 parameters" in printed
    found = json.loads((tmp_path / "d.json").read_text())
    assert sorted(found) == [str(photos / "chelsea.png"), str(photos / "coffee.png")]
    for name in ("chelsea", "coffee"):
        scores, labels = npz[f"{name}/scores"], npz[f"{name}/labels"]
        want = [(COCO_CATEGORY_NAMES[int(c)], float(s)) for s, c in zip(scores, labels) if s >= 0.125]
        got = [(d["class"], d["score"]) for d in found[str(photos / f"{name}.png")]]
        if len(want) == len(scores):  # the reference kept its 30 best (box_detections_per_img 30), the app 100
            assert len(got) >= len(want)
            got = got[:len(want)]
        assert [c for c, _ in got] == [c for c, _ in want] and len(want) > 0
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-3)
        assert f"{photos / f'{name}.png'}" in printed
        assert (out / f"{name}_detections.png").is_file()
    assert f"{want[0][0]:>14s} {want[0][1]:.3f}" in printed


def test_detect_coco_model_argument_errors(mobilenet_state, tmp_path, capsys):
    from kerasnets.images import save_image

    image = tmp_path / "a.png"
    save_image(image, np.zeros((40, 50, 3), np.uint8))
    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    cases = [
        (["--model", model, "--image", str(image), "--weights", str(tmp_path / "missing.pth")], 1,
         "no such file; give --weights coco"),
        (["--model", model, "--image", str(image), "--weights", "imagenet"], 2, "takes --weights coco, none or a"),
        (["--model", model, "--image", str(image), "--backbone", "resnet50"], 2, "--backbone goes with --model rcnn"),
        (["--model", "fasterrcnn_resnet50", "--image", str(image)], 1, "did you mean fasterrcnn_resnet50_fpn"),
        (["--model", model, "--image", str(tmp_path / "empty")], 1, "the folder holds no image"),
        (["--model", model], 2, "--image and --model"),
    ]
    (tmp_path / "empty").mkdir()
    for argv, status, message in cases:
        try:
            code = detect.main(argv)
        except SystemExit as e:  # argparse's usage errors
            code = e.code
        assert code == status, argv
        err = capsys.readouterr().err
        assert message in err and (status == 2 or len(err.strip().splitlines()) == 1), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "empty"]  # nothing written


def test_detect_untrained_coco_model_says_so(tmp_path, capsys):
    from kerasnets.images import save_image

    image = tmp_path / "a.png"
    save_image(image, np.full((48, 64, 3), 120, np.uint8))
    assert detect.main(["--model", "ssdlite320_mobilenet_v3_large", "--weights", "none", "--image", str(image),
                        "--output", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out
    assert "untrained" in out and "--weights coco" in out and (tmp_path / "o.png").is_file()
