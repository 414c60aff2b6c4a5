"""Transfer learning: a pretrained network's body with a new classifier, and the four scenarios of
the transfer-learning lecture (CS231n, "Transfer Learning"; Yosinski et al., "How transferable are
features in deep neural networks?", NIPS 2014) as freezing policies:

==================  ===========================================  =================================
scenario            what trains                                  when (dataset size x domain)
==================  ===========================================  =================================
feature_extractor   the new classifier only                      small data, similar to ImageNet
fine_tune_top       the last `top_blocks` blocks + classifier    small data, different domain
fine_tune_from      from a named layer's block (or block index)  larger data: keep the early layers
full                everything                                   large data, or training from scratch
==================  ===========================================  =================================

A *block* is the smallest piece of the network that every path passes into and out of: a residual
unit, an Inception module, a dense layer, a convolution with its BatchNorm and activation. Blocks
are found from the graph (`network_blocks`), so every kerasnets (or keras.applications) network
works without a per-family table.

Frozen BatchNormalization layers run in inference mode (Keras 3 does so for `trainable=False`),
and by default every BatchNormalization layer stays frozen except in `full`: fine-tuning batches
are small, and updating ImageNet statistics from them is the classic way to ruin a pretrained net.
"""

import contextlib
import difflib
import json
import math
import os

import keras
from keras import layers

from kerasnets.models.layers import ImagePreprocessing

SCENARIOS = ("feature_extractor", "fine_tune_top", "fine_tune_from", "full")
HEAD_LAYERS = ("avg_pool", "head_dropout", "classifier")
BASE_NAME = "base"


def _cut_points(model):
    """Positions (in `model.layers` order) of the layers every input-to-output path passes through.

    In a topological order, a layer is such a cut point exactly when no edge of the graph jumps
    over its position."""
    order = {id(layer): i for i, layer in enumerate(model.layers)}
    spans = []
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            child = order.get(id(node.operation))
            for parent in node.parent_nodes:
                start = order.get(id(parent.operation))
                if child is not None and start is not None and child - start > 1:
                    spans.append((start, child))
    covered = [0] * (len(model.layers) + 1)
    for start, end in spans:  # mark positions start+1 .. end-1 as jumped over
        covered[start + 1] += 1
        covered[end] -= 1
    cuts, depth = [], 0
    for i in range(len(model.layers)):
        depth += covered[i]
        if depth == 0:
            cuts.append(i)
    return cuts


def _defines_block(layer):
    """Layers that start a block: anything with weights except normalization layers."""
    return bool(layer.weights) and not isinstance(layer, (layers.BatchNormalization, layers.LayerNormalization))


def _unit_name(block):
    """The numbered unit a block's first weighted layer belongs to by its name ('block5_conv2' ->
    'block5', 'block_16_expand' -> 'block_16'), or the layer name when the prefix has no number."""
    name = next(layer.name for layer in block if _defines_block(layer))
    prefix = name.rsplit("_", 1)[0]
    return prefix if prefix != name and any(c.isdigit() for c in prefix) else name


def network_blocks(model):
    """The blocks of a functional network, in order, each a list of layers (see the module docstring).
    Input, preprocessing and padding layers belong to the first block; a BatchNorm or activation
    between two cut points belongs to the convolution before it; consecutive pieces of one numbered
    unit (VGG's block5_conv1..3, MobileNetV2's block_16_expand/depthwise/project) form one block."""
    pieces, current, start = [], [], 0
    for cut in _cut_points(model):
        segment = model.layers[start:cut + 1]
        start = cut + 1
        if any(_defines_block(layer) for layer in segment) and any(_defines_block(layer) for layer in current):
            pieces.append(current)
            current = []
        current += segment
    current += model.layers[start:]
    if current:
        if pieces and not any(_defines_block(layer) for layer in current):
            pieces[-1] += current
        else:
            pieces.append(current)
    if not any(_defines_block(layer) for piece in pieces for layer in piece):
        return pieces
    blocks = [pieces[0]]
    for piece in pieces[1:]:
        if _unit_name(piece) == _unit_name(blocks[-1]):
            blocks[-1] = blocks[-1] + piece
        else:
            blocks.append(piece)
    return blocks


