"""kerasnets.detection boxes, anchors, matcher, sampler, RoI ops and NMS against float64 NumPy
transcriptions of torchvision's kernels (tests/detection_reference.py), on TensorFlow and JAX."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from kerasnets.detection import boxes as box_lib
from kerasnets.detection import ops as det_ops
from kerasnets.detection.anchors import AnchorGenerator
from kerasnets.detection.layers import (
    MultiScaleRoIAlign,
    RoIAlign,
    RoIPooling,
    fpn_levels,
)
from kerasnets.detection.matcher import BalancedSampler, Matcher
from tests import detection_reference as ref
from tests.conftest import ROOT

H, W, C = 10, 12, 3


def case_boxes(seed=0, n=12, scale=1.0):
    """Random boxes in image pixels plus hand-made ones: on the border, outside, degenerate, tiny,
    inverted, the whole image, exact halves (RoI pooling's rounding)."""
    rng = np.random.default_rng(seed)
    ih, iw = H / scale, W / scale
    xy = rng.uniform([-2, -2], [iw, ih], (n, 2))
    wh = rng.uniform(0.2, 0.8, (n, 2)) * [iw, ih]
    made = np.array([
        [0, 0, iw, ih], [iw - 1, ih - 1, iw, ih], [-3, -3, 1, 1], [iw - 2, 0, iw + 3, ih + 3],
        [2, 2, 2, 2], [3, 3, 3.2, 3.4], [5, 5, 3, 4], [0.5 / scale, 1.5 / scale, 4.5 / scale, 2.5 / scale],
        [-1 / scale, 0, 0, ih], [iw + 0.5, ih + 0.5, iw + 4, ih + 4],
    ])
    return np.concatenate([np.concatenate([xy, xy + wh], 1), made]).astype(np.float64)


def features(seed=0, batch=2, dtype="float64"):
    return np.random.default_rng(seed).normal(size=(batch, H, W, C)).astype(dtype)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 2])
@pytest.mark.parametrize("scale,out", [(1.0, 3), (0.5, 7)])
def test_roi_align_matches_torchvision_semantics(aligned, sampling_ratio, scale, out):
    f = features()
    boxes = np.stack([case_boxes(0, scale=scale), case_boxes(1, scale=scale)])
    got = ops.convert_to_numpy(det_ops.roi_align(f, boxes, out, scale, sampling_ratio, aligned))
    want = np.stack([ref.roi_align(f[b], boxes[b], out, scale, sampling_ratio, aligned) for b in range(2)])
    assert got.shape == want.shape == (2, len(boxes[0]), out, out, C)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert np.abs(want).max() > 0.5  # the cases are not all-zero


def test_roi_align_float32_and_layer():
    f = features(dtype="float32")
    boxes = np.stack([case_boxes(2), case_boxes(3)]).astype("float32")
    got = ops.convert_to_numpy(RoIAlign(5, 1.0, sampling_ratio=-1, aligned=True)(f, boxes))
    want = np.stack([ref.roi_align(f[b], boxes[b], 5, 1.0, -1, True) for b in range(2)])
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


