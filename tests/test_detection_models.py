"""FasterRCNN, MaskRCNN and FastRCNN: training steps, outputs, .keras round trips, clear errors, JAX."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasnets.detection import FasterRCNN, FastRCNN, MaskRCNN, synthetic_shapes
from tests.conftest import ROOT

TINY = {"backbone": "mobilenetv2", "backbone_kwargs": {"alpha": 0.35}, "num_classes": 3, "image_size": 64,
            "freeze_batchnorm": False, "anchor_sizes": (8, 16, 32), "rpn_pre_nms_top_n_train": 100,
                "rpn_post_nms_top_n_train": 50,
            "rpn_pre_nms_top_n_test": 100, "rpn_post_nms_top_n_test": 30, "box_batch_size_per_image": 32,
            "representation_size": 32, "box_detections_per_img": 10, "seed": 1}


@pytest.fixture(scope="module")
def data():
    return synthetic_shapes(8, 64, seed=0, min_size=10, max_size=28)


def batch(data, masks=False):
    return next(iter(data.tf_dataset(4, training=True, max_objects=data.max_objects, masks=masks, flip=False)))


@pytest.mark.slow  # the harness's faster_rcnn rows learn a batch, check the padded output and another size
def test_faster_rcnn_learns_a_batch_and_predicts(data):
    model = FasterRCNN(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    x = batch(data)
    first = model.train_on_batch(x, return_dict=True)
    for _ in range(12):
        last = model.train_on_batch(x, return_dict=True)
    assert set(first) >= {"loss", "rpn_objectness_loss", "rpn_box_loss", "classifier_loss", "box_regression_loss"}
    assert all(np.isfinite(v) for v in last.values())
    assert last["loss"] < 0.7 * first["loss"]
    out = model.predict_on_batch(x["images"])
    assert out["boxes"].shape == (4, 10, 4) and out["scores"].shape == (4, 10) and out["classes"].shape == (4, 10)
    n = out["num_detections"]
    for i in range(4):
        assert (out["classes"][i, n[i]:] == -1).all() and (out["classes"][i, :n[i]] >= 0).all()
        assert np.all(np.diff(out["scores"][i, :n[i]]) <= 1e-6)
        assert (out["boxes"][i, :n[i]] >= 0).all() and (out["boxes"][i, :n[i]] <= 64).all()
    results = model.detect([np.zeros((100, 80, 3), np.uint8)])
    assert results[0]["boxes"].shape[1] == 4 and (results[0]["boxes"][:, [0, 2]] <= 80 + 1e-3).all()


@pytest.mark.slow  # the harness (test_detector_harness.py) round-trips every detector
def test_mask_rcnn_round_trip_gives_identical_detections(data, tmp_path):
    model = MaskRCNN(**TINY, mask_channels=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    logs = model.train_on_batch(batch(data, masks=True), return_dict=True)
    assert np.isfinite(logs["mask_loss"]) and logs["mask_loss"] > 0
    path = tmp_path / "mask_rcnn.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, MaskRCNN) and again.get_config()["anchor_sizes"] == [8, 16, 32]
    a = model.predict_on_batch(data.images[:4].astype("float32"))
    b = again.predict_on_batch(data.images[:4].astype("float32"))
    assert a["masks"].shape == (4, 10, 28, 28)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    det = again.detect(data.images[:2])
    assert det[0]["masks"].shape[1:] == (64, 64) and det[0]["masks"].dtype == bool


@pytest.mark.slow  # the harness's fast_rcnn row trains and detects with external proposals
def test_fast_rcnn_takes_external_proposals(data):
    model = FastRCNN(**{k: v for k, v in TINY.items() if not k.startswith("rpn")})
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    x = dict(batch(data))
    proposals = np.zeros((4, 20, 4), np.float32)
    proposals[:, :4] = x["boxes"].numpy() + 1.0
    proposals[:, 4:8] = [2, 2, 30, 30]
    x["proposals"] = proposals
    logs = model.train_on_batch(x, return_dict=True)
    assert set(logs) >= {"classifier_loss", "box_regression_loss"} and "rpn_box_loss" not in logs
    assert model.roi_pooler.__class__.__name__ == "RoIPooling"
    det = model.detect(data.images[:4], proposals)
    assert len(det) == 4 and all(len(d["boxes"]) <= 10 for d in det)
    with pytest.raises(ValueError, match="external proposals"):
        model.predict_on_batch(data.images[:1].astype("float32"))


def test_clear_errors(data):
    with pytest.raises(ValueError, match="multiple of the feature stride"):
        FasterRCNN(**{**TINY, "image_size": 70})
    with pytest.raises(ValueError, match="Unknown model"):
        FasterRCNN(**{**TINY, "backbone": "nonet"})
    with pytest.raises(ValueError, match="1-channel"):
        FasterRCNN(**{**TINY, "backbone": "lenet5", "backbone_kwargs": None})
    with pytest.raises(ValueError, match="2 class names"):
        FasterRCNN(**TINY, class_names=["a", "b"])
    model = MaskRCNN(**TINY, mask_channels=8)
    model.compile(optimizer="adam", jit_compile=False)
    with pytest.raises(ValueError, match="masks"):
        model.train_on_batch(batch(data, masks=False))
    with pytest.raises(ValueError, match="trains on batches"):
        model.fit(data.images[:4].astype("float32"), epochs=1, verbose=0)


JAX_SCRIPT = r"""
import json, sys
import numpy as np
import keras
from kerasnets.detection import FasterRCNN, synthetic_shapes
from tests import test_detection_models as t
data = synthetic_shapes(8, 64, seed=0, min_size=10, max_size=28)
model = FasterRCNN(**t.TINY)
model.load_weights(sys.argv[1])
out = {k: np.asarray(v).tolist() for k, v in model.predict_on_batch(data.images[:4].astype('float32')).items()}
model.compile(optimizer=keras.optimizers.Adam(3e-3))
arrays = data.padded(data.max_objects, masks=False)
x = {k: v[:4].astype('float32') if k == 'images' else v[:4] for k, v in arrays.items()}
logs = [model.train_on_batch(x, return_dict=True)['loss'] for _ in range(3)]
print('RESULT' + json.dumps({'out': out, 'losses': [float(v) for v in logs]}))
"""


@pytest.mark.slow
def test_same_detections_and_training_on_jax(data, tmp_path):
    pytest.importorskip("jax")
    model = FasterRCNN(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    for _ in range(3):
        model.train_on_batch(batch(data))
    weights = str(tmp_path / "tiny.weights.h5")
    model.save_weights(weights)
    want = model.predict_on_batch(data.images[:4].astype("float32"))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT, weights], env=env, capture_output=True, text=True,
                         timeout=600, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.split("RESULT", 1)[1])
    assert got["out"]["num_detections"] == want["num_detections"].tolist()
    n = int(want["num_detections"].sum())
    assert n > 0
    np.testing.assert_allclose(np.array(got["out"]["boxes"]), want["boxes"], atol=2e-3)
    np.testing.assert_allclose(np.array(got["out"]["scores"]), want["scores"], atol=1e-4)
    assert np.isfinite(got["losses"]).all() and got["losses"][-1] < got["losses"][0]


@pytest.mark.slow
def test_fpn_option_trains_and_pools_from_four_levels(data):
    model = MaskRCNN(**{**TINY, "fpn": True, "anchor_sizes": ((8,), (16,), (32,), (64,)), "fpn_channels": 16},
                     mask_channels=8)
    assert [tuple(o.shape[1:3]) for o in model.features.outputs] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert len(model.rpn.level_anchors) == 4 and model.rpn.level_anchors[0].shape == (16 * 16 * 3, 4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    logs = model.train_on_batch(batch(data, masks=True), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and logs["mask_loss"] > 0
    out = model.predict_on_batch(data.images[:2].astype("float32"))
    assert out["masks"].shape == (2, 10, 28, 28) and model.get_config()["anchor_sizes"] == [[8], [16], [32], [64]]
