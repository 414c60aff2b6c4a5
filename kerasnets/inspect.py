"""See what a network learns: Zeiler & Fergus' tools, and the ones that followed, on any kerasnets classifier.

    from kerasnets import inspect
    photo = kerasnets.load_image("images/chelsea_cat.jpg")
    cam = inspect.grad_cam("efficientnet_lite0", photo, "tabby")          # (H, W) at the photo's size
    inspect.save(inspect.overlay(photo, cam), "cam.png")

Every function takes a kerasnets classifier (a built model, a registered name, or a `Network` that
names the preprocessing of a model of your own) and raw RGB photos of any size (uint8 or float
values in [0, 255], or a file path). The photo is prepared as the network was evaluated (the
spec's centre crop, `resize="crop"`, as `kerasnets-classify` does; `resize="plain"` squeezes the
whole photo), the network's own preprocessing is part of the differentiated function (gradients are
with respect to the raw RGB values), and maps come back at the photo's size (zero outside the
crop) unless `resolution="input"` asks for the network's input size.

The methods:

- `deconvnet`: Zeiler & Fergus (ECCV 2014, Sec. 2.1) project the strongest activations of a layer
  back to pixel space: every other activation of the layer is set to zero and the signal runs back
  through *unpooling* (max pooling undone with the switches, the positions of the maxima recorded
  in the forward pass), *rectification* (a ReLU applied to the backward signal) and *filtering*
  (the transposed filters). Each of the three is what the gradient of the unit does through that
  layer, except the rectification: the gradient masks by the forward input (x > 0), the deconvnet
  rectifies the signal itself. So the projection is computed as the gradient of the unit with
  the ReLU's backward rule replaced (`ops.custom_gradient`), on TensorFlow and JAX alike, and the
  result is scaled by the activation's value (the signal the paper feeds in). Layers with no
  exact inverse in the newer families are passed as their gradient does: batch normalisation (at
  inference an affine map per channel) by its scale gamma / sqrt(var + eps); depthwise and grouped
  convolutions by their transposed filters, per group; concatenations by splitting the signal
  between the branches; residual sums by sending the same signal down both branches; ReLU6 by
  the rectifier's rule (its cap at 6 is ignored by the deconvnet and by guided backprop: the
  strongest units of a ReLU6 network sit at the cap, where its gradient is zero);
  average pooling spreads the signal over its window; LRN, sigmoid, swish and softmax by their
  ordinary gradient (the paper does not invert contrast normalisation).
- `guided_backprop` (Springenberg et al., ICLR 2015 workshop, "Striving for simplicity"): the same
  projection with the ReLU's backward rule "rectify the signal and mask by the forward input".
- `gradients` (Simonyan, Vedaldi & Zisserman, ICLR 2014 workshop): the plain gradient; with no
  layer the gradient of the class score (before the softmax), whose channel-wise maximum of
  absolute values is the saliency map (`saliency`).
- `occlusion_sensitivity` (Zeiler & Fergus, Fig. 7): the probability of the class, and the most
  probable class, as a grey square slides over the photo.
- `grad_cam` (Selvaraju et al., ICCV 2017): ReLU(sum_k alpha_k A^k) with alpha_k the spatial mean
  of d y^c / d A^k, at the last layer with a spatial output by default.
- `filters` (the first layer's kernels as a grid, Zeiler & Fergus Fig. 5/6), `feature_maps` (a
  layer's activations as a grid), `activations` (the raw array).
- `receptive_fields`: per layer the receptive field, the jump (effective stride), the centre of the
  first unit and the feature-map size, from the graph (Araujo, Norris & Sim, "Computing receptive
  fields of convolutional neural networks", Distill 2019; google-research/receptive_field).
- `overlay`, `to_image`, `grid`, `caption`, `save`: rendering.
"""

import difflib
import math
import os
from dataclasses import dataclass, field

import numpy as np

RULES = ("gradient", "guided", "deconvnet")
RESIZE_MODES = ("crop", "plain")


# -- the network and its view of a photo ------------------------------------------------------------------------

@dataclass
class Network:
    """A Keras classifier with what `inspect` needs to feed it photos: the preprocessing mode
    ('caffe', 'tf', 'torch' or 'none': the model rescales raw pixels itself), the evaluation crop
    fraction, and the input size used when the model's own is not fixed."""

    model: object
    preprocessing: str = "none"
    crop_fraction: float = 0.875
    input_size: int = 224
    name: str = ""

    def __post_init__(self):
        from kerasnets.core.registry import PREPROCESSING_MODES

        if self.preprocessing not in PREPROCESSING_MODES:
            raise ValueError(f"preprocessing must be one of {PREPROCESSING_MODES}; received {self.preprocessing!r}.")
        self.name = self.name or self.model.name

    def preprocess(self, x):
        """The network's preprocessing of raw RGB values (a tensor; differentiable)."""
        if self.preprocessing == "none":
            return x
        from kerasnets.imagenet import preprocess_input

        return preprocess_input(x, mode=self.preprocessing)

    @property
    def size(self):
        """The (height, width) the network reads."""
        shape = self.model.input_shape[1:3]
        return tuple(int(n) if n is not None else self.input_size for n in shape)


