"""Annotated output images: boxes, class names and scores, and instance masks, drawn with OpenCV."""

import numpy as np

#: A qualitative palette (RGB), one colour per class id modulo its length.
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
                    (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128), (170, 110, 40), (128, 0, 0)],
                   np.uint8)


def draw_detections(image, detections, class_names=None, score_threshold=0.5, mask_alpha=0.45):
    """A copy of the uint8 RGB `image` with the detections (a dict with `boxes`, `scores`, `classes`
    and optionally `masks` `[D, H, W]`) at or above `score_threshold` drawn on it."""
    import cv2

    canvas = np.array(image, dtype=np.uint8, copy=True)
    keep = np.asarray(detections["scores"]) >= score_threshold
    scale = max(canvas.shape[:2]) / 400.0
    thickness = max(1, round(scale))
    if detections.get("masks") is not None:
        for mask, cls in zip(np.asarray(detections["masks"])[keep], np.asarray(detections["classes"])[keep]):
            colour = PALETTE[int(cls) % len(PALETTE)].astype(np.float32)
            m = mask.astype(bool)
            canvas[m] = (canvas[m] * (1 - mask_alpha) + colour * mask_alpha).astype(np.uint8)
    for box, score, cls in zip(np.asarray(detections["boxes"])[keep], np.asarray(detections["scores"])[keep],
                               np.asarray(detections["classes"])[keep]):
        colour = tuple(int(c) for c in PALETTE[int(cls) % len(PALETTE)])
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), colour, thickness)
        name = class_names[int(cls)] if class_names is not None and 0 <= int(cls) < len(class_names) else str(int(cls))
        label = f"{name} {score:.2f}"
        font_scale = 0.35 * max(scale, 1.0)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(y1 + th + 2, canvas.shape[0] - base)
        cv2.rectangle(canvas, (x1, ty - th - 1), (x1 + tw + 2, ty + base - 1), colour, -1)
        cv2.putText(canvas, label, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1,
            cv2.LINE_AA)
    return canvas
