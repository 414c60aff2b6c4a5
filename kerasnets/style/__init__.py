"""Neural style transfer.

    losses      gram_matrix, StyleLoss, ContentLoss (FeatureReconstructionLoss), TotalVariationLoss,
                PerceptualLoss: Keras losses, keras.ops only
    features    VGG feature extractors with the Gatys and Johnson layer presets
    gatys       gatys_transfer: optimise the pixels (L-BFGS or Adam)
    transform   TransformNet and train_transform_net (Johnson et al.)

The package front re-exports the functions the earlier `kerasnets.style` module had.
"""

from kerasnets.style.features import as_image_batch, feature_extractor, layer_spec, minimum_size
from kerasnets.style.gatys import gatys_transfer, time_it
from kerasnets.style.transform import TransformNet, content_dataset, train_transform_net

__all__ = [
    "TransformNet", "as_image_batch", "content_dataset", "feature_extractor", "gatys_transfer", "layer_spec",
    "minimum_size", "time_it", "train_transform_net",
]
