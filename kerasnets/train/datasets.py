"""Image-classification data for training and calibration: a folder with one sub-folder per class
(or `train/` and `validation/` folders of those), or a tensorflow-datasets dataset by name, as
`tf.data` pipelines that decode once, cache, shuffle, augment, batch and prefetch.

Images are decoded with `kerasnets.images.load_image`, so grayscale, RGBA, palette and 16-bit files
work like everywhere else in kerasnets. Files that are not images are skipped when the folder is
scanned; files that fail to decode (corrupt, truncated) are skipped when first read. Both are
counted in `ImageFolder.skipped` and reported with a warning, never a crash. Pipelines yield float32
RGB pixels in 0-255: the network's own preprocessing is part of the model (see `kerasnets.transfer`).
"""

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasnets.errors import DataError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)
from kerasnets.images import IMAGE_SUFFIXES, ImageError, load_image, resize

#: Folder names recognised as ready-made splits, in order of preference.
TRAIN_SPLITS = ("train", "training")
VALIDATION_SPLITS = ("validation", "val", "valid", "test")
#: Decoded images held for shuffling a file-cached stream.
STREAM_SHUFFLE_BUFFER = 2048




@dataclass
class ImageFolder:
    """The images of a class-per-sub-folder tree: parallel `paths` and `labels`, the sorted
    `class_names`, and `skipped`, the (path, reason) pairs of files that could not be used."""

    root: Path
    class_names: list
    paths: list
    labels: np.ndarray
    skipped: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __len__(self):
        return len(self.paths)

    @property
    def num_classes(self):
        return len(self.class_names)

    def subset(self, indices):
        """The same folder restricted to `indices` (sharing the skip list)."""
        indices = np.asarray(indices, dtype=int)
        return ImageFolder(self.root, self.class_names, [self.paths[i] for i in indices], self.labels[indices],
                           self.skipped, self._lock)

    def skip(self, path, reason):
        """Record an unusable file once and warn about it."""
        with self._lock:
            if any(p == path for p, _ in self.skipped):
                return
            self.skipped.append((path, reason))
        warnings.warn(f"skipped an unreadable image: {reason}", stacklevel=2)

    def counts(self):
        """Images per class, in class order."""
        return np.bincount(self.labels, minlength=self.num_classes)


