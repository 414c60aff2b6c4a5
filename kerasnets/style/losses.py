"""Losses for neural style transfer, as Keras losses written with `keras.ops` only.

Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style" (2015), and Johnson, Alahi & Fei-Fei,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution" (ECCV 2016).

Gram matrix normalisation differs between sources, and loss weights do not carry over between
conventions: Johnson divides by C*H*W (the default here, `normalize="chw"`), Gatys' paper and the
TensorFlow tutorial by H*W (`"hw"`, with Gatys' own style term adding 1/(4 N^2 M^2)), keras.io's
example by a constant. With the defaults here (Gram / CHW, squared Frobenius distance summed over
the entries, content as the mean squared feature difference), style weights around 1e2-1e4 and a
content weight of 1 balance on ImageNet VGG features; `TotalVariationLoss` is a per-image sum, so
its weight is small (1e-6 to 1e-4 on 0-255 pixels).
"""

import os

import keras
from keras import ops

from kerasnets.style import features as vgg_features

GRAM_NORMALIZATIONS = ("chw", "hw", "none")


def gram_matrix(features, normalize="chw"):
    """Gram matrices `[N, C, C]` of feature maps `[N, H, W, C]`: G = F^T F / norm, F = `[N, H*W, C]`.

    normalize: 'chw' (Johnson, default), 'hw' (Gatys / TF tutorial) or 'none' (raw inner products).
    """
    if normalize not in GRAM_NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {GRAM_NORMALIZATIONS}; received {normalize!r}.")
    shape = ops.shape(features)
    h, w, c = shape[1], shape[2], shape[3]
    flat = ops.reshape(features, (shape[0], h * w, c))
    gram = ops.einsum("npc,npd->ncd", flat, flat)
    if normalize == "none":
        return gram
    size = ops.cast(h * w * (c if normalize == "chw" else 1), gram.dtype)
    return gram / size


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _layer_weights(weights, count):
    weights = [1.0] * count if weights is None else [float(w) for w in weights]
    if len(weights) != count or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError(f"layer_weights must be {count} non-negative numbers, not all zero; received {weights}.")
    return weights


@keras.saving.register_keras_serializable(package="kerasnets")
class StyleLoss(keras.losses.Loss):
    """Johnson's style reconstruction loss: ||G(phi(y_hat)) - G(phi(y))||_F^2 per layer, averaged over
    the layers with `layer_weights`. `y_true`, `y_pred`: a feature map `[N, H, W, C]` or a list of
    them (one per layer), or their Gram matrices with `inputs_are_grams=True`."""

    def __init__(self, layer_weights=None, normalize="chw", inputs_are_grams=False, name="style_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if normalize not in GRAM_NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {GRAM_NORMALIZATIONS}; received {normalize!r}.")
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]
        self.normalize = normalize
        self.inputs_are_grams = inputs_are_grams

    def call(self, y_true, y_pred):
        targets, outputs = _as_list(y_true), _as_list(y_pred)
        weights = _layer_weights(self.layer_weights, len(outputs))
        total = 0.0
        for weight, target, output in zip(weights, targets, outputs):
            if not self.inputs_are_grams:
                target, output = gram_matrix(target, self.normalize), gram_matrix(output, self.normalize)
            total = total + weight * ops.sum(ops.square(output - target), axis=(1, 2))
        return total / sum(weights)

    def get_config(self):
        return {**super().get_config(), "layer_weights": self.layer_weights, "normalize": self.normalize,
                "inputs_are_grams": self.inputs_are_grams}


