"""The detector grid: backbone x input size x quantization -> COCO mAP, file size, LiteRT latency.

    python benchmarks/detector_grid.py --output-dir runs/detector_grid \\
        --trained runs/ssd_shapes320/model.keras runs/yolo_shapes224/model.keras \\
        --backbones efficientnet_lite0 mobilenetv2 --sizes 256 320 --quantize none float16 int8

Every configuration is exported with `export.detector_to_tflite` (TFLite_Detection_PostProcess inside)
and timed with the LiteRT interpreter (batch 1, `--threads`). A trained detector (`--trained`, a .keras
from apps/train_detector.py on the synthetic shapes) is also evaluated: COCO mAP of the Keras model and
of each exported file on the held-out set train_detector used (seed 10000, objects 1/8 to 3/8 of the
image), and the LiteRT-vs-Keras box agreement. The backbone x size rows without a trained model are
SSDs with random heads: their size and latency are those of a trained one, their mAP is not measured.
Writes grid.md, grid.csv and grid.png into --output-dir.
"""

import argparse
import csv
import io
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COLUMNS = ("model", "backbone", "size", "quantize", "params", "file_mb", "latency_ms", "keras_map50", "keras_map",
           "tflite_map50", "tflite_map", "matched_iou", "export_s")


def held_out(size, n=200, seed=10_000):
    from kerasnets.detection import synthetic_shapes

    return synthetic_shapes(n, size, seed=seed, min_size=round(size / 8), max_size=round(3 * size / 8))


def calibration(size, n=32):
    return [image[None].astype("float32") for image in held_out(size, n, seed=0).images]


def measure(model, label, quantizations, output_dir, threads, dataset=None, progress=print):
    from export.detection import detector_to_tflite, verify_detector
    from export.grid import latency_ms

    rows = []
    keras_metrics = {}
    if dataset is not None:
        from kerasnets.detection.metrics import coco_evaluate

        keras_metrics = coco_evaluate(dataset, model.detect(dataset.images))["bbox"]
    size = model.image_size[0]
    for quantize in quantizations:
        kind = "float32" if quantize == "none" else quantize
        path = os.path.join(output_dir, f"{label}_{size}_{kind}.tflite")
        progress(f"{label} {size} {kind}: exporting")
        start = time.perf_counter()
        detector_to_tflite(model, path, quantize=quantize,
                           representative_data=calibration(size) if quantize == "int8" else None)
        seconds = time.perf_counter() - start
        row = {"model": type(model).__name__, "backbone": model.config["backbone"], "size": size, "quantize": kind,
               "params": model.count_params(), "file_mb": round(os.path.getsize(path) / 1e6, 2),
               "latency_ms": round(latency_ms(path, threads), 2), "export_s": round(seconds)}
        if dataset is not None:
            check = verify_detector(path, model, dataset.images, dataset)
            row.update(keras_map50=round(keras_metrics["mAP50"], 3), keras_map=round(keras_metrics["mAP"], 3),
                       tflite_map50=round(check.coco["mAP50"], 3), tflite_map=round(check.coco["mAP"], 3),
                       matched_iou=round(check.mean_iou, 3))
            progress(f"  {check}")
        rows.append(row)
        progress(f"  {row}")
    return rows


def markdown(rows, threads):
    def cell(value, fmt="{:.3f}"):
        return "–" if value in (None, "") else fmt.format(value)

    lines = [f"Detector grid: LiteRT latency with {threads} thread(s), batch 1, this CPU; mAP on 200 held-out "
             "synthetic-shapes images (– : not trained, not measured).", "",
             "| model | backbone | size | quantization | params (M) | file (MB) | latency (ms) | Keras mAP@.5 | "
             "TFLite mAP@.5 | Keras mAP@[.5:.95] | TFLite mAP@[.5:.95] | matched IoU |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['backbone']} | {r['size']} | {r['quantize']} | {r['params'] / 1e6:.2f} | "
                     f"{r['file_mb']:.2f} | {r['latency_ms']:.1f} | {cell(r.get('keras_map50'))} | "
                     f"{cell(r.get('tflite_map50'))} | {cell(r.get('keras_map'))} | {cell(r.get('tflite_map'))} | "
                     f"{cell(r.get('matched_iou'))} |")
    return "\n".join(lines) + "\n"


def chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasnets.utils import save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), dpi=110)
    markers = {"float32": "o", "float16": "s", "int8": "^"}
    for r in rows:
        name = f"{r['model']} {r['backbone']} {r['size']}"
        left.scatter(r["file_mb"], r["latency_ms"], marker=markers.get(r["quantize"], "x"))
        left.annotate(f"{name} {r['quantize']}", (r["file_mb"], r["latency_ms"]), fontsize=6, xytext=(3, 3),
                      textcoords="offset points")
    left.set(xlabel="file size (MB)", ylabel="LiteRT latency (ms, batch 1)", title="latency vs. file size")
    trained = [r for r in rows if r.get("tflite_map50") not in (None, "")]
    labels = [f"{r['model']} {r['size']}\n{r['quantize']}" for r in trained]
    x = range(len(trained))
    right.bar([i - 0.2 for i in x], [r["keras_map50"] for r in trained], 0.4, label="Keras (float32)")
    right.bar([i + 0.2 for i in x], [r["tflite_map50"] for r in trained], 0.4, label="TFLite")
    right.set_xticks(list(x), labels, fontsize=7)
    right.set(ylabel="mAP@.5 (held-out shapes)", ylim=(0, 1), title="Keras vs. exported file")
    right.legend()
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--trained", nargs="*", default=[], help="trained detector .keras files (evaluated)")
    parser.add_argument("--backbones", nargs="*", default=["efficientnet_lite0", "mobilenetv2"])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 320])
    parser.add_argument("--quantize", nargs="+", default=["none", "float16", "int8"],
                        choices=("none", "float16", "int8"))
    parser.add_argument("--grid-quantize", nargs="+", choices=("none", "float16", "int8"),
                        help="quantizations of the untrained grid rows (default: --quantize)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    from kerasnets.utils import atomic_output, import_keras_quietly

    keras = import_keras_quietly()
    import kerasnets.detection  # noqa: F401  (registers the detectors)
    from kerasnets.detection import SSD

    rows, done = [], set()
    for path in args.trained:
        model = keras.saving.load_model(path)
        rows += measure(model, os.path.basename(os.path.dirname(path)) or "trained", args.quantize, args.output_dir,
                        args.threads, held_out(model.image_size[0]), progress=lambda t: print(t, flush=True))
        if isinstance(model, SSD):
            done.add((model.config["backbone"], model.image_size[0]))
    for backbone in args.backbones:
        for size in args.sizes:
            if (backbone, size) in done:
                continue
            model = SSD(backbone, 3, size, class_names=["circle", "rectangle", "triangle"])
            rows += measure(model, f"ssd_{backbone}", args.grid_quantize or args.quantize, args.output_dir,
                            args.threads, progress=lambda t: print(t, flush=True))
    table = markdown(rows, args.threads)
    with atomic_output(os.path.join(args.output_dir, "grid.md")) as tmp:
        tmp.write_text(table)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(os.path.join(args.output_dir, "grid.csv")) as tmp:
        tmp.write_text(out.getvalue())
    chart(rows, os.path.join(args.output_dir, "grid.png"))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
