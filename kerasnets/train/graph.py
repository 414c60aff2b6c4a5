"""Blocks of a network, found from its graph: the units transfer learning freezes and trains.

A *block* is the smallest piece of the network that every path passes into and out of: a residual
unit, an Inception module, a dense layer, a convolution with its BatchNorm and activation. The
graph is read from the model's functional config (`Model.get_config()`, the public form Keras
saves), so every kerasnets or keras.applications network works without a per-family table.
"""

from keras import layers


def _parents(model):
    """{layer name: names of the layers feeding it}, from the functional config's inbound nodes."""

    def history(value, found):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                found.append(value["config"]["keras_history"][0])
            else:
                for item in value.values():
                    history(item, found)
        elif isinstance(value, (list, tuple)):
            for item in value:
                history(item, found)
        return found

    return {entry["name"]: history(entry.get("inbound_nodes", []), []) for entry in model.get_config()["layers"]}


def _cut_points(model):
    """Positions (in `model.layers` order) of the layers every input-to-output path passes through.

    In a topological order, a layer is such a cut point exactly when no edge of the graph jumps
    over its position."""
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    spans = [(order[parent], order[child]) for child, parents in _parents(model).items()
             for parent in parents if parent in order and child in order and order[child] - order[parent] > 1]
    covered = [0] * (len(model.layers) + 1)
    for start, end in spans:  # mark positions start+1 .. end-1 as jumped over
        covered[start + 1] += 1
        covered[end] -= 1
    cuts, depth = [], 0
    for i in range(len(model.layers)):
        depth += covered[i]
        if depth == 0:
            cuts.append(i)
    return cuts


def _defines_block(layer):
    """Layers that start a block: anything with weights except normalization layers."""
    return bool(layer.weights) and not isinstance(layer, (layers.BatchNormalization, layers.LayerNormalization))


def _unit_name(block):
    """The numbered unit a block's first weighted layer belongs to by its name ('block5_conv2' ->
    'block5', 'block_16_expand' -> 'block_16'), or the layer name when the prefix has no number."""
    name = next(layer.name for layer in block if _defines_block(layer))
    prefix = name.rsplit("_", 1)[0]
    return prefix if prefix != name and any(c.isdigit() for c in prefix) else name


def network_blocks(model):
    """The blocks of a functional network, in order, each a list of layers (see the module docstring).
    Input, preprocessing and padding layers belong to the first block; a BatchNorm or activation
    between two cut points belongs to the convolution before it; consecutive pieces of one numbered
    unit (VGG's block5_conv1..3, MobileNetV2's block_16_expand/depthwise/project) form one block."""
    pieces, current, start = [], [], 0
    for cut in _cut_points(model):
        segment = model.layers[start:cut + 1]
        start = cut + 1
        if any(_defines_block(layer) for layer in segment) and any(_defines_block(layer) for layer in current):
            pieces.append(current)
            current = []
        current += segment
    current += model.layers[start:]
    if current:
        if pieces and not any(_defines_block(layer) for layer in current):
            pieces[-1] += current
        else:
            pieces.append(current)
    if not any(_defines_block(layer) for piece in pieces for layer in piece):
        return pieces
    blocks = [pieces[0]]
    for piece in pieces[1:]:
        if _unit_name(piece) == _unit_name(blocks[-1]):
            blocks[-1] = blocks[-1] + piece
        else:
            blocks.append(piece)
    return blocks


def block_names(model):
    """The name of each block: the name of its last layer (e.g. 'conv5_block3_out', 'mixed10')."""
    return [block[-1].name for block in network_blocks(model)]
