"""kerasnets.transfer: the four scenarios freeze exactly what they promise, frozen BatchNorm keeps its
statistics, two-phase fine-tuning, distributed training, and the saved model reloads identically."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    from kerasnets.train.datasets import digits_image_folder

    return digits_image_folder(tmp_path_factory.mktemp("digits") / "digits", size=32)


def _resnet(scenario, **options):
    from kerasnets import transfer

    return transfer.build_classifier("resnet50", 3, scenario, weights=None, image_size=64, **options)


def _trainable_paths(model):
    return {w.path for w in model.trainable_weights}


def _conv_paths(model, prefixes):
    """kernel/bias paths of the convolutions whose names start with one of `prefixes`."""
    import keras

    from kerasnets.transfer import base_of

    return {w.path for layer in base_of(model).layers if isinstance(layer, keras.layers.Conv2D)
            and layer.name.startswith(prefixes) for w in layer.weights}


HEAD = {"classifier/kernel", "classifier/bias"}


def test_blocks_follow_the_papers_units():
    import kerasnets
    from kerasnets.transfer import block_names

    vgg = kerasnets.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    assert block_names(vgg) == ["block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool"]
    resnet = kerasnets.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    names = block_names(resnet)
    assert names[0] == "pool1_pool" and len(names) == 1 + 3 + 4 + 6 + 3  # the stem, then Table 1's 16 units
    assert names[1:4] == ["conv2_block1_out", "conv2_block2_out",
        "conv2_block3_out"] and names[-1] == "conv5_block3_out"
    inception = kerasnets.InceptionV3(include_top=False, weights=None, input_shape=(96, 96, 3))
    assert block_names(inception)[-11:] == [f"mixed{i}" for i in range(11)]


def test_feature_extractor_trains_only_the_classifier():
    assert _trainable_paths(_resnet("feature_extractor")) == HEAD


def test_fine_tune_top_trains_the_last_units_without_batch_norm():
    model = _resnet("fine_tune_top", top_blocks=1)
    assert _trainable_paths(model) == HEAD | _conv_paths(model, ("conv5_block3_",))
    model = _resnet("fine_tune_top", top_blocks=2)
    assert _trainable_paths(model) == HEAD | _conv_paths(model, ("conv5_block2_", "conv5_block3_"))


def test_fine_tune_from_a_layer_name_starts_at_its_block():
    model = _resnet("fine_tune_from", fine_tune_from="conv5_block2_2_conv")  # a layer in the middle of the unit
    expected = HEAD | _conv_paths(model, ("conv5_block2_", "conv5_block3_"))
    assert _trainable_paths(model) == expected
    assert _trainable_paths(_resnet("fine_tune_from", fine_tune_from=-2)) == expected
    assert _trainable_paths(_resnet("fine_tune_from", fine_tune_from="conv5_block1_out")) == HEAD | _conv_paths(
        model, ("conv5_block1_", "conv5_block2_", "conv5_block3_"))


def test_full_trains_everything_including_batch_norm():
    import keras

    model = _resnet("full")
    assert _trainable_paths(model) == {w.path for w in model.weights if w.trainable}
    norms = [layer for layer in model.get_layer("base").layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert all(layer.trainable for layer in norms)
    assert len(model.trainable_weights) == len(_conv_paths(model, ("conv",))) + 2 * len(norms) + 2


def test_bad_scenario_arguments_name_the_fix():
    with pytest.raises(ValueError, match="did you mean conv5_block3_3_conv"):
        _resnet("fine_tune_from", fine_tune_from="conv5_block3_3_cnv")
    with pytest.raises(ValueError, match="has 17 blocks"):
        _resnet("fine_tune_from", fine_tune_from=40)
    with pytest.raises(ValueError, match="needs fine_tune_from"):
        _resnet("fine_tune_from")
    with pytest.raises(ValueError, match="Unknown scenario 'retrain'"):
        _resnet("retrain")
    with pytest.raises(ValueError, match="top_blocks must be an integer from 1 to 17"):
        _resnet("fine_tune_top", top_blocks=0)
    with pytest.raises(ValueError, match="Unknown model 'resnet5'"):
        from kerasnets import transfer

        transfer.build_classifier("resnet5", 3, weights=None)
    import kerasnets
    from kerasnets import transfer

    with pytest.raises(ValueError, match="include_top=False"):
        transfer.build_classifier(kerasnets.MobileNet(weights=None, input_shape=(32, 32, 3)), 3)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        transfer.build_classifier("mobilenet", 1, weights=None, image_size=32)


def _batch(folder, size=32, n=16):
    from kerasnets.train.datasets import read_images, scan_image_folder

    index = scan_image_folder(folder)
    picks = np.linspace(0, len(index) - 1, n).astype(int)
    images = read_images([index.paths[i] for i in picks], size)
    return images, np.eye(index.num_classes, dtype="float32")[index.labels[picks]]


def _statistics(model):
    import keras

    return {layer.name: (layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy())
            for layer in model.get_layer("base").layers if isinstance(layer, keras.layers.BatchNormalization)}


@pytest.mark.parametrize("scenario", ["fine_tune_top", pytest.param("full", marks=pytest.mark.slow)])
def test_frozen_batch_norm_keeps_its_statistics_during_a_training_step(digits_folder, scenario):
    from kerasnets import transfer
    from kerasnets.train import datasets

    x, y = _batch(digits_folder)
    model = transfer.build_classifier("mobilenet", 10, "full", weights=None, image_size=32, alpha=0.25)
    # Stand-in for pretrained weights: statistics of real data (with random ones the signal vanishes).
    data = datasets.image_dataset(datasets.scan_image_folder(digits_folder), 32, batch_size=64)
    transfer.PreciseBatchNorm(data, batches=2).update(model)
    transfer.apply_scenario(model, scenario)
    transfer.compile_classifier(model, 1e-2)
    base = model.get_layer("base")
    before, kernels = _statistics(model), {n: base.get_layer(n).kernel.numpy().copy() for n in ("conv1", "conv_pw_13")}
    model.train_on_batch(x, y)
    after = _statistics(model)
    changed = {name for name in before if not np.array_equal(before[name][0], after[name][0])}
    trained = {name: not np.array_equal(kernels[name], base.get_layer(name).kernel.numpy()) for name in kernels}
    if scenario == "full":  # the check can see a change: every BatchNorm updates when it trains
        assert changed == set(before) and trained == {"conv1": True, "conv_pw_13": True}
    else:
        assert changed == set() and trained == {"conv1": False, "conv_pw_13": True}


def test_two_phase_fine_tuning_and_identical_reload(digits_folder, tmp_path):
    import keras

    from kerasnets import transfer
    from kerasnets.train import datasets

    train, validation = datasets.split_image_folder(digits_folder, 0.2)
    train_data = datasets.image_dataset(train.subset(range(0, len(train), 8)), 32, batch_size=32, training=True,
                                        augment="rotation,zoom")
    validation_data = datasets.image_dataset(validation.subset(range(0, len(validation), 8)), 32, batch_size=32)
    model = transfer.build_classifier("mobilenet", 10, "fine_tune_top", weights=None, image_size=32, alpha=0.25)
    log = transfer.fine_tune(model, train_data, validation_data, scenario="fine_tune_top", epochs=3, head_epochs=1,
                             label_smoothing=0.1, verbose=0)
    assert [phase for phase, _ in log.phases] == ["classifier", "fine_tune_top"] and log.phases[1][1] == 1
    assert len(log.history["val_accuracy"]) == 3 and all(np.isfinite(log.history["loss"]))
    assert np.isclose(log.history["learning_rate"][1], 1e-4)  # the second phase starts at a tenth of the rate
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    x, _ = _batch(digits_folder)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))
    assert _trainable_paths(reloaded) == _trainable_paths(model)


def test_precise_batch_norm_rescues_inference_after_training_from_scratch(digits_folder):
    """With momentum 0.99 the moving statistics still hold most of their initial values after a few
    dozen steps; recomputed population statistics give inference-mode outputs that match the data."""
    from kerasnets import transfer
    from kerasnets.train import datasets

    folder = datasets.scan_image_folder(digits_folder)
    data = datasets.image_dataset(folder, 32, batch_size=64, training=True)
    model = transfer.build_classifier("mobilenet", 10, "full", weights=None, image_size=32, alpha=0.25)
    norm = model.get_layer("base").get_layer("conv1_bn")
    assert np.allclose(norm.moving_variance.numpy(), 1.0)
    assert transfer.PreciseBatchNorm(data, batches=4).update(model) == 27
    import keras

    base = model.get_layer("base")
    probe = keras.Model(base.input, base.get_layer("conv1").output)
    x, _ = next(iter(data))
    features = probe(model.get_layer("preprocessing")(x)).numpy()
    np.testing.assert_allclose(norm.moving_mean.numpy(), features.mean(axis=(0, 1, 2)), atol=0.05)
    np.testing.assert_allclose(norm.moving_variance.numpy(), features.var(axis=(0, 1, 2)), rtol=0.2, atol=1e-3)


DISTRIBUTED_SCRIPT = textwrap.dedent("""
    import json, sys
    backend = sys.argv[2]
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from kerasnets.train import datasets
    from kerasnets import transfer
    train, _ = datasets.split_image_folder(sys.argv[1], 0.5)
    with transfer.distributed() as where:  # first: multi-worker collectives are set up before any TF op
        data = datasets.image_dataset(train.subset(range(0, len(train), 4)), 32, batch_size=16, training=True,
                                      drop_remainder=True)
        model = transfer.build_classifier("mobilenet", 10, "full", weights=None, image_size=32, alpha=0.25)
        before = model.get_layer("classifier").kernel.numpy().copy()
        log = transfer.fine_tune(model, data, scenario="full", epochs=1, head_epochs=0, verbose=0)
        replicas = transfer.replicas()
    after = model.get_layer("classifier").kernel.numpy()
    print(json.dumps({"where": where, "replicas": replicas, "loss": log.history["loss"],
                      "moved": float(abs(after - before).max()), "outputs": list(model.output_shape)}))