def network(model, weights="imagenet"):
    """A `Network` for a registered name (built with `weights`: 'imagenet', None/'none' or a file),
    a kerasnets model (its spec found from its name), or a `Network` (returned as it is)."""
    from kerasnets.core import registry

    if isinstance(model, Network):
        return model
    if isinstance(model, str):
        spec = registry.model_info(model)
        built = spec.build(weights=None if weights in (None, "none") else weights)
        return Network(built, spec.preprocessing, spec.crop_fraction, spec.input_size, spec.name)
    registry.load_families()
    name = model.name.lower().replace("_", "")
    matches = [spec for spec in registry.specs() if name.startswith(spec.name.replace("_", ""))]
    if not matches:
        raise ValueError(
            f"cannot tell how model {model.name!r} preprocesses its photos: its name is no registered network's. "
            "Pass a registered name, or wrap it: inspect.Network(model, preprocessing='tf'|'caffe'|'torch'|'none')."
        )
    spec = max(matches, key=lambda s: len(s.name))
    return Network(model, spec.preprocessing, spec.crop_fraction, spec.input_size, spec.name)


@dataclass
class View:
    """What the network sees of a photo: `pixels`, raw RGB at the input size, cut from the photo
    resized to `scaled` at `offset` (crop), or the whole photo resized (plain)."""

    pixels: np.ndarray
    photo_shape: tuple
    scaled: tuple
    offset: tuple

    def to_photo(self, array):
        """A map at the network's input size (h, w[, c]) placed back on the photo: (H, W[, c]),
        zero outside the crop."""
        array = np.asarray(array, dtype=np.float32)
        h, w = self.pixels.shape[:2]
        canvas = np.zeros(self.scaled + array.shape[2:], np.float32)
        top, left = self.offset
        canvas[top:top + h, left:left + w] = array
        return _resize(canvas, self.photo_shape)


def as_photo(image):
    """An (H, W, 3) float32 RGB array from a path, an (H, W[, 3]) array, or an (H, W, 1) gray one."""
    if isinstance(image, (str, os.PathLike)):
        from kerasnets.images import load_image

        image = load_image(image)
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3) or min(image.shape[:2]) < 1:
        raise ValueError(f"a photo is an (height, width, 3) RGB array; received shape {image.shape}.")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image


def view(net, image, resize="crop"):
    """The network's view of a photo (see `View`)."""
    from kerasnets import images

    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}; received {resize!r}.")
    photo = as_photo(image)
    photo = photo if photo.dtype == np.uint8 else photo.astype(np.float32)
    height, width = net.size
    shape = photo.shape[:2]
    if resize == "plain":
        pixels = photo if shape == (height, width) else images.resize(photo, (height, width))
        return View(pixels.astype(np.float32), shape, (height, width), (0, 0))
    scale = max(height / shape[0], width / shape[1]) / net.crop_fraction
    scaled = (max(height, round(shape[0] * scale)), max(width, round(shape[1] * scale)))
    top, left = (scaled[0] - height) // 2, (scaled[1] - width) // 2
    pixels = images.center_crop(photo, (height, width), net.crop_fraction)
    return View(pixels.astype(np.float32), shape, scaled, (top, left))


