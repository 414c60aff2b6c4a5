"""R-CNN (Girshick et al. 2014): selective search proposals, each region warped to a fixed size
and passed through the backbone, per-class linear SVMs on the features and per-class linear box
regression - the first step of the lecture's progression R-CNN -> Fast R-CNN -> Faster R-CNN.

Selective search (Uijlings et al. 2013) comes from OpenCV's contrib modules
(`cv2.ximgproc.segmentation`, package opencv-contrib-python-headless). Features are the backbone's
feature map at one stride, averaged over space (a kerasnets backbone stands in for the paper's
AlexNet fc7); the classifiers are scikit-learn's `LinearSVC` (one-vs-rest, hinge loss, positives
the ground-truth boxes, negatives the proposals under 0.3 IoU, as in the paper's section 2.3) and
`Ridge` on the features for box regression (proposals of IoU >= 0.6, appendix C).
"""

import os

import numpy as np

from kerasnets.detection.boxes import HEAD_WEIGHTS, box_iou_numpy


def _seed_c_rand(seed):
    """Seed the C library's `rand()`, which OpenCV's selective search draws its region ranks from
    (`rank = rand() / RAND_MAX * level`): unseeded, the order of the proposals - and so which ones a
    bound like `max_proposals` keeps - depends on whatever else in the process called `rand()`.
    Returns False where the C library cannot be reached (the order then varies between runs)."""
    import ctypes
    import ctypes.util

    for name in ([None] if os.name != "nt" else []) + ["ucrtbase", "msvcrt", ctypes.util.find_library("c")]:
        try:
            ctypes.CDLL(name).srand(ctypes.c_uint(seed))
            return True
        except (OSError, AttributeError, TypeError):
            continue
    return False


def selective_search(image, mode="fast", max_proposals=2000, min_size=4, seed=0):
    """Selective search proposals of a uint8 RGB image: float32 `[P, 4]` xyxy boxes, at most
    `max_proposals`, in OpenCV's order (by hierarchy level times a random number), smaller than
    `min_size` pixels left out, duplicates removed. `seed` seeds that random ranking, so the same
    image gives the same proposals in the same order whatever ran before (`None`: leave it as is)."""
    import cv2

    if not hasattr(cv2, "ximgproc"):
        raise ImportError("selective search needs OpenCV's contrib modules: pip uninstall opencv-python-headless; "
                          "pip install opencv-contrib-python-headless (the same version; it provides cv2 too).")
    cv2.setNumThreads(1)
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(np.ascontiguousarray(np.asarray(image, np.uint8)[..., ::-1]))
    if mode == "fast":
        search.switchToSelectiveSearchFast()
    elif mode == "quality":
        search.switchToSelectiveSearchQuality()
    else:
        raise ValueError(f"mode must be 'fast' or 'quality', got {mode!r}.")
    if seed is not None:
        _seed_c_rand(seed)
    rects = search.process()
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32)
    rects = np.asarray(rects, np.float32)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    boxes = boxes[(rects[:, 2] >= min_size) & (rects[:, 3] >= min_size)]
    _, first = np.unique(boxes, axis=0, return_index=True)
    return boxes[np.sort(first)][:max_proposals]


