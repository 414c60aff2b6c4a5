"""LeNet-5: "Gradient-Based Learning Applied to Document Recognition" (LeCun et al. 1998), Fig. 2.

32x32 grayscale input; C1: 6 maps 5x5, S2: 2x2 subsampling, C3: 16 maps 5x5, S4: 2x2
subsampling, C5/F6: fully connected 120 and 84 units, output: `classes`. Subsampling is average
pooling and the squashing function tanh; C3 connects to all S2 maps (the paper's sparse
connection table is a 1998 hardware economy). 61,706 parameters for 10 classes.
"""

from keras import layers

from kerasnets.core import application
from kerasnets.core.registry import Family


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


@application.keras_application(weights=None, classes=10)
def lenet5(activation="tanh", **arguments):
    """LeNet-5 for 32x32x1 images (pad 28x28 MNIST-style digits by 2 pixels)."""
    return application.build(
        lambda x: lenet_features(x, activation),
        lambda x, c, a: lenet_classifier(x, c, a, activation),
        default_size=32, min_size=16, channels=1, **arguments,
    )


LeNet5 = Family("lenet", "LeCun et al., Gradient-Based Learning Applied to Document Recognition", 1998,
                input_size=32, preprocessing="none").variant(
    "lenet5", "LeNet5", lenet5, channels=1, crop_fraction=1.0,
    summary="LeNet-5 (Fig. 2): C1-S2-C3-S4-C5-F6-output on 32x32 grayscale.", params=61_706, mult_adds=416_520,
)