def block_names(model):
    """The name of each block: the name of its last layer (e.g. 'conv5_block3_out', 'mixed10')."""
    return [block[-1].name for block in network_blocks(model)]


def base_of(model):
    """The pretrained body inside a `build_classifier` model (or the model itself)."""
    try:
        return model.get_layer(BASE_NAME)
    except ValueError:
        return model


def first_trainable_block(base, scenario, *, fine_tune_from=None, top_blocks=1):
    """Index of the first block a scenario trains (len(blocks) for feature_extractor)."""
    names = block_names(base)
    if scenario not in SCENARIOS:
        raise ValueError(f"Unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}.")
    if scenario == "feature_extractor":
        return len(names)
    if scenario == "full":
        return 0
    if scenario == "fine_tune_top":
        if not isinstance(top_blocks, int) or not 1 <= top_blocks <= len(names):
            raise ValueError(f"top_blocks must be an integer from 1 to {len(names)} (the blocks of {base.name}); "
                             f"received {top_blocks!r}.")
        return len(names) - top_blocks
    if fine_tune_from is None:
        raise ValueError("scenario='fine_tune_from' needs fine_tune_from=<layer name or block index>.")
    if isinstance(fine_tune_from, int) or (isinstance(fine_tune_from, str) and fine_tune_from.lstrip("-").isdigit()):
        index = int(fine_tune_from)
        if not -len(names) <= index < len(names):
            raise ValueError(f"fine_tune_from={index}: {base.name} has {len(names)} blocks (0 to {len(names) - 1}, "
                             "or negative from the end).")
        return index % len(names)
    for index, block in enumerate(network_blocks(base)):
        if any(layer.name == fine_tune_from for layer in block):
            return index
    layer_names = [layer.name for layer in base.layers]
    close = difflib.get_close_matches(fine_tune_from, layer_names, n=3)
    raise ValueError(
        f"fine_tune_from={fine_tune_from!r}: {base.name} has no layer of that name"
        + (f"; did you mean {', '.join(close)}?" if close else f"; its blocks end at {', '.join(names[-5:])} (last five).")
        + " Run apps/fine_tune.py --list-blocks to see them all."
    )


def apply_scenario(model, scenario, *, fine_tune_from=None, top_blocks=1, freeze_batch_norm=None):
    """Set `trainable` on every layer of the body of `model` for `scenario`; the classifier head
    stays trainable. Returns the index of the first trained block."""
    base = base_of(model)
    first = first_trainable_block(base, scenario, fine_tune_from=fine_tune_from, top_blocks=top_blocks)
    freeze_batch_norm = scenario != "full" if freeze_batch_norm is None else freeze_batch_norm
    model.trainable = True  # Keras sets this recursively; the per-layer flags follow
    for index, block in enumerate(network_blocks(base)):
        for layer in block:
            layer.trainable = index >= first and not (freeze_batch_norm and isinstance(layer, layers.BatchNormalization))
    return first


def describe(model):
    """One line: trainable blocks and parameters."""
    base = base_of(model)
    blocks = network_blocks(base)
    trained = [i for i, block in enumerate(blocks) if any(layer.trainable_weights for layer in block)]
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = sum(math.prod(w.shape) for w in model.weights)
    where = f"blocks {trained[0]}-{len(blocks) - 1} of {len(blocks)} (from {blocks[trained[0]][0].name})" if trained else f"none of its {len(blocks)} blocks"
    return f"{base.name}: trains {where} + the classifier; {params:,} of {total:,} parameters trainable."


def _headless(base):
    last = base.layers[-1]
    if isinstance(last, layers.Dense) or (len(base.output_shape) == 2 and base.output_shape[-1] == 1000):
        raise ValueError(f"{base.name} still has its classifier; build it with include_top=False.")


