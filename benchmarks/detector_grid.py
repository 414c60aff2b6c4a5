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

Latency is measured after every file is written, all files in one process, in alternating order: each
round times every file of a configuration (`--runs` invocations, median), forward on even rounds and
backward on odd ones, for `--rounds` rounds; a file's latency is the median over rounds, its ratio to
the float32 file the median of the per-round ratios, and an A/A control (the float32 file loaded twice
and timed as if it were another file) shows how far two measurements of the same file disagree on this
machine. The CPU's vector instructions are written into the report: int8 gains depend on them (AVX-512
VNNI / AVX-VNNI give XNNPACK's int8 kernels their edge; without VNNI, int8 and float32 run at about the
same speed on x86).
Writes grid.md, grid.csv, grid.json (every round's times) and grid.png into --output-dir.
"""

import argparse
import csv
import io
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COLUMNS = ("model", "backbone", "size", "quantize", "params", "file_mb", "latency_ms", "vs_float32", "aa_float32",
           "keras_map50", "keras_map", "tflite_map50", "tflite_map", "matched_iou", "export_s")


def held_out(size, n=200, seed=10_000):
    from kerasnets.detection import synthetic_shapes

    return synthetic_shapes(n, size, seed=seed, min_size=round(size / 8), max_size=round(3 * size / 8))


def calibration(size, n=32):
    return [image[None].astype("float32") for image in held_out(size, n, seed=0).images]


def cpu_description():
    """The CPU's model name and the vector extensions XNNPACK's kernels use (Linux /proc/cpuinfo)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name in ("", platform.machine(), platform.processor()):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
    present = [f for f in wanted if f in flags]
    vnni = any(f in flags for f in ("avx512_vnni", "avx_vnni", "asimddp"))
    return f"{name}, {os.cpu_count()} cores, {' '.join(present) or 'no AVX2'}" + ("" if vnni else " (no VNNI)")


def alternating_latency(groups, threads=1, rounds=8, runs=10, warmup=3, progress=print):
    """Times of every file, measured in alternating order: `groups` maps a configuration to its
    `[(key, path), ...]`; each round times every file of each configuration (`runs` invocations, median),
    forward on even rounds and backward on odd ones. Returns {configuration: {key: [ms per round]}}."""
    import numpy as np

    from export.verify import interpreter

    runners = {}
    for group, files in groups.items():
        for key, path in files:
            runner = interpreter(path, num_threads=threads)
            detail = runner.get_input_details()[0]
            runner.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
            for _ in range(warmup):
                runner.invoke()
            runners[group, key] = runner
    times = {group: {key: [] for key, _ in files} for group, files in groups.items()}
    for r in range(rounds):
        for group, files in groups.items():
            order = files if r % 2 == 0 else files[::-1]
            for key, _ in order:
                runner = runners[group, key]
                samples = []
                for _ in range(runs):
                    start = time.perf_counter()
                    runner.invoke()
                    samples.append((time.perf_counter() - start) * 1000)
                times[group][key].append(statistics.median(samples))
        progress(f"  timing round {r + 1}/{rounds}")
    return times


def ratio(times, key, base):
    """The median over rounds of the per-round ratio of `key`'s time to `base`'s."""
    return statistics.median(a / b for a, b in zip(times[key], times[base]))


def apply_latency(rows, times):
    """Fill latency_ms, vs_float32 and aa_float32 of `rows` (each with its `_group` and `_key`) from `times`."""
    for row in rows:
        group = times[row["_group"]]
        row["latency_ms"] = round(statistics.median(group[row["_key"]]), 2)
        if "float32" in group:
            row["vs_float32"] = round(ratio(group, row["_key"], "float32"), 2)
            row["aa_float32"] = round(ratio(group, "float32 A/A", "float32"), 2)
    return rows


def measure(model, label, quantizations, output_dir, threads, dataset=None, progress=print):
    """Export `model` at each quantization (and evaluate each file on `dataset`); rows without latency,
    which `alternating_latency` measures once every file is written."""
    from export.detection import detector_to_tflite, verify_detector

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
               "export_s": round(seconds), "_group": f"{label} {size}", "_key": kind, "_path": path}
        if dataset is not None:
            check = verify_detector(path, model, dataset.images, dataset)
            row.update(keras_map50=round(keras_metrics["mAP50"], 3), keras_map=round(keras_metrics["mAP"], 3),
                       tflite_map50=round(check.coco["mAP50"], 3), tflite_map=round(check.coco["mAP"], 3),
                       matched_iou=round(check.mean_iou, 3))
            progress(f"  {check}")
        rows.append(row)
        progress(f"  {dict((k, v) for k, v in row.items() if not k.startswith('_'))}")
    return rows


