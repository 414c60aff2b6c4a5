"""kerasnets.imagenet against keras.applications and known values."""

import hashlib
import json
from importlib import resources

import keras
import numpy as np
import pytest
from keras.src.applications import imagenet_utils

from kerasnets import imagenet


def test_class_index_is_the_official_file():
    data = resources.files("kerasnets").joinpath("data/imagenet_class_index.json").read_bytes()
    # The MD5 that keras.applications pins for the file it downloads.
    assert hashlib.md5(data).hexdigest() == imagenet.CLASS_INDEX_MD5 == "c2c37ea517e94d9795004a39431a14cb"
    index = imagenet.class_index()
    assert len(index) == 1000
    wnids = [wnid for wnid, _ in index]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000  # ImageNet's class order is wnid order


def test_decode_predictions_beagle():
    preds = np.zeros((1, 1000), "float32")
    preds[0, 162] = 1.0
    (result,) = imagenet.decode_predictions(preds, top=5)
    assert result[0] == ("n02088364", "beagle", 1.0)
    assert len(result) == 5


def test_decode_predictions_matches_keras(monkeypatch):
    # keras.applications would download the index; hand it the same file so only the logic is compared.
    official = json.loads(resources.files("kerasnets").joinpath("data/imagenet_class_index.json").read_text())
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", official)
    preds = np.random.default_rng(1).random((3, 1000)).astype("float32")
    ours = imagenet.decode_predictions(preds, top=7)
    theirs = imagenet_utils.decode_predictions(preds, top=7)
    assert ours == theirs
    assert imagenet.decode_predictions(keras.ops.convert_to_tensor(preds), top=7) == theirs


@pytest.mark.parametrize("shape", [(1000,), (2, 10), (1, 1000, 1)])
def test_decode_predictions_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"shape \(N, 1000\)"):
        imagenet.decode_predictions(np.zeros(shape))


def test_caffe_known_value():
    red = np.array([[[[255.0, 0.0, 0.0]]]], "float32")
    out = imagenet.preprocess_input(red, mode="caffe")
    np.testing.assert_allclose(out[0, 0, 0], [-103.939, -116.779, 131.32], rtol=0, atol=1e-4)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("ndim", [3, 4])
def test_preprocess_matches_keras(mode, data_format, ndim):
    x = np.random.default_rng(2).uniform(0, 255, (2, 5, 6, 3)[-ndim:]).astype("float32")
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, -3).copy()
    original, theirs = x.copy(), x.copy()
    expected = imagenet_utils.preprocess_input(theirs, data_format, mode)  # keras' positional order
    ours = imagenet.preprocess_input(x, data_format, mode)
    np.testing.assert_array_equal(ours, expected)
    # like keras, a float array is preprocessed in place: the argument ends up exactly as keras leaves it
    np.testing.assert_array_equal(x, theirs)
    assert not np.array_equal(x, original)
    tensor = keras.ops.convert_to_tensor(original)
    tensor_out = imagenet.preprocess_input(tensor, mode=mode, data_format=data_format)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor_out), expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(tensor), original)  # tensors are never modified


def test_preprocess_integer_input_becomes_float_without_mutation():
    x = np.full((1, 2, 2, 3), 200, np.uint8)
    out = imagenet.preprocess_input(x, mode="tf")
    assert out.dtype == np.float32 and x.dtype == np.uint8 and x[0, 0, 0, 0] == 200
    np.testing.assert_allclose(out, 200 / 127.5 - 1)


def test_preprocess_channels_as_keras():
    gray = np.zeros((2, 4, 4, 1), "float32")
    assert imagenet.preprocess_input(gray.copy(), mode="tf").shape == (2, 4, 4, 1)  # keras keeps 1 channel in 'tf'
    for mode in ("caffe", "torch"):
        with pytest.raises(ValueError, match="needs RGB images with 3 channels.*Convert grayscale"):
            imagenet.preprocess_input(gray, mode=mode)


def test_module_preprocess_functions_are_keras_own():
    """kerasnets.<family>.preprocess_input(x, data_format=None) gives what keras' module function gives."""
    import kerasnets

    x = np.random.default_rng(3).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    for ours, theirs in ((kerasnets.vgg, keras.applications.vgg16), (kerasnets.resnet, keras.applications.resnet),
                         (kerasnets.densenet, keras.applications.densenet),
                         (kerasnets.mobilenet, keras.applications.mobilenet),
                         (kerasnets.inception, keras.applications.inception_v3)):
        np.testing.assert_array_equal(ours.preprocess_input(x.copy(), None), theirs.preprocess_input(x.copy(), None))


def test_preprocess_rejects_unknown_mode():
    with pytest.raises(ValueError, match="caffe"):
        imagenet.preprocess_input(np.zeros((1, 2, 2, 3)), mode="bgr")


@pytest.mark.parametrize("name", ["vgg16", "densenet121", "mobilenet"])  # caffe, torch, tf
def test_spec_preprocessing_leaves_the_callers_array_alone(name):
    """keras' preprocess_input works in place; kerasnets' own callers (ModelSpec.preprocess) must not."""
    import kerasnets

    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    original = images.copy()
    out = kerasnets.model_info(name).preprocess(images)
    assert np.array_equal(images, original) and not np.array_equal(out, original)
