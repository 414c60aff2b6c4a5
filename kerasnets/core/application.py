"""The keras.applications contract, written once for every kerasnets network.

`ARGUMENTS` and `DOC` are the eight keras.applications arguments and their documentation;
`@keras_application` gives a family builder that signature (its own arguments plus these) and
that documentation. A family module describes its network as `features(x) -> x` (the
convolutional body) and `top(x, classes, classifier_activation) -> x` (the classifier); `build`
wraps them with the standard behaviour: argument validation, the input layer, the optional
pooling, the model and its weights. Validation rules are keras.applications' own, with messages
that name the fix.
"""

import functools
import inspect
import os

import keras
from keras import layers

from kerasnets.core import weights as weights_lib

POOLING_CHOICES = (None, "avg", "max")

#: The keras.applications arguments, in keras' order, with keras' defaults.
ARGUMENTS = {
    "include_top": True,
    "weights": "imagenet",
    "input_tensor": None,
    "input_shape": None,
    "pooling": None,
    "classes": 1000,
    "classifier_activation": "softmax",
    "name": None,
}

DOC = """
Arguments shared with keras.applications:
    include_top: whether to include the classifier at the top of the network.
    weights: None (random initialisation), "imagenet" (the published ImageNet weights, downloaded
        once into the Keras cache and verified), or the path to a weights file.
    input_tensor: optional Keras tensor (the output of `keras.Input()`) to use as image input.
    input_shape: optional shape tuple (height, width, channels) for channels_last; needed only
        with include_top=False or for sizes other than the default.
    pooling: with include_top=False, None (the 4D feature map), "avg" or "max" (global pooling
        to a 2D tensor).
    classes: number of classes to classify images into, with include_top=True and no ImageNet
        weights.
    classifier_activation: activation of the top layer ("softmax", None for logits, or a
        callable); with pretrained weights only "softmax" or None.
    name: the model's name.

Returns:
    A `keras.Model`.
"""


