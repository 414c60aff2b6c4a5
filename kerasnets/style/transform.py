"""Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer": a feed-forward image
transformation network trained with `PerceptualLoss`; then one forward pass stylises a photo."""

import os

import keras
import numpy as np
from keras import layers

from kerasnets.style import losses


def _conv_norm(x, filters, kernel, strides, name, activation="relu"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    x = layers.GroupNormalization(groups=-1, name=f"{name}_in")(x)  # one group per channel: instance norm
    return layers.Activation(activation, name=f"{name}_{activation}")(x) if activation else x


def _residual(x, name):
    y = _conv_norm(x, 128, 3, 1, f"{name}_1")
    y = _conv_norm(y, 128, 3, 1, f"{name}_2", activation=None)
    return layers.Add(name=f"{name}_add")([x, y])


def TransformNet(input_shape=(None, None, 3), residual_blocks=5, name="transform_net"):
    """Johnson et al.'s image transformation network (supplementary Table 1), RGB 0-255 in and out.

    Upsampling is nearest-neighbour resize + convolution rather than transposed convolution,
    which avoids checkerboard artefacts (Odena et al. 2016); instance normalisation as in Ulyanov
    et al. 2016. Height and width must be multiples of 4.
    """
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_in")(inputs)
    x = _conv_norm(x, 32, 9, 1, "down1")
    x = _conv_norm(x, 64, 3, 2, "down2")
    x = _conv_norm(x, 128, 3, 2, "down3")
    for i in range(1, residual_blocks + 1):
        x = _residual(x, f"res{i}")
    x = layers.UpSampling2D(2, interpolation="nearest", name="up1_resize")(x)
    x = _conv_norm(x, 64, 3, 1, "up1")
    x = layers.UpSampling2D(2, interpolation="nearest", name="up2_resize")(x)
    x = _conv_norm(x, 32, 3, 1, "up2")
    x = layers.Conv2D(3, 9, padding="same", activation="tanh", name="out_conv")(x)
    outputs = layers.Rescaling(127.5, offset=127.5, name="scale_out")(x)
    return keras.Model(inputs, outputs, name=name)


def content_dataset(folder, size=256):
    """Content images from a folder as 0-255 float arrays `[N, size, size, 3]` (centre-cropped)."""
    from kerasnets.images import list_images
    from kerasnets.train.datasets import read_images

    images = read_images(list_images(folder) if os.path.isdir(folder) else [], size, crop="center")
    if not len(images):
        raise ValueError(f"{folder}: no readable content images to train on.")
    return images


def train_transform_net(content, style_image, size=256, epochs=2, batch_size=4, learning_rate=1e-3,
                        content_weight=1.0, style_weight=1e3, tv_weight=1e-5, layers="johnson", weights="imagenet",
                        model=None, verbose="auto"):
    """Train a `TransformNet` on `content` (a folder or an array of 0-255 images) to paint like
    `style_image`, with `PerceptualLoss`. Returns (model, keras History)."""
    images = content_dataset(content, size) if isinstance(content, (str, os.PathLike)) else np.asarray(content,
        "float32")
    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (two stride-2 stages); received {size}.")
    model = model or TransformNet((size, size, 3))
    loss = losses.PerceptualLoss(style_image=style_image, layers=layers, weights=weights, content_weight=content_weight,
                                 style_weight=style_weight, tv_weight=tv_weight)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    history = model.fit(images, images, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model, history
