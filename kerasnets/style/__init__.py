"""Neural style transfer: Gram-matrix, style, content, perceptual and total-variation losses
(`kerasnets.style.losses`), the Gatys optimisation and Johnson's transform network."""

from kerasnets.style.style import TransformNet, feature_extractor, gatys_transfer, train_transform_net

__all__ = ["TransformNet", "feature_extractor", "gatys_transfer", "train_transform_net"]