def markdown(rows, threads, cpu="", rounds=None, runs=None):
    def cell(value, fmt="{:.3f}"):
        return "–" if value in (None, "") else fmt.format(value)

    how = (f"median of {rounds} rounds of {runs} runs, files of a configuration timed in alternating order; "
           if rounds else "")
    lines = [f"Detector grid: LiteRT (XNNPACK) latency with {threads} thread(s), batch 1, on {cpu or 'this CPU'}; "
             f"{how}x float32: the median per-round ratio to the float32 file; A/A: the float32 file timed twice "
             "(the noise of the measurement). mAP on 200 held-out synthetic-shapes images (– : not trained, not "
             "measured).", "",
             "| model | backbone | size | quantization | params (M) | file (MB) | latency (ms) | x float32 | A/A | "
             "Keras mAP@.5 | TFLite mAP@.5 | Keras mAP@[.5:.95] | TFLite mAP@[.5:.95] | matched IoU |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['backbone']} | {r['size']} | {r['quantize']} | {r['params'] / 1e6:.2f} | "
                     f"{r['file_mb']:.2f} | {r['latency_ms']:.1f} | {cell(r.get('vs_float32'), '{:.2f}')} | "
                     f"{cell(r.get('aa_float32'), '{:.2f}')} | {cell(r.get('keras_map50'))} | "
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
    parser.add_argument("--yolo-sizes", type=int, nargs="*", default=[],
                        help="also untrained YOLOv1 rows (EfficientNet-Lite0 backbone) at these sizes, e.g. 224")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=8, help="alternating timing rounds (default 8)")
    parser.add_argument("--runs", type=int, default=10, help="invocations per file per round (default 10)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.runs < 1:
        parser.error("--rounds and --runs must be at least 1.")
    os.makedirs(args.output_dir, exist_ok=True)
    from kerasnets.utils import atomic_output, import_keras_quietly

    keras = import_keras_quietly()
    import kerasnets.detection  # noqa: F401  (registers the detectors)
    from kerasnets.detection import SSD, YOLOv1

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
    for size in args.yolo_sizes:
        model = YOLOv1("efficientnet_lite0", 3, size, grid=min(7, size // 32),
                       class_names=["circle", "rectangle", "triangle"])
        rows += measure(model, "yolov1_efficientnet_lite0", args.grid_quantize or args.quantize, args.output_dir,
                        args.threads, progress=lambda t: print(t, flush=True))
    groups = {}
    for row in rows:
        files = groups.setdefault(row["_group"], [])
        files.append((row["_key"], row["_path"]))
        if row["_key"] == "float32":
            files.append(("float32 A/A", row["_path"]))
    print(f"timing {sum(len(f) for f in groups.values())} files in alternating order, {args.rounds} rounds", flush=True)
    times = alternating_latency(groups, args.threads, args.rounds, args.runs, progress=lambda t: print(t, flush=True))
    apply_latency(rows, times)
    cpu = cpu_description()
    with atomic_output(os.path.join(args.output_dir, "grid.json")) as tmp:
        tmp.write_text(json.dumps({"cpu": cpu, "threads": args.threads, "rounds": args.rounds, "runs": args.runs,
                                   "times_ms": times}, indent=1))
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    table = markdown(rows, args.threads, cpu, args.rounds, args.runs)
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