def build_classifier(base, num_classes, scenario="feature_extractor", *, weights="imagenet", image_size=None,
                     dropout=0.2, preprocessing="auto", fine_tune_from=None, top_blocks=1, freeze_batch_norm=None,
                     name=None, **network_options):
    """A classifier for `num_classes` on a pretrained body: raw RGB 0-255 pixels in, probabilities out.

    base: a registered network name (built with include_top=False, `weights`, `image_size` and
    `network_options` such as MobileNet's `alpha`) or a headless Keras model. The model is `image -> ImagePreprocessing(the network's mode) -> base ->
    global average pooling -> dropout -> dense softmax` (the softmax in float32 under mixed
    precision), with the scenario's freezing applied (`apply_scenario`).
    """
    from kerasnets.core.registry import model_info, preprocessing_for

    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; received {num_classes!r}.")
    if isinstance(base, str):
        info = model_info(base)
        size = image_size or info.input_size
        base_model = info.build(include_top=False, weights=weights, input_shape=(size, size, info.channels),
                                **network_options)
        mode = info.preprocessing if preprocessing == "auto" else preprocessing
    else:
        base_model = base
        mode = preprocessing_for(base) if preprocessing == "auto" else preprocessing
        if mode is None:
            raise ValueError(f"Cannot tell which preprocessing {base.name!r} expects; pass preprocessing='caffe', "
                             "'tf', 'torch' or 'none'.")
    _headless(base_model)
    network_name = base_model.name
    base_model.name = BASE_NAME
    shape = base_model.input_shape[1:]
    if image_size is not None and shape[0] is None:
        shape = (image_size, image_size, shape[-1])
    inputs = keras.Input(shape, name="image")
    x = ImagePreprocessing(mode, name="preprocessing")(inputs)
    x = base_model(x)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")(x)
    model = keras.Model(inputs, outputs, name=name or f"{network_name}_classifier")
    apply_scenario(model, scenario, fine_tune_from=fine_tune_from, top_blocks=top_blocks,
                   freeze_batch_norm=freeze_batch_norm)
    return model


OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "rmsprop": keras.optimizers.RMSprop,
              "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9)}


