"""Training: image datasets, the transfer-learning scenarios, fitting and distribution.

    datasets     image folders, splits, tf.data pipelines, tensorflow-datasets by name, the digits demo
    graph        the blocks of a network, found from its graph
    scenarios    the four scenarios (feature_extractor, fine_tune_top, fine_tune_from, full) as freezing
    classifier   build_classifier: raw pixels -> preprocessing -> body -> new classifier
    batchnorm    PreciseBatchNorm: population statistics for BatchNorm layers that train
    fit          fine_tune: two phases with cosine decay
    distribute   distributed(): all local devices, or several machines on JAX

`kerasnets.transfer` is this package under its earlier name.
"""

from kerasnets.train.batchnorm import BatchMoments, PreciseBatchNorm
from kerasnets.train.classifier import OPTIMIZERS, build_classifier, compile_classifier
from kerasnets.train.distribute import distributed, replicas
from kerasnets.train.fit import TrainingLog, cosine_schedule, fine_tune
from kerasnets.train.graph import block_names, network_blocks
from kerasnets.train.scenarios import (
    BASE_NAME,
    SCENARIOS,
    apply_scenario,
    base_of,
    describe,
    first_trainable_block,
    trainable_batch_norms,
)

__all__ = [
    "BASE_NAME", "BatchMoments", "OPTIMIZERS", "PreciseBatchNorm", "SCENARIOS", "TrainingLog", "apply_scenario",
    "base_of", "block_names", "build_classifier", "compile_classifier", "cosine_schedule", "describe", "distributed",
    "fine_tune", "first_trainable_block", "network_blocks", "replicas", "trainable_batch_norms",
]
