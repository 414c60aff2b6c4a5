"""Training on every local device, and on several machines (JAX processes joined from TF_CONFIG)."""

import contextlib
import json
import os

import keras


@contextlib.contextmanager
def distributed():
    """Run what is built and trained inside on all local devices, with the backend's own engine:
    TensorFlow `MirroredStrategy` over the GPUs (or every logical CPU); JAX
    `keras.distribution.DataParallel` over every device of every process, processes joined from
    `TF_CONFIG` (or KERAS_DISTRIBUTION_*) for multi-worker training. Yields a description.

    Enter it before TensorFlow runs anything (datasets included): multi-worker collectives can only
    be configured at program start."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if os.environ.get("TF_CONFIG"):
            raise RuntimeError(
                "TF_CONFIG asks for multi-worker training, but Keras 3's fit does not run under TensorFlow's "
                "MultiWorkerMirroredStrategy (keras-team/keras#20585). Run the workers with KERAS_BACKEND=jax: "
                "kerasnets then joins them with keras.distribution.initialize (from the same TF_CONFIG)."
            )
        else:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
                d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield f"{type(strategy).__name__} on {strategy.num_replicas_in_sync} replica(s)"
    elif backend == "jax":
        _join_processes()
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield f"DataParallel on {len(devices)} device(s)"
        finally:
            keras.distribution.set_distribution(previous)
    else:
        raise RuntimeError(f"Distributed training runs on the tensorflow and jax backends; this is {backend}.")


def _join_processes():
    """Multi-process JAX: join the cluster described by TF_CONFIG (workers' host:port list and this
    task's index) or by Keras' own KERAS_DISTRIBUTION_* variables, once per process."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    if len(workers) < 2 and int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) < 2:
        return
    if getattr(_join_processes, "joined", False):  # (asking JAX would start its backend: too late to join)
        return
    if workers:
        keras.distribution.initialize(",".join(workers), len(workers), int(config["task"]["index"]))
    else:
        keras.distribution.initialize()
    _join_processes.joined = True


def replicas():
    """How many devices a batch is split over in the current distribution context (1 outside one)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    distribution = keras.distribution.distribution()
    return len(distribution.device_mesh.devices.flatten()) if distribution is not None else 1
