"""Gatys et al. 2015, "A Neural Algorithm of Artistic Style": optimise the pixels of an image
(L-BFGS or Adam) so that its VGG features match a content photo and its Gram matrices a style image."""

import time

import keras
import numpy as np
from keras import ops

from kerasnets.style import losses
from kerasnets.style.features import as_image_batch, layer_spec, minimum_size


class StyleObjective:
    """The Gatys objective on one image: `PerceptualLoss` against a fixed content photo, whose
    features are computed once rather than at every step."""

    def __init__(self, content, style, layers="gatys", weights="imagenet", content_weight=1.0, style_weight=1e3,
                 tv_weight=1e-5, normalize="chw"):
        spec = layer_spec(layers)
        smallest = min(int(content.shape[1]), int(content.shape[2]), int(style.shape[1]), int(style.shape[2]))
        needed = minimum_size(spec["style"] + spec["content"])
        if smallest < needed:
            raise ValueError(f"images of {smallest} px are too small for the layers {spec['style']}; use >= {needed} "
                "px.")
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
    start = ops.convert_to_numpy(content_image) if init == "content" else np.random.default_rng(0).uniform(0, 255,
        content_image.shape)
    shape = start.shape
    history = []
    from tqdm.auto import tqdm

    bar = tqdm(total=iterations, desc="style transfer", disable=not progress, unit="it")

    def record(image, total, terms):
        values = (float(total), *(float(t) for t in terms))
        history.append(values)
        bar.update(1)
        bar.set_postfix(total=f"{values[0]:.3g}", content=f"{values[1]:.3g}", style=f"{values[2]:.3g}",
            tv=f"{values[3]:.3g}")
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

        result = minimize(fun, start.astype("float64").ravel(), jac=True, method="L-BFGS-B", bounds=[(0,
            255)] * start.size,
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


def time_it(function, repeats=5):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats
