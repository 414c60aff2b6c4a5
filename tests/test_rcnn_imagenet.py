"""R-CNN with no training: EfficientNet-Lite0's ImageNet weights (installed with the package) classify
selective-search regions of the shipped photos - the top detection on the cat photo is a cat covering
most of the cat, and on a cat and a coffee cup side by side both are found in their own halves.

The full-size photos take 20-40 s each on 2 busy cores (slow); the default suite runs the same
pipeline on a half-size photo with few proposals, the post-processing on hand-made scores, and the
app's argument checks."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from kerasnets.cli import detect
from tests.conftest import ROOT

CAT_CLASSES = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}  # ImageNet 281-285
CUP_CLASSES = {"cup", "espresso", "coffee_mug"}
#: Chelsea in images/chelsea_cat.jpg (451 x 300), measured by hand: her head and body fill the photo
#: from the left edge to x = 400 (right of it, the background); top to bottom.
CAT_BOX = np.float32([0, 0, 400, 300])


def coverage(box, target):
    """The fraction of `target`'s area that `box` covers, and their IoU."""
    lt, rb = np.maximum(box[:2], target[:2]), np.minimum(box[2:], target[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    area = lambda b: float((b[2] - b[0]) * (b[3] - b[1]))  # noqa: E731
    return inter / area(target), inter / (area(box) + area(target) - inter)


def photo(name, scale=1.0):
    from kerasnets.images import load_image

    image = load_image(os.path.join(ROOT, "images", name))
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def side_by_side(height=300):
    """scikit-image's cat (left) and coffee cup (right), resized to the same height and joined."""
    import skimage.data

    parts = [skimage.data.chelsea(), skimage.data.coffee()]
    parts = [cv2.resize(p, (round(p.shape[1] * height / p.shape[0]), height), interpolation=cv2.INTER_AREA)
             for p in parts]
    return np.concatenate(parts, axis=1), parts[0].shape[1]


@pytest.fixture(scope="module")
def lite0():
    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    from kerasnets.detection.rcnn import ImageNetRCNN

    return ImageNetRCNN.from_classifier("efficientnet_lite0", weights="imagenet")


def check_cat(result, scale, min_covered=0.6, min_iou=0.5):
    assert len(result["names"]), "no detection at all"
    top = result["boxes"][0]
    assert result["names"][0] in CAT_CLASSES, list(zip(result["names"], result["scores"]))[:5]
    covered, iou = coverage(top / scale, CAT_BOX)
    on_cat, _ = coverage(CAT_BOX, top / scale)  # the share of the top box that lies on the cat
    assert covered > min_covered and iou > min_iou and on_cat > 0.8, (top, covered, iou, on_cat)
    assert np.all(np.diff(result["scores"]) <= 0) and result["scores"][0] >= 0.5


def test_selective_search_order_does_not_depend_on_what_ran_before():
    """OpenCV ranks the regions with the C library's rand(): unseeded, a bound on the proposals kept
    a different 40 after anything else had drawn from it (CI's failure: the top box then covered 48 %
    of the cat). The seeded order is the same whatever ran before; another seed reorders."""
    import ctypes

    from kerasnets.detection.rcnn import selective_search

    image = photo("chelsea_cat.jpg", 0.5)
    first = selective_search(image, max_proposals=None)
    for _ in range(1000):
        ctypes.CDLL(None).rand()
    np.testing.assert_array_equal(selective_search(image, max_proposals=None), first)
    other = selective_search(image, max_proposals=None, seed=7)
    assert not np.array_equal(other, first)
    assert {tuple(b) for b in other} == {tuple(b) for b in first}  # the same regions, ranked otherwise


def test_cat_photo_half_size_few_proposals(lite0):
    """The default-suite version: half-size photo, the first 40 proposals. With so few, the top box
    may be the cat's head and back rather than the whole cat (measured over seeds 1-12 of the
    ranking: it covers 48-100 % of the cat, always a cat class, always on the cat)."""
    image = photo("chelsea_cat.jpg", 0.5)
    proposals = lite0.proposals(image)[:40]
    assert 10 <= len(proposals) <= 40
    check_cat(lite0.detect([image], [proposals])[0], 0.5, min_covered=0.45, min_iou=0.45)


@pytest.mark.slow
def test_cat_photo(lite0):
    image = photo("chelsea_cat.jpg")
    proposals = lite0.proposals(image)
    assert 50 <= len(proposals) <= lite0.max_proposals
    check_cat(lite0.detect([image], [proposals])[0], 1.0)


@pytest.mark.slow
def test_cat_and_cup_side_by_side(lite0):
    image, split = side_by_side()
    result = lite0.detect([image])[0]
    found = {}
    for box, name in zip(result["boxes"], result["names"]):
        kind = "cat" if name in CAT_CLASSES else "cup" if name in CUP_CLASSES else None
        left = float(np.clip(split - box[0], 0, box[2] - box[0]) / (box[2] - box[0]))  # share of the box left of split
        if kind:
            found.setdefault(kind, []).append(left)
    assert "cat" in found and "cup" in found, list(zip(result["names"], result["scores"]))
    assert max(found["cat"]) >= 0.9, found  # a cat box (at least) lies in the left half
    assert min(found["cup"]) <= 0.1, found  # and a cup box in the right half


def test_postprocess_threshold_class_nms_and_parts():
    """Hand-made class probabilities: the threshold, per-class NMS (boxes of other classes never
    suppress each other) and parts of larger detections dropped, on a 3-class toy classifier."""
    import keras

    from kerasnets.detection.rcnn import ImageNetRCNN

    classifier = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                                   keras.layers.Dense(3, activation="softmax")])
    boxes = np.float32([[0, 0, 100, 100],     # a: class 0, 0.9
                        [5, 5, 100, 100],     # b: class 0, 0.8, IoU 0.9 with a -> suppressed
                        [0, 0, 100, 100],     # c: class 1, 0.7, same box as a but another class -> kept by NMS
                        [200, 0, 300, 100],   # d: class 2, 0.95
                        [210, 10, 250, 50],   # e: class 2, 0.99, inside d (d's 0.95 >= 0.8 * 0.99) -> a part
                        [120, 0, 180, 60],    # f: class 0, 0.4 -> under the threshold
                        [10, 10, 40, 40]])    # g: class 1, 0.97, inside a; a's 0.9 >= 0.8 * 0.97 -> a part
    classes, scores = [0, 0, 1, 2, 2, 0, 1], [0.9, 0.8, 0.7, 0.95, 0.99, 0.4, 0.97]
    probabilities = np.full((7, 3), 0.0, np.float32)
    probabilities[np.arange(7), classes] = scores
    cases = [  # (options, expected (box index, class) best first)
        ({}, [(3, 2), (0, 0), (2, 1)]),
        ({"part_classes": "same"}, [(6, 1), (3, 2), (0, 0), (2, 1)]),
        ({"part_overlap": None}, [(4, 2), (6, 1), (3, 2), (0, 0), (2, 1)]),
        ({"score_threshold": 0.92, "part_overlap": None}, [(4, 2), (6, 1), (3, 2)]),
        ({"part_ratio": 1.0}, [(4, 2), (6, 1), (3, 2), (0, 0), (2, 1)]),
    ]
    for options, expected in cases:
        rcnn = ImageNetRCNN(classifier, class_names=["a", "b", "c"], **options)
        result = rcnn.postprocess(boxes, probabilities)
        got = [(int(np.flatnonzero((boxes == b).all(1) & (np.array(classes) == c))[0]), int(c))
               for b, c in zip(result["boxes"], result["classes"])]
        assert got == expected, (options, got)
        assert result["names"] == [["a", "b", "c"][c] for _, c in expected]
        np.testing.assert_allclose(result["scores"], [scores[i] for i, _ in expected], rtol=1e-6)


