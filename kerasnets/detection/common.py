"""Helpers that several detectors use and that belong to none of them: the input-size check, freezing a
backbone's fine stages, and the knob names of earlier releases."""

import keras


def detector_input_size(image_size, num_classes, class_names=None):
    """The (height, width) of a detector's input from `image_size` (int or pair), after checking that
    there is at least one class and, when given, one name per class."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}.")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for num_classes={num_classes}.")
    return (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)


def freeze_backbone(features, height, stride):
    """Make the layers of a `backbone_features` model whose maps are at `stride` or finer untrainable;
    frozen, they compute as at inference (BatchNormalization with its moving statistics, EfficientNet-Lite's
    `StochasticDepth` off)."""
    for layer in features.layers:
        for inner in getattr(layer, "layers", [layer]):
            shape = getattr(getattr(inner, "output", None), "shape", None)
            if shape is not None and len(shape) == 4 and shape[1] and shape[1] >= height // stride:
                inner.trainable = False


def freeze_batchnorm_layers(model):
    """Make every BatchNormalization layer of `model` untrainable (inference statistics, torchvision's
    FrozenBatchNorm2d)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False

