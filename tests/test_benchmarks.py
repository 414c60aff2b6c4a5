"""The benchmark harness runs end to end (on tiny networks), and the fast CPU path it measures
gives the Keras model's outputs."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT


def test_litert_predictor_matches_keras():
    import kerasnets
    from export import ExportError
    from export.predictor import LiteRTPredictor

    model = kerasnets.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3), classes=7)
    fast = LiteRTPredictor(model)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 96, 96, 3)).astype("float32")
    got, expected = fast.predict(x), model.predict(x, verbose=0)
    assert got.shape == (4, 7) and np.max(np.abs(got - expected)) < 1e-4
    with pytest.raises(ExportError, match=r"takes inputs of shape \[N, 96, 96, 3\]"):
        fast.predict(x[:, :64])
    with pytest.raises(ExportError, match="int8 needs calibration data"):
        LiteRTPredictor(model, quantize="int8")


@pytest.mark.slow
def test_benchmark_harness_quick_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick", "--output",
        str(tmp_path)],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "keras_vs_applications.csv") as f:
        (row,) = list(csv.DictReader(f))
    # same weights, same logits (float32 rounding)
    assert row["network"] == "MobileNetV3Small" and float(row["max_abs_diff"]) < 1e-5
    assert 0.2 < float(row["latency_ratio"]) < 5 and 0.2 < float(row["throughput_ratio"]) < 5
    with open(tmp_path / "fast_path.csv") as f:
        (fast,) = list(csv.DictReader(f))
    assert float(fast["max_abs_diff"]) < 1e-4 and float(fast["max_probability"]) > 0.0015
    assert float(fast["litert_float32_ms"]) > 0
    with open(tmp_path / "litert.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["quantization"] for r in rows] == ["float32",
        "int8"] and float(rows[1]["file_mb"]) < float(rows[0]["file_mb"])
    for name in ("summary.md", "keras_vs_applications.png", "cost_growth.png"):
        assert (tmp_path / name).stat().st_size > 0


# --- benchmarks/tflite_profile.py ---------------------------------------------------------------------

def tiny_detector():
    """A 16-px 'detector' (two convolutions -> box encodings and scores for 16 anchors, 2 classes) that
    export.detection converts with TFLite_Detection_PostProcess, in a second instead of an SSD's 20."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(4 + 2, 3, strides=2, padding="same")(keras.layers.Rescaling(1 / 255)(x))
    model = keras.Model(inputs, keras.layers.Reshape((16, 6))(x), name="tinydet")
    grid = (np.stack(np.meshgrid(np.arange(4), np.arange(4), indexing="ij"), -1).reshape(-1, 2) + 0.5) / 4
    model.anchors = np.concatenate([grid, np.full((16, 2), 0.3)], axis=1).astype("float32")
    model.num_classes, model.box_scales, model.image_size = 2, (10.0, 10.0, 5.0, 5.0), (16, 16)
    model.postprocess_inputs = lambda image: (model(image)[..., :4], keras.ops.sigmoid(model(image)[..., 4:]))
    return model