def _resize(array, size):
    """Bilinear resize of an (h, w[, c]) float map to size = (H, W)."""
    import cv2

    if array.shape[:2] == tuple(size):
        return array
    if array.ndim == 3 and array.shape[2] > 4:
        return np.stack([_resize(array[..., c], size) for c in range(array.shape[2])], axis=-1)
    return cv2.resize(array, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def _out(view_, array, resolution):
    if resolution == "photo":
        return view_.to_photo(array)
    if resolution == "input":
        return np.asarray(array, np.float32)
    raise ValueError(f"resolution must be 'photo' or 'input'; received {resolution!r}.")


# -- layers and classes by name ----------------------------------------------------------------------------------

def spatial_layers(model):
    """The names of the layers whose output has a spatial layout (batch, height, width, channels)."""
    return [layer.name for layer in _layers(model) if _is_spatial(layer)]


def _layers(model):
    return [layer for layer in getattr(model, "model", model).layers]


def _is_spatial(layer):
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def get_layer(model, name, spatial=True):
    """The layer called `name`; an unknown name raises ValueError naming close matches (or the valid
    names), and with `spatial` a layer without a spatial output raises ValueError saying why."""
    model = getattr(model, "model", model)
    names = [layer.name for layer in model.layers]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
        valid = spatial_layers(model) if spatial else names
        hint = (f"close matches: {', '.join(close)}" if close else
                f"valid layers: {', '.join(valid[:8])}{', ...' if len(valid) > 8 else ''}"
                f"{', ' + ', '.join(valid[-3:]) if len(valid) > 11 else ''} ({len(valid)} in all)")
        raise ValueError(f"{model.name} has no layer {name!r}; {hint}.")
    layer = model.get_layer(name)
    if spatial and not _is_spatial(layer):
        shape = tuple(layer.output.shape)
        last = spatial_layers(model)[-1:] or ["a convolutional layer"]
        raise ValueError(
            f"layer {name!r} ({type(layer).__name__}) has no spatial output (its output shape is {shape}): it has "
            f"no positions to map back onto the photo; choose a convolutional layer, e.g. {last[0]!r}."
        )
    return layer


def class_index_of(label):
    """An ImageNet class index from an int, a class name ('tabby', 'Egyptian cat') or a WordNet id;
    an unknown name raises ValueError with close matches."""
    from kerasnets.imagenet import class_index

    if label is None:
        return None
    if isinstance(label, (int, np.integer)):
        if not 0 <= int(label) < 1000:
            raise ValueError(f"an ImageNet class index is between 0 and 999; received {label}.")
        return int(label)
    text = str(label).strip()
    if text.isdigit():
        return class_index_of(int(text))
    key = text.lower().replace(" ", "_").replace("-", "_")
    index = class_index()
    for i, (wnid, name) in enumerate(index):
        if key in (wnid.lower(), name.lower().replace("-", "_")):
            return i
    names = [name for _, name in index]
    close = difflib.get_close_matches(text.replace(" ", "_"), names, n=5, cutoff=0.6)
    close = close or [n for n in names if key in n.lower()][:5]
    hint = f"; close matches: {', '.join(close)}" if close else " (names as kerasnets.class_names() lists them)"
    raise ValueError(f"{text!r} is not an ImageNet class{hint}.")


# -- running the graph with other ReLU rules; gradients on either backend -------------------------------------------

def _activation_name(function):
    return getattr(function, "__name__", "")


def _rectifier(rule, max_value=None):
    """max(x, 0) (capped at `max_value`) whose backward pass follows `rule` ('guided' or 'deconvnet')."""
    from keras import ops

    @ops.custom_gradient
    def rectify(x):
        y = ops.relu(x) if max_value is None else ops.clip(x, 0.0, max_value)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            signal = ops.relu(upstream)
            if rule == "deconvnet":  # Zeiler & Fergus: rectify the signal, whatever the forward input was
                return signal
            # guided: rectify and mask by the forward input; a ReLU6's cap is ignored, as the deconvnet ignores
            # the forward state (the strongest units sit at the cap, where the masked gradient would be zero)
            return signal * ops.cast(x > 0, signal.dtype)

        return y, grad

    return rectify


def _linear(x):
    return x


class _Graph:
    """Runs a functional model's graph node by node (`Functional._run_through_graph`), in inference
    mode, with the ReLUs' backward rule replaced, the final softmax dropped (`logits`), the output
    of one layer replaced by a given tensor (`substitute`), and chosen layers' outputs recorded."""

    def __init__(self, model, outputs, rule="gradient", logits=False, substitute=None):
        import keras

        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}; received {rule!r}.")
        self.rule, self.substitute = rule, substitute or {}
        self.logits_layer = model.layers[-1].name if logits else None
        tensors = [model.get_layer(name).output if isinstance(name, str) else name for name in outputs]
        self.model = keras.Model(model.inputs, tensors) if tensors != list(model.outputs) else model

    def _activation(self, layer):
        function = getattr(layer, "activation", None)
        name = _activation_name(function)
        if layer.name == self.logits_layer and name == "softmax":
            return _linear
        if self.rule != "gradient" and name in ("relu", "relu6"):
            return _rectifier(self.rule, 6.0 if name == "relu6" else None)
        return None

    def _operation(self, op):
        import keras

        def call(*args, **kwargs):
            if getattr(op, "_call_has_training_arg", False):
                kwargs["training"] = False
            if op.name in self.substitute:
                return self.substitute[op.name]
            if isinstance(op, keras.Model) and hasattr(op, "_run_through_graph"):  # a nested functional model
                return op._run_through_graph(args[0], operation_fn=self._operation)
            config = op.get_config() if isinstance(op, keras.layers.ReLU) else None
            if config is not None and self.rule != "gradient" and not config.get("negative_slope") and \
                    not config.get("threshold"):
                return _rectifier(self.rule, config.get("max_value"))(args[0])
            replacement = self._activation(op)
            if replacement is None:
                return op(*args, **kwargs)
            saved = op.activation
            op.activation = replacement
            try:
                return op(*args, **kwargs)
            finally:
                op.activation = saved

        return call

    def __call__(self, x):
        """The outputs, a list."""
        outputs = self.model._run_through_graph([x], operation_fn=self._operation)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _to_numpy(x):
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x))


def value_and_gradient(function, x):
    """`(value, aux, d value / d x)` of `function(x) -> (scalar value, aux)`, as NumPy arrays: the one
    place that knows the backends (TensorFlow's GradientTape, JAX's value_and_grad)."""
    import keras

    backend = keras.backend.backend()
    x = np.asarray(x, dtype="float32")
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value, aux = function(x)
        grad = tape.gradient(value, x)
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        (value, aux), grad = jax.value_and_grad(function, has_aux=True)(jnp.asarray(x))
    else:
        raise ValueError(f"kerasnets.inspect computes gradients on the TensorFlow and JAX backends, not {backend!r}.")
    aux = [_to_numpy(a) for a in aux] if isinstance(aux, (list, tuple)) else _to_numpy(aux)
    grad = np.zeros(x.shape, np.float32) if grad is None else _to_numpy(grad)
    return float(_to_numpy(value)), aux, grad


