"""Keras float32 against its LiteRT files (float32, float16, dynamic, int8) on a trained network.

    python benchmarks/quantization_agreement.py                        # EfficientNet-Lite0, into docs/
    python benchmarks/quantization_agreement.py --model efficientnet_lite2 --output-dir /tmp/lite2

The inputs are every real photograph that ships offline: scikit-image's sample photos (textures,
microscopy and astronomy included), scikit-learn's two sample images and the `images/` folder,
each seen four ways (the evaluation centre crop, its mirror image, the whole photo resized, and
the central half zoomed in). Agreement needs no label: the LiteRT file agrees when its top-1 class
is the Keras model's. int8 is calibrated on other photos than those it is compared on: the photos
are split in two folds by subject (a photo and its copies, such as `images/chelsea_cat.jpg` and
scikit-image's `chelsea`, stay in one fold), one int8 file is calibrated on each fold, and each is
compared on the other fold only. Writes `<stem>.md`, `<stem>.csv` (one row per input and file)
and `<stem>.png` into the output folder.
"""

import argparse
import csv
import io
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from kerasnets.utils import atomic_output, save_figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "images")
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
VIEWS = ("centre", "mirror", "whole", "zoom")
#: scikit-image's real photographs that ship in its wheel (the others are synthetic or downloaded).
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket",
                  "text")


@dataclass(frozen=True)
class Photo:
    """A photograph: where it comes from, the subject it shows (copies share one), RGB uint8 pixels."""

    name: str
    subject: str
    pixels: np.ndarray = field(repr=False)


def _rgb(array):
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return np.ascontiguousarray(array[..., :3].astype(np.uint8))


def shipped_copies(images=IMAGES):
    """`images/` file name -> the scikit-image photo it is a copy of (from `images/SOURCES.md`)."""
    try:
        text = open(os.path.join(images, "SOURCES.md")).read()
    except OSError:
        return {}
    return dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", text, flags=re.MULTILINE))


