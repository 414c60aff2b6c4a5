"""Detection data: synthetic sets with exact boxes and masks, a COCO-format reader and writer,
tensorflow-datasets detection datasets by name, and `tf.data` pipelines of fixed-size batches.

A `DetectionSet` holds images of one size (uint8 RGB `[N, H, W, 3]`) and per image its boxes
(`[M, 4]` absolute `xyxy` pixels), class ids (`[M]`, `0 .. num_classes - 1`) and optionally instance
masks (`[M, H, W]` uint8). `tf_dataset` pads every image to `max_objects` (class -1 marks padding)
and yields `{"images": float32 0-255, "boxes", "classes"[, "masks"]}` batches, the input of the
detectors' `fit`.

* `synthetic_shapes`: circles, rectangles and triangles in random colours on noisy gradients.
* `synthetic_digits`: scikit-learn's handwritten digits (real pen strokes, 10 classes) pasted in
  random colours onto scikit-image's textures and photographs (brick, grass, gravel, coffee, ...).
  Both are seeded, objects never overlap, boxes are the masks' exact extents.
* `read_coco`: `instances.json` + image folder (COCO, or VOC converted to COCO), images resized to
  the model's input size; `write_coco` writes a DetectionSet in that format.
* `tfds_detection`: a prepared tensorflow-datasets detection dataset (`voc/2007`, `coco/2017`, ...).
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np

from kerasnets.detection.boxes import BoxError, validate_annotations
from kerasnets.errors import DataError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)

SHAPE_CLASSES = ("circle", "rectangle", "triangle")
DIGIT_CLASSES = tuple(str(d) for d in range(10))




@dataclass
class DetectionSet:
    """Images of one size with their boxes, class ids and (optionally) instance masks."""

    images: np.ndarray
    boxes: list
    classes: list
    class_names: tuple
    masks: list | None = None
    names: list = field(default_factory=list)
    #: crowd annotations of the file that were left out (COCO's iscrowd; `read_coco` counts them)
    crowd_annotations: int = 0

    def __post_init__(self):
        self.images = np.asarray(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise DataError(f"images must be uint8 [N, H, W, 3], got {self.images.dtype} {self.images.shape}.")
        if not (len(self.images) == len(self.boxes) == len(self.classes)):
            raise DataError(f"{len(self.images)} images but {len(self.boxes)} box lists and {len(self.classes)} class "
                "lists.")
        if not self.names:
            self.names = [f"image {i}" for i in range(len(self.images))]
        size = self.image_size
        for i in range(len(self.images)):
            masks = None if self.masks is None else self.masks[i]
            self.boxes[i], self.classes[i] = validate_annotations(
                self.boxes[i], self.classes[i], size, len(self.class_names), where=self.names[i], masks=masks)

    def __len__(self):
        return len(self.images)

    @property
    def image_size(self):
        return tuple(self.images.shape[1:3])

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def num_objects(self):
        """The number of boxes over all images."""
        return sum(len(b) for b in self.boxes)

    @property
    def max_objects(self):
        return max([len(b) for b in self.boxes] + [1])

    def subset(self, indices):
        idx = [int(i) for i in indices]
        return DetectionSet(self.images[idx], [self.boxes[i] for i in idx], [self.classes[i] for i in idx],
                            self.class_names, None if self.masks is None else [self.masks[i] for i in idx],
                            [self.names[i] for i in idx])

    def padded(self, max_objects=None, masks=True):
        """Arrays with every image padded to `max_objects` objects (class -1 for padding)."""
        m = self.max_objects if max_objects is None else int(max_objects)
        n, (h, w) = len(self), self.image_size
        boxes = np.zeros((n, m, 4), np.float32)
        classes = np.full((n, m), -1, np.int32)
        out = {"images": self.images, "boxes": boxes, "classes": classes}
        if masks and self.masks is not None:
            out["masks"] = np.zeros((n, m, h, w), np.uint8)
        for i in range(n):
            k = min(len(self.boxes[i]), m)
            boxes[i, :k], classes[i, :k] = self.boxes[i][:k], self.classes[i][:k]
            if "masks" in out:
                out["masks"][i, :k] = self.masks[i][:k]
        return out

    def tf_dataset(self, batch_size=8, *, training=False, max_objects=None, masks=True, seed=0, flip=True,
                   augment=None):
        """A `tf.data.Dataset` of padded batches; when `training`, shuffled, repeated-ready, with
        random horizontal flips (`flip`) and the last partial batch dropped. `augment` ("default" or a
        `kerasnets.detection.augment.DetectionAugmentation`) replaces the flips with the YOLO paper's
        augmentation: flips, scale jitter, translation, exposure and saturation, boxes and masks moved along."""
        import tensorflow as tf

        from kerasnets.detection.augment import augmentation

        augmenter = augmentation(augment)

        arrays = self.padded(max_objects, masks)
        data = tf.data.Dataset.from_tensor_slices(arrays)
        width = float(self.image_size[1])

        def to_float(example):
            example = dict(example)
            example["images"] = tf.cast(example["images"], tf.float32)
            return example

        def random_flip(example):
            example = dict(example)
            do = tf.random.uniform((), seed=None) < 0.5
            boxes = example["boxes"]
            flipped = tf.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=-1)
            flipped = tf.where(example["classes"][:, None] >= 0, flipped, boxes)
            example["images"] = tf.cond(do, lambda: tf.reverse(example["images"], [1]), lambda: example["images"])
            example["boxes"] = tf.cond(do, lambda: flipped, lambda: boxes)
            if "masks" in example:
                example["masks"] = tf.cond(do, lambda: tf.reverse(example["masks"], [2]), lambda: example["masks"])
            return example

        if training:
            data = data.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
            if augmenter is not None:
                data = data.map(augmenter, num_parallel_calls=tf.data.AUTOTUNE)
            elif flip:
                data = data.map(random_flip, num_parallel_calls=tf.data.AUTOTUNE)
        data = data.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        return data.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _place(rng, occupied, size, extent, margin=2):
    """A top-left corner for an `extent` (h, w) box that overlaps no occupied box (None if none found)."""
    h, w = extent
    if h > size[0] or w > size[1]:
        return None
    for _ in range(60):
        y, x = int(rng.integers(0, size[0] - h + 1)), int(rng.integers(0, size[1] - w + 1))
        if all(x + w + margin <= a or a2 + margin <= x or y + h + margin <= b or b2 + margin <= y
               for a, b, a2, b2 in occupied):
            return y, x
    return None


def _background(rng, size):
    h, w = size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (np.linspace(0, 1, w)[None, :] * rng.uniform(-1, 1) + np.linspace(0, 1, h)[:, None] * rng.uniform(-1, 1))
    t = (t - t.min()) / max(np.ptp(t), 1e-6)
    image = c0 + (c1 - c0) * t[..., None] + rng.normal(0, 12, (h, w, 3))
    return image


def _contrasting_colour(rng, background):
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if np.abs(colour - background).sum() > 150:
            return colour
    return 255.0 - background


def _finish(image, boxes, classes, masks, size):
    masks = np.asarray(masks, np.uint8).reshape(-1, *size)
    return np.clip(image, 0, 255).round().astype(np.uint8), np.asarray(boxes, np.float32).reshape(-1, 4), \
        np.asarray(classes, np.int32), masks


def _mask_box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _shape_mask(rng, kind, h, w):
    import cv2

    mask = np.zeros((h, w), np.uint8)
    if kind == 0:
        cv2.circle(mask, (w // 2, h // 2), min(h, w) // 2, 1, -1)
    elif kind == 1:
        mask[:, :] = 1
    else:
        top = int(rng.integers(0, w))
        cv2.fillPoly(mask, [np.array([[top, 0], [0, h - 1], [w - 1, h - 1]], np.int32)], 1)
    return mask


def synthetic_shapes(n, image_size=128, *, seed=0, max_objects=4, min_size=16, max_size=48):
    """`n` images of circles, rectangles and triangles (classes 0, 1, 2) in random colours on noisy
    gradients, 1 to `max_objects` non-overlapping objects each, exact boxes and masks; seeded."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    max_size = min(max_size, min(size) - 4)
    min_size = min(min_size, max_size)
    rng = np.random.default_rng(seed)
    images, all_boxes, all_classes, all_masks = [], [], [], []
    for _ in range(n):
        image = _background(rng, size)
        boxes, classes, masks, occupied = [], [], [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            kind = int(rng.integers(0, len(SHAPE_CLASSES)))
            side = int(rng.integers(min_size, max_size + 1))
            extent = (side, side) if kind == 0 else (side, int(np.clip(side * rng.uniform(0.6, 1.6), min_size,
                max_size)))
            corner = _place(rng, occupied, size, extent)
            if corner is None:
                continue
            y, x = corner
            local = _shape_mask(rng, kind, *extent)
            mask = np.zeros(size, np.uint8)
            mask[y:y + extent[0], x:x + extent[1]] = local
            box = _mask_box(mask)
            colour = _contrasting_colour(rng, image[box[1]:box[3], box[0]:box[2]].reshape(-1, 3).mean(0))
            image[mask > 0] = colour + rng.normal(0, 6, (int(mask.sum()), 3))
            occupied.append(box)
            boxes.append(box)
            classes.append(kind)
            masks.append(mask)
        image, boxes, classes, masks = _finish(image, boxes, classes, masks, size)
        images.append(image), all_boxes.append(boxes), all_classes.append(classes), all_masks.append(masks)
    return DetectionSet(np.stack(images), all_boxes, all_classes, SHAPE_CLASSES, all_masks,
                        [f"shapes seed {seed} #{i}" for i in range(n)])


def _textures():
    from skimage import data as skdata

    gray = [getattr(skdata, name)() for name in ("brick", "grass", "gravel")]
    colour = [getattr(skdata, name)() for name in ("coffee", "chelsea", "rocket", "astronaut", "immunohistochemistry")]
    return gray, colour


def synthetic_digits(n, image_size=128, *, seed=0, max_objects=4, min_size=24, max_size=48):
    """`n` images of scikit-learn's handwritten digits (classes 0-9, the real 8x8 scans upscaled)
    pasted in random colours onto crops of scikit-image's textures and photographs; 1 to
    `max_objects` non-overlapping digits each, exact boxes and masks; seeded."""
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray, colour = _textures()
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    max_size = min(max_size, min(size) - 4)
    min_size = min(min_size, max_size)
    rng = np.random.default_rng(seed)
    images, all_boxes, all_classes, all_masks = [], [], [], []
    for _ in range(n):
        if rng.uniform() < 0.5:
            source = gray[int(rng.integers(len(gray)))][..., None] * rng.uniform(0.4, 1.0, 3)
        else:
            source = colour[int(rng.integers(len(colour)))].astype(np.float64)
        zoom = rng.uniform(0.5, 1.0)
        ch, cw = int(min(source.shape[0], size[0] / zoom)), int(min(source.shape[1], size[1] / zoom))
        y0, x0 = int(rng.integers(0, source.shape[0] - ch + 1)), int(rng.integers(0, source.shape[1] - cw + 1))
        image = cv2.resize(np.ascontiguousarray(source[y0:y0 + ch, x0:x0 + cw]).astype(np.float32),
                           (size[1], size[0]), interpolation=cv2.INTER_AREA).astype(np.float64)
        boxes, classes, masks, occupied = [], [], [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            k = int(rng.integers(len(digits.images)))
            side = int(rng.integers(min_size, max_size + 1))
            extent = (side, int(side * rng.uniform(0.7, 1.0)))
            corner = _place(rng, occupied, size, extent)
            if corner is None:
                continue
            ink = cv2.resize(digits.images[k].astype(np.float32) / 16.0, (extent[1], extent[0]),
                             interpolation=cv2.INTER_CUBIC).clip(0, 1)
            local = (ink > 0.35).astype(np.uint8)
            if local.sum() == 0:
                continue
            y, x = corner
            mask = np.zeros(size, np.uint8)
            mask[y:y + extent[0], x:x + extent[1]] = local
            box = _mask_box(mask)
            region = image[y:y + extent[0], x:x + extent[1]]
            colour_ = _contrasting_colour(rng, region.reshape(-1, 3).mean(0))
            alpha = (local * np.clip(ink * 1.5, 0, 1))[..., None]
            image[y:y + extent[0], x:x + extent[1]] = region * (1 - alpha) + colour_ * alpha
            occupied.append(box)
            boxes.append(box)
            classes.append(int(digits.target[k]))
            masks.append(mask)
        image, boxes, classes, masks = _finish(image, boxes, classes, masks, size)
        images.append(image), all_boxes.append(boxes), all_classes.append(classes), all_masks.append(masks)
    return DetectionSet(np.stack(images), all_boxes, all_classes, DIGIT_CLASSES, all_masks,
                        [f"digits seed {seed} #{i}" for i in range(n)])


# --- COCO format --------------------------------------------------------------------------------

def _rle(mask):
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def coco_dict(dataset, detections=None):
    """The COCO `instances` dictionary of a DetectionSet (category ids are class id + 1), or with
    `detections` the COCO results list for them (a list per image of dicts with boxes, scores,
    classes and optional masks)."""
    if detections is not None:
        results = []
        for image_id, det in enumerate(detections, start=1):
            for k, (box, score, cls) in enumerate(zip(det["boxes"], det["scores"], det["classes"])):
                x1, y1, x2, y2 = (float(v) for v in box)
                item = {"image_id": image_id, "category_id": int(cls) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": float(score)}
                if det.get("masks") is not None:
                    item["segmentation"] = _rle(det["masks"][k] > 0)
                results.append(item)
        return results
    h, w = dataset.image_size
    images, annotations = [], []
    for i in range(len(dataset)):
        images.append({"id": i + 1, "width": w, "height": h, "file_name": f"{i:06d}.png"})
        for k, (box, cls) in enumerate(zip(dataset.boxes[i], dataset.classes[i])):
            x1, y1, x2, y2 = (float(v) for v in box)
            ann = {"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(cls) + 1, "iscrowd": 0,
                   "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)}
            if dataset.masks is not None:
                ann["segmentation"] = _rle(dataset.masks[i][k])
                ann["area"] = float(dataset.masks[i][k].sum())
            annotations.append(ann)
    categories = [{"id": c + 1, "name": name} for c, name in enumerate(dataset.class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(dataset, folder):
    """Write a DetectionSet as `folder/instances.json` + `folder/images/*.png`; returns the json path."""
    from kerasnets.images import save_image
    from kerasnets.utils import atomic_output

    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    coco = coco_dict(dataset)
    for image, info in zip(dataset.images, coco["images"]):
        save_image(os.path.join(folder, "images", info["file_name"]), image)
    path = os.path.join(folder, "instances.json")
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(coco))
    return path


def _polygons_to_mask(segmentation, height, width):
    import warnings

    from pycocotools import mask as mask_utils

    with warnings.catch_warnings():  # pycocotools' NumPy 2 copy= deprecation, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        return _decode(mask_utils, segmentation, height, width)


def _decode(mask_utils, segmentation, height, width):
    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    return mask_utils.decode(rle).astype(np.uint8)


def read_coco(annotations, images_dir=None, image_size=None, *, masks=False, limit=None):
    """Read a COCO-format `instances.json` and its images into a DetectionSet.

    `images_dir` defaults to `images/` beside the json (else the json's folder). Images are resized
    to `image_size` (int or (height, width); default: the first image's size) with their boxes and
    masks. Category ids map to contiguous class ids in sorted id order; crowd annotations are left
    out; `masks=True` decodes polygon or RLE segmentations (pycocotools). Raises DataError for an
    unreadable or malformed file and BoxError for a box outside its image or a bad category.
    """
    from kerasnets.images import ImageError, load_image, resize

    path = os.fspath(annotations)
    try:
        with open(path, encoding="utf-8") as f:
            coco = json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such COCO annotation file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable COCO json file ({type(e).__name__}: {e}).") from None
    if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list) for k in ("images", "annotations",
        "categories")):
        raise DataError(f"{path}: not a COCO instances file (needs 'images', 'annotations' and 'categories' lists).")
    try:
        categories = sorted(coco["categories"], key=lambda c: c["id"])
        class_of = {c["id"]: k for k, c in enumerate(categories)}
        class_names = tuple(str(c.get("name", c["id"])) for c in categories)
    except (KeyError, TypeError) as e:
        raise DataError(f"{path}: malformed COCO category list (every category needs an 'id'; missing or wrong "
                        f"field {e}).") from None
    seen = {}
    for index, info in enumerate(coco["images"]):
        if not isinstance(info, dict) or "id" not in info:
            raise DataError(f"{path}: image entry {index} has no 'id'; every image needs an 'id' and a 'file_name'.")
        if not isinstance(info.get("file_name"), str) or not info["file_name"]:
            raise DataError(f"{path}: image {info['id']} (entry {index}) has no 'file_name'; every image needs the "
                            "name of its file in the images folder.")
        if info["id"] in seen:
            raise DataError(f"{path}: image id {info['id']} is listed twice ({seen[info['id']]} and "
                            f"{info['file_name']}); image ids must be unique, or the boxes of one image go to the "
                            "other.")
        seen[info["id"]] = info["file_name"]
    infos = coco["images"][:limit] if limit else coco["images"]
    per_image = {info["id"]: [] for info in infos}
    crowd = 0
    for index, ann in enumerate(coco["annotations"]):
        what = f"annotation {ann.get('id', f'entry {index}') if isinstance(ann, dict) else f'entry {index}'}"
        if not isinstance(ann, dict):
            raise DataError(f"{path}: {what} is a {type(ann).__name__}, not an object with 'image_id', "
                            "'category_id' and 'bbox'.")
        for key in ("image_id", "category_id", "bbox"):
            if key not in ann:
                raise DataError(f"{path}: {what} has no {key!r}; every annotation needs 'image_id', 'category_id' "
                                "and 'bbox' [x, y, width, height].")
        if ann["image_id"] not in seen:
            raise DataError(f"{path}: {what} refers to image id {ann['image_id']}, which is not listed.")
        try:
            hashable = ann["category_id"] in class_of
        except TypeError:
            hashable = False
        if not hashable:
            raise BoxError(f"{path}: {what} has category id {ann['category_id']!r}, not among the categories "
                           f"{sorted(class_of)}.")
        bbox = ann["bbox"]
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise BoxError(f"{path}: {what} (image {ann['image_id']}) has bbox {bbox!r}; a COCO bbox is 4 numbers "
                           "[x, y, width, height] in pixels.")
        if ann.get("iscrowd", 0):
            crowd += 1
        elif ann["image_id"] in per_image:
            per_image[ann["image_id"]].append(ann)
    if images_dir is None:
        beside = os.path.join(os.path.dirname(path), "images")
        images_dir = beside if os.path.isdir(beside) else os.path.dirname(path)
    target = None if image_size is None else ((image_size, image_size) if isinstance(image_size,
        int) else tuple(image_size))
    images, boxes, classes, all_masks, names = [], [], [], [], []
    for info in infos:
        file = os.path.join(images_dir, info["file_name"])
        try:
            image = load_image(file)
        except ImageError as e:
            raise DataError(f"{path}: image {info['id']}: {e}") from None
        h, w = image.shape[:2]
        if target is None:
            target = (h, w)
        sy, sx = target[0] / h, target[1] / w
        anns = per_image[info["id"]]
        raw = np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        xyxy = np.concatenate([raw[:, :2], raw[:, :2] + raw[:, 2:]], 1)
        validate_annotations(xyxy, [class_of[a["category_id"]] for a in anns], (h, w), len(class_names),
                             where=f"{path}: image {info['id']} ({info['file_name']})", tolerance=1.0)
        xyxy = np.clip(xyxy, 0, [w, h, w, h]) * [sx, sy, sx, sy]
        keep = (xyxy[:, 2] - xyxy[:, 0] >= 1e-3) & (xyxy[:, 3] - xyxy[:, 1] >= 1e-3)
        images.append(resize(image, target) if (h, w) != target else image)
        boxes.append(xyxy[keep].astype(np.float32))
        classes.append(np.array([class_of[a["category_id"]] for a in anns], np.int32)[keep])
        names.append(f"{path}: image {info['id']} ({info['file_name']})")
        if masks:
            import cv2

            decoded = [_polygons_to_mask(a["segmentation"], h, w) if "segmentation" in a else None for a in anns]
            if any(m is None for m in decoded):
                raise DataError(f"{path}: image {info['id']} has annotations without 'segmentation' (masks=True).")
            decoded = [cv2.resize(m, (target[1], target[0]), interpolation=cv2.INTER_NEAREST) for m in decoded]
            all_masks.append(np.asarray(decoded, np.uint8).reshape(-1, *target)[keep])
    if not images:
        raise DataError(f"{path}: lists no images.")
    return DetectionSet(np.stack(images), boxes, classes, class_names, all_masks if masks else None, names,
                        crowd_annotations=crowd)


def tfds_detection(name, split, image_size, *, data_dir=None, limit=None):
    """A prepared tensorflow-datasets detection dataset (an `image` and `objects` with `bbox`
    (relative ymin, xmin, ymax, xmax) and `label`, as `voc/2007` and `coco/2017`) as a DetectionSet
    at `image_size`."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError("tensorflow-datasets is not installed; pip install 'kerasnets[datasets]'.") from None
    from kerasnets.images import resize

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if split not in builder.info.splits:
            raise FileNotFoundError(f"no prepared split {split!r}")
        data = builder.as_dataset(split=split)
    except Exception as e:  # noqa: BLE001  (tfds raises many types for "unknown name" and "not prepared")
        raise DataError(
            f"tensorflow-datasets {name!r} is not available here ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
            f"prepare it first with: tfds build {name} (needs the internet), or point data_dir at a prepared copy."
        ) from None
    features = builder.info.features
    if "image" not in features or "objects" not in features:
        raise DataError(f"tensorflow-datasets {name!r} is not a detection dataset (needs image and objects features).")
    class_names = tuple(features["objects"]["label"].names)
    target = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    images, boxes, classes = [], [], []
    for example in tfds.as_numpy(data.take(limit) if limit else data):
        image = example["image"]
        image = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image[..., :3]
        rel = np.asarray(example["objects"]["bbox"], np.float64).reshape(-1, 4)
        xyxy = rel[:, [1, 0, 3, 2]] * [target[1], target[0], target[1], target[0]]
        images.append(resize(image, target))
        boxes.append(xyxy.astype(np.float32))
        classes.append(np.asarray(example["objects"]["label"], np.int32))
    return DetectionSet(np.stack(images), boxes, classes, class_names)
