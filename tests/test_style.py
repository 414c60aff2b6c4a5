"""Style-transfer losses against known values and NumPy formulas; Gatys and Johnson end to end."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasnets import style
from kerasnets.imagenet import preprocess_input
from kerasnets.style import losses
from tests.conftest import IMAGES, ROOT

CAT, COFFEE = os.path.join(IMAGES, "chelsea_cat.jpg"), os.path.join(IMAGES, "coffee_cup.jpg")


def np_gram(f, norm):
    n, h, w, c = f.shape
    flat = f.reshape(n, h * w, c).astype(np.float64)
    g = np.einsum("npc,npd->ncd", flat, flat)
    return g / {"none": 1, "hw": h * w, "chw": c * h * w}[norm]


def test_known_values():
    x = np.arange(1, 9, dtype="float32").reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(losses.gram_matrix(x, "none")), [[[84, 100], [100, 120]]])
    tv_input = np.array([[0, 1], [2, 3]], "float32").reshape(1, 2, 2, 1)
    assert float(losses.total_variation(tv_input)[0]) == 6.0
    assert float(losses.total_variation(tv_input, power=2)[0]) == 10.0
    np.testing.assert_allclose(preprocess_input(np.array([[[[255.0, 0, 0]]]], "float32"))[0, 0, 0],
                               [-103.939, -116.779, 131.32], atol=1e-4)


@pytest.mark.parametrize("norm", ["none", "hw", "chw"])
def test_gram_matches_numpy(norm):
    f = np.random.default_rng(0).normal(size=(3, 5, 4, 6)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(losses.gram_matrix(f, norm)), np_gram(f, norm), rtol=1e-5,
        atol=1e-5)


def test_style_and_content_losses_match_their_formulas():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 2, 4, 4, 8)).astype("float32"), rng.normal(size=(2, 2, 8, 8, 16)).astype("float32")
    style_loss = losses.StyleLoss(layer_weights=[1.0, 3.0], reduction=None)
    expected_style = (1 * np.sum((np_gram(a[0], "chw") - np_gram(a[1], "chw")) ** 2, axis=(1, 2))
                      + 3 * np.sum((np_gram(b[0], "chw") - np_gram(b[1], "chw")) ** 2, axis=(1, 2))) / 4
    got = keras.ops.convert_to_numpy(style_loss([a[0], b[0]], [a[1], b[1]]))
    np.testing.assert_allclose(got, expected_style, rtol=1e-4)
    content_loss = losses.ContentLoss(reduction=None)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(content_loss(a[0], a[1])), np.mean((a[0] - a[1]) ** 2,
        axis=(1, 2, 3)),
                               rtol=1e-5)
    assert float(keras.ops.max(style_loss([a[0], b[0]], [a[0], b[0]]))) == 0.0
    assert float(keras.ops.max(content_loss(a[0], a[0]))) == 0.0


def test_style_is_blind_to_where_content_is_not():
    f = np.random.default_rng(2).normal(size=(1, 6, 6, 4)).astype("float32")
    shuffled = f.reshape(1, 36, 4)[:, np.random.default_rng(3).permutation(36)].reshape(1, 6, 6, 4)
    assert float(losses.StyleLoss()(f, shuffled)) < 1e-8
    assert float(losses.ContentLoss()(f, shuffled)) > 0.1


def test_losses_serialise():
    for loss in (losses.StyleLoss(layer_weights=[1, 2], normalize="hw"), losses.ContentLoss([0.5]),
        losses.TotalVariationLoss(2)):
        restored = type(loss).from_config(json.loads(json.dumps(loss.get_config())))
        assert restored.get_config() == loss.get_config()
    perceptual = losses.PerceptualLoss(style_image=COFFEE, weights=None, style_weight=10.0)
    config = json.loads(json.dumps(perceptual.get_config()))
    assert config["style_image"] == COFFEE and config["layers"] == "johnson"
    restored = losses.PerceptualLoss.from_config(config)
    x = np.random.default_rng(4).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    assert restored.style_weight == 10.0 and np.isfinite(float(restored(x, x)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="no layer 'relu9_1'"):
        style.feature_extractor("vgg16", ["relu9_1"], weights=None)
    with pytest.raises(ValueError, match="style_weight must be >= 0"):
        losses.PerceptualLoss(style_image=COFFEE, weights=None, style_weight=-1)
    with pytest.raises(ValueError, match="too small"):
        style.gatys_transfer(CAT, COFFEE, size=8, iterations=1, weights=None, progress=False)


@pytest.fixture
def float64():
    """Finite differences need more than float32's 7 digits at these loss magnitudes."""
    policy = keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")  # the global policy is cached once layers exist
    yield
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy(policy)


