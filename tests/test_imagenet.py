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
    original = x.copy()
    expected = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    ours = imagenet.preprocess_input(x, mode=mode, data_format=data_format)
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(x, original)  # the argument is never modified
    tensor_out = imagenet.preprocess_input(keras.ops.convert_to_tensor(x), mode=mode, data_format=data_format)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor_out), expected, rtol=0, atol=1e-5)


def test_preprocess_integer_input_becomes_float_without_mutation():
    x = np.full((1, 2, 2, 3), 200, np.uint8)
    out = imagenet.preprocess_input(x, mode="tf")
    assert out.dtype == np.float32 and x.dtype == np.uint8 and x[0, 0, 0, 0] == 200
    np.testing.assert_allclose(out, 200 / 127.5 - 1)


def test_preprocess_rejects_unknown_mode():
    with pytest.raises(ValueError, match="caffe"):
        imagenet.preprocess_input(np.zeros((1, 2, 2, 3)), mode="bgr")
