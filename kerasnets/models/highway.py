"""Highway networks: "Training Very Deep Networks" (Srivastava, Greff & Schmidhuber, NIPS 2015).

`HighwayNet` is the paper's fully connected network: a dense layer to `width` units, `depth`
highway layers (y = H(x) T(x) + x (1 - T(x)), transform-gate bias starting negative), then the
classifier. `PlainNet` is the same stack of ordinary dense layers, the paper's baseline, which
stops training as depth grows (Fig. 1) while the highway network does not.
"""

import keras
from keras import layers

from kerasnets.core import application
from kerasnets.core.registry import Family
from kerasnets.core.weights import load_weights
from kerasnets.models.layers import Highway


@application.keras_application(
    order=("highway", "depth", "width", *application.ARGUMENTS, "activation", "transform_bias"),
    weights=None, input_shape=(28, 28, 1), classes=10,
)
def dense_network(highway, depth=30, width=50, activation="relu", transform_bias=-2.0, **arguments):
    """A deep fully connected network of `depth` layers of `width` units after a projection layer:
    highway layers (Sec. 2, transform-gate bias `transform_bias`) or, with `highway=False`, plain ones."""
    kind = "HighwayNet" if highway else "PlainNet"
    if depth < 1 or width < 1:
        raise ValueError(f"{kind}: depth and width must be positive; received depth={depth}, width={width}.")
    if arguments["pooling"] is not None:
        raise ValueError(f"{kind} is fully connected: pooling does not apply; received "
            f"pooling={arguments['pooling']!r}.")
    weights = arguments["weights"]
    if weights is not None and not isinstance(weights, str) or weights == "imagenet":
        raise ValueError(f"{kind}: weights must be None or the path to a weights file; received {weights!r}.")
    input_tensor = arguments["input_tensor"]
    inputs = input_tensor if input_tensor is not None else keras.Input(shape=arguments["input_shape"], name="input")
    x = layers.Flatten(name="flatten")(inputs) if len(inputs.shape) > 2 else inputs
    x = layers.Dense(width, activation=activation, name="projection")(x)
    for i in range(1, depth + 1):
        if highway:
            x = Highway(activation=activation, transform_bias=transform_bias, name=f"highway{i}")(x)
        else:
            x = layers.Dense(width, activation=activation, name=f"dense{i}")(x)
    if arguments["include_top"]:
        x = layers.Dense(arguments["classes"], activation=arguments["classifier_activation"], name="predictions")(x)
    source = keras.utils.get_source_inputs(inputs) if input_tensor is not None else inputs
    name = arguments["name"] or f"{'highway' if highway else 'plain'}_{depth}x{width}"
    return load_weights(keras.Model(source, x, name=name), weights)


HIGHWAY = Family("highway", "Srivastava et al., Training Very Deep Networks", 2015, input_size=28,
                 preprocessing="none", extra=dict(channels=1, convolutional=False, crop_fraction=1.0, model_name=None))
HighwayNet = HIGHWAY.variant(
    "highwaynet", "HighwayNet", dense_network, options=dict(highway=True),
    summary="A deep fully connected highway network (Sec. 4.1: width 50, depth up to 100, gate bias -1 to -3).",
    params=192_760, mult_adds=189_700,
)
PlainNet = HIGHWAY.variant(
    "plainnet", "PlainNet", dense_network, options=dict(highway=False),
    summary="The plain baseline of Fig. 1: the same network with ordinary dense layers instead of highway layers.",
    params=116_260, mult_adds=114_700,
)
