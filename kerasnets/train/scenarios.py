"""The four scenarios of the transfer-learning lecture (CS231n, "Transfer Learning"; Yosinski et al.,
"How transferable are features in deep neural networks?", NIPS 2014) as freezing policies:

==================  ===========================================  =================================
scenario            what trains                                  when (dataset size x domain)
==================  ===========================================  =================================
feature_extractor   the new classifier only                      small data, similar to ImageNet
fine_tune_top       the last `top_blocks` blocks + classifier    small data, different domain
fine_tune_from      from a named layer's block (or block index)  larger data: keep the early layers
full                everything                                   large data, or training from scratch
==================  ===========================================  =================================

Blocks are found from the graph (`kerasnets.train.graph`). Frozen BatchNormalization layers run
in inference mode (Keras 3 does so for `trainable=False`), and by default every BatchNormalization
layer stays frozen except in `full`: fine-tuning batches are small, and updating ImageNet
statistics from them is the classic way to ruin a pretrained net.
"""

import difflib
import math

from keras import layers

from kerasnets.train.graph import block_names, network_blocks
from kerasnets.utils import UNSET, renamed_argument

SCENARIOS = ("feature_extractor", "fine_tune_top", "fine_tune_from", "full")
BASE_NAME = "base"


def base_of(model):
    """The pretrained body inside a `build_classifier` model (or the model itself)."""
    try:
        return model.get_layer(BASE_NAME)
    except ValueError:
        return model


def first_trainable_block(base, scenario, *, fine_tune_from=None, top_blocks=1):
    """Index of the first block a scenario trains (len(blocks) for feature_extractor)."""
    names = block_names(base)
    if scenario not in SCENARIOS:
        raise ValueError(f"Unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}.")
    if scenario == "feature_extractor":
        return len(names)
    if scenario == "full":
        return 0
    if scenario == "fine_tune_top":
        if not isinstance(top_blocks, int) or not 1 <= top_blocks <= len(names):
            raise ValueError(f"top_blocks must be an integer from 1 to {len(names)} (the blocks of {base.name}); "
                             f"received {top_blocks!r}.")
        return len(names) - top_blocks
    if fine_tune_from is None:
        raise ValueError("scenario='fine_tune_from' needs fine_tune_from=<layer name or block index>.")
    if isinstance(fine_tune_from, int) or (isinstance(fine_tune_from, str) and fine_tune_from.lstrip("-").isdigit()):
        index = int(fine_tune_from)
        if not -len(names) <= index < len(names):
            raise ValueError(f"fine_tune_from={index}: {base.name} has {len(names)} blocks (0 to {len(names) - 1}, "
                             "or negative from the end).")
        return index % len(names)
    for index, block in enumerate(network_blocks(base)):
        if any(layer.name == fine_tune_from for layer in block):
            return index
    layer_names = [layer.name for layer in base.layers]
    close = difflib.get_close_matches(fine_tune_from, layer_names, n=3)
    raise ValueError(
        f"fine_tune_from={fine_tune_from!r}: {base.name} has no layer of that name"
        + (f"; did you mean {', '.join(close)}?" if close else f"; its blocks end at {', '.join(names[-5:])} (last "
            "five).")
        + " Run apps/fine_tune.py --list-blocks to see them all."
    )


def apply_scenario(model, scenario, *, fine_tune_from=None, top_blocks=1, freeze_batchnorm=UNSET,
                   freeze_batch_norm=UNSET):
    """Set `trainable` on every layer of the body of `model` for `scenario`; the classifier head
    stays trainable. Returns the index of the first trained block."""
    base = base_of(model)
    first = first_trainable_block(base, scenario, fine_tune_from=fine_tune_from, top_blocks=top_blocks)
    freeze_batchnorm = renamed_argument("apply_scenario", "freeze_batchnorm", freeze_batchnorm, "freeze_batch_norm",
                                        freeze_batch_norm)
    freeze_batchnorm = scenario != "full" if freeze_batchnorm is None else freeze_batchnorm
    model.trainable = True  # Keras sets this recursively; the per-layer flags follow
    for index, block in enumerate(network_blocks(base)):
        for layer in block:
            layer.trainable = index >= first and not (freeze_batchnorm and isinstance(layer,
                layers.BatchNormalization))
    return first


def describe(model):
    """One line: trainable blocks and parameters."""
    base = base_of(model)
    blocks = network_blocks(base)
    trained = [i for i, block in enumerate(blocks) if any(layer.trainable_weights for layer in block)]
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = sum(math.prod(w.shape) for w in model.weights)
    if trained:
        block = blocks[trained[0]]
        first = next((layer.name for layer in block if layer.trainable_weights), block[0].name)
        where = f"blocks {trained[0]}-{len(blocks) - 1} of {len(blocks)} (from {first})"
    else:
        where = f"none of its {len(blocks)} blocks"
    return f"{base.name}: trains {where} + the classifier; {params:,} of {total:,} parameters trainable."


def trainable_batch_norms(model):
    """The BatchNormalization layers of the body that train (and so update their statistics)."""
    return [layer for layer in base_of(model).layers if isinstance(layer,
        layers.BatchNormalization) and layer.trainable]
