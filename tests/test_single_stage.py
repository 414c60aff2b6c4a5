"""SSD and YOLOv1: anchors, losses against NumPy transcriptions of the papers' formulas, learning a batch,
padded outputs, .keras round trips, clear errors."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerasnets.detection import SSD, YOLOv1, synthetic_shapes  # noqa: E402
from kerasnets.detection.anchors import anchors_to_xyxy, ssd_anchors  # noqa: E402
from kerasnets.detection.losses import hard_negatives, sigmoid_focal_loss  # noqa: E402

TINY = {"backbone": "mobilenetv2", "backbone_kwargs": {"alpha": 0.35}, "num_classes": 3, "freeze_batchnorm": False}


@pytest.fixture(scope="module")
def data():
    return synthetic_shapes(8, 64, seed=0, min_size=12, max_size=30)


def batch(data):
    return next(iter(data.tf_dataset(4, training=True, max_objects=data.max_objects, masks=False, flip=False)))


def test_ssd_anchors_are_centred_default_boxes():
    anchors = ssd_anchors((100, 200), [(2, 4), (1, 1)], [(20.0,), (50.0, 80.0)], [(1.0, 4.0), (1.0,)])
    assert anchors.shape == (2 * 4 * 2 + 1 * 2, 4)
    # level 0, cell (0, 0): centre (0.25, 0.125); ratio 1 -> 20 x 20 px, ratio 4 (h / w) -> 40 x 10 px
    np.testing.assert_allclose(anchors[0], [0.25, 0.125, 0.2, 0.1], rtol=1e-6)
    np.testing.assert_allclose(anchors[1], [0.25, 0.125, 0.4, 0.05], rtol=1e-6)
    # cell (0, 1) follows, row-major; the last level's cell is centred on the image
    np.testing.assert_allclose(anchors[2, :2], [0.25, 0.375], rtol=1e-6)
    np.testing.assert_allclose(anchors[-2:], [[0.5, 0.5, 0.5, 0.25], [0.5, 0.5, 0.8, 0.4]], rtol=1e-6)
    xyxy = anchors_to_xyxy(anchors[:1], (100, 200))
    np.testing.assert_allclose(xyxy, [[15.0, 15.0, 35.0, 35.0]], atol=1e-4)


def test_focal_loss_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2, 5, 3)).astype("float32")
    targets = (rng.uniform(size=(2, 5, 3)) < 0.3).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    p_t = np.where(targets == 1, p, 1 - p)
    alpha_t = np.where(targets == 1, 0.25, 0.75)
    expected = -alpha_t * (1 - p_t) ** 2 * np.log(p_t)
    got = keras.ops.convert_to_numpy(sigmoid_focal_loss(targets, logits, 0.25, 2.0))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_hard_negative_mining_keeps_the_worst_negatives():
    loss = np.array([[0.9, 0.1, 0.5, 0.7, 0.3, 0.2], [0.4, 0.8, 0.6, 0.2, 0.1, 0.3]], "float32")
    positive = np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], bool)
    negative = np.array([[0, 1, 1, 1, 1, 0], [1, 1, 0, 1, 1, 1]], bool)
    got = keras.ops.convert_to_numpy(hard_negatives(loss, positive, negative, ratio=2))
    # image 0: one positive -> the two negatives of highest loss (0.7, 0.5); image 1: none -> at least one (0.8)
    expected = np.array([[0, 0, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(got, expected)


def _yolo_loss_numpy(out, boxes, classes, grid, k, image, lc=5.0, ln=0.5):
    """The YOLOv1 loss (Redmon et al. 2016, eq. 3) written out with loops, averaged over the batch."""
    total = {"coordinates": 0.0, "object": 0.0, "no_object": 0.0, "classes": 0.0}
    cell = image / grid
    for b in range(out.shape[0]):
        owner = {}
        for m in range(len(boxes[b])):
            if classes[b][m] < 0:
                continue
            x1, y1, x2, y2 = boxes[b][m]
            key = (min(int((y1 + y2) / 2 // cell), grid - 1), min(int((x1 + x2) / 2 // cell), grid - 1))
            owner.setdefault(key, m)
        for i in range(grid):
            for j in range(grid):
                pred = out[b, i, j]
                resp = -1
                if (i, j) in owner:
                    x1, y1, x2, y2 = boxes[b][owner[(i, j)]]
                    ious = []
                    for a in range(k):
                        px, py, pw, ph = pred[5 * a:5 * a + 4]
                        cx, cy, w, h = (j + px) * cell, (i + py) * cell, pw * pw * image, ph * ph * image
                        ix = max(0.0, min(cx + w / 2, x2) - max(cx - w / 2, x1))
                        iy = max(0.0, min(cy + h / 2, y2) - max(cy - h / 2, y1))
                        union = w * h + (x2 - x1) * (y2 - y1) - ix * iy
                        ious.append(ix * iy / union if union > 0 else 0.0)
                    resp = int(np.argmax(ious))
                    tx, ty = (x1 + x2) / 2 / cell - j, (y1 + y2) / 2 / cell - i
                    tw, th = math.sqrt((x2 - x1) / image), math.sqrt((y2 - y1) / image)
                    px, py, pw, ph, conf = pred[5 * resp:5 * resp + 5]
                    total["coordinates"] += lc * ((px - tx) ** 2 + (py - ty) ** 2 + (pw - tw) ** 2 + (ph - th) ** 2)
                    total["object"] += (conf - ious[resp]) ** 2
                    onehot = np.eye(out.shape[-1] - 5 * k)[classes[b][owner[(i, j)]]]
                    total["classes"] += float(np.sum((pred[5 * k:] - onehot) ** 2))
                for a in range(k):
                    if a != resp:
                        total["no_object"] += ln * pred[5 * a + 4] ** 2
    return {name: value / out.shape[0] for name, value in total.items()}


def test_yolo_loss_matches_the_paper_formula():
    model = YOLOv1(**TINY, image_size=64, grid=2, boxes_per_cell=2, hidden=8, head_channels=8)
    rng = np.random.default_rng(1)
    out = rng.uniform(0.05, 0.95, (2, 2, 2, 2 * 5 + 3)).astype("float32")
    # image 0: objects in cells (0, 0), (0, 1) and (1, 1); image 1: one object in cell (1, 0), two padded
    boxes = np.array([[[4, 6, 30, 28], [40, 10, 60, 30], [34, 34, 62, 62]],
                      [[10, 40, 20, 60], [0, 0, 0, 0], [0, 0, 0, 0]]], "float32")
    classes = np.array([[0, 2, 1], [1, -1, -1]], "int32")
    got = model.training_losses({"boxes": boxes, "classes": classes}, keras.ops.convert_to_tensor(out))
    expected = _yolo_loss_numpy(out.astype(np.float64), boxes, classes, 2, 2, 64.0)
    for name, value in expected.items():
        np.testing.assert_allclose(float(keras.ops.convert_to_numpy(got[name])), value, rtol=1e-4, err_msg=name)


@pytest.mark.slow  # the harness's ssd_focal / ssd_hard_negative rows learn a batch and check the padded output
@pytest.mark.parametrize("loss", ["focal", "hard_negative"])
def test_ssd_learns_a_batch_and_predicts(data, loss):
    keras.utils.set_random_seed(0)
    model = SSD(**TINY, image_size=64, extra_levels=1, extra_channels=16, anchor_sizes=((12.0, 18.0), (24.0,), (40.0,)),
                loss=loss, detections_per_img=10)
    assert model.anchors.shape == ((16 * 2 + 4 + 1) * 3, 4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    x = batch(data)
    first = model.train_on_batch(x, return_dict=True)
    for _ in range(10):
        last = model.train_on_batch(x, return_dict=True)
    assert set(first) >= {"loss", "classification_loss", "box_regression_loss"}
    assert all(np.isfinite(v) for v in last.values()) and last["loss"] < 0.7 * first["loss"]
    out = model.predict_on_batch(x["images"])
    assert out["boxes"].shape == (4, 10, 4) and out["classes"].shape == (4, 10)
    for i, n in enumerate(out["num_detections"]):
        assert (out["classes"][i, n:] == -1).all() and (out["classes"][i, :n] >= 0).all()
        assert np.all(np.diff(out["scores"][i, :n]) <= 1e-6)
        assert (out["boxes"][i, :n] >= 0).all() and (out["boxes"][i, :n] <= 64).all()


@pytest.mark.slow  # the harness's yolov1 row learns a batch, saves and reloads it
def test_yolo_learns_a_batch_and_round_trips(data, tmp_path):
    keras.utils.set_random_seed(0)
    model = YOLOv1(**TINY, image_size=64, grid=2, hidden=16, head_channels=8, dropout=0.0, score_thresh=0.0,
                   detections_per_img=5, class_names=["circle", "rectangle", "triangle"])
    assert model.anchors.shape == (8, 4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    x = batch(data)
    first = model.train_on_batch(x, return_dict=True)
    for _ in range(10):
        last = model.train_on_batch(x, return_dict=True)
    assert set(first) >= {"coordinates_loss", "object_loss", "no_object_loss", "classes_loss"}
    assert last["loss"] < 0.7 * first["loss"]
    path = tmp_path / "yolo.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, YOLOv1) and again.class_names == model.class_names
    a, b = model.detect(data.images[:2]), again.detect(data.images[:2])
    for one, two in zip(a, b):
        np.testing.assert_allclose(one["boxes"], two["boxes"], atol=1e-4)
        np.testing.assert_array_equal(one["classes"], two["classes"])


def test_clear_errors():
    with pytest.raises(ValueError, match="multiple of 7"):
        YOLOv1(**TINY, image_size=96, grid=7)
    with pytest.raises(ValueError, match="levels"):
        SSD(**TINY, image_size=64, extra_levels=1, anchor_sizes=((10.0,),))
    with pytest.raises(ValueError, match="focal"):
        SSD(**TINY, image_size=64, loss="softmax")
    with pytest.raises(ValueError, match="class names"):
        SSD(**TINY, image_size=64, class_names=["a"])
    model = SSD(**TINY, image_size=64, extra_levels=1)
    model.compile(optimizer="adam", jit_compile=False)
    with pytest.raises(ValueError, match="trains on batches"):
        model.fit(np.zeros((2, 64, 64, 3), "float32"), np.zeros((2,)), verbose=0)


def _perfect_yolo_output(model, boxes, classes, predictor=1):
    """The network output `[S, S, B*5 + C]` of zero loss for one image: the `predictor`-th box of each object's
    centre cell is the object (offsets in the cell, square roots of the sizes), confidence 1 (its IoU), the
    cell's class probabilities one-hot, every other confidence 0. Returns it and the objects that own a cell."""
    s, k = model.grid, model.boxes_per_cell
    height, width = model.image_size
    out = np.zeros((s, s, 5 * k + model.num_classes), "float32")
    out[..., 2:5 * k:5] = out[..., 3:5 * k:5] = 0.1        # small boxes for the other predictors (confidence 0)
    owners = []
    for (x1, y1, x2, y2), c in zip(boxes, classes):
        cx, cy = (x1 + x2) / 2 / width * s, (y1 + y2) / 2 / height * s
        row, col = min(int(cy), s - 1), min(int(cx), s - 1)
        if any((row, col) == o[0] for o in owners):
            continue
        owners.append(((row, col), (x1, y1, x2, y2), int(c)))
        a = 5 * predictor
        out[row, col, a:a + 5] = [cx - col, cy - row, math.sqrt((x2 - x1) / width), math.sqrt((y2 - y1) / height), 1]
        out[row, col, 5 * k + int(c)] = 1.0
    return out, owners


