"""Precise BatchNorm statistics: population moments instead of lagging moving averages."""

import keras

from kerasnets.train.scenarios import base_of, trainable_batch_norms


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
