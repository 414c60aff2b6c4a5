"""The RoI operations as serialisable Keras layers (`keras.ops` only: TensorFlow and JAX)."""

import math

import keras
from keras import ops

import kerasnets.detection.ops as roi_ops


def _pair(size):
    return (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)


@keras.saving.register_keras_serializable(package="kerasnets")
class RoIAlign(keras.layers.Layer):
    """RoIAlign (He et al. 2017): `call(features [B, H, W, C], boxes [B, N, 4] xyxy image pixels)`
    -> `[B, N, out, out, C]`, torchvision's `roi_align` semantics (see `kerasnets.detection.ops`)."""

    def __init__(self, output_size=7, spatial_scale=1.0, sampling_ratio=-1, aligned=True, max_sampling_grid=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)
        self.max_sampling_grid = None if max_sampling_grid is None else int(max_sampling_grid)

    def call(self, features, boxes):
        return roi_ops.roi_align(features, boxes, self.output_size, self.spatial_scale, self.sampling_ratio,
                                 self.aligned, self.max_sampling_grid)

    def compute_output_shape(self, features_shape, boxes_shape):
        return (features_shape[0], boxes_shape[1], *self.output_size, features_shape[-1])

    def get_config(self):
        return {**super().get_config(), "output_size": list(self.output_size), "spatial_scale": self.spatial_scale,
                "sampling_ratio": self.sampling_ratio, "aligned": self.aligned,
                "max_sampling_grid": self.max_sampling_grid}


@keras.saving.register_keras_serializable(package="kerasnets")
class RoIPooling(keras.layers.Layer):
    """RoI max pooling (Girshick 2015): `call(features [B, H, W, C], boxes [B, N, 4] xyxy image
    pixels)` -> `[B, N, out, out, C]`, torchvision's `roi_pool` semantics (quantised coordinates)."""

    def __init__(self, output_size=7, spatial_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def call(self, features, boxes):
        return roi_ops.roi_pool(features, boxes, self.output_size, self.spatial_scale)

    def compute_output_shape(self, features_shape, boxes_shape):
        return (features_shape[0], boxes_shape[1], *self.output_size, features_shape[-1])

    def get_config(self):
        return {**super().get_config(), "output_size": list(self.output_size), "spatial_scale": self.spatial_scale}


def fpn_levels(boxes, min_level, max_level, canonical_scale=224.0, canonical_level=4):
    """The FPN level of each box (Lin et al. 2017, eq. 1, torchvision's LevelMapper):
    `floor(k0 + log2(sqrt(area) / 224) + 1e-6)` clamped to `[min_level, max_level]`."""
    area = ops.maximum((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]), 1e-6)
    level = ops.floor(canonical_level + ops.log(ops.sqrt(area) / canonical_scale) / math.log(2.0) + 1e-6)
    return ops.cast(ops.clip(level, min_level, max_level), "int32")


@keras.saving.register_keras_serializable(package="kerasnets")
class MultiScaleRoIAlign(keras.layers.Layer):
    """RoIAlign over FPN levels: each box is pooled from the level `fpn_levels` assigns it.
    `call(features_list, boxes)` with features of strides `2 ** min_level ...`, finest first."""

    def __init__(self, output_size=7, sampling_ratio=2, min_level=2, canonical_scale=224.0, canonical_level=4,
                 aligned=True, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _pair(output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.min_level = int(min_level)
        self.canonical_scale = float(canonical_scale)
        self.canonical_level = int(canonical_level)
        self.aligned = bool(aligned)

    def call(self, features, boxes):
        features = list(features)
        max_level = self.min_level + len(features) - 1
        level = fpn_levels(ops.stop_gradient(boxes), self.min_level, max_level, self.canonical_scale,
                           self.canonical_level)
        out = 0.0
        for i, f in enumerate(features):
            pooled = roi_ops.roi_align(f, boxes, self.output_size, 1.0 / 2 ** (self.min_level + i),
                                       self.sampling_ratio, self.aligned)
            out = out + ops.where((level == self.min_level + i)[..., None, None, None], pooled, 0.0)
        return out

    def compute_output_shape(self, features_shape, boxes_shape):
        return (boxes_shape[0], boxes_shape[1], *self.output_size, features_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "output_size": list(self.output_size), "sampling_ratio": self.sampling_ratio,
                "min_level": self.min_level, "canonical_scale": self.canonical_scale,
                "canonical_level": self.canonical_level, "aligned": self.aligned}
