"""What kind of mistakes a detector makes: Hoiem, Chodpathumwan and Dai, "Diagnosing Error in Object Detectors"
(ECCV 2012), in the form of Redmon et al. 2016 (YOLO), Figure 4, which compares YOLO with Fast R-CNN.

For each class, its top detections (as many as the class has ground-truth objects in the set, unless `top`
says otherwise) are sorted into

* correct: the right class and IoU > 0.5 with an object of that class not already found;
* localisation: the right class with 0.1 < IoU <= 0.5, or a duplicate (IoU > 0.5 with an object already found);
* similar: IoU > 0.1 with an object of a similar class (`similar` names them; none by default);
* other: IoU > 0.1 with an object of another class;
* background: IoU <= 0.1 with every object.

The paper's finding: YOLO's errors are mostly localisation, Fast R-CNN's mostly background.
NumPy only (boxes' `box_iou_numpy`); the chart needs matplotlib.
"""

from dataclasses import dataclass, field

import numpy as np

from kerasnets.detection.boxes import box_iou_numpy

CATEGORIES = ("correct", "localization", "similar", "other", "background")


@dataclass
class ErrorBreakdown:
    """Counts per category (`counts`), per class (`per_class[c][category]`), and the class names."""

    counts: dict
    per_class: dict
    class_names: list
    label: str = ""
    examined: int = field(default=0)

    @property
    def fractions(self):
        """Each category's share of the examined detections (0 when none were examined)."""
        total = max(self.examined, 1)
        return {k: self.counts[k] / total for k in CATEGORIES}

    def table(self):
        """The breakdown as text: one row per category, count and percentage."""
        lines = [f"{self.label or 'detector'}: {self.examined} top detections examined"]
        for k in CATEGORIES:
            lines.append(f"  {k:<13s} {self.counts[k]:5d}  {100 * self.fractions[k]:5.1f} %")
        return "\n".join(lines)


def error_analysis(detections, dataset, similar=None, top=None, label=""):
    """Hoiem et al.'s breakdown of `detections` (one dict per image of `dataset`, with `boxes` xyxy pixels,
    `scores`, `classes`, as `Detector.detect` returns) against the ground truth of `dataset` (a
    `DetectionSet`). `similar`: class id -> ids of the classes that count as similar to it; `top`: how many
    detections to examine per class (default: that class's number of objects)."""
    if len(detections) != len(dataset):
        raise ValueError(f"{len(detections)} detection results for {len(dataset)} images.")
    similar = {int(k): {int(c) for c in v} for k, v in (similar or {}).items()}
    gt_boxes = [np.asarray(b, np.float64).reshape(-1, 4) for b in dataset.boxes]
    gt_classes = [np.asarray(c, np.int64).reshape(-1) for c in dataset.classes]
    num_classes = dataset.num_classes
    per_class = {c: dict.fromkeys(CATEGORIES, 0) for c in range(num_classes)}
    for c in range(num_classes):
        objects = sum(int((g == c).sum()) for g in gt_classes)
        found = [np.zeros(len(g), bool) for g in gt_classes]
        candidates = [(float(s), i, np.asarray(b, np.float64))
                      for i, d in enumerate(detections)
                      for b, s, k in zip(d["boxes"], d["scores"], d["classes"]) if int(k) == c]
        candidates.sort(key=lambda t: -t[0])
        for _, i, box in candidates[:objects if top is None else int(top)]:
            iou = box_iou_numpy(box[None], gt_boxes[i])[0]
            same = gt_classes[i] == c
            best_same = np.where(same, iou, -1.0)
            j = int(np.argmax(best_same)) if same.any() else -1
            if j >= 0 and best_same[j] > 0.5 and not found[i][j]:
                found[i][j] = True
                kind = "correct"
            elif j >= 0 and best_same[j] > 0.1:
                kind = "localization"
            elif any(iou[m] > 0.1 and int(gt_classes[i][m]) in similar.get(c, ()) for m in range(len(iou))):
                kind = "similar"
            elif (iou > 0.1).any():
                kind = "other"
            else:
                kind = "background"
            per_class[c][kind] += 1
    counts = {k: sum(per_class[c][k] for c in per_class) for k in CATEGORIES}
    names = list(getattr(dataset, "class_names", None) or [str(c) for c in range(num_classes)])
    return ErrorBreakdown(counts, per_class, names, label, sum(counts.values()))


def plot_breakdowns(breakdowns, path=None):
    """The paper's pie charts, one per breakdown side by side; saves to `path` when given; returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"correct": "#4caf50", "localization": "#2196f3", "similar": "#9c27b0", "other": "#ff9800",
               "background": "#f44336"}
    fig, axes = plt.subplots(1, len(breakdowns), figsize=(4.2 * len(breakdowns), 4.2), squeeze=False)
    for ax, b in zip(axes[0], breakdowns):
        shown = [k for k in CATEGORIES if b.counts[k]]
        if shown:
            ax.pie([b.counts[k] for k in shown], labels=[f"{k}\n{100 * b.fractions[k]:.1f} %" for k in shown],
                   colors=[colours[k] for k in shown], startangle=90, counterclock=False)
        ax.set_title(f"{b.label or 'detector'} ({b.examined} detections)")
        ax.axis("equal")
    fig.tight_layout()
    if path is not None:
        from kerasnets.utils import atomic_output

        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png", dpi=110)
    return fig