def keras_application(order=None, **defaults):
    """Decorator for a family builder `fn(own arguments..., **arguments)`: gives it the
    keras.applications signature (its own required arguments first, then `ARGUMENTS` with
    `defaults` replacing keras' defaults, then its own optional arguments; or exactly `order`, for
    networks whose keras signature orders them differently) and appends `DOC`. The builder
    receives every argument by keyword."""
    unknown = set(defaults) - set(ARGUMENTS)
    if unknown:
        raise TypeError(f"keras_application: {sorted(unknown)} are not keras.applications arguments.")

    def decorate(fn):
        own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
        standard = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults.get(n, d))
                    for n, d in ARGUMENTS.items()]
        required = [p.replace(kind=p.POSITIONAL_OR_KEYWORD) for p in own if p.default is p.empty]
        optional = [p.replace(kind=p.POSITIONAL_OR_KEYWORD) for p in own if p.default is not p.empty]
        parameters = required + standard + optional
        if order is not None:
            by_name = {p.name: p for p in parameters}
            if sorted(order) != sorted(by_name):
                raise TypeError(f"{fn.__name__}: order must list exactly {sorted(by_name)}.")
            parameters = [by_name[n] for n in order]
        signature = inspect.Signature(parameters)

        @functools.wraps(fn)
        def builder(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return fn(**bound.arguments)

        builder.__signature__ = signature
        builder.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n{DOC}"
        return builder

    return decorate


def channel_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def validate_arguments(
    name, *, include_top, weights, classes, pooling, classifier_activation, spec=None
):
    """Raise ValueError for the argument combinations keras.applications rejects (and a few it ignores)."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(
            f"{name}: weights must be None (random initialisation), 'imagenet' (the official "
            f"ImageNet weights, downloaded once) or the path to an existing weights file; received "
            f"weights={weights!r}, which is not an existing file."
        )
    if weights == "imagenet" and (spec is None or spec.file(include_top) is None):
        raise ValueError(
            f"{name}: no ImageNet weights are published for this network"
            f"{'' if spec is None else f' with include_top={include_top}'}; use weights=None "
            "(random initialisation) or the path to a weights file you trained."
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            f"{name}: classes={classes} cannot be combined with weights='imagenet' and "
            "include_top=True, because the ImageNet classifier has exactly 1000 classes. For a "
            f"{classes}-class problem use include_top=False and add your own classifier "
            "(transfer learning), or weights=None to train from scratch."
        )
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"{name}: classes must be a positive integer; received classes={classes!r}.")
    if pooling not in POOLING_CHOICES:
        raise ValueError(
            f"{name}: pooling must be one of None, 'avg' or 'max'; received pooling={pooling!r}."
        )
    if include_top and pooling is not None:
        raise ValueError(
            f"{name}: pooling={pooling!r} applies only to include_top=False (a feature extractor); "
            "the classifier top has its own pooling. Drop pooling or set include_top=False."
        )
    if weights is not None and include_top:
        activation = classifier_activation
        if activation not in (None, "softmax") and getattr(activation, "__name__", None) != "softmax":
            raise ValueError(
                f"{name}: with pretrained weights the classifier activation must be 'softmax' "
                f"(probabilities) or None (logits); received classifier_activation={activation!r}."
            )


def obtain_input_shape(name, input_shape, *, default_size, min_size, include_top, weights, channels=3):
    """The input shape to build with, checked the way keras.applications checks it.

    With the top, the shape defaults to the network's default size and must be static (and
    must be the default with ImageNet weights); without it, any size >= `min_size` is accepted.
    `default_size=None` marks a fully convolutional network (MobileNetV3): any size, top or not.
    """
    channels_last = keras.config.image_data_format() == "channels_last"

    def shape_of(size):
        return (size, size, channels) if channels_last else (channels, size, size)

    default_shape = shape_of(default_size)
    if input_shape is None:
        if include_top and default_size is not None:
            return default_shape
        return shape_of(None)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"{name}: input_shape must have three entries (height, width, channels); "
            f"received input_shape={input_shape}."
        )
    rows, cols, given_channels = input_shape if channels_last else (input_shape[1], input_shape[2], input_shape[0])
    if weights == "imagenet" and given_channels != 3:
        raise ValueError(
            f"{name}: ImageNet weights expect 3 input channels (RGB); received input_shape={input_shape}. "
            "Convert grayscale images to RGB, or use weights=None."
        )
    if include_top and weights == "imagenet" and default_size is not None and input_shape != default_shape:
        raise ValueError(
            f"{name}: with include_top=True and weights='imagenet' the input must be {default_shape}; "
            f"received input_shape={input_shape}. Resize the images, or use include_top=False for other sizes."
        )
    for size in (rows, cols):
        if size is not None and size < min_size:
            raise ValueError(
                f"{name}: the input must be at least {min_size}x{min_size} pixels; received "
                f"input_shape={input_shape}."
            )
    if include_top and default_size is not None and (rows is None or cols is None):
        raise ValueError(
            f"{name}: include_top=True needs a fixed input size; received input_shape={input_shape}. "
            "Give height and width, or use include_top=False for variable-size inputs."
        )
    return input_shape


def image_input(input_shape, input_tensor=None):
    """The model's input layer, or `input_tensor` wrapped into one."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if keras.backend.is_keras_tensor(input_tensor):
        return input_tensor
    return layers.Input(tensor=input_tensor, shape=input_shape)


def global_pool(x, pooling):
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def pooled_classifier(x, classes, classifier_activation, dropout=0.0):
    """Global average pooling [, dropout] then a dense classifier: the top of ResNet, Inception, DenseNet."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def build(
    features,
    top=pooled_classifier,
    *,
    name,
    default_size,
    min_size,
    spec=None,
    channels=3,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    validate=True,
):
    """Build a keras.applications-style model from its body (`features`) and classifier (`top`);
    the keyword arguments after `spec` are those of `ARGUMENTS`."""
    if validate:
        validate_arguments(
            name, include_top=include_top, weights=weights, classes=classes, pooling=pooling,
            classifier_activation=classifier_activation, spec=spec,
        )
    input_shape = obtain_input_shape(
        name, input_shape, default_size=default_size, min_size=min_size,
        include_top=include_top, weights=weights, channels=channels,
    )
    img_input = image_input(input_shape, input_tensor)
    x = features(img_input)
    x = top(x, classes, classifier_activation) if include_top else global_pool(x, pooling)
    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = keras.Model(inputs, x, name=name)
    weights_lib.load_weights(model, weights, spec, include_top)
    return model
