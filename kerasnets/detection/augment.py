"""Data augmentation for detection: geometry that moves boxes and instance masks with the image, and the
photometric jitter of the YOLO paper (Redmon et al. 2016, section 2.2: "random scaling and translations of up
to 20% of the original image size ... randomly adjust the exposure and saturation of the image by up to a
factor of 1.5 in the HSV color space").

The geometry is Keras' own augmentation layers, which transform `bounding_boxes` (and `segmentation_masks`)
with the image: `RandomFlip`, `RandomZoom` (scale jitter: zooming in crops, zooming out shrinks) and
`RandomTranslation`, with `fill_mode="constant"` (their default, "reflect", would paint mirrored copies of
objects that have no box). Keras clips the boxes to the image and drops those left with no area; this module
adds what they lack: boxes cut below `min_size` pixels (either side) are dropped as well, padded slots stay
padding, instance masks ride along as channels (nearest neighbour, thresholded back to 0/1), and the exposure
and saturation jitter (Keras' `RandomSaturation` and `RandomBrightness` are additive or differently scaled).

Runs inside `tf.data` (`DetectionSet.tf_dataset(augment=...)`), one example at a time.
"""

import keras


class DetectionAugmentation:
    """Random flip, scale jitter, translation and HSV jitter for one `{"images", "boxes", "classes"[, "masks"]}`
    example (xyxy pixel boxes, class -1 = padding).

    `scale`: the zoom range as fractions (0.2: the image is scaled by 0.8-1.2); `translate`: the largest shift as
    a fraction of the size; `exposure`, `saturation`: factors up to this (1.5: x 1/1.5 .. x 1.5) on V and S;
    `flip`: horizontal flips; `min_size`: boxes narrower or lower than this many pixels after the transform are
    dropped. `seed` makes the sequence of transforms reproducible.
    """

    def __init__(self, flip=True, scale=0.2, translate=0.2, exposure=1.5, saturation=1.5, min_size=2.0, seed=None):
        for name, value in (("scale", scale), ("translate", translate)):
            low, high = (-value, value) if isinstance(value, (int, float)) else value
            if not -1 < low <= high < 1:
                raise ValueError(f"{name} must be a fraction in (-1, 1) or a (low, high) pair, got {value!r}.")
        for name, value in (("exposure", exposure), ("saturation", saturation)):
            if value < 1:
                raise ValueError(f"{name} is a factor of at least 1 (1 = off), got {value}.")
        self.flip, self.scale, self.translate = bool(flip), scale, translate
        self.exposure, self.saturation, self.min_size = float(exposure), float(saturation), float(min_size)
        self.seed = seed
        common = {"bounding_box_format": "xyxy", "fill_mode": "constant", "fill_value": 0.0}
        self.layers = []
        if self.flip:
            self.layers.append(keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=seed))
        if scale:
            factor = (-scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
            self.layers.append(keras.layers.RandomZoom(factor, factor, seed=None if seed is None else seed + 1,
                                                       **common))
        if translate:
            factor = (-translate, translate) if isinstance(translate, (int, float)) else tuple(translate)
            self.layers.append(keras.layers.RandomTranslation(factor, factor,
                                                              seed=None if seed is None else seed + 2, **common))

    def __call__(self, example):
        import tensorflow as tf

        example = dict(example)
        images = tf.cast(example["images"], tf.float32)
        classes = tf.cast(example["classes"], tf.int32)
        valid = classes >= 0
        data = {"images": images, "bounding_boxes": {"boxes": tf.cast(example["boxes"], tf.float32),
                                                     "labels": classes}}
        if "masks" in example:
            data["segmentation_masks"] = tf.transpose(tf.cast(example["masks"], tf.float32), (1, 2, 0))
        for layer in self.layers:
            data = layer(data, training=True)
        boxes = tf.convert_to_tensor(data["bounding_boxes"]["boxes"])
        labels = tf.cast(data["bounding_boxes"]["labels"], tf.int32)
        keep = valid & (labels >= 0) & (boxes[:, 2] - boxes[:, 0] >= self.min_size) & (
            boxes[:, 3] - boxes[:, 1] >= self.min_size)
        example["boxes"] = tf.where(keep[:, None], boxes, tf.zeros_like(boxes))
        example["classes"] = tf.where(keep, classes, -tf.ones_like(classes))
        if "masks" in example:
            masks = tf.transpose(tf.convert_to_tensor(data["segmentation_masks"]), (2, 0, 1)) >= 0.5
            example["masks"] = tf.cast(masks & keep[:, None, None], example["masks"].dtype)
        example["images"] = self.photometric(tf.convert_to_tensor(data["images"]))
        return example

    def photometric(self, images):
        """Exposure (V) and saturation (S) each multiplied by a random factor in [1/f, f] (log-uniform)."""
        import tensorflow as tf

        if self.exposure == 1 and self.saturation == 1:
            return images
        hsv = tf.image.rgb_to_hsv(tf.clip_by_value(images, 0.0, 255.0) / 255.0)
        factors = tf.exp(tf.random.uniform((2,), -1.0, 1.0) * tf.math.log([self.saturation, self.exposure]))
        hsv = tf.stack([hsv[..., 0], tf.clip_by_value(hsv[..., 1] * factors[0], 0.0, 1.0),
                        tf.clip_by_value(hsv[..., 2] * factors[1], 0.0, 1.0)], axis=-1)
        return tf.image.hsv_to_rgb(hsv) * 255.0


def augmentation(augment):
    """`augment` as given to `tf_dataset`: None/False (none), True or "default" (the YOLO paper's recipe), or a
    `DetectionAugmentation`."""
    if augment in (None, False):
        return None
    if augment is True or augment == "default":
        return DetectionAugmentation()
    if isinstance(augment, DetectionAugmentation):
        return augment
    raise ValueError(f"augment must be None, 'default' or a DetectionAugmentation, got {augment!r}.")