# -- projections: deconvnet, guided backpropagation, gradients -------------------------------------------------------

@dataclass
class Projection:
    """Maps in pixel space, one per target: `maps` (k, H, W, 3); `targets` are (row, col, channel)
    units of `layer`, or the class index when the target is a class score; `values` the
    activations (or class scores before the softmax) that were projected."""

    maps: np.ndarray
    layer: str | None
    targets: list
    values: list
    rule: str


def project(model, image, rule="deconvnet", layer=None, channels=None, top=9, units=None, class_index=None,
            resize="crop", resolution="photo", weights="imagenet"):
    """Project targets back to the photo's pixels with a ReLU backward `rule` ('deconvnet', 'guided',
    'gradient'). With `layer`: its units (`units` (row, col, channel), else the strongest unit of each
    of `channels`, else of the `top` channels whose strongest activation is largest), each alone;
    without: the class score before the softmax (`class_index`, default the most probable class).
    Returns a `Projection`."""
    from keras import ops

    net = network(model, weights)
    seen = view(net, image, resize)
    x = seen.pixels[None]
    if layer is None:
        graph = _Graph(net.model, list(net.model.outputs), rule, logits=True)
        scores = _to_numpy(graph(net.preprocess(ops.convert_to_tensor(x)))[0])[0]
        index = int(np.argmax(scores)) if class_index is None else class_index_of(class_index)

        def score(pixels):
            return graph(net.preprocess(pixels))[0][0, index], ()

        value, _, grad = value_and_gradient(score, x)
        return Projection(np.stack([_out(seen, grad[0], resolution)]), None, [index], [value], rule)
    get_layer(net.model, layer)
    graph = _Graph(net.model, [layer], rule)
    activation = _to_numpy(graph(net.preprocess(ops.convert_to_tensor(x)))[0])[0]  # (h, w, C)
    if units is None:
        peaks = activation.reshape(-1, activation.shape[-1]).max(axis=0)
        if channels is None:
            channels = np.argsort(-peaks, kind="stable")[:top]
        units = []
        for c in np.atleast_1d(channels):
            row, col = np.unravel_index(int(np.argmax(activation[..., int(c)])), activation.shape[:2])
            units.append((int(row), int(col), int(c)))
    units = [tuple(int(v) for v in unit) for unit in units]
    for unit in units:
        if not all(0 <= v < n for v, n in zip(unit, activation.shape)):
            raise ValueError(f"unit {unit} lies outside layer {layer!r}'s output of shape {activation.shape}.")
    values = [float(activation[unit]) for unit in units]
    batch = np.repeat(x, len(units), axis=0)
    selector = np.zeros((len(units),) + activation.shape, np.float32)
    for i, unit in enumerate(units):
        selector[(i,) + unit] = 1.0  # every other activation of the layer set to zero

    def picked(pixels):
        return ops.sum(graph(net.preprocess(pixels))[0] * selector), ()

    _, _, grads = value_and_gradient(picked, batch)
    maps = np.stack([_out(seen, g * v, resolution) for g, v in zip(grads, values)])
    return Projection(maps, layer, units, values, rule)


def deconvnet(model, image, layer, channels=None, top=9, units=None, **options):
    """Zeiler & Fergus' deconvnet projection of the strongest activations of `layer` (module docstring)."""
    return project(model, image, "deconvnet", layer, channels, top, units, **options)


def guided_backprop(model, image, layer=None, channels=None, top=9, units=None, class_index=None, **options):
    """Guided backpropagation (Springenberg et al. 2015) of units of `layer`, or of a class score."""
    return project(model, image, "guided", layer, channels, top, units, class_index, **options)


def gradients(model, image, layer=None, channels=None, top=9, units=None, class_index=None, **options):
    """The plain gradient (Simonyan et al. 2014) of units of `layer`, or of a class score (before the
    softmax) with respect to the photo's raw RGB values."""
    return project(model, image, "gradient", layer, channels, top, units, class_index, **options)


def saliency(gradient):
    """Simonyan et al.'s saliency map: the maximum over colour channels of |gradient| ((..., H, W))."""
    return np.abs(np.asarray(gradient)).max(axis=-1)


# -- Grad-CAM ------------------------------------------------------------------------------------------------------

def last_spatial_layer(model):
    """The last layer with a spatial output larger than 1x1 (Grad-CAM's "last convolutional layer")."""
    model = getattr(model, "model", model)
    for layer in reversed(model.layers):
        if _is_spatial(layer) and all(n is None or n > 1 for n in layer.output.shape[1:3]):
            return layer.name
    raise ValueError(f"{model.name} has no layer with a spatial output.")


@dataclass
class GradCAM:
    """`map` (H, W) at the photo's (or input) size; `cam` at the layer's resolution; `weights` the
    channel weights alpha_k; `class_index` and its score before the softmax."""

    map: np.ndarray
    cam: np.ndarray
    weights: np.ndarray
    layer: str
    class_index: int
    score: float


