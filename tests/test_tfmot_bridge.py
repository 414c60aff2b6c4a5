"""The tf_keras bridge for tensorflow-model-optimization (runs in a subprocess)."""

import importlib.util

import keras
import numpy as np
import pytest

import export
import kerasnets
from export import metadata, tfmot_bridge

if importlib.util.find_spec("tensorflow_model_optimization") is None:  # never import it here: it switches tf.keras
    pytest.skip("tensorflow-model-optimization is not installed", allow_module_level=True)


def digits(n, size):
    from sklearn.datasets import load_digits

    data = load_digits()
    images = keras.ops.convert_to_numpy(keras.ops.image.resize((data.images[:n] / 16.0)[..., None], (size, size)))
    return np.repeat(images * 255.0, 3, axis=-1).astype("float32"), data.target[:n]


@pytest.mark.slow
def test_quantization_aware_training_writes_an_android_ready_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = kerasnets.MobileNetV2(weights=None, alpha=0.35, input_shape=(64, 64, 3), classes=10)
    x, y = digits(96, 64)
    path = tmp_path / "qat.tflite"
    report = tfmot_bridge.quantization_aware(model, (x, y), path, epochs=1, labels=[str(d) for d in range(10)])
    assert report["bridge_max_diff"] <= 1e-5  # the tf_keras copy reproduces the Keras 3 model
    summary = metadata.read(path.read_bytes())
    assert summary.labels == [str(d) for d in range(10)] and "quantization-aware" in summary.description
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)


@pytest.mark.slow
def test_pruning_reaches_the_sparsity(tmp_path):
    keras.utils.set_random_seed(0)
    model = kerasnets.MobileNet(weights=None, alpha=0.25, input_shape=(64, 64, 3), classes=10)
    x, y = digits(96, 64)
    report = tfmot_bridge.prune(model, (x, y), tmp_path / "pruned.tflite", target_sparsity=0.5, epochs=2,
                                labels=[str(d) for d in range(10)])
    assert 0.4 <= report["sparsity"] <= 0.5
    assert export.verify(tmp_path / "pruned.tflite", model, x[:2]).input_dtype == "float32"


def test_custom_layers_are_named_in_the_error(tmp_path):
    model = kerasnets.AlexNet(input_shape=(112, 112, 3), classes=10)
    x, y = digits(16, 112)
    with pytest.raises(export.ExportError,
        match="layer 'lrn1' \\(LocalResponseNormalization\\) has no tf_keras equivalent"):
        tfmot_bridge.quantization_aware(model, (x, y), tmp_path / "alexnet.tflite", labels=[str(d) for d in range(10)])
    assert not any(tmp_path.iterdir())


def test_standalone_batch_norm_is_named_in_the_error(tmp_path):
    model = kerasnets.DenseNetBC((1, 1), growth_rate=8, input_shape=(32, 32, 3), classes=10)
    x, y = digits(16, 32)
    with pytest.raises(export.ExportError, match="cannot wrap .*BatchNormalization"):
        tfmot_bridge.quantization_aware(model, (x, y), tmp_path / "densenet.tflite", preprocessing="torch",
                                        labels=[str(d) for d in range(10)])
    assert not any(tmp_path.iterdir())


def test_bad_training_data(tmp_path):
    model = kerasnets.MobileNet(weights=None, alpha=0.25, input_shape=(64, 64, 3), classes=3)
    (tmp_path / "only_one_class").mkdir()
    with pytest.raises(export.ExportError, match="at least 2 class sub-folders"):
        tfmot_bridge.quantization_aware(model, tmp_path, tmp_path / "m.tflite", labels=["a", "b", "c"])
    with pytest.raises(export.ExportError, match="between 0 and 1"):
        tfmot_bridge.prune(model, tmp_path, tmp_path / "m.tflite", target_sparsity=1.5, labels=["a", "b", "c"])
