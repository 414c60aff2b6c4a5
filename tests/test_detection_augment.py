"""Detection augmentation: boxes and masks move with the pixels (checked on drawn boxes), boxes cut below the
minimum size are dropped, padding stays padding, the transforms vary, and the photometric jitter's range."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kerasnets.detection.augment import DetectionAugmentation  # noqa: E402
from kerasnets.detection.data import DetectionSet  # noqa: E402

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def drawn(n=8, size=64):
    """Images with three filled boxes of pure colours side by side (their masks the same rectangles)."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, size, size, 3), np.uint8)
    boxes, classes, masks = [], [], []
    for i in range(n):
        b, m = [], np.zeros((3, size, size), np.uint8)
        for k in range(3):  # one box per third of the width: they never overlap
            w, h = rng.integers(8, size // 3 - 4), rng.integers(8, 18)
            x1, y1 = k * (size // 3) + rng.integers(1, size // 3 - w), rng.integers(2, size - h - 2)
            images[i, y1:y1 + h, x1:x1 + w] = COLOURS[k]
            m[k, y1:y1 + h, x1:x1 + w] = 1
            b.append([x1, y1, x1 + w, y1 + h])
        boxes.append(np.array(b, np.float32))
        classes.append(np.arange(3))
        masks.append(m)
    return DetectionSet(images, boxes, classes, ("r", "g", "b"), masks)


def pixel_box(image, colour):
    ys, xs = np.nonzero(np.all(np.abs(image.astype(int) - colour) < 60, axis=-1))
    return None if len(xs) == 0 else np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def augmented(data, aug, max_objects=4):
    """The augmented examples in the order of `data` (the training dataset shuffles them)."""
    ds = tf.data.Dataset.from_tensor_slices(data.padded(max_objects)).map(aug).batch(len(data))
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


def test_boxes_and_masks_follow_the_pixels():
    data = drawn()
    aug = DetectionAugmentation(scale=0.25, translate=0.2, exposure=1.0, saturation=1.0, min_size=1, seed=3)
    out = augmented(data, aug)
    checked = 0
    for image, boxes, classes, masks in zip(out["images"], out["boxes"], out["classes"], out["masks"]):
        assert classes[3] == -1 and not boxes[3].any() and not masks[3].any()  # padding stays padding
        for k in range(3):
            seen = pixel_box(image, COLOURS[k])
            if classes[k] < 0:
                assert seen is None or min(seen[2] - seen[0], seen[3] - seen[1]) <= 3
                continue
            assert seen is not None
            np.testing.assert_allclose(boxes[k], seen, atol=2.0)
            ys, xs = np.nonzero(masks[k])
            np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], seen, atol=2.0)
            checked += 1
    assert checked >= 12
    # the transforms differ from image to image (not one draw for the whole dataset)
    moved = [np.abs(out["boxes"][i, :3] - data.padded(4)["boxes"][i, :3]).sum() for i in range(len(data))]
    assert len({round(float(m), 1) for m in moved}) > 4


def test_boxes_cut_below_the_minimum_are_dropped():
    data = drawn()
    # zooming in to half the field of view pushes boxes out of the image; those left thinner than 6 px go
    out = augmented(data, DetectionAugmentation(flip=False, scale=(-0.5, -0.5), translate=0, exposure=1.0,
                                                saturation=1.0, min_size=6, seed=1))
    kept = out["classes"][:, :3] >= 0
    assert 0 < kept.sum() < kept.size
    sides = np.minimum(out["boxes"][..., 2] - out["boxes"][..., 0], out["boxes"][..., 3] - out["boxes"][..., 1])
    assert (sides[:, :3][kept] >= 6).all() and (out["boxes"][:, :3][~kept] == 0).all()
    assert (out["boxes"][:, :3][kept] >= 0).all() and (out["boxes"][:, :3][kept] <= 64).all()


def test_flip_and_photometric_jitter():
    data = drawn(4)
    out = augmented(data, DetectionAugmentation(flip=True, scale=0, translate=0, exposure=1.5, saturation=1.5, seed=0))
    base = data.padded(4)
    for i in range(4):
        flipped = base["boxes"][i, :3][:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [64, 0, 64, 0]
        assert np.allclose(out["boxes"][i, :3], base["boxes"][i, :3]) or np.allclose(out["boxes"][i, :3], flipped)
        # V scaled by at most 1.5 either way: a pure colour of 255 stays within [170, 255] on its channel
        for k in range(3):
            box = out["boxes"][i, k].astype(int)
            patch = out["images"][i, box[1] + 1:box[3] - 1, box[0] + 1:box[2] - 1]
            assert 255 / 1.5 - 2 <= patch[..., k].mean() <= 255.5
    batch = next(iter(data.tf_dataset(2, training=True, max_objects=4, augment="default")))
    assert batch["images"].shape == (2, 64, 64, 3) and batch["images"].dtype == tf.float32
    assert batch["boxes"].shape == (2, 4, 4) and batch["masks"].shape == (2, 4, 64, 64)
    with pytest.raises(ValueError, match="factor of at least 1"):
        DetectionAugmentation(exposure=0.5)
    with pytest.raises(ValueError, match="scale must be a fraction"):
        DetectionAugmentation(scale=1.5)