def grad_cam(model, image, class_index=None, layer=None, resize="crop", resolution="photo", weights="imagenet"):
    """Selvaraju et al.'s Grad-CAM of a class (default: the most probable) at `layer` (default: the
    last layer with a spatial output): ReLU(sum_k alpha_k A^k), alpha_k = mean_ij d y^c / d A^k_ij,
    y^c the class score before the softmax; upsampled bilinearly (unit centres on their pixels)."""
    from keras import ops

    net = network(model, weights)
    layer = layer or last_spatial_layer(net.model)
    get_layer(net.model, layer)
    seen = view(net, image, resize)
    x = ops.convert_to_tensor(seen.pixels[None])
    forward = _Graph(net.model, [layer, net.model.outputs[0]], logits=True)
    activation, scores = forward(net.preprocess(x))
    index = int(np.argmax(_to_numpy(scores)[0])) if class_index is None else class_index_of(class_index)

    def score(a):
        graph = _Graph(net.model, [net.model.outputs[0]], logits=True, substitute={layer: a})
        return graph(net.preprocess(x))[0][0, index], ()

    value, _, grad = value_and_gradient(score, _to_numpy(activation))
    a = _to_numpy(activation)[0]
    alpha = grad[0].mean(axis=(0, 1))
    cam = np.maximum((a * alpha).sum(axis=-1), 0.0)
    at_input = _resize(cam.astype(np.float32), seen.pixels.shape[:2])
    return GradCAM(_out(seen, at_input, resolution), cam, alpha, layer, index, value)


# -- occlusion ------------------------------------------------------------------------------------------------------

@dataclass
class Occlusion:
    """The network's probabilities with a square of `patch` pixels (input resolution) over each
    position: `probabilities` (rows, cols, classes) for squares whose top-left corners are `rows` x
    `cols`; `baseline` without a square. Maps at the photo's size: `probability(c)`, `sensitivity(c)`
    (the drop baseline - probability, >= 0), `top_class()`; each pixel gets the mean over the squares
    that cover it."""

    probabilities: np.ndarray
    baseline: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    patch: int
    class_index: int
    view: View = field(repr=False)

    def _paint(self, grid, resolution="photo"):
        h, w = self.view.pixels.shape[:2]
        total, count = np.zeros((h, w), np.float64), np.zeros((h, w), np.float64)
        for i, top in enumerate(self.rows):
            for j, left in enumerate(self.cols):
                total[top:top + self.patch, left:left + self.patch] += grid[i, j]
                count[top:top + self.patch, left:left + self.patch] += 1
        return _out(self.view, (total / np.maximum(count, 1)).astype(np.float32), resolution)

    def probability(self, class_index=None, resolution="photo"):
        """The probability of the class (of a list of classes: their sum) with the square over each pixel."""
        index = self._index(class_index)
        return self._paint(self.probabilities[..., index].sum(axis=-1), resolution)

    def sensitivity(self, class_index=None, resolution="photo"):
        """How much the probability of the class (or of a list of classes together) drops with the
        square over each pixel."""
        index = self._index(class_index)
        drop = self.baseline[index].sum() - self.probabilities[..., index].sum(axis=-1)
        return self._paint(np.maximum(drop, 0.0), resolution)

    def top_class(self):
        """The most probable class with the square at each position, (rows, cols)."""
        return self.probabilities.argmax(axis=-1)

    def _index(self, class_index):
        if class_index is None:
            return [self.class_index]
        if isinstance(class_index, (list, tuple, np.ndarray)):
            return [class_index_of(c) for c in class_index]
        return [class_index_of(class_index)]


def occlusion_positions(size, patch, stride):
    """Top-left corners from 0 in steps of `stride`, the last square flush with the far edge."""
    last = max(size - patch, 0)
    positions = list(range(0, last + 1, stride))
    if positions[-1] != last:
        positions.append(last)
    return np.asarray(positions)


