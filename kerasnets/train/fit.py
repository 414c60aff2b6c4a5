"""Two-phase fine-tuning with cosine decay, as the Keras transfer-learning guide does."""

import math

import keras

from kerasnets.train.batchnorm import PreciseBatchNorm
from kerasnets.train.classifier import compile_classifier
from kerasnets.train.scenarios import SCENARIOS, apply_scenario, trainable_batch_norms
from kerasnets.utils import UNSET, renamed_argument


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
              fine_tune_from=None, top_blocks=1, freeze_batchnorm=UNSET, schedule="cosine", precise_statistics=True,
              callbacks=(), verbose="auto", freeze_batch_norm=UNSET):
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
    options = dict(fine_tune_from=fine_tune_from, top_blocks=top_blocks, freeze_batchnorm=renamed_argument(
        "fine_tune", "freeze_batchnorm", freeze_batchnorm, "freeze_batch_norm", freeze_batch_norm))

    def phase(name, rate, first_epoch, last_epoch):
        compile_classifier(model, rate, optimizer, label_smoothing)
        phase_callbacks = list(callbacks)
        if schedule == "cosine":
            phase_callbacks.append(cosine_schedule(rate, first_epoch, last_epoch))
        if precise_statistics and trainable_batch_norms(model):
            phase_callbacks.append(PreciseBatchNorm(train))
        if last_epoch == 1 and verbose not in (0, "silent") and epochs > 1:
            print(f"Epoch 1/{epochs}")  # Keras leaves out the header of a one-epoch fit
        history = model.fit(train, validation_data=validation, epochs=last_epoch, initial_epoch=first_epoch,
                            callbacks=phase_callbacks, verbose=verbose, shuffle=False)  # the dataset shuffles itself
        log.add(name, history)

    if head_epochs:
        apply_scenario(model, "feature_extractor", **options)
        phase("classifier", learning_rate, 0, head_epochs)
    if epochs > head_epochs and scenario != "feature_extractor":
        apply_scenario(model, scenario, **options)
        phase(scenario, fine_tune_learning_rate or (learning_rate / 10 if head_epochs else learning_rate), head_epochs,
            epochs)
    return log


def cosine_schedule(learning_rate, first_epoch, last_epoch):
    """Cosine decay of the learning rate over the epochs of one phase, set at each epoch's start
    (Loshchilov & Hutter, "SGDR", 2017, without restarts)."""
    span = max(1, last_epoch - first_epoch)

    def rate(epoch, current=None):
        return float(learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - first_epoch) / span)))

    return keras.callbacks.LearningRateScheduler(rate)