""")


@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.slow)])
def test_distributed_training_on_two_devices(digits_folder, backend):
    # Two XLA CPU "devices" share the 2 cores with the other test worker: a starved device thread
    # must not trip XLA's 40 s all-reduce termination timeout (seen once in CI under that load).
    xla_flags = "--xla_force_host_platform_device_count=2"
    if backend == "jax":  # (TensorFlow's own XLA does not know these flags)
        xla_flags += (" --xla_cpu_collective_call_warn_stuck_timeout_seconds=120"
                      " --xla_cpu_collective_call_terminate_timeout_seconds=540")
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": xla_flags,
           "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", DISTRIBUTED_SCRIPT, str(digits_folder), backend], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = "MirroredStrategy on 2 replica(s)" if backend == "tensorflow" else "DataParallel on 2 device(s)"
    assert report["where"] == expected and report["replicas"] == 2
    assert np.isfinite(report["loss"][0]) and report["moved"] > 0 and report["outputs"] == [None, 10]


@pytest.mark.slow
def test_multi_worker_training_through_tf_config(digits_folder):
    """Two JAX worker processes on this machine, joined from TF_CONFIG, train one model together."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT,
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        env.pop("XLA_FLAGS", None)  # one CPU device per process: the two replicas are the two processes
        workers.append(subprocess.Popen([sys.executable, "-c", DISTRIBUTED_SCRIPT, str(digits_folder), "jax"], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=900)
        assert worker.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["where"] for r in reports] == ["DataParallel on 2 device(s)"] * 2
    assert reports[0]["loss"] == reports[1]["loss"] and reports[0]["moved"] == reports[1]["moved"]  # one model


def test_tf_config_on_tensorflow_says_how_to_run_multi_worker(monkeypatch):
    import keras

    from kerasnets import transfer

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow backend's message")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker",
        "index": 0}}))
    with pytest.raises(RuntimeError, match="keras-team/keras#20585.*KERAS_BACKEND=jax"):
        with transfer.distributed():
            pass


@pytest.mark.parametrize("scenario, frozen_blocks_random", [("feature_extractor", False), ("full", True)])
def test_frozen_blocks_compute_as_at_inference(scenario, frozen_blocks_random):
    """EfficientNet-Lite's stochastic depth is off in frozen blocks (the head trains on test-time
    features) and on where the blocks train."""
    import keras

    from kerasnets import transfer

    keras.utils.set_random_seed(0)
    model = transfer.build_classifier("efficientnet_lite0", 3, scenario, weights=None, image_size=64)
    base = transfer.base_of(model)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 64, 64, 3)).astype("float32")
    bn = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bn:  # isolate stochastic depth from batch statistics
        layer.trainable = False
    same = np.array_equal(base(x, training=True), base(x, training=False))
    assert same != frozen_blocks_random
