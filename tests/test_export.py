"""The export layer: TFLite files against Keras, metadata read back, SavedModel signature, bad input."""

import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import export
import kerasnets
from export import cli, metadata
from tests.conftest import IMAGES, ROOT, max_abs_diff

pytest.importorskip("ai_edge_litert")


def make_decisive(model, images_for_calibration=None, spread=3.0):
    """Rescale the classifier of a randomly initialised network so its logits have a standard
    deviation of `spread` on real images: varied, unsaturated probabilities (a fresh network answers
    ~1/1000 everywhere, which hides errors; a saturated one answers 0 or 1, which hides them too)."""
    size = model.input_shape[1]
    x = images(size, n=4) if images_for_calibration is None else images_for_calibration
    # Batch-norm recalibration: one training-mode pass with momentum 0 sets every moving mean and
    # variance to the statistics of real activations (random init leaves them at 0 and 1, and the
    # activations of a deep random network vanish, so its output would not depend on the input).
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    preprocessing = export.with_preprocessing(model).get_layer("preprocessing")
    model(preprocessing(x), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    probabilities = np.asarray(export.with_preprocessing(model).predict(x, verbose=0), dtype=np.float64)
    log_p = np.log(np.clip(probabilities, 1e-30, None))  # logits up to a per-image constant
    scale = spread / float(np.mean(np.std(log_p, axis=1)))
    last = [layer for layer in model.layers if layer.weights][-1]
    last.set_weights([w * scale for w in last.get_weights()])
    return model


def images(size, n=6):
    """The sample photos (real images) plus random ones, 0-255 float RGB."""
    from kerasnets.images import list_images, load_image, resize

    photos = [resize(load_image(p), (size, size)) for p in list_images(IMAGES)]
    noise = np.random.default_rng(1).uniform(0, 255, (n - len(photos), size, size, 3))
    return np.concatenate([np.stack(photos).astype("float32"), noise.astype("float32")])


@pytest.fixture(scope="module")
def small_mobilenet():
    keras.utils.set_random_seed(0)
    return make_decisive(kerasnets.MobileNet(weights=None, alpha=0.25, input_shape=(128, 128, 3)))


# Random networks with recalibrated batch norm are chaotic: float16 weight rounding moves their
# probabilities by up to a few 1e-2, so here float16 is held to 5e-2; the 1e-2 bound is checked on
# a trained network in test_export_learning.py. int8 top-1 agreement is measured and printed.
@pytest.mark.parametrize("quantize, tolerance", [("none", 1e-4), ("float16", 5e-2), ("dynamic", None), ("int8", None)])
def test_mobilenet_tflite_matches_keras(small_mobilenet, quantize, tolerance, tmp_path):
    x = images(128)
    path = export.to_tflite(small_mobilenet, tmp_path / "m.tflite", quantize=quantize,
                            representative_data=x if quantize == "int8" else None)
    result = export.verify(path, small_mobilenet, x)
    print(f"MobileNet 0.25-128 {quantize}: {result}")
    reference = np.asarray(export.with_preprocessing(small_mobilenet).predict(x, verbose=0))
    assert 0.02 < reference.max() < 0.99 and len(set(np.argmax(reference, axis=1))) > 1  # varied, unsaturated
    if tolerance is not None:
        assert result.max_abs_diff <= tolerance
    if quantize in ("none", "float16"):
        assert result.top1_agreement == 1.0
    assert result.input_dtype == ("uint8" if quantize == "int8" else "float32")
    assert result.input_shape == (1, 128, 128, 3)


@pytest.mark.slow
@pytest.mark.parametrize("builder, size", [(kerasnets.ResNet50, 224), (kerasnets.InceptionV3, 299)])
def test_large_networks_float32_and_float16(builder, size, tmp_path):
    keras.utils.set_random_seed(0)
    model = make_decisive(builder(weights=None))
    x = images(size, n=4)
    reference = np.asarray(export.with_preprocessing(model).predict(x, verbose=0))
    assert 0.02 < reference.max() < 0.99  # unsaturated probabilities, so the comparison means something
    # float16 weights through 94 random layers: 5.5e-2 measured on InceptionV3 in a fresh CI install
    for quantize, tolerance in (("none", 1e-4), ("float16", 8e-2)):
        result = export.verify(export.to_tflite(model, tmp_path / f"{quantize}.tflite", quantize=quantize), model, x)
        print(f"{model.name} {quantize}: {result}")
        assert result.max_abs_diff <= tolerance
        if quantize == "none":
            assert result.top1_agreement == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("builder, size", [(kerasnets.ResNet50, 224), (kerasnets.InceptionV3, 299)])
def test_large_networks_int8_agreement(builder, size, tmp_path):
    keras.utils.set_random_seed(0)
    model = make_decisive(builder(weights=None))
    x = images(size, n=8)
    result = export.verify(export.to_tflite(model, tmp_path / "q.tflite", quantize="int8", representative_data=x),
        model, x)
    print(f"{model.name} int8: {result}")
    assert result.input_dtype == "uint8"


def test_metadata_reads_back(small_mobilenet, tmp_path):
    x = images(128)
    path = export.to_tflite(small_mobilenet, tmp_path / "q.tflite", quantize="int8", representative_data=x)
    data = path.read_bytes()
    summary = metadata.read(data)
    assert summary.labels == kerasnets.class_names() and summary.label_file == "labels.txt"
    assert summary.label_file_type == metadata.meta.AssociatedFileType.TENSOR_AXIS_LABELS
    assert summary.mean == [0.0] and summary.std == [1.0] and summary.min_parser_version == "1.0.0"
    assert summary.color_space == metadata.meta.ColorSpaceType.RGB and summary.name == small_mobilenet.name
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    assert detail["dtype"] == np.uint8 and list(detail["shape"]) == [1, 128, 128, 3]
    assert detail["quantization"] == (1.0, 0)  # raw pixel bytes are the right input


def test_user_labels_and_mismatch(tmp_path):
    model = kerasnets.MobileNet(weights=None, alpha=0.25, input_shape=(96, 96, 3), classes=3)
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nbird\n")
    path = export.to_tflite(model, tmp_path / "pets.tflite", labels=labels)
    assert metadata.read(path.read_bytes()).labels == ["cat", "dog", "bird"]
    labels.write_text("cat\ndog\n")
    with pytest.raises(export.ExportError, match="2 labels but the model has 3 classes"):
        export.to_tflite(model, tmp_path / "bad.tflite", labels=labels)
    with pytest.raises(export.ExportError, match="pass a label file"):
        export.to_tflite(model, tmp_path / "bad.tflite")
    assert not (tmp_path / "bad.tflite").exists()


def test_saved_model_serves_raw_pixels(small_mobilenet, tmp_path):
    import tensorflow as tf

    path = export.to_saved_model(small_mobilenet, tmp_path / "saved")
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    x = images(128, n=3)
    got = served(image=tf.constant(x))["probabilities"].numpy()
    expected = small_mobilenet.predict(kerasnets.mobilenet.preprocess_input(x), verbose=0)
    assert max_abs_diff(got, expected) <= 1e-4  # float32, as for the TFLite float32 file (measured 2.9e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["saved"]


def test_schema_bindings_are_current(tmp_path):
    flatc = shutil.which("flatc")
    if flatc is None:
        pytest.skip("flatc (Debian package flatbuffers-compiler) is not installed")
    schema = os.path.join(ROOT, "export", "schema", "metadata_schema.fbs")
    subprocess.run([flatc, "--python", "--gen-onefile", "--gen-object-api", "-o", str(tmp_path), schema],
                   check=True, capture_output=True)
    generated = (tmp_path / "metadata_schema_generated.py").read_text()
    committed = open(os.path.join(ROOT, "export", "schema", "metadata_schema_generated.py")).read()
    assert committed.endswith(generated)


def run_cli(capsys, *args):
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_exports_and_verifies(capsys, tmp_path):
    out = tmp_path / "mn.tflite"
    status, stdout, err = run_cli(capsys, "mobilenet", "--alpha", "0.25", "--size", "128", "--weights", "none",
                                  "--quantize", "int8", "--representative", IMAGES, "--output", out,
                                  "--saved-model", tmp_path / "saved")
    assert status == 0, err
    assert "[1/5] building mobilenet" in stdout and "[5/5] verifying with the LiteRT interpreter" in stdout
    assert "input uint8[1, 128, 128, 3]" in stdout
    assert out.exists() and (tmp_path / "saved" / "saved_model.pb").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["resnet5", "--weights", "none"], "Unknown model 'resnet5'"),
        (["mobilenet", "--alpha", "0.3"], r"alpha in \[0.25, 0.5, 0.75, 1.0\]"),
        (["mobilenet", "--size", "100"], r"\[128, 160, 192, 224\] pixels"),
        (["mobilenet", "--alpha", "0.25", "--size", "128", "--weights", "none", "--quantize", "int8"],
            "calibrates on typical images: give a folder of them with --representative DIR"),
        (["mobilenet", "--alpha", "0.25", "--size", "128", "--weights", "none", "--quantize", "int8",
            "--representative", "EMPTY"],
         "no readable images"),
        (["mobilenet", "--alpha", "0.25", "--size", "128", "--weights", "none", "--labels", "LABELS"],
         "2 labels but the model has 1000 classes"),
        (["mobilenet", "--alpha", "0.25", "--size", "128", "--weights", "none", "--output", "/no/such/folder/m.tflite"],
         "does not exist"),
        (["missing.keras"], "no such model file"),
    ],
)
def test_cli_bad_input(capsys, tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "EMPTY" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "LABELS").write_text("a\nb\n")
    args = [str(tmp_path / a) if a in ("EMPTY", "LABELS") else a for a in args]
    if "--output" not in args:
        args += ["--output", str(tmp_path / "out.tflite")]
    status, _, err = run_cli(capsys, *args)
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert status == 1 and len(lines) == 1 and re.search(message, lines[0]), err
    assert not (tmp_path / "out.tflite").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_python_m_export_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "export", "--help"], capture_output=True, text=True, cwd=ROOT,
        timeout=300)
    assert result.returncode == 0 and "--quantize" in result.stdout and "--representative" in result.stdout
    result = subprocess.run([sys.executable, "-m", "export", "resnet5", "--output", str(tmp_path / "x.tflite")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1 and "Unknown model" in result.stderr and "Traceback" not in result.stderr


def test_grid_command(tmp_path, capsys):
    status = cli.main(["grid", "--family", "mobilenet", "--alphas", "0.25", "--sizes", "128", "96", "--weights", "none",
                       "--quantize", "none", "--output-dir", str(tmp_path)])
    stdout = capsys.readouterr().out
    assert status == 0
    assert "| mobilenet | 0.25 | 128 | 0.48 | 14 |" in stdout
    assert {p.name for p in tmp_path.iterdir()} >= {"grid.md", "grid.csv", "grid.png",
        "mobilenet_0.25_128_float32.tflite"}


def test_grid_of_a_family_of_variants(tmp_path, capsys):
    status = cli.main(["grid", "--family", "efficientnet_lite", "--variants", "efficientnet_lite0", "--sizes", "96",
                       "--weights", "none", "--quantize", "none", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    # Lite0 at 96 px: the same 4.69 M parameters, (96/224)^2 of its 384 M convolution multiply-adds + 1.3 M for the
    # classifier; no paper accuracy at 96 px
    assert "| efficientnet_lite0 | – | 96 | 4.69 | 72 |" in out and out.rstrip().endswith("grid.png")
    assert "| – | random |" in out
    size = (tmp_path / "efficientnet_lite0_96_float32.tflite").stat().st_size
    assert 4.5e6 * 4 < size < 4.8e6 * 4  # float32 weights, batch norm folded into them
    rows = (tmp_path / "grid.csv").read_text().splitlines()
    assert rows[0].endswith("paper_top1,weights") and len(rows) == 2


@pytest.mark.parametrize("args, message", [
    (["--family", "efficientnet_lite", "--alphas", "0.5"], "scaled by variants, not by a width multiplier"),
    (["--family", "efficientnet_lite", "--variants", "efficientnet_lite9"], "efficientnet_lite9: not in"),
    (["--family", "mobilenet", "--variants", "mobilenet"], "--variants is for families of variants"),
    (["--family", "resnet50"], "mobilenetv2) or a family of variants (alexnet, densenet, efficientnet_lite"),
])
def test_grid_bad_family_arguments(args, message, tmp_path, capsys):
    assert cli.main(["grid", *args, "--quantize", "none", "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # refused before anything is written
