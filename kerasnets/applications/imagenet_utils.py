"""`keras.applications.imagenet_utils` for kerasnets: `preprocess_input(x, data_format=None,
mode="caffe")` and `decode_predictions(preds, top=5)` (both `kerasnets.imagenet`'s), and
`obtain_input_shape` with keras' signature and rules, with messages that name the fix."""

import warnings

from kerasnets.imagenet import decode_predictions, preprocess_input

__all__ = ["decode_predictions", "obtain_input_shape", "preprocess_input"]


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten, weights=None):
    """The input shape a keras.applications-style network builds with, or a ValueError.

    `input_shape=None` gives the default (`default_size` square, 3 channels; sizes None when the
    network is fully convolutional and `require_flatten` is False). A given shape has three
    entries, 3 channels with ImageNet weights, sides of at least `min_size`; with ImageNet weights
    and a classifier top (`require_flatten`) it must be the default shape.
    """
    channels_first = data_format == "channels_first"

    def square(size, channels):
        return (channels, size, size) if channels_first else (size, size, channels)

    channels = 3
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(f"This model usually expects 1 or 3 input channels; received input_shape={input_shape} "
                          f"with {channels}.", stacklevel=2)
    default_shape = square(default_size, channels)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(f"With include_top=True and weights='imagenet' the input must be {default_shape}; "
                             f"received input_shape={input_shape}. Resize the images, or use include_top=False.")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must have three entries (height, width, channels, in {data_format} "
                             f"order); received input_shape={input_shape}.")
        given = input_shape[0] if channels_first else input_shape[-1]
        sides = input_shape[1:] if channels_first else input_shape[:2]
        if given != 3 and weights == "imagenet":
            raise ValueError(f"ImageNet weights expect 3 input channels (RGB); received input_shape={input_shape}.")
        if any(side is not None and side < min_size for side in sides):
            raise ValueError(f"The input must be at least {min_size}x{min_size} pixels; received "
                             f"input_shape={input_shape}.")
        shape = tuple(input_shape)
    else:
        shape = default_shape if require_flatten else square(None, channels)
    if require_flatten and None in shape:
        raise ValueError(f"include_top=True needs a fixed input size; received input_shape={input_shape}. Give "
                         "height and width, or use include_top=False.")
    return shape