def offline_photos(images=IMAGES):
    """Every real photograph available without a download, as `Photo`s, in a fixed order."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    from kerasnets.images import list_images, load_image

    photos = [Photo(f"skimage.{name}", name, _rgb(getattr(skimage.data, name)())) for name in SKIMAGE_PHOTOS]
    left, right, _ = skimage.data.stereo_motorcycle()
    photos += [Photo("skimage.motorcycle_left", "motorcycle", _rgb(left)),
               Photo("skimage.motorcycle_right", "motorcycle", _rgb(right))]
    sample = load_sample_images()
    photos += [Photo(f"sklearn.{os.path.splitext(os.path.basename(path))[0]}",
                     os.path.splitext(os.path.basename(path))[0], _rgb(image))
               for path, image in zip(sample.filenames, sample.images)]
    copies = shipped_copies(images)
    photos += [Photo(f"images/{os.path.basename(path)}", copies.get(os.path.basename(path), os.path.basename(path)),
                     load_image(path)) for path in list_images(images)]
    return photos


def view(photo, how, size, crop_fraction):
    """One input made from an RGB photo: 'centre' (the evaluation crop), 'mirror' (it, flipped left
    to right), 'whole' (the whole photo resized), 'zoom' (the central half, enlarged)."""
    from kerasnets.images import center_crop, resize

    if how == "centre":
        return center_crop(photo, size, crop_fraction)
    if how == "mirror":
        return center_crop(photo, size, crop_fraction)[:, ::-1]
    if how == "whole":
        return resize(photo, (size, size))
    if how == "zoom":
        return center_crop(photo, size, crop_fraction / 2)
    raise ValueError(f"unknown view {how!r}; choose one of {', '.join(VIEWS)}.")


def folds(photos, n=2):
    """The fold (0 ... n-1) of each photo: subjects in sorted order dealt out in turn."""
    subjects = sorted({p.subject for p in photos})
    return [subjects.index(p.subject) % n for p in photos]


@dataclass
class Inputs:
    names: list
    subjects: list
    views: list
    folds: list
    images: np.ndarray  # float32 [N, size, size, 3], 0-255


def make_inputs(photos, size, crop_fraction, views=VIEWS, n_folds=2):
    fold_of = folds(photos, n_folds)
    rows = [(p, f, how) for p, f in zip(photos, fold_of) for how in views]
    return Inputs(names=[p.name for p, _, _ in rows], subjects=[p.subject for p, _, _ in rows],
                  views=[how for _, _, how in rows], folds=[f for _, f, _ in rows],
                  images=np.stack([view(p.pixels, how, size, crop_fraction) for p, _, how in rows]).astype("float32"))


def top_k(probabilities, k=5):
    return np.argsort(-np.asarray(probabilities), axis=-1)[:, :k]


def agreement(reference, candidate):
    """(top-1 agreement, mean top-5 overlap, max |probability difference|) of two [N, classes] arrays."""
    a, b = top_k(reference), top_k(candidate)
    top1 = float(np.mean(a[:, 0] == b[:, 0]))
    overlap = float(np.mean([len(set(x) & set(y)) / 5 for x, y in zip(a, b)]))
    return top1, overlap, float(np.max(np.abs(np.asarray(reference) - np.asarray(candidate))))


@dataclass
class FileResult:
    """One quantization: its file(s) and its LiteRT probabilities on the inputs it is compared on."""

    quantization: str
    file_bytes: int
    compared: np.ndarray  # indices into the inputs
    probabilities: np.ndarray
    calibration: int = 0  # calibration images per file (int8)


def convert(saved_model, name, quantization, calibration=None):
    from export.tflite import _convert_saved_model

    return _convert_saved_model(saved_model, name, "none" if quantization == "float32" else quantization, calibration)


def run_study(model_name="efficientnet_lite0", quantizations=QUANTIZATIONS, views=VIEWS, photos=None, n_folds=2,
              log=print):
    """Keras probabilities and every quantization's LiteRT results on the offline photos.
    Returns (Inputs, Keras probabilities, [FileResult])."""
    from export.saved_model import with_preprocessing, write_saved_model
    from export.verify import interpreter, run
    from kerasnets.core.registry import model_info

    info = model_info(model_name)
    model = info.build(weights="imagenet")
    size = model.input_shape[1]
    inputs = make_inputs(photos or offline_photos(), size, info.crop_fraction, views, n_folds)
    log(f"{model_name}: {len(inputs.images)} inputs from {len(set(inputs.names))} photos "
        f"({len(set(inputs.subjects))} subjects, {n_folds} folds)")
    wrapped = with_preprocessing(model, info.preprocessing)
    expected = np.asarray(wrapped.predict(inputs.images, batch_size=16, verbose=0))
    results = []
    everything = np.arange(len(inputs.images))
    with tempfile.TemporaryDirectory(prefix="kerasnets-agreement-") as tmp:
        write_saved_model(wrapped, tmp, batch_size=1)
        for quantization in quantizations:
            start = time.perf_counter()
            if quantization != "int8":
                data = convert(tmp, model.name, quantization)
                parts = [(everything, data, 0)]
            else:
                parts = []
                for fold in range(n_folds):
                    held = everything[np.asarray(inputs.folds) == fold]
                    calibrate = everything[np.asarray(inputs.folds) != fold]
                    data = convert(tmp, model.name, "int8", [inputs.images[i][None] for i in calibrate])
                    parts.append((held, data, len(calibrate)))
            compared = np.concatenate([indices for indices, _, _ in parts])
            probabilities = np.concatenate([run(interpreter(data), inputs.images[indices])
                                            for indices, data, _ in parts])
            result = FileResult(quantization, len(parts[0][1]), compared, probabilities, parts[0][2])
            top1, overlap, _ = agreement(expected[compared], probabilities)
            log(f"  {quantization:8s} {result.file_bytes / 1e6:6.2f} MB  top-1 agreement {top1:.1%}, top-5 overlap "
                f"{overlap:.1%} on {len(compared)} inputs ({time.perf_counter() - start:.0f} s)")
            results.append(result)
    return inputs, expected, results


#: Keras top-1 probabilities above which agreement is also reported: near-ties (textures, where the
#: float model itself is unsure) flip under any perturbation of the logits.
CONFIDENCE = (0.2, 0.5)


def confident_agreement(expected, result, threshold):
    """(top-1 agreement, number of inputs) over the inputs whose Keras top-1 probability >= threshold."""
    reference = expected[result.compared]
    keep = reference.max(axis=-1) >= threshold
    if not keep.any():
        return None, 0
    return float(np.mean(np.argmax(reference[keep], -1) == np.argmax(result.probabilities[keep], -1))), int(keep.sum())


def summary_rows(expected, results):
    reference = next((r.file_bytes for r in results if r.quantization == "float32"), None)
    rows = []
    for r in results:
        top1, overlap, max_diff = agreement(expected[r.compared], r.probabilities)
        rows.append(dict(quantization=r.quantization, inputs=len(r.compared), top1_agreement=top1,
                         top5_overlap=overlap, max_abs_diff=max_diff, file_mb=r.file_bytes / 1e6,
                         size_ratio=r.file_bytes / reference if reference else None,
                         calibration_images=r.calibration))
        for threshold in CONFIDENCE:
            rows[-1][f"top1_agreement_p{threshold:g}"], rows[-1][f"inputs_p{threshold:g}"] = confident_agreement(
                expected, r, threshold)
    return rows


def detail_rows(inputs, expected, results):
    from kerasnets.imagenet import class_names

    names = class_names()
    rows = []
    for r in results:
        for i, probabilities in zip(r.compared, r.probabilities):
            a, b = top_k(expected[i][None])[0], top_k(probabilities[None])[0]
            rows.append(dict(photo=inputs.names[i], view=inputs.views[i], fold=inputs.folds[i],
                             quantization=r.quantization, keras_top1=names[a[0]],
                             keras_probability=round(float(expected[i][a[0]]), 4), litert_top1=names[b[0]],
                             litert_probability=round(float(probabilities[b[0]]), 4), agree=int(a[0] == b[0]),
                             top5_overlap=len(set(a) & set(b))))
    return rows


def markdown(model_name, inputs, expected, results):
    from kerasnets.imagenet import class_names

    names = class_names()
    rows = summary_rows(expected, results)
    lines = [
        f"# {model_name}: Keras float32 vs LiteRT, on the photographs that ship offline",
        "",
        f"Generated by `python benchmarks/quantization_agreement.py --model {model_name}` on "
        f"{time.strftime('%Y-%m-%d')}. {len(inputs.images)} inputs: {len(set(inputs.names))} photos "
        f"({len(set(inputs.subjects))} subjects) x {len(set(inputs.views))} views "
        f"({', '.join(dict.fromkeys(inputs.views))}). "
        "Agreement: the LiteRT file's top-1 class is the Keras model's; top-5 overlap: the share of the "
        "Keras top 5 in the file's top 5. int8 is calibrated on one fold of subjects and compared on the other "
        "(two files), so no input it is compared on was seen in calibration. LiteRT latencies: "
        "benchmarks/results/efficientnet_lite and `python -m export grid --family efficientnet_lite`.",
        "",
        "| file | inputs | top-1 agreement | top-5 overlap | max abs diff | size (MB) | size / float32 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = "–" if r["size_ratio"] is None else f"{r['size_ratio']:.2f}x"
        lines.append(f"| {r['quantization']} | {r['inputs']} | {r['top1_agreement']:.1%} | {r['top5_overlap']:.1%} | "
                     f"{r['max_abs_diff']:.3f} | {r['file_mb']:.2f} | {ratio} |")
    lines += ["", "Top-1 agreement where the Keras model is sure of itself (its top-1 probability at least):", "",
              "| file | " + " | ".join(f"p >= {t:g}" for t in CONFIDENCE) + " |", "|---|" + "---:|" * len(CONFIDENCE)]
    for r in rows:
        lines.append(f"| {r['quantization']} | " + " | ".join(
            f"{r[f'top1_agreement_p{t:g}']:.1%} of {r[f'inputs_p{t:g}']}" if r[f"inputs_p{t:g}"] else "–"
            for t in CONFIDENCE) + " |")
    disagreements = [row for row in detail_rows(inputs, expected, results) if not row["agree"]]
    lines += ["", "Disagreements (where the file's top-1 differs from Keras):", ""]
    if disagreements:
        lines += ["| file | photo | view | Keras top-1 | LiteRT top-1 |", "|---|---|---|---|---|"]
        lines += [f"| {d['quantization']} | {d['photo']} | {d['view']} | {d['keras_top1']} "
                  f"({d['keras_probability']:.1%}) | {d['litert_top1']} ({d['litert_probability']:.1%}) |"
                  for d in disagreements]
    else:
        lines.append("none.")
    lines += ["", "Keras top-3 on each photo's evaluation crop:", "", "| photo | top-3 (probability) |", "|---|---|"]
    for i in (i for i, how in enumerate(inputs.views) if how == "centre"):
        best = top_k(expected[i][None], 3)[0]
        lines.append(f"| {inputs.names[i]} | " + ", ".join(f"{names[c]} {expected[i][c]:.0%}" for c in best) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def chart(model_name, expected, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary_rows(expected, results)
    labels = [r["quantization"] for r in rows]
    x = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    threshold = CONFIDENCE[0]
    left.bar(x - 0.27, [100 * r["top1_agreement"] for r in rows], 0.27, label="top-1 agreement, all inputs")
    left.bar(x, [100 * (r[f"top1_agreement_p{threshold:g}"] or 0) for r in rows], 0.27,
             label=f"top-1 agreement, Keras top-1 >= {threshold:.0%} ({rows[0][f'inputs_p{threshold:g}']} inputs)")
    left.bar(x + 0.27, [100 * r["top5_overlap"] for r in rows], 0.27, label="top-5 overlap, all inputs")
    left.set(xticks=x, xticklabels=labels, ylim=(80, 100.5), ylabel="% of inputs",
             title=f"agreement with Keras float32 ({rows[0]['inputs']} inputs)")
    left.legend(loc="lower left", fontsize=7)
    right.bar(x, [r["file_mb"] for r in rows], 0.5, color="tab:gray")
    for xi, r in zip(x, rows):
        right.annotate(f"{r['file_mb']:.1f} MB", (xi, r["file_mb"]), ha="center", va="bottom", fontsize=8)
    right.set(xticks=x, xticklabels=labels, ylabel="MB", title="file size")
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{model_name}: LiteRT files vs the Keras model")
    fig.tight_layout()
    save_figure(fig, path)


def write_report(model_name, inputs, expected, results, output_dir, stem):
    os.makedirs(output_dir, exist_ok=True)
    base = os.path.join(output_dir, stem)
    text = markdown(model_name, inputs, expected, results)
    with atomic_output(f"{base}.md") as tmp:
        tmp.write_text(text)
    with atomic_output(f"{base}.csv") as tmp:
        tmp.write_text(to_csv(detail_rows(inputs, expected, results)))
    chart(model_name, expected, results, f"{base}.png")
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet_lite0", help="a network with ImageNet weights that work "
                        "offline (default: efficientnet_lite0)")
    parser.add_argument("--quantize", nargs="+", choices=QUANTIZATIONS, default=list(QUANTIZATIONS))
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "docs"), help="default: docs/")
    parser.add_argument("--stem", help="file name stem (default: <model>_quantization)")
    args = parser.parse_args(argv)
    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    start = time.perf_counter()
    inputs, expected, results = run_study(args.model, args.quantize, log=lambda text: print(text, flush=True))
    stem = args.stem or f"{args.model}_quantization"
    print(write_report(args.model, inputs, expected, results, args.output_dir, stem))
    print(f"Written to {args.output_dir} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
