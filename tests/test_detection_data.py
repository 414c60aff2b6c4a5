"""Synthetic detection sets, the COCO reader/writer, tf.data batches and COCO mAP (pycocotools)."""

import json
from pathlib import Path

import numpy as np
import pytest

from kerasnets.detection.boxes import BoxError
from kerasnets.detection.data import (
    DataError,
    DetectionSet,
    read_coco,
    synthetic_digits,
    synthetic_shapes,
    tfds_detection,
    write_coco,
)

pytest.importorskip("pycocotools")


def extents(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("make,classes", [(synthetic_shapes, 3), (synthetic_digits, 10)])
def test_synthetic_sets_are_exact_and_seeded(make, classes):
    a, b, c = make(12, 96, seed=3), make(12, 96, seed=3), make(12, 96, seed=4)
    assert (a.images == b.images).all() and not (a.images == c.images).all()
    assert a.images.shape == (12, 96, 96, 3) and a.num_classes == classes
    for boxes, labels, masks in zip(a.boxes, a.classes, a.masks):
        assert len(boxes) >= 1 and ((labels >= 0) & (labels < classes)).all()
        for box, mask in zip(boxes, masks):
            assert box.tolist() == extents(mask)
        assert masks.sum(0).max() == 1  # no two objects share a pixel
    assert len({int(k) for labels in a.classes for k in labels}) >= 3


def test_coco_round_trip_and_resize(tmp_path):
    data = synthetic_shapes(6, 64, seed=1)
    path = write_coco(data, tmp_path)
    again = read_coco(path, masks=True)
    assert (again.images == data.images).all() and again.class_names == data.class_names
    for x, y in zip(again.boxes, data.boxes):
        np.testing.assert_allclose(x, y)
    for x, y in zip(again.masks, data.masks):
        assert (x == y).all()
    half = read_coco(path, image_size=32)
    np.testing.assert_allclose(half.boxes[0], data.boxes[0] / 2)
    assert half.images.shape == (6, 32, 32, 3)


def test_coco_errors(tmp_path):
    data = synthetic_shapes(2, 32, seed=2)
    path = write_coco(data, tmp_path / "set")
    with pytest.raises(DataError, match="no such COCO"):
        read_coco(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a readable COCO json"):
        read_coco(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match="not a COCO instances file"):
        read_coco(bad)
    coco = json.loads(Path(path).read_text())
    coco["annotations"][0]["bbox"] = [20, 20, 30, 5]
    bad_box = tmp_path / "set" / "outside.json"
    bad_box.write_text(json.dumps(coco))
    with pytest.raises(BoxError, match="outside the 32x32 image"):
        read_coco(bad_box)
    coco["annotations"][0]["bbox"] = [1, 1, 2, 2]
    coco["annotations"][0]["category_id"] = 99
    bad_box.write_text(json.dumps(coco))
    with pytest.raises(BoxError, match="category id 99"):
        read_coco(bad_box)
    coco["annotations"] = []  # images without objects are fine
    bad_box.write_text(json.dumps(coco))
    assert [len(b) for b in read_coco(bad_box).boxes] == [0, 0]
    (tmp_path / "set" / "images" / "000000.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="000000.png"):
        read_coco(path)


def test_detection_set_rejects_bad_annotations():
    images = np.zeros((1, 16, 16, 3), np.uint8)
    with pytest.raises(BoxError, match="class id 3"):
        DetectionSet(images, [[[1, 1, 5, 5]]], [[3]], ("a", "b", "c"))
    with pytest.raises(BoxError, match="outside the 16x16"):
        DetectionSet(images, [[[1, 1, 25, 5]]], [[0]], ("a",))
    with pytest.raises(BoxError, match="empty or inverted"):
        DetectionSet(images, [[[5, 1, 5, 5]]], [[0]], ("a",))
    with pytest.raises(BoxError, match="2 boxes but 1 class"):
        DetectionSet(images, [[[1, 1, 5, 5], [1, 1, 4, 4]]], [[0]], ("a",))
    empty = DetectionSet(images, [np.zeros((0, 4))], [[]], ("a",))
    assert empty.padded(3)["classes"].tolist() == [[-1, -1, -1]]


def test_tf_dataset_batches_and_flips():
    data = synthetic_shapes(8, 48, seed=5)
    batch = next(iter(data.tf_dataset(4, training=True, max_objects=5, seed=0)))
    assert batch["images"].shape == (4, 48, 48, 3) and batch["images"].dtype.name == "float32"
    assert batch["boxes"].shape == (4, 5, 4) and batch["masks"].shape == (4, 5, 48, 48)
    flipped = 0
    for boxes, classes, masks, image in zip(batch["boxes"].numpy(), batch["classes"].numpy(), batch["masks"].numpy(),
                                            batch["images"].numpy()):
        for box, mask in zip(boxes[classes >= 0], masks[classes >= 0]):
            assert box.tolist() == extents(mask)  # boxes follow their flipped masks
        flipped += not any((image.astype(np.uint8) == x).all() for x in data.images)
    assert len(list(data.tf_dataset(3))) == 3  # evaluation keeps the last partial batch


def test_coco_map_oracle_cases():
    from kerasnets.detection.metrics import coco_evaluate

    data = synthetic_shapes(10, 64, seed=6)
    perfect = [{"boxes": b, "scores": np.ones(len(b)), "classes": c, "masks": m} for b, c, m in zip(data.boxes,
        data.classes, data.masks)]
    result = coco_evaluate(data, perfect, ("bbox", "segm"))
    assert result["bbox"]["mAP"] == pytest.approx(1.0) and result["segm"]["mAP50"] == pytest.approx(1.0)
    wrong = [{"boxes": b, "scores": np.ones(len(b)), "classes": (c + 1) % 3} for b, c in zip(data.boxes, data.classes)]
    assert coco_evaluate(data, wrong)["bbox"]["mAP"] == pytest.approx(0.0)
    shifted = [{"boxes": b + 2, "scores": np.ones(len(b)), "classes": c} for b, c in zip(data.boxes, data.classes)]
    assert 0.1 < coco_evaluate(data, shifted)["bbox"]["mAP"] < coco_evaluate(data, shifted)["bbox"]["mAP50"] <= 1.0


def test_tfds_detection_unavailable_is_a_clear_error(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError, match="tfds build voc"):
        tfds_detection("voc/2007", "validation", 64, data_dir=str(tmp_path))