def test_yolo_perfect_output_decodes_to_the_ground_truth():
    """Encoding (the loss's targets) and decoding (detect, and the exported TFLite_Detection_PostProcess inputs)
    agree: the output of zero loss gives back the ground-truth boxes and classes, through `model.detect`."""
    data = synthetic_shapes(4, 96, seed=3, min_size=10, max_size=40)
    model = YOLOv1(**{**TINY, "num_classes": data.num_classes}, image_size=96, grid=3, hidden=4, head_channels=4,
                   score_thresh=0.5)
    padded = data.padded()
    fc2 = model.network.get_layer("head_fc2")
    for i in range(len(data)):
        out, owners = _perfect_yolo_output(model, data.boxes[i], data.classes[i])
        assert owners
        losses = model.training_losses({"boxes": padded["boxes"][i:i + 1], "classes": padded["classes"][i:i + 1]},
                                        keras.ops.convert_to_tensor(out[None]))
        for name, value in losses.items():
            assert float(keras.ops.convert_to_numpy(value)) < 1e-6, name
        # the network outputs exactly `out`: zero kernel, `out` as the bias of the last layer
        fc2.set_weights([np.zeros_like(fc2.get_weights()[0]), out.reshape(-1)])
        model._compiled_predict = None
        found = model.detect(data.images[i:i + 1])[0]
        assert len(found["boxes"]) == len(owners)
        for _, box, c in owners:
            hit = np.flatnonzero(np.all(np.abs(found["boxes"] - np.array(box, "float32")) < 1e-3, axis=1))
            assert len(hit) == 1, (box, found["boxes"])
            assert found["classes"][hit[0]] == c and abs(found["scores"][hit[0]] - 1.0) < 1e-5
        # TFLite_Detection_PostProcess: centre = encoding * anchor size + anchor centre, size = exp(encoding) * size
        encodings, scores = (keras.ops.convert_to_numpy(t) for t in
                             model.postprocess_inputs(data.images[i:i + 1].astype("float32")))
        yc = encodings[0, :, 0] * model.anchors[:, 2] + model.anchors[:, 0]
        xc = encodings[0, :, 1] * model.anchors[:, 3] + model.anchors[:, 1]
        h, w = np.exp(encodings[0, :, 2]) * model.anchors[:, 2], np.exp(encodings[0, :, 3]) * model.anchors[:, 3]
        height, width = model.image_size
        decoded = np.stack([(xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height],
                           axis=1)
        best = scores[0].max(-1) > 0.5
        np.testing.assert_allclose(np.sort(decoded[best], 0), np.sort(np.array([o[1] for o in owners], "float32"), 0),
                                   atol=1e-3)
        np.testing.assert_array_equal(np.sort(scores[0].argmax(-1)[best]), np.sort([o[2] for o in owners]))


def _stochastic_depths(features):
    from kerasnets.models.layers import StochasticDepth

    return [inner for layer in features.layers for inner in getattr(layer, "layers", [layer])
            if isinstance(inner, StochasticDepth)]


@pytest.mark.parametrize("frozen_stride", [32, 16])
def test_frozen_backbone_layers_compute_as_at_inference(frozen_stride, tmp_path):
    """A frozen EfficientNet-Lite stage keeps no stochastic depth in training, so the layers that train see
    the features of test time (also after a .keras round trip); the stages that train keep theirs."""
    keras.utils.set_random_seed(0)
    model = YOLOv1("efficientnet_lite0", num_classes=3, image_size=64, grid=2, hidden=8, head_channels=8,
                   frozen_stride=frozen_stride)
    path = tmp_path / "yolo.keras"
    model.save(path)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    for features in (model.features, keras.saving.load_model(path).features):
        layers = _stochastic_depths(features)
        assert len(layers) == 9 and all(layer.rate > 0 for layer in layers)  # Lite0's residual blocks
        trains = [layer.trainable for layer in layers]
        if frozen_stride == 32:
            assert not any(trains)
            np.testing.assert_array_equal(features(x, training=True), features(x, training=False))
        else:  # the three stride-32 residual blocks (6b-6d) train, with their stochastic depth
            assert trains == [False] * 6 + [True] * 3
