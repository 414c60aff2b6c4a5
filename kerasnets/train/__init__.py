"""Training: image datasets, the transfer-learning scenarios, fitting and distribution.

    datasets     image folders, splits, tf.data pipelines, tensorflow-datasets by name, the digits demo
    graph        the blocks of a network, found from its graph
    scenarios    the four scenarios (feature_extractor, fine_tune_top, fine_tune_from, full) as freezing
    classifier   build_classifier: raw pixels -> preprocessing -> body -> new classifier
    batchnorm    PreciseBatchNorm: population statistics for BatchNorm layers that train
    fit          fine_tune: two phases with cosine decay
    distribute   distributed(): all local devices, or several machines on JAX

`kerasnets.transfer` is this package under its earlier name. Names load on first use, so
`kerasnets.train.datasets` can scan a folder before Keras starts.
"""

from kerasnets.utils import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "kerasnets.train.batchnorm": ("BatchMoments", "PreciseBatchNorm"),
    "kerasnets.train.classifier": ("OPTIMIZERS", "build_classifier", "compile_classifier"),
    "kerasnets.train.distribute": ("distributed", "replicas"),
    "kerasnets.train.fit": ("TrainingLog", "cosine_schedule", "fine_tune"),
    "kerasnets.train.graph": ("block_names", "network_blocks"),
    "kerasnets.train.scenarios": (
        "BASE_NAME", "SCENARIOS", "apply_scenario", "base_of", "describe", "first_trainable_block",
        "trainable_batch_norms",
    ),
})