@keras.saving.register_keras_serializable(package="kerasnets")
class FeatureReconstructionLoss(keras.losses.Loss):
    """Johnson's feature reconstruction (content) loss: (1 / CHW) ||phi(y_hat) - phi(y)||_2^2, per
    sample, averaged over a list of layers with `layer_weights`."""

    def __init__(self, layer_weights=None, name="content_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]

    def call(self, y_true, y_pred):
        targets, outputs = _as_list(y_true), _as_list(y_pred)
        weights = _layer_weights(self.layer_weights, len(outputs))
        total = 0.0
        for weight, target, output in zip(weights, targets, outputs):
            total = total + weight * ops.mean(ops.square(output - target), axis=tuple(range(1, len(output.shape))))
        return total / sum(weights)

    def get_config(self):
        return {**super().get_config(), "layer_weights": self.layer_weights}


ContentLoss = FeatureReconstructionLoss


def total_variation(images, power=1):
    """Per-image total variation of `[N, H, W, C]` images: the sum of |differences| (power 1,
    anisotropic) or of squared differences (power 2) between vertical and horizontal neighbours."""
    if power not in (1, 2):
        raise ValueError(f"power must be 1 (absolute) or 2 (squared); received {power!r}.")
    dy = images[:, 1:, :, :] - images[:, :-1, :, :]
    dx = images[:, :, 1:, :] - images[:, :, :-1, :]
    measure = ops.abs if power == 1 else ops.square
    return ops.sum(measure(dy), axis=(1, 2, 3)) + ops.sum(measure(dx), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="kerasnets")
class TotalVariationLoss(keras.losses.Loss):
    """Total variation of `y_pred` (`y_true` is ignored): encourages spatial smoothness (Johnson Sec. 3.3)."""

    def __init__(self, power=1, name="total_variation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if power not in (1, 2):
            raise ValueError(f"power must be 1 (absolute) or 2 (squared); received {power!r}.")
        self.power = power

    def call(self, y_true, y_pred):
        return total_variation(y_pred, self.power)

    def get_config(self):
        return {**super().get_config(), "power": self.power}


@keras.saving.register_keras_serializable(package="kerasnets")
class PerceptualLoss(keras.losses.Loss):
    """Content + style + total variation through a frozen VGG, for training a transform network.

    `model.compile(loss=PerceptualLoss(style_image=...))`: y_true are the content images, y_pred the
    stylised images, both RGB 0-255 `[N, H, W, 3]`; VGG's 'caffe' preprocessing is applied here.
    `layers="johnson"` (VGG16 relu1_2, relu2_2, relu3_3, relu4_3 style / relu2_2 content) or
    `"gatys"` (VGG19 conv1_1 ... conv5_1 style / conv4_2 content), or a dict with `model`,
    `style` and `content` keys.
    """

    def __init__(self, style_image=None, layers="johnson", content_weight=1.0, style_weight=1e3, tv_weight=1e-5,
                 style_layer_weights=None, weights="imagenet", normalize="chw", name="perceptual_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        for label, value in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight",
            tv_weight)):
            if value < 0:
                raise ValueError(f"{label} must be >= 0; received {value}.")
        self.spec = vgg_features.layer_spec(layers)
        self.layers = layers
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.style_layer_weights, self.weights, self.normalize = style_layer_weights, weights, normalize
        self.extractor = vgg_features.feature_extractor(self.spec["model"], self.spec["style"] + self.spec["content"],
            weights=weights)
        self.style_loss = StyleLoss(style_layer_weights, normalize=normalize, inputs_are_grams=True)
        self.content_loss = FeatureReconstructionLoss()
        self.style_image = None
        self.style_grams = None
        if style_image is not None:
            self.set_style(style_image)

    def features(self, images):
        return self.extractor(vgg_features.preprocess(images))

    @property
    def trainable_weights(self):  # the VGG inside is frozen
        return []

    def set_style(self, style_image):
        """Compute the target Gram matrices from one RGB 0-255 image (`[H, W, 3]` or a path)."""
        image = vgg_features.as_image_batch(style_image)
        path = isinstance(style_image, (str, os.PathLike))
        self.style_image = os.fspath(style_image) if path else ops.convert_to_numpy(image[0])
        features = self.features(image)
        self.style_grams = [gram_matrix(features[name], self.normalize) for name in self.spec["style"]]

    def content_targets(self, images):
        """The content-layer activations of `images`: what stylised images are compared with."""
        features = self.features(images)
        return [features[name] for name in self.spec["content"]]

    def weighted_terms(self, content_targets, images):
        """(content, style, total variation) per image, each already multiplied by its weight."""
        if self.style_grams is None:
            raise ValueError("PerceptualLoss has no style target: pass style_image=... or call set_style(image).")
        predicted = self.features(images)
        batch = ops.shape(images)[0]
        grams = [gram_matrix(predicted[name], self.normalize) for name in self.spec["style"]]
        targets = [ops.broadcast_to(g, (batch, *g.shape[1:])) for g in self.style_grams]
        content = self.content_loss.call(content_targets, [predicted[name] for name in self.spec["content"]])
        return (self.content_weight * content, self.style_weight * self.style_loss.call(targets, grams),
                self.tv_weight * total_variation(images))

    def call(self, y_true, y_pred):
        content, style, tv = self.weighted_terms(self.content_targets(y_true), y_pred)
        return content + style + tv

    def get_config(self):
        style_image = self.style_image.tolist() if hasattr(self.style_image, "tolist") else self.style_image
        return {**super().get_config(), "style_image": style_image, "layers": self.layers,
                "content_weight": self.content_weight, "style_weight": self.style_weight, "tv_weight": self.tv_weight,
                "style_layer_weights": self.style_layer_weights, "weights": self.weights, "normalize": self.normalize}
