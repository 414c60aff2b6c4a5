"""The keras.applications-compatible zoo: parity, weight files, registry, profiler against the papers."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasnets
from tests.conftest import ROOT, max_abs_diff, save_legacy_h5

A = keras.applications

# (id, kerasnets builder, keras.applications builder, kwargs, input size, tolerance)
FAST = [
    ("resnet50v2", kerasnets.ResNet50V2, A.ResNet50V2, {}, 224, 1e-5),
    ("inceptionv3", kerasnets.InceptionV3, A.InceptionV3, {}, 299, 1e-5),
    ("mobilenet-0.5-160", kerasnets.MobileNet, A.MobileNet, dict(alpha=0.5, input_shape=(160, 160, 3)), 160, 1e-5),
    ("mobilenetv2-0.35-96", kerasnets.MobileNetV2, A.MobileNetV2, dict(alpha=0.35, input_shape=(96, 96, 3)), 96, 1e-5),
    ("mobilenetv3small", kerasnets.MobileNetV3Small, A.MobileNetV3Small, {}, 224, 1e-5),
    ("mobilenetv3large-min", kerasnets.MobileNetV3Large, A.MobileNetV3Large, dict(minimalistic=True), 224, 1e-5),
    ("densenet121", kerasnets.DenseNet121, A.DenseNet121, {}, 224, 1e-5),
]
SLOW = [
    ("inceptionresnetv2", kerasnets.InceptionResNetV2, A.InceptionResNetV2, {}, 299, 1e-4),
    ("resnet101", kerasnets.ResNet101, A.ResNet101, {}, 224, 1e-4),
    ("resnet152", kerasnets.ResNet152, A.ResNet152, {}, 224, 1e-4),
    ("resnet101v2", kerasnets.ResNet101V2, A.ResNet101V2, {}, 224, 1e-4),
    ("resnet152v2", kerasnets.ResNet152V2, A.ResNet152V2, {}, 224, 1e-4),
    ("densenet169", kerasnets.DenseNet169, A.DenseNet169, {}, 224, 1e-5),
    ("densenet201", kerasnets.DenseNet201, A.DenseNet201, {}, 224, 1e-4),
    *[
        (f"mobilenet-{a}-{s}", kerasnets.MobileNet, A.MobileNet, dict(alpha=a, input_shape=(s, s, 3)), s, 1e-5)
        for a in (0.25, 0.5, 0.75, 1.0) for s in (128, 160, 192, 224)
    ],
    *[
        (f"mobilenetv2-{a}-{s}", kerasnets.MobileNetV2, A.MobileNetV2, dict(alpha=a, input_shape=(s, s, 3)), s, 1e-5)
        for a in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4) for s in (96, 128, 160, 192, 224)
    ],
    *[
        (f"mobilenetv3{t.__name__[11:].lower()}-{a}-{m}", t, getattr(A, t.__name__), dict(alpha=a, minimalistic=m),
            224, 1e-5)
        for t in (kerasnets.MobileNetV3Small, kerasnets.MobileNetV3Large)
        for a, m in ((0.75, False), (1.0, False), (1.0, True))
    ],
]


def check_parity(ours_fn, theirs_fn, kwargs, size, tol, tmp_path):
    theirs = theirs_fn(weights=None, **kwargs)
    path = save_legacy_h5(theirs, tmp_path / "weights.h5")
    ours = ours_fn(weights=str(path), **kwargs)  # the official format, loaded by topological order
    assert ours.count_params() == theirs.count_params()
    assert ours.input_shape == theirs.input_shape and ours.output_shape == theirs.output_shape
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    x = x if "mobilenetv3" in ours.name.lower() else x / 127.5 - 1.0
    assert max_abs_diff(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)) <= tol


@pytest.mark.parametrize("case", FAST, ids=[c[0] for c in FAST])
def test_parity(case, tmp_path):
    check_parity(*case[1:], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=[c[0] for c in SLOW])
def test_parity_full_matrix(case, tmp_path):
    check_parity(*case[1:], tmp_path)


@pytest.mark.parametrize(
    "ours_fn, theirs_fn, kwargs",
    [
        (kerasnets.MobileNet, A.MobileNet, dict(alpha=0.25, input_shape=(128, 128, 3), pooling="avg")),
        (kerasnets.DenseNet121, A.DenseNet121, dict(input_shape=(64, 64, 3), pooling="max")),
        (kerasnets.MobileNetV3Small, A.MobileNetV3Small, dict(pooling="avg")),
    ],
)
def test_notop_parity(ours_fn, theirs_fn, kwargs, tmp_path):
    theirs = theirs_fn(weights=None, include_top=False, **kwargs)
    ours = ours_fn(weights=str(save_legacy_h5(theirs, tmp_path / "notop.h5")), include_top=False, **kwargs)
    size = kwargs.get("input_shape", (128,))[0]
    x = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    assert max_abs_diff(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)) <= 1e-5


def test_inception_v3_aux_logits_keeps_loaded_weights(tmp_path):
    path = save_legacy_h5(kerasnets.InceptionV3(weights=None), tmp_path / "v3.h5")
    plain = kerasnets.InceptionV3(weights=str(path))
    with_aux = kerasnets.InceptionV3(weights=str(path), aux_logits=True, classifier_activation=None)
    assert len(with_aux.outputs) == 2 and with_aux.output_shape == [(None, 1000), (None, 1000)]
    x = np.random.default_rng(2).uniform(-1, 1, (1, 299, 299, 3)).astype("float32")
    main, aux = with_aux.predict(x, verbose=0)
    reference = plain.predict(x, verbose=0)
    assert max_abs_diff(keras.ops.convert_to_numpy(keras.ops.softmax(main)), reference) <= 1e-5


@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (kerasnets.MobileNet, dict(alpha=0.3), r"alpha in \[0.25, 0.5, 0.75, 1.0\]"),
        (kerasnets.MobileNet, dict(input_shape=(100, 100, 3)), r"\[128, 160, 192, 224\] pixels; received 100x100"),
        (kerasnets.MobileNet, dict(include_top=False, input_shape=(100, 100, 3)), r"\[128, 160, 192, 224\]"),
        (kerasnets.MobileNet, dict(depth_multiplier=2), "depth_multiplier=1"),
        (kerasnets.MobileNetV2, dict(alpha=0.6), r"alpha in \[0.35, 0.5, 0.75, 1.0, 1.3, 1.4\]"),
        (kerasnets.MobileNetV2, dict(input_shape=(100, 100, 3)), r"\[96, 128, 160, 192, 224\]"),
        (kerasnets.MobileNetV3Large, dict(alpha=0.5), r"alpha in \[0.75, 1.0\]"),
        (kerasnets.InceptionV3, dict(classes=10), "classes=10 cannot be combined"),
        (kerasnets.DenseNet121, dict(classes=10), "classes=10 cannot be combined"),
        (kerasnets.InceptionV3, dict(weights=None, include_top=False, input_shape=(64, 64, 3)), "at least 75x75"),
        (kerasnets.MobileNetV2, dict(weights=None, include_top=False, input_shape=(16, 16, 3)), "at least 32x32"),
        (kerasnets.DenseNet264, dict(), "no ImageNet weights are published"),
    ],
)
def test_bad_arguments_list_the_valid_values(builder, kwargs, message):
    kwargs.setdefault("weights", "imagenet")
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


def test_mobilenet_trains_at_any_size_without_imagenet():
    model = kerasnets.MobileNet(weights=None, alpha=0.3, input_shape=(40, 56, 3), classes=10)
    assert model.output_shape == (None, 10)


def test_registry():
    names = kerasnets.list_models()
    expected = {
        "vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2",
        "inceptionv3", "inceptionresnetv2", "mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large",
        "densenet121", "densenet169", "densenet201",
    }
    assert expected <= set(names) and names == sorted(names)
    for name in expected:
        info = kerasnets.model_info(name)
        assert info.imagenet_weights and info.preprocessing in ("caffe", "tf", "torch", "none")
        assert info.input_size in (224, 299) and 2014 <= info.year <= 2019 and info.paper
    assert kerasnets.model_info("InceptionV3").name == "inceptionv3"
    model = kerasnets.get_model("mobilenetv2", weights=None, alpha=0.35, input_shape=(96, 96, 3))
    assert model.count_params() == 1_691_208
    with pytest.raises(ValueError, match="Unknown model 'resnet5'.*resnet50"):
        kerasnets.get_model("resnet5")


# The papers' tables. Mult-adds must agree within 2 %. Parameters are compared at the precision the
# paper prints (one decimal, in millions), counting weights only: the MobileNet paper's 4.2 M
# excludes batch-norm moving statistics (keras reports 4.23 M trainable + 0.02 M of those).
MOBILENET_TABLES = [  # Howard et al. 2017, Tables 6 and 7: (alpha, size, mult-adds M, params M)
    (1.0, 224, 569, 4.2), (0.75, 224, 325, 2.6), (0.5, 224, 149, 1.3), (0.25, 224, 41, 0.5),
    (1.0, 192, 418, 4.2), (1.0, 160, 290, 4.2), (1.0, 128, 186, 4.2),
]


@pytest.mark.parametrize("alpha, size, macs, params", MOBILENET_TABLES)
def test_profile_mobilenet_tables(alpha, size, macs, params):
    result = kerasnets.profile(kerasnets.MobileNet(weights=None, alpha=alpha, input_shape=(size, size, 3)))
    assert abs(result.macs / 1e6 - macs) <= 0.02 * macs
    assert round(result.trainable_params / 1e6, 1) == params


@pytest.mark.parametrize("builder, gmacs", [(kerasnets.ResNet50, 3.8), (kerasnets.ResNet101, 7.6),
    (kerasnets.ResNet152, 11.3)])
def test_profile_resnet_table_1(builder, gmacs):
    result = kerasnets.profile(builder(weights=None))
    assert abs(result.macs / 1e9 - gmacs) <= 0.02 * gmacs


@pytest.mark.parametrize(
    "builder, millions",
    [(kerasnets.VGG11, 133), (kerasnets.VGG13, 133), (kerasnets.VGG16C, 134), (kerasnets.VGG16, 138), (kerasnets.VGG19,
        144)],
)
def test_profile_vgg_table_2(builder, millions):
    assert round(kerasnets.profile(builder(weights=None)).params / 1e6) == millions


def test_profile_counts_each_kind_of_layer():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(6, 3, padding="same")(inputs)                        # 8*8*6 * 3*3*4 = 13824
    x = keras.layers.Conv2D(6, 3, padding="same", groups=2)(x)                   # 8*8*6 * 3*3*3 = 10368
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)            # 4*4*6 * 9 = 864
    x = keras.layers.SeparableConv2D(5, 3, padding="valid")(x)                   # 2*2*6*9 + 2*2*6*5 = 336
    x = keras.layers.Conv2DTranspose(3, 2, strides=2)(x)                         # 2*2*5 * 4 * 3 = 240
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(7)(x)                                            # 48 * 7 = 336
    result = kerasnets.profile(keras.Model(inputs, outputs))
    assert result.macs == 13824 + 10368 + 864 + 336 + 240 + 336
    assert result.params == keras.Model(inputs, outputs).count_params()
    assert "total" in result.table() and "Conv2DTranspose" in result.table()


def test_profile_needs_static_shapes():
    with pytest.raises(ValueError, match="fixed input_shape"):
        kerasnets.profile(kerasnets.MobileNetV3Small(weights=None))


def test_model_zoo_app(tmp_path):
    chart, table = tmp_path / "zoo.png", tmp_path / "zoo.md"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "apps", "model_zoo.py"), "--models", "mobilenet", "resnet18", "mobilenetv2",
         "--chart", chart, "--markdown", table],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "| mobilenet | 2017 | 224 | 4.3 | 0.569 | 70.6 | yes |" in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and table.read_text().count("\n") == 5