def image_files(folder):
    """The image files (by suffix) anywhere under `folder`, sorted; hidden files are left out."""
    return sorted(
        str(p) for p in Path(folder).rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def scan_image_folder(root, *, min_classes=2):
    """Index `root/<class>/**/<image>`: class names are the sub-folder names, sorted. Files with an
    image suffix whose content is not a decodable image format are skipped with a warning."""
    import cv2

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: the data folder does not exist; point --data at a folder with one sub-folder per "
            "class.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    folder = ImageFolder(root, [], [], np.zeros(0, dtype="int64"))
    paths, labels = [], []
    for class_dir in class_dirs:
        files = image_files(class_dir)
        readable = []
        for path in files:
            if os.path.getsize(path) == 0:
                folder.skip(path, f"{path}: the file is empty.")
            elif not cv2.haveImageReader(path):
                folder.skip(path, f"{path}: not an image format OpenCV decodes.")
            else:
                readable.append(path)
        if readable:
            folder.class_names.append(class_dir.name)
            paths += readable
            labels += [len(folder.class_names) - 1] * len(readable)
    folder.paths, folder.labels = paths, np.asarray(labels, dtype="int64")
    if len(folder.class_names) < min_classes:
        found = ", ".join(folder.class_names) or "none"
        raise DataError(
            f"{root}: a classifier needs images in at least {min_classes} class sub-folders "
            f"(root/<class name>/<image files>); found {len(folder.class_names)} with images ({found})."
        )
    return folder


def _find_split(root, names):
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def split_image_folder(root, validation_split=0.2, seed=0):
    """(train, validation) ImageFolders. A folder with `train/` and `validation/` (or `val/`,
    `test/`) sub-folders is used as split (`train/` alone is split like a folder of classes; a split
    folder beside class folders is an error); otherwise each class is split at random, stratified,
    holding out `validation_split` of its images (at least one when it has two or more)."""
    root = Path(root)
    train_dir, validation_dir = _find_split(root, TRAIN_SPLITS), _find_split(root, VALIDATION_SPLITS)
    if train_dir is not None and validation_dir is not None:
        train, validation = scan_image_folder(train_dir), scan_image_folder(validation_dir)
        if validation.class_names != train.class_names:
            raise DataError(
                f"{root}: the classes in {train_dir.name}/ ({', '.join(train.class_names)}) and "
                f"{validation_dir.name}/ ({', '.join(validation.class_names)}) differ; give both the same sub-folders."
            )
        validation.skipped = train.skipped = train.skipped + validation.skipped
        validation._lock = train._lock
        return train, validation
    present = train_dir or validation_dir
    if present is not None:
        others = sorted(d.name for d in root.iterdir() if d.is_dir() and d != present and not d.name.startswith("."))
        if train_dir is not None and not others:
            root = train_dir  # train/ alone: its classes are split at random below
        else:
            missing = "validation/" if validation_dir is None else "train/"
            besides = f" next to {', '.join(o + '/' for o in others[:5])}" if others else ""
            raise DataError(
                f"{root}: has a {present.name}/ folder{besides} but no {missing} one, so its sub-folders are not "
                f"classes; give both train/ and validation/ (one sub-folder per class in each), or one sub-folder per "
                "class directly in the folder."
            )
    folder = scan_image_folder(root)
    if not 0.0 <= validation_split < 1.0:
        raise DataError(f"validation_split must be in [0, 1); received {validation_split}.")
    rng = np.random.default_rng(seed)
    train_indices, validation_indices = [], []
    for label in range(folder.num_classes):
        indices = rng.permutation(np.flatnonzero(folder.labels == label))
        held_out = int(round(len(indices) * validation_split))
        if validation_split > 0 and len(indices) >= 2:
            held_out = min(max(held_out, 1), len(indices) - 1)
        validation_indices += list(indices[:held_out])
        train_indices += list(indices[held_out:])
    return folder.subset(sorted(train_indices)), folder.subset(sorted(validation_indices))


def read_image(path, size, crop="none"):
    """One image file as uint8 RGB `(height, width, 3)`; crop='center' takes the central square first."""
    image = load_image(path)
    if crop == "center":
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top:top + side, left:left + side]
    return resize(image, _pair(size))


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def read_images(paths, size, crop="none", limit=None, on_error=None):
    """Decode `paths` to a float32 `[N, H, W, 3]` array of 0-255 pixels, skipping unreadable files
    (each is passed to `on_error(path, reason)`; by default they are counted in one warning)."""
    images, unreadable = [], 0
    for path in paths:
        try:
            images.append(read_image(path, size, crop).astype("float32"))
        except ImageError as e:
            unreadable += 1
            if on_error is not None:
                on_error(path, str(e))
        if limit is not None and len(images) == limit:
            break
    if unreadable and on_error is None:
        warnings.warn(f"{unreadable} unreadable image(s) were skipped.", stacklevel=2)
    height, width = _pair(size)
    return np.stack(images) if images else np.zeros((0, height, width, 3), "float32")


def load_image_arrays(root, size, limit_per_class=None):
    """(images float32 0-255 `[N, H, W, 3]`, labels int64 `[N]`, class names) of a class-per-sub-folder tree,
    read into memory (for small data: calibration, quantization-aware training)."""
    folder = scan_image_folder(root)
    images, labels = [], []
    for label in range(folder.num_classes):
        paths = [p for p, y in zip(folder.paths, folder.labels) if y == label][:limit_per_class]
        array = read_images(paths, size, on_error=folder.skip)
        images.append(array)
        labels.append(np.full(len(array), label, dtype="int64"))
    images, labels = np.concatenate(images), np.concatenate(labels)
    if not len(images):
        raise DataError(f"{root}: none of the images could be read.")
    return images, labels, folder.class_names


# -- augmentation ------------------------------------------------------------------------------

def _augmentation_layers():
    from keras import layers

    return {
        "flip": lambda: layers.RandomFlip("horizontal"),
        "rotation": lambda: layers.RandomRotation(0.05, fill_mode="reflect"),
        "crop": lambda: layers.RandomZoom((-0.2, 0.0), fill_mode="reflect"),  # zoom in = a random 80-100 % crop
        "zoom": lambda: layers.RandomZoom(0.1, fill_mode="reflect"),
        "translation": lambda: layers.RandomTranslation(0.1, 0.1, fill_mode="reflect"),
        "contrast": lambda: layers.RandomContrast(0.2, value_range=(0, 255)),
        "brightness": lambda: layers.RandomBrightness(0.2, value_range=(0, 255)),
    }


