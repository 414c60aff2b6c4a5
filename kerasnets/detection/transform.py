"""`DetectionTransform`: what happens to images before a detector's network sees them and to its boxes after
(torchvision's `GeneralizedRCNNTransform`).

kerasnets detectors have a fixed input size (their anchors are constants and the compiled graph has one
shape, which is also what a `.tflite` file needs): every image is resized to `image_size` (bilinear,
aspect ratio not kept, as TFLite's object detectors do), the images of a call are batched, and the
detections are mapped back to each image's own pixels (boxes scaled, masks pasted into the image).
Normalisation is not done here: it is the backbone's first layer (`ImagePreprocessing`, the backbone's
own ImageNet preprocessing), so that saved and exported models take raw RGB pixels 0-255.
"""

import numpy as np


class DetectionTransform:
    """Resize to the model's `image_size` (height, width), batch, and map detections back."""

    def __init__(self, image_size, mask_threshold=0.5):
        self.image_size = tuple(int(s) for s in image_size)
        self.mask_threshold = float(mask_threshold)

    def batch(self, images):
        """A list (or array) of RGB images of any sizes -> (float32 `[B, H, W, 3]` at the model size, their
        original (height, width) sizes)."""
        from kerasnets.images import check_rgb_images, resize

        arrays = check_rgb_images(images)
        sizes = [a.shape[:2] for a in arrays]
        batch = np.stack([resize(a, self.image_size) if a.shape[:2] != self.image_size else a for a in arrays])
        return batch.astype("float32"), sizes

    def scale_boxes(self, boxes, image_size, inverse=False):
        """Boxes `[..., 4]` xyxy from the model's pixels to those of an image of `image_size` (or back)."""
        sy, sx = image_size[0] / self.image_size[0], image_size[1] / self.image_size[1]
        scale = np.array([sx, sy, sx, sy], np.float32)
        return np.asarray(boxes, np.float32) / scale if inverse else np.asarray(boxes, np.float32) * scale

    def postprocess(self, detections, image_size):
        """One image's padded model outputs -> boxes `[D, 4]`, scores, classes at `image_size` (height,
        width), with 28x28 masks resized into their boxes and thresholded (`masks` `[D, h, w]` bool)."""
        n = int(detections["num_detections"])
        boxes = self.scale_boxes(detections["boxes"][:n], image_size)
        out = {"boxes": boxes, "scores": detections["scores"][:n],
               "classes": detections["classes"][:n].astype(np.int32)}
        if "masks" in detections:
            out["masks"] = paste_masks(detections["masks"][:n], boxes, image_size, self.mask_threshold)
        return out


def paste_masks(probabilities, boxes, image_size, threshold=0.5):
    """Box-relative mask probabilities `[D, m, m]` -> `[D, h, w]` bool masks of the image, each sampled at
    the pixel centres of its box as RoIAlign(aligned=True) laid it out (torchvision's `paste_masks_in_image`)."""
    import cv2

    h, w = image_size
    masks = np.zeros((len(boxes), h, w), bool)
    for k, (box, prob) in enumerate(zip(boxes, probabilities)):
        x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
        x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 <= x1 or y2 <= y1:
            continue
        ys = (np.arange(y1, y2) + 0.5 - box[1]) / max(box[3] - box[1], 1e-6) * prob.shape[0] - 0.5
        xs = (np.arange(x1, x2) + 0.5 - box[0]) / max(box[2] - box[0], 1e-6) * prob.shape[1] - 0.5
        mx, my = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
        patch = cv2.remap(prob.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        masks[k, y1:y2, x1:x2] = patch >= threshold
    return masks
