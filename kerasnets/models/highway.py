"""Highway networks: "Training Very Deep Networks" (Srivastava, Greff & Schmidhuber, NIPS 2015).

`HighwayNet` is the paper's fully connected network: a dense layer to `width` units, `depth`
highway layers (y = H(x) T(x) + x (1 - T(x)), transform-gate bias starting negative), then the
classifier. `PlainNet` is the same stack of ordinary dense layers, the paper's baseline, which
stops training as depth grows (Fig. 1) while the highway network does not.
"""

import keras
from keras import layers

from kerasnets.models.layers import Highway
from kerasnets.core.registry import register


def _dense_network(kind, depth, width, include_top, weights, input_tensor, input_shape, classes,
                   classifier_activation, name, activation, transform_bias):
    if depth < 1 or width < 1:
        raise ValueError(f"{kind}: depth and width must be positive; received depth={depth}, width={width}.")
    if weights is not None and not isinstance(weights, str):
        raise ValueError(f"{kind}: weights must be None or the path to a weights file; received {weights!r}.")
    inputs = input_tensor if input_tensor is not None else keras.Input(shape=input_shape, name="input")
    x = layers.Flatten(name="flatten")(inputs) if len(inputs.shape) > 2 else inputs
    x = layers.Dense(width, activation=activation, name="projection")(x)
    for i in range(1, depth + 1):
        if kind == "HighwayNet":
            x = Highway(activation=activation, transform_bias=transform_bias, name=f"highway{i}")(x)
        else:
            x = layers.Dense(width, activation=activation, name=f"dense{i}")(x)
    if include_top:
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    model = keras.Model(keras.utils.get_source_inputs(inputs) if input_tensor is not None else inputs, x, name=name)
    if weights is not None:
        from kerasnets.core.weights import load_weights

        load_weights(model, weights)
    return model


@register("highwaynet", family="highway", paper="Srivastava et al., Training Very Deep Networks", year=2015,
          input_size=28, preprocessing="none", channels=1)
def HighwayNet(
    depth=30,
    width=50,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=(28, 28, 1),
    classes=10,
    classifier_activation="softmax",
    name=None,
    activation="relu",
    transform_bias=-2.0,
):
    """A deep fully connected highway network (Sec. 4.1: width 50, depth up to 100, bias -1 to -3)."""
    return _dense_network("HighwayNet", depth, width, include_top, weights, input_tensor, input_shape, classes,
                          classifier_activation, name or f"highway_{depth}x{width}", activation, transform_bias)


def PlainNet(
    depth=30,
    width=50,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=(28, 28, 1),
    classes=10,
    classifier_activation="softmax",
    name=None,
    activation="relu",
):
    """The plain baseline: the same network with ordinary dense layers instead of highway layers."""
    return _dense_network("PlainNet", depth, width, include_top, weights, input_tensor, input_shape, classes,
                          classifier_activation, name or f"plain_{depth}x{width}", activation, None)
