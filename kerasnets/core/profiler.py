"""Parameters and multiply-adds of a Keras model, counted the way the papers count them.

One multiply-add (MAC) is one multiplication accumulated into a sum, per image. Counted:
convolutions (grouped and dilated), depthwise and separable convolutions, transposed
convolutions and dense layers; element-wise operations (batch norm, activations, additions,
pooling) are not, as in the MobileNet and ResNet papers. A custom layer adds its own count by
defining `count_macs(input_shapes, output_shape)`. Nested models are counted layer by layer.
"""

import math
from dataclasses import dataclass, field

import keras


@dataclass(frozen=True)
class LayerProfile:
    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int


@dataclass
class Profile:
    """Totals and the per-layer breakdown returned by `profile`."""

    name: str
    params: int
    trainable_params: int
    macs: int
    layers: list = field(default_factory=list)

    def __str__(self):
        return f"{self.name}: {self.params / 1e6:.2f} M parameters, {self.macs / 1e6:.0f} M multiply-adds"

    def table(self, min_macs=0):
        """The per-layer breakdown as text, one line per layer with weights or multiply-adds."""
        lines = [f"{'layer':40s} {'kind':22s} {'output shape':20s} {'params':>12s} {'mult-adds':>14s}"]
        for row in self.layers:
            if (row.params or row.macs) and row.macs >= min_macs:
                lines.append(f"{row.name:40s} {row.kind:22s} {str(row.output_shape):20s} {row.params:12,d} "
                    f"{row.macs:14,d}")
        lines.append(f"{'total':40s} {'':22s} {'':20s} {self.params:12,d} {self.macs:14,d}")
        return "\n".join(lines)


def _spatial(shape):
    """The spatial dimensions of an activation shape (batch and channel axes dropped)."""
    dims = shape[1:-1] if keras.config.image_data_format() == "channels_last" else shape[2:]
    if any(d is None for d in dims):
        raise ValueError(
            f"profile needs static spatial sizes, but a layer has shape {shape}; build the model with a "
            "fixed input_shape (e.g. input_shape=(224, 224, 3))."
        )
    return math.prod(dims)


def _channels(shape):
    return shape[-1] if keras.config.image_data_format() == "channels_last" else shape[1]


def layer_macs(layer, input_shapes, output_shape):
    """Multiply-adds of one call of `layer` on inputs of `input_shapes` giving `output_shape`."""
    if hasattr(layer, "count_macs"):
        return int(layer.count_macs(input_shapes, output_shape))
    layers = keras.layers
    in_shape = input_shapes[0]
    if isinstance(layer, layers.SeparableConv2D):
        depthwise = _spatial(output_shape) * _channels(in_shape) * layer.depth_multiplier * math.prod(layer.kernel_size)
        pointwise = _spatial(output_shape) * _channels(in_shape) * layer.depth_multiplier * _channels(output_shape)
        return depthwise + pointwise
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return _spatial(output_shape) * _channels(output_shape) * math.prod(layer.kernel_size)
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)):
        return _spatial(in_shape) * _channels(in_shape) * math.prod(layer.kernel_size) * _channels(output_shape)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        per_output = math.prod(layer.kernel_size) * _channels(in_shape) // getattr(layer, "groups", 1)
        return _spatial(output_shape) * _channels(output_shape) * per_output
    if isinstance(layer, layers.Dense):
        positions = math.prod(d for d in in_shape[1:-1]) if len(in_shape) > 2 else 1
        return positions * in_shape[-1] * layer.units
    return 0


def _shapes(tensors):
    tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
    return [tuple(t.shape) for t in tensors]


def _call_counts(model):
    """How many times the graph of `model` calls each of its layers, from its public config (a layer
    shared by several branches is called once per branch); {} when the config cannot tell."""
    try:
        entries = model.get_config().get("layers", [])
    except Exception:  # noqa: BLE001 - a model without a config: every layer counts once
        return {}
    counts = {}
    for entry in entries:
        name = entry.get("name") or entry.get("config", {}).get("name")
        nodes = entry.get("inbound_nodes")
        if name is not None and nodes is not None:
            counts[name] = len(nodes)
    return counts


def _calls(layer, counts):
    """(input shapes, output shape) of each call of `layer` in the graph, from its public `input` and
    `output` (a shared layer's calls all see the shapes of its first one)."""
    try:
        inputs, outputs = _shapes(layer.input), _shapes(layer.output)
    except (AttributeError, ValueError):  # never called in this graph
        return []
    if not inputs or not outputs:
        return []
    return [(inputs, outputs[0])] * counts.get(layer.name, 1)


def _walk(model, prefix=""):
    counts = _call_counts(model)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer, prefix=f"{prefix}{layer.name}/")
            continue
        calls = _calls(layer, counts)
        macs = sum(layer_macs(layer, inputs, output) for inputs, output in calls)
        shape = calls[0][1] if calls else ()
        yield LayerProfile(f"{prefix}{layer.name}", type(layer).__name__, shape, layer.count_params(), macs)


def profile(model):
    """Count the parameters and multiply-adds (per image) of `model`; returns a `Profile`."""
    rows = [row for row in _walk(model) if not row.kind == "InputLayer"]
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return Profile(model.name, model.count_params(), trainable, sum(r.macs for r in rows), rows)
