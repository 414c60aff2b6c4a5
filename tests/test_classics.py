"""The networks keras.applications never had: the papers' numbers, serialisation, backends, learning."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.models import blocks
from tests.conftest import ROOT, max_abs_diff


def within(value, target, fraction):
    return abs(value - target) <= fraction * target


def test_lenet5():
    model = kerasnets.LeNet5()
    assert model.input_shape == (None, 32, 32, 1) and model.count_params() == 61_706


def test_alexnet():
    split = kerasnets.profile(kerasnets.AlexNet(groups=2))
    assert split.params == 60_965_224  # "60 million parameters" (Sec. 4); the two-GPU split
    assert kerasnets.AlexNet(groups=1).count_params() == 62_378_344
    assert kerasnets.AlexNet(lrn=False).count_params() == 62_378_344
    assert not any(isinstance(layer,
        kerasnets.LocalResponseNormalization) for layer in kerasnets.AlexNet(lrn=False).layers)
    assert kerasnets.AlexNet().get_layer("pool3").output.shape == (None, 6, 6, 256)


def test_zfnet_figure_3_sizes():
    model = kerasnets.ZFNet()
    sizes = [tuple(model.get_layer(n).output.shape[1:]) for n in
             ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool3")]
    assert sizes == [(110, 110, 96), (55, 55, 96), (26, 26, 256), (13, 13, 256), (13, 13, 384), (13, 13, 384),
                     (13, 13, 256), (6, 6, 256)]


@pytest.mark.parametrize("builder", [kerasnets.VGG11LRN])
def test_vgg_a_lrn_table_2(builder):
    model = builder(weights=None)
    assert round(model.count_params() / 1e6) == 133
    assert isinstance(model.get_layer("block1_lrn"), kerasnets.LocalResponseNormalization)


def test_vgg_batch_norm_variant():
    model = kerasnets.VGG(config="D", batch_norm=True, include_top=False, input_shape=(64, 64, 3))
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 13


def test_googlenet_table_1():
    result = kerasnets.profile(kerasnets.GoogLeNet())
    assert within(result.params, 6.8e6, 0.05) and within(result.macs, 1.55e9, 0.05)
    widths = {"inception_3a": 256, "inception_3b": 480, "inception_4a": 512, "inception_4e": 832, "inception_5b": 1024}
    model = kerasnets.GoogLeNet(weights=None)
    for name, channels in widths.items():
        assert model.get_layer(name).output.shape[-1] == channels


def test_inception_v4_and_resnet_v1():
    assert within(kerasnets.InceptionV4().count_params(), 42.7e6, 0.01)
    model = kerasnets.InceptionResNetV1()
    assert model.get_layer("block8_5_conv").output.shape == (None, 8, 8, 1792)


@pytest.mark.parametrize(
    "builder, params, gmacs",
    [(kerasnets.ResNet18, 11.7e6, 1.8), (kerasnets.ResNet34, 21.8e6, 3.6), (kerasnets.ResNeXt50, 25.0e6, 4.2)],
)
def test_resnet18_34_and_resnext50(builder, params, gmacs):
    result = kerasnets.profile(builder(weights=None))
    assert within(result.params, params, 0.01) and within(result.macs / 1e9, gmacs, 0.02)


def test_resnext101_32x8d():
    model = kerasnets.ResNeXt101(weights=None)
    assert within(model.count_params(), 88.8e6, 0.01)
    assert model.get_layer("conv2_block1_2_conv").groups == 32


@pytest.mark.parametrize("depth, params", [(20, 0.27e6), (56, 0.85e6), (110, 1.7e6), (164, 1.7e6)])
def test_cifar_resnets(depth, params):
    assert within(kerasnets.CifarResNet(depth).count_params(), params, 0.03)


@pytest.mark.parametrize("unit", sorted(blocks.RESIDUAL_UNITS))
def test_residual_unit_orderings(unit):
    model = kerasnets.CifarResNet(20, unit=unit)
    names = [layer.name for layer in model.layers]
    # Fig. 4: where the BN and ReLU of the second unit sit relative to its addition.
    after_add = [n for n in names if n.startswith("conv2_block2_out_")]
    pre = [n for n in names if n.startswith("conv2_block2_pre_")]
    expected = {
        "original": (["conv2_block2_out_relu"], []),
        "bn_after_addition": (["conv2_block2_out_bn", "conv2_block2_out_relu"], []),
        "relu_before_addition": ([], []),
        "relu_only_preactivation": ([], ["conv2_block2_pre_relu"]),
        "full_preactivation": ([], ["conv2_block2_pre_bn", "conv2_block2_pre_relu"]),
    }[unit]
    assert (after_add, pre) == expected
    assert model.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape == (1, 10)


def test_cifar_resnet_rejects_impossible_depths():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        kerasnets.CifarResNet(21)
    with pytest.raises(ValueError, match="unit must be one of"):
        kerasnets.CifarResNet(20, unit="postact")


def test_highway_net():
    model = kerasnets.HighwayNet(depth=30, width=50, input_shape=(64,))
    highway = [layer for layer in model.layers if isinstance(layer, kerasnets.Highway)]
    assert len(highway) == 30 and all(float(np.mean(keras.ops.convert_to_numpy(h.bias_t))) < 0 for h in highway)
    assert kerasnets.PlainNet(depth=30, width=50, input_shape=(64,
        )).count_params() == 64 * 50 + 50 + 30 * (50 * 50 + 50) + 510


# Small configurations of every new network: (builder, kwargs, input shape).
SMALL = {
    "lenet5": (kerasnets.LeNet5, {}, (32, 32, 1)),
    "alexnet": (kerasnets.AlexNet, dict(groups=2, classes=10), (227, 227, 3)),
    "zfnet": (kerasnets.ZFNet, dict(include_top=False, pooling="avg"), (224, 224, 3)),
    "vgg11lrn": (kerasnets.VGG11LRN, dict(weights=None, include_top=False, input_shape=(64, 64, 3)), (64, 64, 3)),
    "googlenet": (kerasnets.GoogLeNet, dict(aux_logits=True, classes=10), (224, 224, 3)),
    "inceptionv4": (kerasnets.InceptionV4, dict(classes=10, input_shape=(107, 107, 3)), (107, 107, 3)),
    "inceptionresnetv1": (kerasnets.InceptionResNetV1, dict(classes=10, input_shape=(107, 107, 3)), (107, 107, 3)),
    "resnet18": (kerasnets.ResNet18, dict(weights=None, classes=10, input_shape=(64, 64, 3)), (64, 64, 3)),
    "resnext50": (kerasnets.ResNeXt50, dict(weights=None, include_top=False, pooling="avg", input_shape=(64, 64, 3)),
                  (64, 64, 3)),
    "cifar_resnet20": (kerasnets.CifarResNet, dict(depth=20, unit="full_preactivation"), (32, 32, 3)),
    "highwaynet": (kerasnets.HighwayNet, dict(depth=5, input_shape=(64,)), (64,)),
}


def _inputs(shape, n=2):
    return np.random.default_rng(0).uniform(-1, 1, (n, *shape)).astype("float32")


#: built, saved and reloaded by tests/test_registry.py's round trip too (one network per family builder): their JSON
#: and clone round trips run with -m slow
REGISTRY_COVERED = {"inceptionv4", "inceptionresnetv1"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in REGISTRY_COVERED else n
                                  for n in sorted(SMALL)])
def test_serialisation_round_trips(name, tmp_path):
    builder, kwargs, shape = SMALL[name]
    model = builder(**kwargs)
    x = _inputs(shape)
    expected = model.predict(x, verbose=0)
    from_json = keras.models.model_from_json(model.to_json())
    from_json.set_weights(model.get_weights())
    cloned = keras.models.clone_model(model)
    cloned.set_weights(model.get_weights())
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    for other in (from_json, cloned, loaded):
        got = other.predict(x, verbose=0)
        for a, b in zip(keras.tree.flatten(got), keras.tree.flatten(expected)):
            assert max_abs_diff(a, b) <= 1e-5


JAX_SCRIPT = r"""
import json, sys
import numpy as np
import keras
import kerasnets
from tests.test_classics import SMALL, _inputs
assert keras.backend.backend() == "jax"
folder = sys.argv[1]
for name in json.loads(sys.argv[2]):
    builder, kwargs, shape = SMALL[name]
    model = builder(**kwargs)
    model.load_weights(f"{folder}/{name}.weights.h5")
    out = model.predict(_inputs(shape), verbose=0)
    np.save(f"{folder}/{name}.jax.npy", np.asarray(keras.tree.flatten(out)[0]))