def warp_regions(image, boxes, size, context=16):
    """Regions `[P, 4]` (xyxy) of a uint8 RGB `image` warped anisotropically to `size` (h, w), float32
    `[P, h, w, 3]` pixels 0-255, each with `context` pixels of surrounding image at that size (the
    paper's p = 16 on 227: the box is dilated so that, once warped, `context` pixels lie around it);
    outside the image the photo's mean colour fills in (the paper's mean-subtracted zero)."""
    import cv2

    out_h, out_w = size
    image = np.asarray(image)
    fill = tuple(float(v) for v in image.reshape(-1, 3).mean(0))
    regions = np.empty((len(boxes), out_h, out_w, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        px, py = context * bw / (out_w - 2 * context), context * bh / (out_h - 2 * context)
        src = np.float32([[x1 - px, y1 - py], [x2 + px, y1 - py], [x1 - px, y2 + py]])
        dst = np.float32([[0, 0], [out_w, 0], [0, out_h]])
        regions[k] = cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (out_w, out_h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    return regions


def pad_proposals(proposals, count):
    """Stack per-image proposal arrays into `[N, count, 4]`, padding with zero (invalid) boxes."""
    out = np.zeros((len(proposals), count, 4), np.float32)
    for i, p in enumerate(proposals):
        out[i, :min(len(p), count)] = p[:count]
    return out


def _encode(reference, boxes):
    wx, wy, ww, wh = HEAD_WEIGHTS
    rw, rh = reference[:, 2] - reference[:, 0], reference[:, 3] - reference[:, 1]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.stack([wx * ((boxes[:, 0] + bw / 2) - (reference[:, 0] + rw / 2)) / rw,
                     wy * ((boxes[:, 1] + bh / 2) - (reference[:, 1] + rh / 2)) / rh,
                     ww * np.log(bw / rw), wh * np.log(bh / rh)], axis=1)


def _decode(reference, deltas):
    wx, wy, ww, wh = HEAD_WEIGHTS
    rw, rh = reference[:, 2] - reference[:, 0], reference[:, 3] - reference[:, 1]
    cx = deltas[:, 0] / wx * rw + reference[:, 0] + rw / 2
    cy = deltas[:, 1] / wy * rh + reference[:, 1] + rh / 2
    w = np.exp(np.minimum(deltas[:, 2] / ww, np.log(1000 / 16))) * rw
    h = np.exp(np.minimum(deltas[:, 3] / wh, np.log(1000 / 16))) * rh
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


class RCNN:
    """The R-CNN pipeline on a backbone feature model (`features`: raw pixels `[B, S, S, 3]` ->
    one feature map, e.g. `FasterRCNN(...).features` or `backbone_features(...)[0]`).

    `fit(dataset, proposals)` extracts features of the warped regions of the training images and
    trains the SVMs and box regressors; `detect(images, proposals)` scores every region, regresses
    its box and applies per-class NMS (0.3, the paper's).
    """

    def __init__(self, features, num_classes, *, context=16, svm_c=0.001, negatives_per_image=64,
                 nms_threshold=0.3, max_detections=100, batch_size=64, seed=0):
        self.features = features
        self.num_classes = int(num_classes)
        self.warp_size = tuple(features.inputs[0].shape[1:3])
        self.context = context
        self.svm_c = svm_c
        self.negatives_per_image = negatives_per_image
        self.nms_threshold = nms_threshold
        self.max_detections = max_detections
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)

    def warp(self, image, boxes):
        """Regions of `image` warped (anisotropically) to the feature model's input size, with
        `context` pixels of surrounding image at that size (the paper's p = 16 on 227)."""
        return warp_regions(image, boxes, self.warp_size, self.context)

    def embed(self, image, boxes):
        """Spatially averaged backbone features of the warped regions: `[P, C]`."""
        from keras import ops

        feats = []
        for start in range(0, len(boxes), self.batch_size):
            maps = self.features.predict_on_batch(self.warp(image, boxes[start:start + self.batch_size]))
            maps = maps[0] if isinstance(maps, (list, tuple)) else maps
            feats.append(np.asarray(ops.convert_to_numpy(maps)).mean(axis=(1, 2)))
        return np.concatenate(feats) if feats else np.zeros((0, self.features.outputs[0].shape[-1]), np.float32)

    def fit(self, dataset, proposals):
        from sklearn.linear_model import Ridge
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        xs, ys, reg_x, reg_t, reg_c = [], [], [], [], []
        for image, gt, classes, props in zip(dataset.images, dataset.boxes, dataset.classes, proposals):
            props = props[(props[:, 2] > props[:, 0]) & (props[:, 3] > props[:, 1])]
            iou = box_iou_numpy(props, gt) if len(gt) else np.zeros((len(props), 0))
            best = iou.max(1) if len(gt) else np.zeros(len(props))
            negatives = np.flatnonzero(best < 0.3)
            negatives = self.rng.choice(negatives, min(len(negatives), self.negatives_per_image), replace=False)
            near = np.flatnonzero(best >= 0.6)
            boxes = np.concatenate([gt, props[negatives], props[near]])
            f = self.embed(image, boxes)
            xs.append(f[:len(gt) + len(negatives)])
            ys.append(np.concatenate([classes + 1, np.zeros(len(negatives), np.int32)]))
            if len(near):
                match = iou[near].argmax(1)
                reg_x.append(f[len(gt) + len(negatives):])
                reg_t.append(_encode(props[near], gt[match]))
                reg_c.append(classes[match])
            # ground-truth boxes regress to themselves
            reg_x.append(f[:len(gt)])
            reg_t.append(np.zeros((len(gt), 4)))
            reg_c.append(classes)
        x, y = np.concatenate(xs), np.concatenate(ys)
        self.scaler = StandardScaler().fit(x)
        self.svm = LinearSVC(C=self.svm_c, max_iter=5000).fit(self.scaler.transform(x), y)
        rx, rt, rc = np.concatenate(reg_x), np.concatenate(reg_t), np.concatenate(reg_c)
        self.regressors = {}
        for c in range(self.num_classes):
            chosen = rc == c
            if chosen.sum() >= 2:
                self.regressors[c] = Ridge(alpha=1000.0).fit(self.scaler.transform(rx[chosen]), rt[chosen])
        return self

    def detect(self, images, proposals, score_threshold=-1.0):
        from keras import ops

        from kerasnets.detection.ops import non_max_suppression

        results = []
        for image, props in zip(images, proposals):
            props = props[(props[:, 2] > props[:, 0]) & (props[:, 3] > props[:, 1])]
            f = self.scaler.transform(self.embed(image, props))
            margins = self.svm.decision_function(f).reshape(len(props), -1)
            classes_seen = list(self.svm.classes_)
            boxes, scores, labels = [], [], []
            h, w = image.shape[:2]
            for c in range(self.num_classes):
                if c + 1 not in classes_seen:
                    continue
                s = margins[:, classes_seen.index(c + 1)]
                b = _decode(props, self.regressors[c].predict(f)) if c in self.regressors else props
                boxes.append(np.clip(b, 0, [w, h, w, h]))
                scores.append(s)
                labels.append(np.full(len(s), c))
            boxes, scores, labels = (np.concatenate(v) if v else np.zeros((0,) + s_) for v, s_ in
                                     ((boxes, (4,)), (scores, ()), (labels, ())))
            if len(scores):
                idx, count = non_max_suppression(boxes.astype("float32"), scores.astype("float32"), self.nms_threshold,
                                                 score_threshold=score_threshold, max_output=self.max_detections,
                                                 classes=labels.astype("int32"))
                idx = ops.convert_to_numpy(idx)[:int(ops.convert_to_numpy(count))]
            else:
                idx = np.zeros(0, int)
            # SVM margins rank the detections; a logistic squashing keeps COCO's scores in (0, 1)
            results.append({"boxes": boxes[idx].astype(np.float32), "scores": 1 / (1 + np.exp(-scores[idx])),
                            "classes": labels[idx].astype(np.int32)})
        return results


def _iou_pairs(a, b):
    lt, rb = np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    return inter, (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]), (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def dedupe_boxes(boxes, iou_threshold=0.9):
    """`boxes` in their order with every box that overlaps an earlier kept one at IoU above
    `iou_threshold` left out (near-duplicate proposals cost a classification each and add nothing)."""
    keep = []
    for i, box in enumerate(boxes):
        if keep:
            inter, area_a, area_b = _iou_pairs(boxes[keep], box[None])
            if np.any(inter / np.maximum(area_a + area_b - inter, 1e-9) > iou_threshold):
                continue
        keep.append(i)
    return boxes[keep]


class ImageNetRCNN:
    """R-CNN with no training at all: selective-search proposals, each warped (with 16 px of
    context) to a pretrained ImageNet classifier's input size and classified, every region scored
    by its best class's probability, per-class NMS - the 2014 pipeline with the fine-tuned CNN and
    its SVMs replaced by the classifier's own softmax, so it labels photos with the 1000 ImageNet
    classes offline (EfficientNet-Lite0's weights come with the install):

        rcnn = ImageNetRCNN.from_classifier("efficientnet_lite0")
        result = rcnn.detect([photo])[0]      # boxes (xyxy pixels), scores, classes, names

    One step is not the paper's: its SVMs were trained with object parts as negatives, so they
    prefer whole objects, whereas a classifier's softmax is as sure of a cat's face as of the cat,
    and gives the cat's ear a label of its own (red fox). So a detection that lies mostly inside a
    larger one (`part_overlap` of its area) that scores at least `part_ratio` of its score is taken
    as a part of that object and dropped; `part_classes="same"` only drops parts of the same class
    (keeps a cup inside a confidently labelled table), `part_overlap=None` keeps every detection.

    Proposals are bounded for speed: fast-mode selective search, boxes with both sides at least
    `min_size` (a fraction of the shorter image side, or pixels when > 1), near duplicates (IoU >
    0.9) merged, at most `max_proposals` - each costs one classifier run (about 0.1 s on a CPU core
    for Lite0).
    """

    def __init__(self, classifier, *, preprocess=None, class_names=None, context=16, max_proposals=300,
                 min_size=0.1, search_mode="fast", score_threshold=0.5, nms_threshold=0.3, part_overlap=0.7,
                 part_ratio=0.8, part_classes="any", max_detections=100, batch_size=32):
        output = classifier.outputs[0].shape
        self.classifier = classifier
        self.warp_size = tuple(int(v) for v in classifier.inputs[0].shape[1:3])
        if None in self.warp_size or classifier.inputs[0].shape[-1] != 3:
            raise ValueError(f"ImageNetRCNN needs a classifier of fixed-size RGB images, got input shape "
                             f"{tuple(classifier.inputs[0].shape)}.")
        if class_names is None:
            from kerasnets.imagenet import NUM_CLASSES
            from kerasnets.imagenet import class_names as imagenet_names

            if output[-1] != NUM_CLASSES:
                raise ValueError(f"ImageNetRCNN labels regions with the {NUM_CLASSES} ImageNet classes, but the "
                                 f"classifier has {output[-1]} outputs; pass class_names for other classifiers.")
            class_names = imagenet_names()
        if len(class_names) != output[-1]:
            raise ValueError(f"{len(class_names)} class names for a classifier with {output[-1]} outputs.")
        self.class_names = list(class_names)
        self.preprocess = preprocess or (lambda x: x)
        self.context = context
        self.max_proposals = int(max_proposals)
        self.min_size = min_size
        self.search_mode = search_mode
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.part_overlap = part_overlap
        self.part_ratio = part_ratio
        if part_classes not in ("same", "any"):
            raise ValueError(f"part_classes must be 'same' or 'any', got {part_classes!r}.")
        self.part_classes = part_classes
        self.max_detections = max_detections
        self.batch_size = batch_size

    @classmethod
    def from_classifier(cls, name, weights="imagenet", **kwargs):
        """The pipeline on the registered kerasnets network `name` (its input size and preprocessing
        from its spec) with `weights` ('imagenet' or a weights file)."""
        from kerasnets.core.registry import model_info

        info = model_info(name)
        if info.channels != 3:
            raise ValueError(f"{info.name} reads {info.channels}-channel {info.input_size} px images and has its own "
                             "classes, not the 1000 ImageNet classes of photos; R-CNN needs an ImageNet classifier, "
                             "e.g. efficientnet_lite0.")
        if weights is None:
            raise ValueError("R-CNN with no training needs a trained classifier: weights='imagenet' or a file.")
        classifier = info.build(weights=weights)
        return cls(classifier, preprocess=info.preprocess, **kwargs)

    def proposals(self, image):
        """The bounded selective-search proposals of one uint8 RGB image, float32 `[P, 4]`."""
        h, w = image.shape[:2]
        min_size = self.min_size * min(h, w) if self.min_size <= 1 else self.min_size
        boxes = selective_search(image, self.search_mode, max_proposals=None,
                                 min_size=max(1, int(np.ceil(min_size))))
        return dedupe_boxes(boxes)[:self.max_proposals]

    def classify(self, image, boxes, progress=False):
        """The classifier's probabilities `[P, classes]` of the warped regions, in batches."""
        from keras import ops
        from tqdm import tqdm

        out = []
        with tqdm(total=len(boxes), desc="classifying regions", unit="region", disable=not progress or None,
                  leave=False) as bar:
            for start in range(0, len(boxes), self.batch_size):
                crops = warp_regions(image, boxes[start:start + self.batch_size], self.warp_size, self.context)
                out.append(np.asarray(ops.convert_to_numpy(self.classifier(self.preprocess(crops), training=False))))
                bar.update(len(crops))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(self.class_names)), np.float32)

    def detect(self, images, proposals=None, progress=False):
        """Per uint8 RGB image a dict: `boxes` float32 `[D, 4]` (xyxy pixels), `scores` (the best class's
        probability), `classes` (int32 class indices), `names`, best first. `proposals` (per image
        `[P, 4]`) replaces selective search."""
        from kerasnets.images import check_rgb_images

        check_rgb_images(images, what="ImageNetRCNN.detect")
        results = []
        for i, image in enumerate(images):
            image = np.asarray(image)
            image = image if image.dtype == np.uint8 else np.clip(np.round(image), 0, 255).astype(np.uint8)
            boxes = self.proposals(image) if proposals is None else np.asarray(proposals[i], np.float32).reshape(-1, 4)
            boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
            probabilities = self.classify(image, boxes, progress)
            results.append(self.postprocess(boxes, probabilities))
        return results

    def postprocess(self, boxes, probabilities):
        """Detections from the regions' class probabilities: best class per region, the threshold,
        per-class NMS (strictly above `nms_threshold` suppresses), parts of larger same-class
        detections dropped, at most `max_detections`."""
        from keras import ops

        from kerasnets.detection.ops import non_max_suppression

        classes = probabilities.argmax(1).astype(np.int32) if len(boxes) else np.zeros(0, np.int32)
        scores = probabilities.max(1) if len(boxes) else np.zeros(0, np.float32)
        keep = np.flatnonzero(scores >= self.score_threshold)
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        if len(boxes):
            idx, count = non_max_suppression(boxes.astype("float32"), scores.astype("float32"), self.nms_threshold,
                                             max_output=len(boxes), classes=classes)
            idx = ops.convert_to_numpy(idx)[:int(ops.convert_to_numpy(count))]
            boxes, scores, classes = boxes[idx], scores[idx], classes[idx]
        if self.part_overlap is not None and len(boxes) > 1:
            inter, _, area = _iou_pairs(boxes[:, None], boxes[None])  # inter[a, b], area[a, b] = area of b
            same = (classes[:, None] == classes[None]) | (self.part_classes == "any")
            part = ((inter / np.maximum(area, 1e-9) >= self.part_overlap) & (area < area.T) & same
                    & (scores[:, None] >= self.part_ratio * scores[None]))
            keep = ~part.any(axis=0)
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        n = self.max_detections
        boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
        return {"boxes": boxes.astype(np.float32), "scores": scores.astype(np.float32), "classes": classes,
                "names": [self.class_names[c] for c in classes]}
