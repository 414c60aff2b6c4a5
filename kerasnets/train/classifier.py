"""A pretrained network's body with a new classifier: raw pixels in, probabilities out."""

import keras
from keras import layers

from kerasnets.models.layers import ImagePreprocessing
from kerasnets.train.scenarios import BASE_NAME, apply_scenario
from kerasnets.utils import UNSET, renamed_argument


def _headless(base):
    last = base.layers[-1]
    if isinstance(last, layers.Dense) or (len(base.output_shape) == 2 and base.output_shape[-1] == 1000):
        raise ValueError(f"{base.name} still has its classifier; build it with include_top=False.")


def build_classifier(base, num_classes, scenario="feature_extractor", *, weights="imagenet", image_size=None,
                     dropout=0.2, preprocessing="auto", fine_tune_from=None, top_blocks=1, freeze_batchnorm=UNSET,
                     name=None, freeze_batch_norm=UNSET, **network_options):
    """A classifier for `num_classes` on a pretrained body: raw RGB 0-255 pixels in, probabilities out.

    base: a registered network name (built with include_top=False, `weights`, `image_size` and
    `network_options` such as MobileNet's `alpha`) or a headless Keras model. The model is
    `image -> ImagePreprocessing(the network's mode) -> base -> global average pooling -> dropout ->
    dense softmax` (the softmax in float32 under mixed precision), with the scenario's freezing
    applied (`apply_scenario`).
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
    freeze_batchnorm = renamed_argument("build_classifier", "freeze_batchnorm", freeze_batchnorm, "freeze_batch_norm",
                                        freeze_batch_norm)
    apply_scenario(model, scenario, fine_tune_from=fine_tune_from, top_blocks=top_blocks,
                   freeze_batchnorm=freeze_batchnorm)
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