"""


@pytest.mark.slow
def test_same_outputs_on_the_jax_backend(tmp_path):
    pytest.importorskip("jax")
    names = ["lenet5", "alexnet", "googlenet", "inceptionresnetv1", "resnext50", "cifar_resnet20", "highwaynet",
        "vgg11lrn"]
    expected = {}
    for name in names:
        builder, kwargs, shape = SMALL[name]
        keras.utils.set_random_seed(1)
        model = builder(**kwargs)
        model.save_weights(tmp_path / f"{name}.weights.h5")
        expected[name] = keras.tree.flatten(model.predict(_inputs(shape), verbose=0))[0]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path), json.dumps(names)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in names:
        assert max_abs_diff(np.load(tmp_path / f"{name}.jax.npy"), expected[name]) <= 1e-4, name


def digits(size=None, pad=0, rgb=False, seed=0):
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1], optionally resized, padded, RGB."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images / 16.0).astype("float32")[..., None]
    if size:
        images = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (size, size)))
    if pad:
        images = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    if rgb:
        images = np.repeat(images, 3, axis=-1)
    return train_test_split(images, data.target, test_size=0.2, random_state=seed, stratify=data.target)


def test_lenet5_learns_digits():
    """LeNet-5 on digits resized to 28x28 and padded to 32x32, trained with small random
    translations (LeCun et al. trained on distorted digits too) and a cosine learning-rate decay."""
    x_train, x_test, y_train, y_test = digits(size=28, pad=2)
    keras.utils.set_random_seed(0)
    model = kerasnets.LeNet5()
    inputs = keras.Input((32, 32, 1))
    trainer = keras.Model(inputs, model(keras.layers.RandomTranslation(0.08, 0.08)(inputs)))
    epochs, steps = 40, int(np.ceil(len(x_train) / 32))
    trainer.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, epochs * steps)),
                    loss="sparse_categorical_crossentropy")
    trainer.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    print(f"LeNet-5 held-out accuracy on digits: {accuracy:.4f}")
    assert accuracy >= 0.97


def test_googlenet_trains_with_auxiliary_losses():
    x_train, _, y_train, _ = digits(size=112, rgb=True)
    keras.utils.set_random_seed(0)
    model = kerasnets.compile_with_auxiliary(
        kerasnets.GoogLeNet(classes=10, aux_logits=True, input_shape=(112, 112, 3)),
        optimizer=keras.optimizers.Adam(3e-4),
    )
    assert model.compiled_loss is not None or model.loss is not None
    x, y = x_train[:32] * 255.0 - 127.5, y_train[:32]
    losses = [float(model.train_on_batch(x, [y, y, y], return_dict=True)["loss"]) for _ in range(8)]
    print("GoogLeNet total loss per step (main + 0.3 aux1 + 0.3 aux2):", [round(v, 3) for v in losses])
    assert np.mean(losses[-2:]) < np.mean(losses[:2])


@pytest.mark.slow
def test_highway_trains_where_plain_does_not():
    """Srivastava et al. 2015, Fig. 1: at depth 30 the highway network trains, the plain one far worse."""
    x_train, x_test, y_train, y_test = digits()
    results = {}
    for builder in (kerasnets.HighwayNet, kerasnets.PlainNet):
        keras.utils.set_random_seed(0)
        model = builder(depth=30, width=50, input_shape=(8, 8, 1))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
            metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=40, batch_size=32, verbose=0)
        results[builder.__name__] = model.evaluate(x_test, y_test, verbose=0)[1]
    print("30-layer networks on digits, held-out accuracy:", results)
    assert results["HighwayNet"] >= 0.90
    assert results["PlainNet"] <= results["HighwayNet"] - 0.05