@pytest.mark.parametrize("scale,out", [(1.0, 3), (0.5, 7), (1.0, 2)])
def test_roi_pool_matches_torchvision_semantics(scale, out):
    f = features(4)
    boxes = np.stack([case_boxes(4, scale=scale), case_boxes(5, scale=scale)])
    got = ops.convert_to_numpy(RoIPooling(out, scale, dtype="float64")(f, boxes))
    want = np.stack([ref.roi_pool(f[b], boxes[b], out, scale) for b in range(2)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.count_nonzero(want) > want.size // 2


def test_roi_pool_rounds_half_away_from_zero():
    """x = 0.5 * scale 1 rounds to 1 (C round), not to 0 (banker's rounding)."""
    f = np.arange(H * W, dtype="float64").reshape(1, H, W, 1)
    box = np.array([[[0.5, 2.5, 0.5, 2.5]]])
    got = ops.convert_to_numpy(det_ops.roi_pool(f, box, 1))[0, 0, 0, 0, 0]
    assert got == f[0, 3, 1, 0] == ref.roi_pool(f[0], box[0], 1, 1.0)[0, 0, 0, 0]


def test_roi_align_gradient_matches_finite_differences():
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("GradientTape check runs on the TensorFlow backend (the JAX run is in the subprocess test)")
    f = tf.constant(features(6, batch=1))
    boxes = tf.constant(case_boxes(6)[None])
    weights = tf.constant(np.random.default_rng(7).normal(size=(1, len(case_boxes(6)), 4, 4, C)))
    with tf.GradientTape() as tape:
        tape.watch(f)
        value = tf.reduce_sum(det_ops.roi_align(f, boxes, 4, 1.0, -1, True) * weights)
    grad = tape.gradient(value, f).numpy()
    rng = np.random.default_rng(8)
    eps = 1e-4
    for _ in range(5):
        v = rng.normal(size=f.shape)
        plus = ref.roi_align(f.numpy()[0] + eps * v[0], boxes.numpy()[0], 4, 1.0, -1, True)
        minus = ref.roi_align(f.numpy()[0] - eps * v[0], boxes.numpy()[0], 4, 1.0, -1, True)
        numeric = np.sum((plus - minus) * weights.numpy()[0]) / (2 * eps)
        assert abs(numeric - np.sum(grad * v)) < 1e-7 * max(1.0, abs(numeric))
    assert np.abs(grad).max() > 0


def random_nms_case(seed, n=60):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 50, (n // 6, 2)).repeat(6, 0) + rng.normal(0, 1.5, (n // 6 * 6, 2))  # clusters
    size = rng.uniform(8, 20, (n // 6, 2)).repeat(6, 0) * rng.uniform(0.85, 1.15, (n // 6 * 6, 2))
    n = len(centres)
    boxes = np.concatenate([centres - size / 2, centres + size / 2], 1)
    scores = rng.permutation(n) / n + 0.01  # distinct
    return boxes, scores, rng.integers(0, 3, n)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_reference(threshold):
    for seed in range(3):
        boxes, scores, classes = random_nms_case(seed)
        idx, count = det_ops.non_max_suppression(boxes, scores, threshold, max_output=80)
        idx, count = ops.convert_to_numpy(idx), int(ops.convert_to_numpy(count))
        want = ref.nms(boxes, scores, threshold)
        assert count == len(want) and idx[:count].tolist() == want and np.all(idx[count:] == -1)
        idx, count = det_ops.non_max_suppression(boxes, scores, threshold, max_output=80, classes=classes)
        want = ref.batched_nms(boxes, scores, classes, threshold)
        assert ops.convert_to_numpy(idx)[:int(count)].tolist() == want
        assert len(boxes) > len(want) > len(ref.nms(boxes, scores, threshold))  # suppression, changed by classes


def test_nms_chain_batch_threshold_and_truncation():
    # a overlaps b, b overlaps c, a does not overlap c: greedy keeps a and c
    chain = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10], [40, 40, 41, 41], [2, 2, 2, 2]], "float32")
    scores = np.array([0.9, 0.8, 0.7, 0.05, 0.6], "float32")
    idx, count = det_ops.non_max_suppression(chain, scores, 0.2, max_output=8)
    assert ops.convert_to_numpy(idx).tolist() == [0, 2, 4, 3, -1, -1, -1, -1] and int(count) == 4
    idx, count = det_ops.non_max_suppression(chain, scores, 0.2, score_threshold=0.1, max_output=2)
    assert ops.convert_to_numpy(idx).tolist() == [0, 2] and int(count) == 2
    batch_boxes = np.stack([chain, chain[::-1]])
    batch_scores = np.stack([scores, scores[::-1]])
    idx, count = det_ops.non_max_suppression(batch_boxes, batch_scores, 0.2, max_output=5)
    assert ops.convert_to_numpy(idx).tolist() == [[0, 2, 4, 3, -1], [4, 2, 0, 1, -1]]
    assert ops.convert_to_numpy(count).tolist() == [4, 4]
    idx, count = det_ops.non_max_suppression(chain, scores, 0.2, max_output=3, max_candidates=2)
    assert ops.convert_to_numpy(idx).tolist() == [0, -1, -1]


def test_nms_inside_a_compiled_function():
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function check")
    boxes, scores, _ = random_nms_case(5)
    fn = tf.function(lambda b, s: det_ops.non_max_suppression(b, s, 0.5, max_output=30)[0], jit_compile=False)
    got = fn(tf.constant(boxes[None], tf.float32), tf.constant(scores[None], tf.float32)).numpy()[0]
    want = ref.nms(boxes, scores, 0.5)
    assert got[:len(want)].tolist() == want[:30]


def test_box_coder_matches_reference_and_keras():
    rng = np.random.default_rng(9)
    ref_boxes = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(60, 100, (20, 2))], 1)
    boxes = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(60, 120, (20, 2))], 1)
    for weights in (box_lib.HEAD_WEIGHTS, box_lib.RPN_WEIGHTS):
        coder = box_lib.BoxCoder(weights)
        deltas = ops.convert_to_numpy(coder.encode(ref_boxes, boxes))
        np.testing.assert_allclose(deltas, ref.encode(ref_boxes, boxes, weights), rtol=1e-12)
        np.testing.assert_allclose(ops.convert_to_numpy(coder.decode(ref_boxes, deltas)), boxes, rtol=1e-10, atol=1e-9)
        from keras.utils import bounding_boxes

        keras_deltas = bounding_boxes.encode_box_to_deltas(
            ref_boxes.astype("float32"), boxes.astype("float32"), anchor_format="xyxy", box_format="xyxy",
            encoding_format="center_xywh", variance=[1.0 / w for w in weights])
        np.testing.assert_allclose(ops.convert_to_numpy(keras_deltas), deltas, rtol=1e-4, atol=1e-4)
    big = np.array([[0.0, 0.0, 100.0, 20.0]])
    huge = ops.convert_to_numpy(box_lib.BoxCoder(box_lib.RPN_WEIGHTS).decode(big, np.array([[0, 0, 10.0, 10.0]])))
    np.testing.assert_allclose(huge, ref.decode(big, np.array([[0, 0, 10.0, 10.0]]), box_lib.RPN_WEIGHTS))
    assert huge[0, 2] - huge[0, 0] == pytest.approx(100 * 1000 / 16)


