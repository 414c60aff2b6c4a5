"""kerasnets networks against keras.applications: same parameters, same outputs, same weight files."""

import keras
import pytest

import kerasnets
from tests.conftest import max_abs_diff, random_images, save_legacy_h5

PAIRS = {
    "vgg16": (kerasnets.VGG16, keras.applications.VGG16, 138_357_544),
    "vgg19": (kerasnets.VGG19, keras.applications.VGG19, 143_667_240),
    "resnet50": (kerasnets.ResNet50, keras.applications.ResNet50, 25_636_712),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_parity_with_keras_applications(name, tmp_path):
    ours_fn, theirs_fn, params = PAIRS[name]
    theirs = theirs_fn(weights=None)
    ours = ours_fn(weights=None)
    assert ours.count_params() == theirs.count_params() == params
    assert [layer.name for layer in ours.layers[1:]] == [layer.name for layer in theirs.layers[1:]]
    ours.set_weights(theirs.get_weights())
    info = kerasnets.model_info(name)
    x = info.preprocess(random_images())
    expected = theirs.predict(x, verbose=0)
    assert max_abs_diff(ours.predict(x, verbose=0), expected) <= 1e-5

    # The official files are legacy .h5 weights loaded by topological order: same layout, same outputs.
    path = save_legacy_h5(theirs, tmp_path / f"{name}.h5")
    loaded = ours_fn(weights=str(path))
    assert max_abs_diff(loaded.predict(x, verbose=0), expected) <= 1e-5


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_notop_parity_and_pooling(name, tmp_path):
    ours_fn, theirs_fn, _ = PAIRS[name]
    theirs = theirs_fn(weights=None, include_top=False, pooling="avg", input_shape=(96, 128, 3))
    path = save_legacy_h5(theirs, tmp_path / "notop.h5")
    ours = ours_fn(weights=str(path), include_top=False, pooling="avg", input_shape=(96, 128, 3))
    assert ours.output_shape == theirs.output_shape
    x = random_images(size=96)[:, :, :96]
    x = keras.ops.convert_to_numpy(keras.ops.image.resize(x, (96, 128)))
    assert max_abs_diff(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)) <= 1e-5


def test_custom_classes_and_logits():
    model = kerasnets.ResNet50(weights=None, classes=7, classifier_activation=None, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 7)
    assert model.layers[-1].activation is keras.activations.linear


def test_input_tensor():
    inputs = keras.Input((64, 64, 3))
    model = kerasnets.VGG16(weights=None, include_top=False, input_tensor=inputs)
    assert model.inputs[0] is inputs and model.output_shape == (None, 2, 2, 512)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weights="imagenet", classes=10), "classes=10 cannot be combined with weights='imagenet'"),
        (dict(weights="imagenet", input_shape=(100, 100, 3)), r"input must be \(224, 224, 3\)"),
        (dict(weights=None, include_top=False, input_shape=(16, 16, 3)), "at least 32x32"),
        (dict(weights=None, include_top=True, pooling="avg"), "pooling='avg' applies only to include_top=False"),
        (dict(weights=None, include_top=False, pooling="mean"), "pooling must be one of"),
        (dict(weights="/no/such/file.h5"), "not an existing file"),
        (dict(weights="imagenet", classifier_activation="relu"), "activation must be 'softmax'"),
        (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), "3 input channels"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kerasnets.ResNet50(**kwargs)


def test_no_imagenet_weights_for_resnet18_in_keras_layout():
    with pytest.raises(ValueError, match="no ImageNet weights are published"):
        kerasnets.ResNet("resnet18", variant="keras", weights="imagenet")


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    path = save_legacy_h5(kerasnets.ResNet50(weights=None, include_top=False), tmp_path / "notop.h5")
    with pytest.raises(kerasnets.WeightsError, match="the weights of another network or configuration"):
        kerasnets.ResNet50(weights=str(path))  # a no-top file into a model with the top
    broken = tmp_path / "broken.h5"
    broken.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(kerasnets.WeightsError, match="truncated or corrupt|cut short"):
        kerasnets.ResNet50(weights=str(broken), include_top=False)
