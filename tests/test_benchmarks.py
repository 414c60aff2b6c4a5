"""The benchmark harness runs end to end (on tiny networks), and the fast CPU path it measures
gives the Keras model's outputs."""

import csv
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
