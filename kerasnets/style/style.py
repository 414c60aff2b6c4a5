"""Neural style transfer: VGG feature extraction, Gatys' optimisation, Johnson's transform network.

- `feature_extractor`: named intermediate activations of any kerasnets VGG ('relu2_2', 'conv4_2',
  or the Keras names 'block2_conv2'; Keras' VGG convolutions include their ReLU).
- `gatys_transfer`: optimise the pixels of an image (Adam or L-BFGS) so its VGG features match a
  content photo and its Gram matrices a style image (Gatys et al. 2015).
- `TransformNet` / `train_transform_net`: Johnson et al. 2016's feed-forward network (9x9 conv,
  two stride-2 convs, 5 residual blocks, nearest-neighbour resize + conv upsampling, instance
  normalisation), trained with `PerceptualLoss`, then one forward pass stylises a photo.
"""

import os
import re
import time

import keras
import numpy as np
from keras import layers, ops

from kerasnets.style import losses

LAYER_PRESETS = {
    "johnson": {"model": "vgg16", "style": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"), "content": ("relu2_2",)},
    "gatys": {"model": "vgg19", "style": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"), "content": ("conv4_2",)},
}


def layer_spec(layers_spec):
    """A preset name ('johnson', 'gatys') or a dict {model, style, content} -> a checked dict."""
    spec = LAYER_PRESETS.get(layers_spec) if isinstance(layers_spec, str) else layers_spec
    if not isinstance(spec, dict) or not {"model", "style", "content"} <= set(spec):
        raise ValueError(
            f"layers must be one of {sorted(LAYER_PRESETS)} or a dict with 'model', 'style' and 'content'; "
            f"received {layers_spec!r}."
        )
    return {"model": spec["model"], "style": tuple(spec["style"]), "content": tuple(spec["content"])}


def keras_layer_name(name):
    """'relu3_3' / 'conv3_3' -> 'block3_conv3'; Keras names pass through."""
    match = re.fullmatch(r"(?:relu|conv)(\d)_(\d)", name)
    return f"block{match.group(1)}_conv{match.group(2)}" if match else name


def feature_extractor(model="vgg16", layer_names=("relu2_2",), weights="imagenet", input_shape=(None, None, 3)):
    """A frozen model mapping caffe-preprocessed images to `{name: activation}` for `layer_names`."""
    import kerasnets

    vgg = kerasnets.get_model(model, include_top=False, weights=weights, input_shape=input_shape)
    available = [layer.name for layer in vgg.layers if "conv" in layer.name]
    outputs = {}
    for name in dict.fromkeys(layer_names):
        keras_name = keras_layer_name(name)
        if keras_name not in available:
            raise ValueError(
                f"{model} has no layer {name!r}; use reluB_I / convB_I (e.g. relu2_2) or one of {available}."
            )
        outputs[name] = vgg.get_layer(keras_name).output
    extractor = keras.Model(vgg.inputs, outputs, name=f"{model}_features")
    extractor.trainable = False
    return extractor


def minimum_size(layer_names):
    """The smallest input (px) that still has a 1x1 map at the deepest requested layer."""
    blocks = [int(keras_layer_name(n)[5]) for n in layer_names if keras_layer_name(n).startswith("block")]
    return 2 ** (max(blocks) - 1) if blocks else 1


def as_image_batch(image, size=None):
    """An RGB 0-255 float `[1, H, W, 3]` tensor from a path or an `[H, W, 3]` array; `size` bounds the long side."""
    from kerasnets.images import load_image, resize

    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    image = np.asarray(image, dtype="float32")
    if image.ndim == 4:
        image = image[0]
    if size is not None:
        h, w = image.shape[:2]
        scale = size / max(h, w)
        image = resize(image.astype("uint8") if image.max() > 1 else image, (max(1, round(h * scale)), max(1, round(w * scale))))
    return ops.convert_to_tensor(np.asarray(image, dtype="float32")[None])


class StyleObjective:
    """The Gatys objective on one image: `PerceptualLoss` against a fixed content photo, whose
    features are computed once rather than at every step."""

    def __init__(self, content, style, layers="gatys", weights="imagenet", content_weight=1.0, style_weight=1e3,
                 tv_weight=1e-5, normalize="chw"):
        spec = layer_spec(layers)
        smallest = min(int(content.shape[1]), int(content.shape[2]), int(style.shape[1]), int(style.shape[2]))
        needed = minimum_size(spec["style"] + spec["content"])
        if smallest < needed:
            raise ValueError(f"images of {smallest} px are too small for the layers {spec['style']}; use >= {needed} px.")
        self.loss = losses.PerceptualLoss(style_image=style, layers=layers, weights=weights, normalize=normalize,
                                          content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight)
        self.content_targets = self.loss.content_targets(content)

    def terms(self, image):
        content, style, tv = (term[0] for term in self.loss.weighted_terms(self.content_targets, image))
        return content + style + tv, (content, style, tv)


def _value_and_grad(objective):
    """A compiled function image -> (total, (content, style, tv), gradient), for the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(image):
            with tf.GradientTape() as tape:
                tape.watch(image)
                total, terms = objective.terms(image)
            return total, terms, tape.gradient(total, image)

        return step
    if backend == "jax":
        import jax

        def value(image):
            return objective.terms(image)

        grad_fn = jax.jit(jax.value_and_grad(value, has_aux=True))

        def step(image):
            (total, terms), grad = grad_fn(image)
            return total, terms, grad

        return step
    raise NotImplementedError(f"gatys_transfer supports the tensorflow and jax backends, not {backend}.")


def gatys_transfer(content, style, size=512, iterations=300, layers="gatys", weights="imagenet", content_weight=1.0,
                   style_weight=1e3, tv_weight=1e-5, optimizer="lbfgs", learning_rate=5.0, init="content",
                   callback=None, progress=True):
    """Stylise `content` with `style` by optimising the pixels (Gatys et al. 2015).

    content, style: paths or RGB arrays; size: long side in pixels; optimizer: 'lbfgs' (SciPy's
    L-BFGS-B with the 0-255 box, as in the paper's implementation) or 'adam' (clipped each step).
    callback(iteration, image, terms) is called after each iteration. Returns (image uint8 [H, W, 3],
    history of (total, content, style, tv) per iteration).
    """
    content_image = as_image_batch(content, size)
    style_image = as_image_batch(style, size)
    objective = StyleObjective(content_image, style_image, layers, weights, content_weight, style_weight, tv_weight)
    step = _value_and_grad(objective)
    start = ops.convert_to_numpy(content_image) if init == "content" else np.random.default_rng(0).uniform(0, 255, content_image.shape)
    shape = start.shape
    history = []
    from tqdm.auto import tqdm

    bar = tqdm(total=iterations, desc="style transfer", disable=not progress, unit="it")

    def record(image, total, terms):
        values = (float(total), *(float(t) for t in terms))
        history.append(values)
        bar.update(1)
        bar.set_postfix(total=f"{values[0]:.3g}", content=f"{values[1]:.3g}", style=f"{values[2]:.3g}", tv=f"{values[3]:.3g}")
        if callback is not None:
            callback(len(history), np.clip(image, 0, 255).astype("uint8")[0], values)

    if optimizer == "lbfgs":
        from scipy.optimize import minimize

        def fun(flat):
            image = ops.convert_to_tensor(flat.reshape(shape).astype("float32"))
            total, terms, grad = step(image)
            fun.last = (flat.reshape(shape), total, terms)
            return float(total), np.asarray(ops.convert_to_numpy(grad), dtype="float64").ravel()

        def on_iteration(flat):
            image, total, terms = fun.last
            record(image, total, terms)

        result = minimize(fun, start.astype("float64").ravel(), jac=True, method="L-BFGS-B", bounds=[(0, 255)] * start.size,
                          callback=on_iteration, options={"maxiter": iterations, "maxfun": iterations * 2})
        final = result.x.reshape(shape)
    elif optimizer == "adam":
        image = keras.Variable(start.astype("float32"), name="stylised_image")
        adam = keras.optimizers.Adam(learning_rate)
        for _ in range(iterations):
            total, terms, grad = step(ops.convert_to_tensor(image))
            adam.apply_gradients([(grad, image)])
            image.assign(ops.clip(image, 0.0, 255.0))
            record(ops.convert_to_numpy(image), total, terms)
        final = ops.convert_to_numpy(image)
    else:
        bar.close()
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam'; received {optimizer!r}.")
    bar.close()
    return np.clip(final[0], 0, 255).round().astype("uint8"), history


# -- Johnson et al.'s transform network ------------------------------------------------------------
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
    from kerasnets.train.datasets import read_images
    from kerasnets.images import list_images

    images = read_images(list_images(folder) if os.path.isdir(folder) else [], size, crop="center")
    if not len(images):
        raise ValueError(f"{folder}: no readable content images to train on.")
    return images


def train_transform_net(content, style_image, size=256, epochs=2, batch_size=4, learning_rate=1e-3,
                        content_weight=1.0, style_weight=1e3, tv_weight=1e-5, layers="johnson", weights="imagenet",
                        model=None, verbose="auto"):
    """Train a `TransformNet` on `content` (a folder or an array of 0-255 images) to paint like
    `style_image`, with `PerceptualLoss`. Returns (model, keras History)."""
    images = content_dataset(content, size) if isinstance(content, (str, os.PathLike)) else np.asarray(content, "float32")
    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (two stride-2 stages); received {size}.")
    model = model or TransformNet((size, size, 3))
    loss = losses.PerceptualLoss(style_image=style_image, layers=layers, weights=weights, content_weight=content_weight,
                                 style_weight=style_weight, tv_weight=tv_weight)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    history = model.fit(images, images, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model, history


def time_it(function, repeats=5):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats
