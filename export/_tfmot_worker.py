"""Runs in its own process with TF_USE_LEGACY_KERAS=1: Keras 3 config -> tf_keras model -> tfmot.

Reads a job folder written by `export.tfmot_bridge`, writes `model.tflite` and `report.json`.
"""

import copy
import json
import re
import sys
from pathlib import Path

import numpy as np

from export.converter import configure
from kerasnets.imagenet import CAFFE_MEAN_BGR, TORCH_MEAN_RGB, TORCH_STD_RGB


class BridgeError(Exception):
    pass


def _strip_modules(value):
    """Keras 3 serialised objects -> the plain {class_name, config} form tf_keras reads."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        cleaned = {k: _strip_modules(v) for k, v in value.items() if k not in ("module", "registered_name",
            "build_config")}
        return cleaned
    if isinstance(value, list):
        return [_strip_modules(v) for v in value]
    return value


def _node(args):
    """Keras 3 inbound node args -> tf_keras [[layer, node, tensor, {}], ...]."""
    tensors = []

    def collect(item):
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            name, node, index = item["config"]["keras_history"]
            tensors.append([name, node, index, {}])
        elif isinstance(item, list):
            for sub in item:
                collect(sub)

    collect(args)
    return tensors


def translate_config(config):
    """Translate a Keras 3 Functional config to the tf_keras format (layer by layer)."""
    import tf_keras

    layers = []
    for layer in config["layers"]:
        class_name = layer["class_name"]
        if not hasattr(tf_keras.layers, class_name):
            raise BridgeError(
                f"layer {layer['name']!r} ({class_name}) has no tf_keras equivalent, so tensorflow-model-optimization "
                "cannot handle this model; use post-training quantization (to_tflite(quantize='int8')) instead."
            )
        layer_config = _strip_modules(layer["config"])
        if class_name == "InputLayer":
            layer_config = {"batch_input_shape": layer_config["batch_shape"], "dtype": layer_config.get("dtype",
                "float32"),
                            "sparse": layer_config.get("sparse", False), "name": layer_config["name"]}
        layer_config = _accepted(getattr(tf_keras.layers, class_name), layer_config)
        layers.append({"class_name": class_name, "config": layer_config, "name": layer["name"],
                       "inbound_nodes": [_node(node["args"]) for node in layer["inbound_nodes"]]})

    def endpoints(value):
        return [value] if value and isinstance(value[0], str) else value

    return {"name": config["name"], "layers": layers, "input_layers": endpoints(config["input_layers"]),
            "output_layers": endpoints(config["output_layers"])}


def _accepted(cls, config):
    """Drop the config keys (also nested, e.g. new initializer arguments) that tf_keras rejects."""
    config = copy.deepcopy(config)
    for _ in range(20):
        try:
            cls.from_config(copy.deepcopy(config))
            return config
        except TypeError as e:  # the two ways tf_keras words an unknown argument
            match = re.search(r"unexpected keyword argument '(\w+)'|Keyword argument not understood:', '(\w+)'", str(e))
            if not match:
                raise
            _drop_key(config, match.group(1) or match.group(2))
    raise BridgeError(f"cannot translate the configuration of a {cls.__name__} layer to tf_keras")


def _drop_key(value, key):
    if isinstance(value, dict):
        value.pop(key, None)
        for v in value.values():
            _drop_key(v, key)
    elif isinstance(value, list):
        for v in value:
            _drop_key(v, key)


def preprocessing_layers(mode):
    """The network's preprocessing as tf_keras layers, so the TFLite file takes raw 0-255 pixels."""
    import tensorflow as tf
    import tf_keras

    if mode == "tf":
        return [tf_keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocessing")]
    if mode == "torch":
        return [tf_keras.layers.Rescaling(1 / 255.0, name="scale"),
                tf_keras.layers.Normalization(mean=TORCH_MEAN_RGB, variance=[s * s for s in TORCH_STD_RGB],
                    name="preprocessing")]
    if mode == "caffe":
        return [tf_keras.layers.Lambda(lambda x: tf.reverse(x, axis=[-1]), name="rgb_to_bgr"),
                tf_keras.layers.Normalization(mean=CAFFE_MEAN_BGR, variance=(1.0, 1.0, 1.0), name="preprocessing")]
    return []


def with_raw_pixels(model, mode):
    import tf_keras

    inputs = tf_keras.Input(model.input_shape[1:], name="image")
    x = inputs
    for layer in preprocessing_layers(mode):
        x = layer(x)
    return tf_keras.Model(inputs, model(x), name=f"{model.name}_raw_pixels")


def kernel_sparsity(model):
    """Fraction of zeros in the convolution and dense kernels (depthwise kernels included)."""
    zeros = total = 0
    for weight in model.weights:
        if "kernel" in weight.name:
            values = weight.numpy()
            zeros += int(np.sum(values == 0))
            total += values.size
    return zeros / max(total, 1)


def convert(model, quantize, samples, sparse=False):
    """TFLite bytes of a tf_keras model, with the export layer's converter settings."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return configure(converter, quantize, [s[None] for s in samples[:100]], sparse=sparse).convert()


def main(job_dir):
    job_dir = Path(job_dir)
    job = json.loads((job_dir / "job.json").read_text())
    import tensorflow_model_optimization as tfmot
    import tf_keras

    tf_keras.utils.set_random_seed(job.get("seed", 0))
    config = json.loads((job_dir / "model.json").read_text())
    model = tf_keras.Model.from_config(translate_config(config))
    weights = np.load(job_dir / "weights.npz")
    model.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
    data = np.load(job_dir / "data.npz")
    x, y = data["x"], data["y"]
    raw = with_raw_pixels(model, job["preprocessing"])
    bridge_diff = float(np.max(np.abs(raw.predict(data["check"], verbose=0) - data["reference"])))
    if bridge_diff > 1e-4:
        raise BridgeError(f"the tf_keras copy of {job['name']} does not reproduce its outputs (max difference "
            f"{bridge_diff:.2e})")
    print(f"  tf_keras copy reproduces the Keras 3 model (max difference {bridge_diff:.1e})", flush=True)
    steps = int(np.ceil(len(x) / job["batch_size"])) * job["epochs"]
    callbacks = []
    if job["mode"] == "qat":
        try:
            optimized = tfmot.quantization.keras.quantize_model(model)
        except (RuntimeError, ValueError) as e:
            raise BridgeError(
                f"tfmot's default quantization scheme cannot wrap {job['name']}: {str(e).splitlines()[0]} "
                "Use post-training int8 quantization (to_tflite(quantize='int8')) for this network."
            ) from None
    else:
        # Sparsity grows polynomially over the first half of fine-tuning; the second half recovers.
        schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, job["sparsity"], begin_step=0, end_step=max(1, steps // 2),
                                                        frequency=max(1, steps // 40))
        prunable = [layer.name for layer in model.layers
                    if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense))
                    and not isinstance(layer, tf_keras.layers.DepthwiseConv2D)]
        # The pointwise convolutions and dense layers hold nearly all weights. Left dense: the depthwise
        # 3x3 kernels (9 weights per channel), the first convolution and the classifier, which cost
        # much accuracy when pruned and little size when not.
        prunable = set(prunable[1:-1]) if len(prunable) > 2 else set(prunable)
        optimized = tf_keras.models.clone_model(
            model, clone_function=lambda layer: tfmot.sparsity.keras.prune_low_magnitude(layer,
                pruning_schedule=schedule)
            if layer.name in prunable else layer,
        )
        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    trainer = with_raw_pixels(optimized, job["preprocessing"])
    learning_rate = tf_keras.optimizers.schedules.CosineDecay(job["learning_rate"], max(1, steps))
    trainer.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    history = trainer.fit(x, y, epochs=job["epochs"], batch_size=job["batch_size"], callbacks=callbacks, verbose=2)
    if job["mode"] == "prune":
        optimized = tfmot.sparsity.keras.strip_pruning(optimized)
        trainer = with_raw_pixels(optimized, job["preprocessing"])
    report = {"bridge_max_diff": bridge_diff, "history": {k: [float(v) for v in vs] for k,
        vs in history.history.items()},
              "sparsity": kernel_sparsity(optimized) if job["mode"] == "prune" else None}
    (job_dir / "model.tflite").write_bytes(convert(trainer, job["quantize"], x, sparse=job["mode"] == "prune"))
    (job_dir / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    folder = sys.argv[1]
    try:
        main(folder)
    except BridgeError as e:
        (Path(folder) / "report.json").write_text(json.dumps({"error": str(e)}))
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