def test_warp_regions_context_and_size():
    """A region warps to the classifier's size with `context` pixels of the surrounding image around it."""
    from kerasnets.detection.rcnn import warp_regions

    image = np.zeros((100, 100, 3), np.uint8)
    image[20:60, 30:50] = 255  # the box, white on black
    crop = warp_regions(image, np.float32([[30, 20, 50, 60]]), (64, 32), context=8)[0]
    assert crop.shape == (64, 32, 3)
    inner = crop[8:56, 8:24]  # the box itself, away from its edges
    assert inner[2:-2, 2:-2].min() > 250
    border = np.concatenate([crop[:6].reshape(-1, 3), crop[-6:].reshape(-1, 3), crop[:, :6].reshape(-1, 3),
                             crop[:, -6:].reshape(-1, 3)])
    assert border.max() < 5  # the context around it is the black image


@pytest.mark.parametrize("argv, status, message", [
    (["--backbone", "efficientnet_lit0"], 2, "close matches: efficientnet_lite0"),
    (["--backbone", "lenet5"], 2, "not photos into the 1000 ImageNet classes"),
    (["--weights", "none"], 2, "needs a trained classifier"),
    (["--weights", "missing.weights.h5"], 1, "--weights missing.weights.h5: no such file"),
])
def test_app_rejects_bad_backbones_and_weights(tmp_path, capsys, argv, status, message):
    out = tmp_path / "o.png"
    image = os.path.join(ROOT, "images", "chelsea_cat.jpg")
    assert detect.main(["--model", "rcnn", "--image", image, "--output", str(out), *argv]) == status
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_app_backbone_needs_model_rcnn(capsys):
    with pytest.raises(SystemExit) as e:
        detect.parse_args(["--model", "m.keras", "--image", "a.png", "--backbone", "efficientnet_lite0"])
    assert e.value.code == 2 and "go with --model rcnn" in capsys.readouterr().err


@pytest.mark.slow
def test_app_end_to_end_on_the_cat_photo(tmp_path):
    out = tmp_path / "cat.png"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "detect.py"), "--model", "rcnn", "--backbone",
                          "efficientnet_lite0", "--weights", "imagenet", "--image",
                          os.path.join(ROOT, "images", "chelsea_cat.jpg"), "--output", str(out)],
                         env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("R-CNN with efficientnet_lite0: ") and "proposals classified" in lines[0]
    assert lines[1].split()[0] in CAT_CLASSES, run.stdout
    assert lines[-1].endswith(f"wrote {out}")
    from kerasnets.images import load_image

    assert load_image(str(out)).shape == (300, 451, 3)