def test_perceptual_gradients_are_finite_nonzero_and_match_finite_differences(float64):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    loss = losses.PerceptualLoss(style_image=COFFEE, weights=None, tv_weight=1e-3, dtype="float64")
    content = np.random.default_rng(5).uniform(0, 255, (1, 32, 32, 3))
    image = tf.Variable(np.random.default_rng(6).uniform(0, 255, (1, 32, 32, 3)))
    with tf.GradientTape() as tape:
        value = loss(content, image)
    grad = tape.gradient(value, image).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    for index in [(0, 5, 7, 0), (0, 20, 11, 2), (0, 31, 0, 1)]:
        step = 1e-3
        plus, minus = image.numpy().copy(), image.numpy().copy()
        plus[index] += step
        minus[index] -= step
        numeric = (float(loss(content, plus)) - float(loss(content, minus))) / (2 * step)
        assert numeric == pytest.approx(float(grad[index]), rel=0.05, abs=1e-3 * float(np.abs(grad).max()))
    vgg_weights = [w.numpy().copy() for w in loss.extractor.weights]
    net = style.TransformNet((32, 32, 3))
    net.compile(optimizer="adam", loss=loss)
    net.fit(content, content, epochs=1, verbose=0)
    assert not loss.extractor.trainable_weights
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(vgg_weights, loss.extractor.weights))  # VGG stays frozen


def test_gatys_lowers_the_loss_on_real_photos():
    keras.utils.set_random_seed(0)
    image, history = style.gatys_transfer(CAT, COFFEE, size=128, iterations=30, layers="johnson", weights=None,
                                          progress=False)
    assert history[-1][0] <= 0.5 * history[0][0]
    content = keras.ops.convert_to_numpy(style.as_image_batch(CAT, 128))[0]
    assert image.shape == content.shape and np.mean(np.abs(image.astype("float32") - content)) > 1.0


def test_adam_optimiser_too():
    keras.utils.set_random_seed(0)
    _, history = style.gatys_transfer(CAT, COFFEE, size=64, iterations=25, layers="johnson", weights=None,
                                      optimizer="adam", learning_rate=5.0, progress=False)
    assert history[-1][0] < history[0][0]


def test_transform_net_trains_and_runs_in_litert(tmp_path):
    from export.tflite import image_model_to_tflite
    from export.verify import interpreter
    from kerasnets.images import list_images, load_image, resize

    keras.utils.set_random_seed(0)
    photos = np.stack([resize(load_image(p), (64, 64)).astype("float32") for p in list_images(IMAGES)])
    model, history = style.train_transform_net(photos, COFFEE, size=64, epochs=6, batch_size=3, weights=None, verbose=0)
    curve = history.history["loss"]
    assert curve[-1] < curve[0]
    runner = interpreter(image_model_to_tflite(model, tmp_path / "style.tflite", 64, quantize="none"))
    runner.set_tensor(runner.get_input_details()[0]["index"], photos[:1])
    runner.invoke()
    got = runner.get_tensor(runner.get_output_details()[0]["index"])
    assert np.abs(got - model.predict(photos[:1], verbose=0)).max() <= 0.05  # on a 0-255 scale


def test_losses_on_the_jax_backend():
    pytest.importorskip("jax")
    script = r"""
import keras, numpy as np
from kerasnets.style import losses
assert keras.backend.backend() == "jax"
inputs = keras.Input((8, 8, 3))
model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
for loss in (losses.StyleLoss(), losses.ContentLoss(), losses.TotalVariationLoss()):
    model.compile(optimizer="sgd", loss=loss)
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, epochs=3, verbose=0)
    assert np.isfinite(before)
print(float(losses.gram_matrix(np.arange(1, 9, dtype="float32").reshape(1, 2, 2, 2), "none")[0, 0, 0]))
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "84.0"


def run_app(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "apps", "style_transfer.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_style_transfer_app(tmp_path):
    out = tmp_path / "stylised.png"
    result = run_app("--content", CAT, "--style", COFFEE, "--output", out, "--size", "64", "--iterations", "6",
                     "--model", "vgg16", "--weights", "none", "--save-every", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.exists() and (tmp_path / "stylised_iter3.png").exists() and "style=" in result.stderr
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"no image")
    for args, message in [
        (["--content", bad, "--style", COFFEE], "not a readable image"),
        (["--content", tmp_path / "missing.jpg", "--style", COFFEE], "no such file"),
        (["--content", CAT, "--transform-model", tmp_path / "none.keras"], "no such transform model"),
    ]:
        result = run_app(*args, "--output", tmp_path / "x.png", "--weights", "none")
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "x.png").exists()
    result = run_app("--content", CAT, "--style", COFFEE, "--output", tmp_path / "x.png", "--style-weight", "-3")
    assert result.returncode == 2 and "must be >= 0" in result.stderr
