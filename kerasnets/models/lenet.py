"""LeNet-5: "Gradient-Based Learning Applied to Document Recognition" (LeCun et al. 1998), Fig. 2.

32x32 grayscale input; C1: 6 maps 5x5, S2: 2x2 subsampling, C3: 16 maps 5x5, S4: 2x2
subsampling, C5/F6: fully connected 120 and 84 units, output: `classes`. Subsampling is average
pooling and the squashing function tanh; C3 connects to all S2 maps (the paper's sparse
connection table is a 1998 hardware economy). 61,706 parameters for 10 classes.
"""

from keras import layers

from kerasnets.core import application
from kerasnets.core.registry import register


def lenet_features(x, activation):
    x = layers.Conv2D(6, 5, activation=activation, name="c1")(x)
    x = layers.AveragePooling2D(2, name="s2")(x)
    x = layers.Conv2D(16, 5, activation=activation, name="c3")(x)
    return layers.AveragePooling2D(2, name="s4")(x)


def lenet_classifier(x, classes, classifier_activation, activation):
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation=activation, name="c5")(x)
    x = layers.Dense(84, activation=activation, name="f6")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


@register("lenet5", family="lenet", paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition",
          year=1998, input_size=32, preprocessing="none", channels=1)
def LeNet5(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="lenet5",
    activation="tanh",
):
    """LeNet-5 for 32x32x1 images (pad 28x28 MNIST-style digits by 2 pixels)."""
    return application.build(
        name, lambda x: lenet_features(x, activation),
        lambda x, c, a: lenet_classifier(x, c, a, activation),
        default_size=32, min_size=16, channels=1,
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
    )