def test_iou_and_conversion():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [3, 3, 3, 3]], "float64")
    iou = ops.convert_to_numpy(box_lib.box_iou(a, a))
    np.testing.assert_allclose(iou, [[1, 25 / 175, 0], [25 / 175, 1, 0], [0, 0, 0]])
    xywh = ops.convert_to_numpy(box_lib.convert_format(a[:2].astype("float32"), "xyxy", "xywh"))
    np.testing.assert_allclose(xywh, [[0, 0, 10, 10], [5, 5, 10, 10]])


@pytest.mark.parametrize("sizes,ratios,feature", [((32, 64), (0.5, 1.0, 2.0), (4, 5)), ((8,), (1.0, 3.0), (7, 7))])
def test_anchors_match_torchvision(sizes, ratios, feature):
    got = AnchorGenerator((sizes,), (ratios,)).grid_anchors((64, 80), [feature])[0]
    np.testing.assert_array_equal(got, ref.anchors((64, 80), feature, sizes, ratios))


def test_matcher_matches_reference():
    rng = np.random.default_rng(10)
    gt = np.concatenate([rng.uniform(0, 40, (5, 2)), rng.uniform(50, 90, (5, 2))], 1)
    gt[4] = [200, 200, 210, 210]  # overlaps nothing
    anchors = AnchorGenerator(((16, 32, 64),), ((0.5, 1.0, 2.0),)).grid_anchors((96, 96), [(6, 6)])[0]
    iou = ops.convert_to_numpy(box_lib.box_iou(gt, anchors.astype("float64")))
    for high, low, allow in ((0.7, 0.3, True), (0.5, 0.5, False)):
        got = ops.convert_to_numpy(Matcher(high, low, allow)(iou[None], np.ones((1, 5), bool)))[0]
        np.testing.assert_array_equal(got, ref.match(iou, high, low, allow))
        assert (got >= 0).any() and (got == -1).any()
    # padded ground truths never match; an image without objects is all background
    got = ops.convert_to_numpy(Matcher()(iou[None], np.array([[True, True, False, False, False]])))[0]
    assert set(got[got >= 0].tolist()) <= {0, 1}
    assert (ops.convert_to_numpy(Matcher()(iou[None], np.zeros((1, 5), bool))) == -1).all()


def test_balanced_sampler_counts():
    rng = np.random.default_rng(11)
    positive = rng.uniform(size=(3, 1000)) < np.array([[0.02], [0.3], [0.0]])
    negative = ~positive
    pos, neg = BalancedSampler(256, 0.5, seed=1)(positive, negative)
    pos, neg = ops.convert_to_numpy(pos), ops.convert_to_numpy(neg)
    n_pos = positive.sum(1)
    assert pos.sum(1).tolist() == np.minimum(n_pos, 128).tolist()
    assert (pos.sum(1) + neg.sum(1)).tolist() == [256, 256, 256]
    assert not (pos & ~positive).any() and not (neg & positive).any()