AUGMENTATIONS = ("flip", "rotation", "crop", "zoom", "translation", "contrast", "brightness")
DEFAULT_AUGMENTATION = ("flip", "rotation", "crop", "contrast")


def augmentation(names=DEFAULT_AUGMENTATION, seed=None):
    """A Keras preprocessing pipeline from names ('flip', 'rotation', 'crop', 'zoom', 'translation',
    'contrast', 'brightness'; a comma-separated string, a list, 'default' or 'none'). None for none."""
    if names in (None, "none", "", ()):
        return None
    if names == "default":
        names = DEFAULT_AUGMENTATION
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise DataError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}, "
            "'default' or 'none'.")
    import keras

    factories = _augmentation_layers()
    steps = [factories[name]() for name in names]
    if seed is not None:
        for offset, step in enumerate(steps):
            step.seed = seed + offset
    return keras.Sequential(steps, name="augmentation")


# -- tf.data pipelines -------------------------------------------------------------------------

def decode_folder(folder, image_size, progress=True):
    """(uint8 images `[N, H, W, 3]`, int64 labels `[N]`) of an ImageFolder, decoded in parallel threads
    with a progress bar; files that fail to decode are skipped and recorded in `folder.skipped`."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    height, width = _pair(image_size)

    def decode(path):
        try:
            return read_image(path, (height, width))
        except ImageError as e:
            folder.skip(path, str(e))
            return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = list(tqdm(pool.map(decode, folder.paths), total=len(folder), unit="image", leave=False,
                            desc=f"Decoding {folder.root.name}", disable=not progress or None))
    keep = [i for i, image in enumerate(decoded) if image is not None]
    images = np.stack([decoded[i] for i in keep]) if keep else np.zeros((0, height, width, 3), np.uint8)
    return images, folder.labels[keep]


def image_dataset(folder, image_size, *, batch_size=32, training=False, augment=None, cache=True, seed=0,
                  one_hot=True, drop_remainder=False):
    """A batched `tf.data.Dataset` of (float32 RGB 0-255 `[B, H, W, 3]`, labels) from an ImageFolder.

    `cache=True` decodes every image once, up front and in parallel (`decode_folder`), and keeps them
    in memory as uint8 at the network's size, so the number of batches is known and unreadable files
    are counted before training starts (13,000 images at 224 px take 2 GB). `cache=False` (or a
    file path for TensorFlow's file cache) streams instead, decoding in parallel `tf.data` workers,
    for folders that do not fit in memory.
    Training pipelines reshuffle every epoch and apply `augment` (names or a Keras layer, see
    `augmentation`). Labels are one-hot float32 (for label smoothing) unless `one_hot=False`.
    """
    import tensorflow as tf

    height, width = _pair(image_size)
    if not len(folder):
        raise DataError(f"{folder.root}: no images in this split; add images or lower the validation split.")
    if cache is True:
        images, labels = decode_folder(folder, (height, width))
        if not len(images):
            raise DataError(f"{folder.root}: none of the {len(folder)} images could be decoded.")
        data = tf.data.Dataset.from_tensor_slices((images, labels))
        if training:
            data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    else:
        data = _streamed(folder, (height, width), training, cache, seed)
    return _batched(data, folder.num_classes, batch_size, training=training, augment=augment, seed=seed,
                    one_hot=one_hot, drop_remainder=drop_remainder)


def _streamed(folder, size, training, cache, seed):
    """(uint8 image, label) pairs decoded lazily by tf.data workers; failed files are dropped."""
    import tensorflow as tf

    def decode(path):
        path = path.decode() if isinstance(path, bytes) else str(path)
        try:
            return read_image(path, size), True
        except ImageError as e:
            folder.skip(path, str(e))
            return np.zeros((*size, 3), np.uint8), False

    def tf_decode(path, label):
        image, ok = tf.numpy_function(decode, [path], [tf.uint8, tf.bool], stateful=False)
        image.set_shape((*size, 3))
        ok.set_shape(())
        return image, label, ok

    data = tf.data.Dataset.from_tensor_slices((tf.constant([str(p) for p in folder.paths]),
                                               tf.constant(folder.labels, dtype=tf.int64)))
    if training and not cache:  # shuffle the file names; decoded images are never held
        data = data.shuffle(len(folder), seed=seed, reshuffle_each_iteration=True)
    data = data.map(tf_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    data = data.filter(_decoded).map(_without_flag)
    if cache:
        data = data.cache(os.fspath(cache))
        if training:  # after the cache, or every epoch would replay the first one's order
            data = data.shuffle(min(len(folder), STREAM_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    return data


def _batched(data, num_classes, batch_size, *, training, augment, seed, one_hot, drop_remainder=False):
    """Batch (uint8 image, int label) pairs into float32 pixels and (one-hot) labels, augment when training."""
    import tensorflow as tf

    def to_training_types(image, label):
        label = tf.one_hot(label, num_classes, dtype=tf.float32) if one_hot else label
        return tf.cast(image, tf.float32), label

    data = data.batch(batch_size, drop_remainder=drop_remainder).map(to_training_types,
        num_parallel_calls=tf.data.AUTOTUNE)
    layer = augment if hasattr(augment, "__call__") and not isinstance(augment, str) else augmentation(augment, seed)
    if training and layer is not None:
        data = data.map(lambda x, y: (layer(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def tfds_splits(name, image_size, *, validation_split=0.2, batch_size=32, augment=None, data_dir=None,
                download=False, seed=0, one_hot=True):
    """(training dataset, validation dataset, class names) from a tensorflow-datasets image
    classification dataset (an `image` and a `label` feature) prepared in `data_dir` (or
    downloaded when `download=True`). Validation is its 'validation' (else 'test') split, or the
    last `validation_split` of 'train' when it has neither (tf_flowers)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError("tensorflow-datasets is not installed; pip install 'kerasnets[datasets]'.") from None
    import tensorflow as tf

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if download:
            builder.download_and_prepare()
        splits = builder.info.splits
        if not splits:
            raise FileNotFoundError("no prepared splits")
    except Exception as e:  # tfds raises many types for "unknown name" and "not prepared"
        raise DataError(
            f"tensorflow-datasets {name!r} is not available here ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
            f"prepare it first with: tfds build {name} (needs the internet), or point data_dir at a prepared copy."
        ) from None
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise DataError(f"tensorflow-datasets {name!r} has no image and label features ({', '.join(features)}).")
    held_out = next((split for split in ("validation", "test") if split in splits), None)
    if held_out is None:
        percent = int(round(100 * (1 - validation_split)))
        train_split, held_out = f"train[:{percent}%]", f"train[{percent}%:]"
    else:
        train_split = "train"
    class_names = list(features["label"].names)
    height, width = _pair(image_size)

    def prepare(example):
        image = example["image"]
        image = tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image[..., :3]
        image = tf.cast(tf.clip_by_value(tf.round(tf.image.resize(image, (height, width), antialias=True)), 0, 255),
            tf.uint8)
        return image, example["label"]

    def pipeline(split, training):
        shuffle_files = training and not builder.info.disable_shuffling  # ordered datasets refuse it
        data = builder.as_dataset(split=split, shuffle_files=shuffle_files).map(prepare,
            num_parallel_calls=tf.data.AUTOTUNE)
        data = data.cache()
        if training:
            data = data.shuffle(STREAM_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        return _batched(data, len(class_names), batch_size, training=training, augment=augment, seed=seed,
            one_hot=one_hot)

    return pipeline(train_split, True), pipeline(held_out, False), class_names


def digits_image_folder(root, size=32):
    """Write scikit-learn's handwritten digits (1,797 8x8 images, 10 classes) as an image folder
    `root/<digit>/<n>.png` of `size`-pixel RGB images (white ink on black, as in the data), for
    offline demos. Returns `root`. Existing files are overwritten."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the digits demo needs scikit-learn: pip install scikit-learn.") from None
    from kerasnets.images import save_image

    digits = load_digits()
    root = Path(root)
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        pixels = np.round(image * (255.0 / 16.0)).astype(np.uint8)
        rgb = resize(np.repeat(pixels[..., None], 3, axis=-1), (size, size))
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        save_image(root / str(label) / f"{index:04d}.png", rgb)
    return root


def _decoded(image, label, ok):
    return ok


def _without_flag(image, label, ok):
    return image, label