def test_tflite_profile_reports_delegation_quantization_and_the_postprocess_op(tmp_path):
    import keras

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import tflite_profile

    from export.detection import convert_detector

    # float file: XNNPACK takes the convolutions; CUMSUM has no XNNPACK kernel and runs on TFLite's
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Lambda(lambda t: keras.ops.cumsum(t, axis=1))(x)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(x))
    import tensorflow as tf

    plain = tmp_path / "cumsum.tflite"
    plain.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    result = tflite_profile.profile(plain, runs=3, warmup=1)
    assert [(o["op"], o["in_whole_file"], o["alone"]) for o in result["ops"]] == [
        ("CONV_2D", "XNNPACK", "XNNPACK"), ("CUMSUM", "TFLite kernel", "TFLite kernel"),
        ("CONV_2D", "XNNPACK", "XNNPACK")]
    assert result["xnnpack_partitions"] == 2 and [o["op"] for o in result["not_delegated"]] == ["CUMSUM"]
    assert result["by_type"]["CONV_2D"]["count"] == 2 and result["sum_of_ops_ms"] > 0
    assert result["quantization"]["integer"] is False and result["postprocess_ms"] is None

    # int8 detector file, as export.detection writes it: integer network, float post-process
    calibration = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    detector = tmp_path / "det_int8.tflite"
    detector.write_bytes(convert_detector(tiny_detector(), "int8", calibration))
    result = tflite_profile.profile(detector, runs=3, warmup=1)
    names = [o["op"] for o in result["ops"]]
    assert names[-1] == tflite_profile.POSTPROCESS_OP and result["postprocess_ms"] > 0
    assert result["quantization"]["integer"] and result["quantization"]["dequantize"] >= 1
    assert tflite_profile.POSTPROCESS_OP in [o["op"] for o in result["float_ops"]]
    assert tflite_profile.POSTPROCESS_OP in [o["op"] for o in result["not_delegated"]]
    assert sum(e["count"] for e in result["by_type"].values()) == len(names)
    text = tflite_profile.report(result)
    assert "XNNPACK takes" in text and "TFLite_Detection_PostProcess:" in text and "| CONV_2D |" in text

    # the command line: the report, the JSON, and one-line errors
    env = {**os.environ, "PYTHONPATH": ROOT}
    script = os.path.join(ROOT, "benchmarks", "tflite_profile.py")
    out = tmp_path / "profile.json"
    run = subprocess.run([sys.executable, script, str(detector), "--runs", "3", "--json", str(out)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "whole file:" in run.stdout and json.loads(out.read_text())["operators"] == len(names)
    missing = subprocess.run([sys.executable, script, str(tmp_path / "none.tflite")], capture_output=True,
                             text=True, env=env, timeout=60)
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    bad = subprocess.run([sys.executable, script, str(detector), "--runs", "0"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 2 and "--runs must be at least 1" in bad.stderr


def test_detector_grid_times_in_alternating_order_with_an_aa_control(tmp_path):
    import keras
    import tensorflow as tf

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import detector_grid

    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    small, large = tmp_path / "a.tflite", tmp_path / "b.tflite"
    small.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(64, 3)(keras.layers.Conv2D(64, 3)(inputs)))
    large.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    groups = {"g": [("float32", str(small)), ("float32 A/A", str(small)), ("int8", str(large))]}
    times = detector_grid.alternating_latency(groups, rounds=3, runs=3, warmup=1, progress=lambda t: None)
    assert {k: len(v) for k, v in times["g"].items()} == {"float32": 3, "float32 A/A": 3, "int8": 3}
    rows = [{"_group": "g", "_key": "float32"}, {"_group": "g", "_key": "int8"}]
    detector_grid.apply_latency(rows, times)
    assert rows[1]["vs_float32"] > 2 * rows[1]["aa_float32"]  # ~1000x the work: far outside the A/A noise
    assert rows[0]["vs_float32"] == 1.0 and rows[0]["aa_float32"] == rows[1]["aa_float32"] > 0
    for row in rows:
        row.update(model="SSD", backbone="x", size=16, quantize=row["_key"], params=1e6, file_mb=1.0)
    table = detector_grid.markdown(rows, 1, detector_grid.cpu_description(), 3, 3)
    assert "| x float32 | A/A |" in table and "alternating order" in table and "cores" in table


@pytest.mark.slow
def test_gpu_benchmark_smoke_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "KERAS_BACKEND": "jax"}
    out = tmp_path / "gpu.md"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu.py"), "--smoke", "--output",
                             str(out)], capture_output=True, text=True, timeout=1800, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| MobileNetV2 |" in out.read_text() and "img/s inference" in result.stdout


@pytest.mark.slow
def test_detection_training_benchmark_runs_kerasnets_alone_with_its_aa_control(tmp_path):
    """Without --torch-python: YOLOv1 (no torchvision counterpart) timed against its A/A twin, one round."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "detection_training.py"), "--configs",
                             "yolov1", "--threads", "1", "--batch", "1", "--steps", "1", "--rounds", "2", "--output",
                             str(tmp_path)], capture_output=True, text=True, timeout=1800, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "detection_training.json").read_text())
    (row,) = report["rows"]
    assert row["config"] == "yolov1" and "torchvision_images_per_s" not in row
    assert len(row["rounds"]["kerasnets"]) == len(row["rounds"]["kerasnets (A/A)"]) == 2
    assert row["kerasnets_images_per_s"] > 0 and 0.2 < row["aa_ratio"] < 5
    assert "| yolov1 | 224 | 1 |" in (tmp_path / "detection_training.md").read_text()