def test_fpn_levels_and_multiscale_layer_round_trip(tmp_path):
    boxes = np.array([[[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 10, 10], [0, 0, 1000, 1000]]], "float32")
    assert ops.convert_to_numpy(fpn_levels(boxes, 2, 5)).tolist() == [[4, 3, 2, 5]]
    f2, f3 = features(12, 1, "float32"), features(13, 1, "float32")[:, :5, :6]
    small = np.array([[[1, 1, 6, 6], [0, 0, 500, 500]]], "float32")
    layer = MultiScaleRoIAlign(2, 2, min_level=2, canonical_level=4)
    out = ops.convert_to_numpy(layer([f2, f3], small))
    np.testing.assert_allclose(out[0, 0], ops.convert_to_numpy(det_ops.roi_align(f2, small, 2, 0.25, 2))[0, 0],
        atol=1e-6)
    np.testing.assert_allclose(out[0, 1], ops.convert_to_numpy(det_ops.roi_align(f3, small, 2, 0.125, 2))[0, 1],
        atol=1e-6)
    fin = keras.Input((H, W, C))
    bin_ = keras.Input((4, 4))
    model = keras.Model([fin, bin_], [RoIAlign(3, 0.5, 2, False)(fin, bin_), RoIPooling(2, 0.5)(fin, bin_)])
    path = tmp_path / "roi.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    x = [features(14, 1, "float32"), case_boxes(14)[:4][None].astype("float32")]
    for a, b in zip(model.predict(x, verbose=0), again.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    assert again.layers[2].get_config()["aligned"] is False


JAX_SCRIPT = r"""
import json, sys
import numpy as np
import jax, keras
from keras import ops
from kerasnets.detection import ops as det_ops
from tests import test_detection_ops as t
f = t.features(); boxes = np.stack([t.case_boxes(0), t.case_boxes(1)])
out = {}
out['align'] = np.asarray(jax.jit(lambda f, b: det_ops.roi_align(f, b, 5, 0.5, -1, True))(f, boxes)).tolist()
out['pool'] = np.asarray(det_ops.roi_pool(f, boxes, 3, 1.0)).tolist()
nb, ns, nc = t.random_nms_case(1)
nms = jax.jit(lambda b, s, c: det_ops.non_max_suppression(b, s, 0.5, max_output=70, classes=c)[0])
out['nms'] = np.asarray(nms(nb, ns, nc)).tolist()
w = np.random.default_rng(7).normal(size=(2, len(boxes[0]), 5, 5, 3))
g = jax.grad(lambda f: (det_ops.roi_align(f, boxes, 5, 0.5, -1, True) * w).sum())(f)
out['grad'] = np.asarray(g).tolist()
print('RESULT' + json.dumps(out))
"""


def test_same_results_on_jax():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                         check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.split("RESULT", 1)[1])
    f = features()
    boxes = np.stack([case_boxes(0), case_boxes(1)])
    np.testing.assert_allclose(out["align"], ops.convert_to_numpy(det_ops.roi_align(f, boxes, 5, 0.5, -1, True)),
                               atol=1e-10)
    np.testing.assert_allclose(out["pool"], ops.convert_to_numpy(det_ops.roi_pool(f, boxes, 3, 1.0)), atol=1e-12)
    nb, ns, nc = random_nms_case(1)
    want = ref.batched_nms(nb, ns, nc, 0.5)
    assert out["nms"][:len(want)] == want and set(out["nms"][len(want):]) <= {-1}
    # RoIAlign is linear in the features: the JAX gradient is the TF one, and the adjoint of the reference
    import tensorflow as tf

    if keras.backend.backend() == "tensorflow":
        w = tf.constant(np.random.default_rng(7).normal(size=(2, len(boxes[0]), 5, 5, 3)))
        x = tf.constant(f)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = tf.reduce_sum(det_ops.roi_align(x, boxes, 5, 0.5, -1, True) * w)
        np.testing.assert_allclose(out["grad"], tape.gradient(value, x).numpy(), atol=1e-10)
    assert math.isfinite(np.sum(out["grad"]))