def compile_classifier(model, learning_rate=1e-3, optimizer="adam", label_smoothing=0.0, jit_compile="auto"):
    """Compile for one-hot labels: categorical cross-entropy with `label_smoothing` (0.1 in Inception v3)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


class BatchMoments(keras.Model):
    """image batch -> [1, 2, channels] (mean, variance) of the input of each trainable BatchNorm,
    with the network in training mode, as `predict` runs it compiled."""

    def __init__(self, model):
        super().__init__(name="batch_moments")
        base = base_of(model)
        self.norms = trainable_batch_norms(model)
        self.front = model.layers[1:model.layers.index(base)] if base is not model else []
        self.probe = keras.Model(base.input, [layer.input for layer in self.norms]) if self.norms else None

    def call(self, images):
        for layer in self.front:
            images = layer(images)
        outputs = self.probe(images, training=True)
        moments = []
        for layer, x in zip(self.norms, outputs if isinstance(outputs, (list, tuple)) else [outputs]):
            axes = [i for i in range(len(x.shape)) if i != layer.axis % len(x.shape)]
            x = keras.ops.cast(x, "float32")
            moments.append(keras.ops.stack([keras.ops.mean(x, axis=axes), keras.ops.var(x, axis=axes)])[None])
        return moments


class PreciseBatchNorm(keras.callbacks.Callback):
    """Set the moving statistics of every trainable BatchNormalization layer to the average of its
    batch statistics over `batches` batches of `data` ("precise BN": Wu & Johnson, "Rethinking
    'Batch' in BatchNorm", 2021), before every validation inside `fit` and when training ends.

    Moving averages with momentum 0.99 lag far behind when a network trains from scratch for a few
    hundred steps, and inference-mode accuracy collapses (to chance on the digits demo) until they
    catch up; population statistics fix that. Use `update(model)` outside `fit`.
    """

    def __init__(self, data, batches=32):
        super().__init__()
        self.data, self.batches, self.fitting, self._moments = data, batches, False, None

    def update(self, model=None):
        """Recompute the statistics now; returns how many BatchNorm layers were updated."""
        model = model or self.model
        if self._moments is None:
            self._moments = BatchMoments(model)
        if not self._moments.norms:
            return 0
        moments = self._moments.predict(self.data.map(_images).repeat(), steps=self.batches, verbose=0)
        for layer, values in zip(self._moments.norms, moments if isinstance(moments, list) else [moments]):
            mean, variance = values.mean(axis=0)
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        return len(self._moments.norms)

    def on_train_begin(self, logs=None):
        self.fitting = True

    def on_test_begin(self, logs=None):
        if self.fitting:
            self.update()

    def on_train_end(self, logs=None):
        self.fitting = False
        self.update()


def _images(images, labels):
    return images


def trainable_batch_norms(model):
    """The BatchNormalization layers of the body that train (and so update their statistics)."""
    return [layer for layer in base_of(model).layers if isinstance(layer, layers.BatchNormalization) and layer.trainable]


class TrainingLog:
    """The metrics of every epoch over all phases (`history[name]` lists) and where each phase starts."""

    def __init__(self):
        self.history, self.phases = {}, []

    def add(self, phase, keras_history):
        self.phases.append((phase, len(self.history.get("loss", []))))
        for key, values in keras_history.history.items():
            self.history.setdefault(key, []).extend(float(v) for v in values)


def fine_tune(model, train, validation=None, *, scenario="feature_extractor", epochs=10, head_epochs=None,
              learning_rate=1e-3, fine_tune_learning_rate=None, optimizer="adam", label_smoothing=0.0,
              fine_tune_from=None, top_blocks=1, freeze_batch_norm=None, schedule="cosine", precise_statistics=True,
              callbacks=(), verbose="auto"):
    """Train a `build_classifier` model in two phases, as the Keras transfer-learning guide does:
    first the new classifier alone (`head_epochs`, default a third of `epochs`, at `learning_rate`),
    then the scenario's blocks with it for the remaining epochs at `fine_tune_learning_rate`
    (default `learning_rate / 10`, so the pretrained weights move slowly), each with a cosine decay
    over its epochs (`schedule=None` keeps the rate constant). `feature_extractor` is one
    phase; `head_epochs=0` skips the first (training from scratch). When BatchNorm layers train,
    their statistics are recomputed before each validation and at the end (`PreciseBatchNorm`).
    Returns a `TrainingLog`.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"Unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}.")
    if head_epochs is None:
        head_epochs = epochs if scenario == "feature_extractor" else max(1, epochs // 3)
    head_epochs = min(head_epochs, epochs)
    log = TrainingLog()
    options = dict(fine_tune_from=fine_tune_from, top_blocks=top_blocks, freeze_batch_norm=freeze_batch_norm)

    def phase(name, rate, first_epoch, last_epoch):
        compile_classifier(model, rate, optimizer, label_smoothing)
        phase_callbacks = list(callbacks)
        if schedule == "cosine":
            phase_callbacks.append(cosine_schedule(rate, first_epoch, last_epoch))
        if precise_statistics and trainable_batch_norms(model):
            phase_callbacks.append(PreciseBatchNorm(train))
        history = model.fit(train, validation_data=validation, epochs=last_epoch, initial_epoch=first_epoch,
                            callbacks=phase_callbacks, verbose=verbose, shuffle=False)  # the dataset shuffles itself
        log.add(name, history)

    if head_epochs:
        apply_scenario(model, "feature_extractor", **options)
        phase("classifier", learning_rate, 0, head_epochs)
    if epochs > head_epochs and scenario != "feature_extractor":
        apply_scenario(model, scenario, **options)
        phase(scenario, fine_tune_learning_rate or (learning_rate / 10 if head_epochs else learning_rate), head_epochs, epochs)
    return log


def cosine_schedule(learning_rate, first_epoch, last_epoch):
    """Cosine decay of the learning rate over the epochs of one phase, set at each epoch's start
    (Loshchilov & Hutter, "SGDR", 2017, without restarts)."""
    span = max(1, last_epoch - first_epoch)

    def rate(epoch, current=None):
        return float(learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - first_epoch) / span)))

    return keras.callbacks.LearningRateScheduler(rate)


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
