"""Neural style transfer.

    losses      gram_matrix, StyleLoss, ContentLoss (FeatureReconstructionLoss), TotalVariationLoss,
                PerceptualLoss: Keras losses, keras.ops only
    features    VGG feature extractors with the Gatys and Johnson layer presets
    gatys       gatys_transfer: optimise the pixels (L-BFGS or Adam)
    transform   TransformNet and train_transform_net (Johnson et al.)

The package front re-exports, on first use, the functions the earlier `kerasnets.style` module had.
"""

from kerasnets.utils import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "kerasnets.style.features": ("as_image_batch", "feature_extractor", "layer_spec", "minimum_size"),
    "kerasnets.style.gatys": ("gatys_transfer", "time_it"),
    "kerasnets.style.transform": ("TransformNet", "content_dataset", "train_transform_net"),
})