def occlusion_sensitivity(model, image, class_index=None, patch=None, stride=None, fill="mean", batch_size=32,
                          resize="crop", weights="imagenet"):
    """Zeiler & Fergus' Fig. 7: slide a square of `patch` pixels (default a seventh of the input, 32 px
    at 224) in steps of `stride` (default half the patch) over the network's view; fill 'mean' (the
    view's mean colour), 'grey' (128) or an RGB value. Returns an `Occlusion`."""
    net = network(model, weights)
    seen = view(net, image, resize)
    h, w = seen.pixels.shape[:2]
    patch = int(patch or max(1, round(min(h, w) / 7)))
    stride = int(stride or max(1, patch // 2))
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"patch must be between 1 and {min(h, w)} pixels and stride at least 1; "
                         f"received patch={patch}, stride={stride}.")
    if isinstance(fill, str):
        if fill not in ("mean", "grey", "gray"):
            raise ValueError(f"fill is 'mean', 'grey' or an RGB value; received {fill!r}.")
        colour = seen.pixels.reshape(-1, 3).mean(axis=0) if fill == "mean" else np.full(3, 128.0)
    else:
        colour = np.broadcast_to(np.asarray(fill, np.float32), (3,))
    rows, cols = occlusion_positions(h, patch, stride), occlusion_positions(w, patch, stride)
    corners = [(top, left) for top in rows for left in cols]

    baseline = _to_numpy(net.model(net.preprocess(seen.pixels[None]), training=False))[0]
    batch = np.repeat(seen.pixels[None], len(corners), axis=0)
    for image_, (top, left) in zip(batch, corners):
        image_[top:top + patch, left:left + patch] = colour
    outputs = [net.model.predict(net.preprocess(batch), batch_size=batch_size, verbose=0)]
    probabilities = np.concatenate(outputs).reshape(len(rows), len(cols), -1)
    index = int(np.argmax(baseline)) if class_index is None else class_index_of(class_index)
    return Occlusion(probabilities, baseline, rows, cols, patch, index, seen)


# -- activations, filters, feature maps --------------------------------------------------------------------------------

def predict(model, image, resize="crop", weights="imagenet"):
    """The network's output (probabilities) for a photo, (classes,)."""
    net = network(model, weights)
    pixels = view(net, image, resize).pixels[None]
    return _to_numpy(net.model(net.preprocess(pixels), training=False))[0]


def activations(model, image, layer, resize="crop", weights="imagenet"):
    """The output of `layer` for a photo, (h, w, channels)."""
    from keras import ops

    net = network(model, weights)
    get_layer(net.model, layer)
    pixels = view(net, image, resize).pixels[None]
    return _to_numpy(_Graph(net.model, [layer])(net.preprocess(ops.convert_to_tensor(pixels)))[0])[0]


def first_conv_layer(model):
    import keras

    model = getattr(model, "model", model)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
            return layer.name
    raise ValueError(f"{model.name} has no convolutional layer.")


def filters(model, layer=None, columns=None, tile=None, weights="imagenet"):
    """The kernels of a convolutional layer (default: the first) as a uint8 RGB grid, each kernel
    normalised to [0, 255] on its own (Zeiler & Fergus, Fig. 6): colour for kernels that read RGB,
    grey (the mean over input channels) otherwise; tiles enlarged to `tile` pixels (default >= 33)."""
    import keras

    net = network(model, weights)
    layer = net.model.get_layer(layer) if layer else net.model.get_layer(first_conv_layer(net.model))
    if not isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has no convolution kernels to show.")
    kernel = _to_numpy(layer.kernel)  # (kh, kw, in, out); depthwise: (kh, kw, in, multiplier)
    kh, kw, cin, cout = kernel.shape
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernels = kernel.reshape(kh, kw, 1, cin * cout).transpose(3, 0, 1, 2)
    elif cin == 3:
        kernels = kernel.transpose(3, 0, 1, 2)
    else:
        kernels = kernel.mean(axis=2, keepdims=True).transpose(3, 0, 1, 2)
    low = kernels.min(axis=(1, 2, 3), keepdims=True)
    span = np.maximum(kernels.max(axis=(1, 2, 3), keepdims=True) - low, 1e-12)
    tiles = ((kernels - low) / span * 255).round().astype(np.uint8)
    if tiles.shape[-1] == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    factor = max(1, math.ceil((tile or 33) / max(kh, kw)))
    tiles = tiles.repeat(factor, axis=1).repeat(factor, axis=2)
    return grid(list(tiles), columns)


def feature_maps(model, image, layer, channels=None, top=64, columns=None, tile=None, **options):
    """The activations of `layer` as a uint8 grid (each map scaled by its own maximum; negative values
    black): the given `channels`, else the `top` most active (largest mean) in channel order."""
    maps = activations(model, image, layer, **options)
    if channels is None:
        channels = np.sort(np.argsort(-maps.mean(axis=(0, 1)), kind="stable")[:top])
    tiles = []
    size = tile or max(32, min(112, maps.shape[0]))
    for c in np.atleast_1d(channels):
        m = np.maximum(maps[..., int(c)], 0)
        m = (m / m.max() * 255) if m.max() > 0 else m
        m = _resize_nearest(m.astype(np.uint8), size)
        tiles.append(np.repeat(m[..., None], 3, axis=-1))
    return grid(tiles, columns)


def _resize_nearest(image, size):
    import cv2

    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


# -- receptive fields -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReceptiveField:
    """One layer's receptive field, per axis (height, width), in input pixels (pixel i is centred at i):
    `size` the feature map's size, `field` the receptive field of one unit (None: the whole image,
    after global pooling), `jump` the distance between neighbouring units' centres (effective
    stride), `offset` the centre of unit (0, 0) (negative where padding is involved). The unit
    (i, j) sees the pixels centred on offset + (i, j) * jump, +- (field - 1) / 2.
    `padding` = (field - 1) / 2 - offset is google-research/receptive_field's "effective padding"."""

    layer: str
    kind: str
    size: tuple
    field: tuple | None
    jump: tuple | None
    offset: tuple | None

    @property
    def padding(self):
        if self.field is None:
            return None
        return tuple((f - 1) / 2 - o for f, o in zip(self.field, self.offset))

    def span(self, unit):
        """The pixel interval (first, last) per axis that unit (i, j) sees, unclipped."""
        return tuple((o + u * j - (f - 1) / 2, o + u * j + (f - 1) / 2)
                     for o, u, j, f in zip(self.offset, unit, self.jump, self.field))


@dataclass(frozen=True)
class _Field:
    size: tuple
    field: tuple | None = None
    jump: tuple | None = None
    offset: tuple | None = None


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _window(fin, kernel, strides, dilation, padding, name):
    """The field after a window (convolution, pooling) of `kernel` x `strides` x `dilation` and
    Keras padding ('valid', 'same': TensorFlow's, the extra pixel at the bottom/right)."""
    size, rf, jump, offset = [], [], [], []
    for n, r, j, o, k, s, d in zip(fin.size, fin.field, fin.jump, fin.offset, kernel, strides, dilation):
        span = d * (k - 1) + 1
        if padding == "same":
            out = -(-n // s)
            before = max((out - 1) * s + span - n, 0) // 2
        elif padding == "valid":
            out = (n - span) // s + 1
            before = 0
        else:
            raise ValueError(f"layer {name!r}: padding {padding!r} is not supported.")
        if out < 1:
            raise ValueError(f"layer {name!r}: the input of {n} pixels is smaller than its window of {span}.")
        size.append(out)
        rf.append(r + (span - 1) * j)
        jump.append(j * s)
        offset.append(o + ((span - 1) / 2 - before) * j)
    return _Field(tuple(size), tuple(rf), tuple(jump), tuple(offset))


def _merge(fields, name):
    """Inputs combined pointwise (sum, product, concatenation): the union of their fields."""
    if any(f.field is None for f in fields):
        return _Field(fields[0].size)
    if len({f.size for f in fields}) > 1 or len({f.jump for f in fields}) > 1:
        raise ValueError(f"layer {name!r} merges inputs of different sizes or strides: "
                         f"{[(f.size, f.jump) for f in fields]}.")
    rf, offset = [], []
    for axis in range(2):
        low = min(f.offset[axis] - (f.field[axis] - 1) / 2 for f in fields)
        high = max(f.offset[axis] + (f.field[axis] - 1) / 2 for f in fields)
        rf.append(int(round(high - low + 1)))
        offset.append((high + low) / 2)
    return _Field(fields[0].size, tuple(rf), fields[0].jump, tuple(offset))


def _layer_field(layer, fields):
    import keras

    layers = keras.layers
    name = layer.name
    if not fields:
        raise ValueError(f"layer {name!r} has no input.")
    if len(fields) > 1:
        return _merge(fields, name)
    fin = fields[0]
    if fin.field is None:
        return fin
    if isinstance(layer, layers.InputLayer):
        return fin
    if isinstance(layer, layers.Conv2DTranspose | layers.UpSampling2D):
        raise ValueError(f"layer {name!r} ({type(layer).__name__}) upsamples: receptive fields are not computed.")
    if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.Flatten, layers.Dense)):
        return _Field((1, 1))
    if hasattr(layer, "pool_size"):
        pool, strides = _pair(layer.pool_size), _pair(layer.strides or layer.pool_size)
        return _window(fin, pool, strides, (1, 1), layer.padding, name)
    if hasattr(layer, "kernel_size") and hasattr(layer, "strides"):
        dilation = _pair(getattr(layer, "dilation_rate", 1))
        return _window(fin, _pair(layer.kernel_size), _pair(layer.strides), dilation, layer.padding, name)
    if isinstance(layer, layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        return _Field((fin.size[0] + top + bottom, fin.size[1] + left + right), fin.field, fin.jump,
                      (fin.offset[0] - top * fin.jump[0], fin.offset[1] - left * fin.jump[1]))
    if isinstance(layer, layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        return _Field((fin.size[0] - top - bottom, fin.size[1] - left - right), fin.field, fin.jump,
                      (fin.offset[0] + top * fin.jump[0], fin.offset[1] + left * fin.jump[1]))
    out = tuple(layer.output.shape[1:3]) if _is_spatial(layer) else None
    if out is not None and all(n is None or n == m for n, m in zip(out, fin.size)):
        return fin  # pointwise in space: activations, normalisation, dropout, channel-wise layers
    if out is not None and all(n is not None and m % n == 0 for n, m in zip(out, fin.size)):  # adaptive pooling
        window = tuple(m // n for n, m in zip(out, fin.size))
        return _window(fin, window, window, (1, 1), "valid", name)
    if not _is_spatial(layer):
        return _Field((1, 1))
    raise ValueError(f"layer {name!r} ({type(layer).__name__}) changes the spatial size in a way "
                     "receptive_fields does not know.")


def receptive_fields(model, input_size=None, weights=None):
    """The receptive field of every layer (a list of `ReceptiveField`, in graph order), computed from
    the graph by the recurrences of Araujo et al. (Distill 2019): field_out = field_in + (k_eff - 1) *
    jump_in, jump_out = jump_in * stride, offset_out = offset_in + ((k_eff - 1) / 2 - pad_before) *
    jump_in, with k_eff = dilation * (k - 1) + 1 and TensorFlow's 'same' padding (pad_before =
    floor(total / 2), which depends on the input size); merges (sums, products, concatenations)
    take the union of their inputs' fields. `input_size` (default: the model's, else the spec's)
    sets the feature-map sizes.

    The published values these are checked against: google-research/receptive_field (Araujo et al.;
    README.md and receptive_field/RECEPTIVE_FIELD_TABLE.md), computed from TF-Slim's graphs at 224
    (and 321) px: "RF" is the side of the input region one unit of the end-point depends on,
    "effective stride" the jump, and "effective padding" P such that unit i is centred on
    -P + i * stride + (RF - 1) / 2 — here `padding`. VGG-16 vgg_16/pool5 (= block5_pool): 212 / 32 /
    90; MobileNet v1 Conv2d_13_pointwise (= conv_pw_13_relu): 315 / 32 / 126; Inception v3 Mixed_7c
    (= mixed10): 1311 / 32 / 618; alexnet_v2/pool5 (= AlexNet's pool3): 195 / 32 / 64;
    Inception-ResNet-v2 Conv2d_7b_1x1 (= conv_7b_relu): 3039 / 32 / 1482. The field may exceed the
    image (1311 px at 224): it counts padding. tests/test_inspect.py checks these rows and, on small
    networks, that the pixels whose change changes a unit are exactly its field."""
    model = model.model if isinstance(model, Network) else model
    if isinstance(model, str):
        model = network(model, weights).model
    shape = model.input_shape[1:3]
    if input_size is None:
        input_size = tuple(n or 224 for n in shape)
    size = _pair(input_size)
    fields, rows = {}, []
    for x in model.inputs:
        fields[id(x)] = _Field(size, (1, 1), (1, 1), (0.0, 0.0))
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.operation
            if node.is_input or layer is None:
                continue
            field_ = _layer_field(layer, [fields[id(t)] for t in node.input_tensors])
            for t in node.outputs:
                fields[id(t)] = field_
            rows.append(ReceptiveField(layer.name, type(layer).__name__, field_.size, field_.field, field_.jump,
                                       field_.offset))
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    return sorted(rows, key=lambda row: order.get(row.layer, len(order)))


# -- rendering --------------------------------------------------------------------------------------------------------

def normalise(heat):
    """A map scaled to [0, 1] by its maximum (negative values 0)."""
    heat = np.maximum(np.asarray(heat, np.float32), 0)
    top = heat.max()
    return heat / top if top > 0 else heat


def overlay(photo, heat, alpha=0.5, colormap="jet"):
    """The photo (uint8 RGB) with a colour-mapped map (H, W; scaled by its maximum) blended over it."""
    import cv2

    photo = as_photo(photo)
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    heat = _resize(np.asarray(heat, np.float32), photo.shape[:2])
    codes = {"jet": cv2.COLORMAP_JET, "inferno": cv2.COLORMAP_INFERNO, "viridis": cv2.COLORMAP_VIRIDIS}
    coloured = cv2.applyColorMap((normalise(heat) * 255).astype(np.uint8), codes[colormap])[..., ::-1]
    return (photo * (1 - alpha) + coloured * alpha).round().astype(np.uint8)


def to_image(signed, spread=0.15):
    """A signed pixel-space map (H, W, 3: a projection or a gradient) as a uint8 RGB picture: zero
    grey, each unit of its standard deviation `spread` of the range, as the deconvnet papers show them."""
    signed = np.asarray(signed, np.float32)
    std = signed.std()
    scaled = 0.5 + spread * (signed - signed.mean()) / std if std > 0 else np.full_like(signed, 0.5)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)


def grid(images, columns=None, pad=2, background=255):
    """Equal-size uint8 RGB images in a grid, `columns` wide (default: near square)."""
    images = [np.asarray(i) for i in images]
    if not images:
        raise ValueError("grid needs at least one image.")
    h, w = images[0].shape[:2]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), background, np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = image
    return canvas


def caption(image, text):
    """The image with a white band holding `text` above it (the type shrinks until the text fits)."""
    import cv2

    image = np.asarray(image, np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.6
    while scale > 0.3 and cv2.getTextSize(text, font, scale, 1)[0][0] > image.shape[1] - 12:
        scale -= 0.05
    (_, h), baseline = cv2.getTextSize(text, font, scale, 1)
    band = np.full((h + baseline + 14, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (6, h + 7), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, image], axis=0)


def side_by_side(*images, pad=4):
    """Images of one height next to each other (resized to the first one's height)."""
    import cv2

    height = images[0].shape[0]
    resized = [i if i.shape[0] == height else
               cv2.resize(i, (round(i.shape[1] * height / i.shape[0]), height), interpolation=cv2.INTER_AREA)
               for i in images]
    gap = np.full((height, pad, 3), 255, np.uint8)
    parts = [resized[0]]
    for image in resized[1:]:
        parts += [gap, image]
    return np.concatenate(parts, axis=1)


def save(image, path):
    """Write a uint8 RGB picture atomically (kerasnets.images.save_image)."""
    from kerasnets.images import save_image

    save_image(path, image)


__all__ = [
    "Network", "View", "Projection", "GradCAM", "Occlusion", "ReceptiveField", "RULES", "network", "view", "as_photo",
    "spatial_layers", "get_layer", "class_index_of", "value_and_gradient", "project", "deconvnet", "guided_backprop",
    "gradients", "saliency", "last_spatial_layer", "grad_cam", "occlusion_positions", "occlusion_sensitivity",
    "predict", "activations", "first_conv_layer", "filters", "feature_maps", "receptive_fields", "normalise", "overlay",
    "to_image", "grid", "caption", "side_by_side", "save",
]
