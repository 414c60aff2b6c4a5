"""Hoiem et al.'s error breakdown (kerasnets.detection.diagnosis) on a hand-counted case, and its chart."""

import numpy as np
import pytest

from kerasnets.detection.data import DetectionSet
from kerasnets.detection.diagnosis import CATEGORIES, error_analysis, plot_breakdowns


def dataset():
    images = np.zeros((2, 64, 64, 3), np.uint8)
    boxes = [np.array([[10, 10, 30, 30], [40, 40, 60, 60]], np.float32), np.zeros((0, 4), np.float32)]
    classes = [np.array([0, 1]), np.zeros(0, np.int64)]
    return DetectionSet(images, boxes, classes, ("cat", "dog"))


def result(rows):
    return {"boxes": np.array([r[1] for r in rows], np.float32).reshape(-1, 4),
            "scores": np.array([r[2] for r in rows], np.float32), "classes": np.array([r[0] for r in rows], np.int32)}


DETECTIONS = [
    result([(0, [10, 10, 30, 30], 0.9),      # correct
            (0, [11, 11, 30, 30], 0.8),      # duplicate of a found cat: localisation
            (0, [40, 40, 58, 60], 0.7),      # on the dog (IoU 0.9): other (similar when cat ~ dog)
            (1, [40, 40, 50, 60], 0.95),     # IoU exactly 0.5 with the dog: localisation
            (1, [45, 45, 65, 65], 0.5)]),    # IoU 0.39: localisation
    result([(0, [0, 0, 5, 5], 0.6)]),        # no object in the image: background
]


def test_hand_counted_breakdown():
    b = error_analysis(DETECTIONS, dataset(), top=10, label="hand")
    assert b.per_class[0] == {"correct": 1, "localization": 1, "similar": 0, "other": 1, "background": 1}
    assert b.per_class[1] == {"correct": 0, "localization": 2, "similar": 0, "other": 0, "background": 0}
    assert b.examined == 6 and b.counts["localization"] == 3
    assert b.fractions["background"] == pytest.approx(1 / 6)
    assert "hand: 6 top detections examined" in b.table()


def test_similar_classes_and_the_default_top_n():
    b = error_analysis(DETECTIONS, dataset(), top=10, similar={0: [1]})
    assert b.per_class[0]["similar"] == 1 and b.per_class[0]["other"] == 0
    # by default each class's top detections, as many as it has objects (one cat, one dog)
    b = error_analysis(DETECTIONS, dataset())
    assert b.examined == 2 and b.per_class[0]["correct"] == 1 and b.per_class[1]["localization"] == 1
    with pytest.raises(ValueError, match="1 detection results for 2 images"):
        error_analysis(DETECTIONS[:1], dataset())


def test_pie_charts_side_by_side(tmp_path):
    pytest.importorskip("matplotlib")
    a = error_analysis(DETECTIONS, dataset(), top=10, label="A")
    b = error_analysis(DETECTIONS, dataset(), label="B")
    fig = plot_breakdowns([a, b], tmp_path / "errors.png")
    assert len(fig.axes) == 2 and (tmp_path / "errors.png").stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["errors.png"]
    assert set(CATEGORIES) == set(a.counts)


def test_app_compares_saved_detectors(tmp_path, capsys):
    from kerasnets.cli import detection_errors
    from tests.conftest import ROOT

    legacy = [f"{ROOT}/tests/data/legacy/{n}.keras" for n in ("ssd", "yolov1")]
    out = tmp_path / "errors.png"
    assert detection_errors.main(["--model", legacy[0], "--model", legacy[1], "--label", "SSD", "--label", "YOLOv1",
                                  "--images", "6", "--output", str(out), "--similar", "circle:triangle"]) == 0
    printed = capsys.readouterr().out
    assert "SSD: " in printed and "YOLOv1: " in printed and "background" in printed
    assert out.stat().st_size > 1000
    with pytest.raises(SystemExit) as e:
        detection_errors.parse_args(["--model", legacy[0], "--label", "a", "--label", "b"])
    assert e.value.code == 2
    assert detection_errors.main(["--model", str(tmp_path / "none.keras"), "--output", str(tmp_path / "x.png")]) == 1
    assert "error: --model" in capsys.readouterr().err
    assert detection_errors.main(["--model", legacy[0], "--similar", "circle:cat", "--images", "2",
                                  "--output", str(tmp_path / "y.png")]) == 2
    assert "error: --similar circle:cat: the classes are circle, rectangle, triangle" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.png"]
