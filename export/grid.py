"""`python -m export grid`: the MobileNet width x resolution grid, exported and measured.

The MobileNet paper's Tables 6-7 for an edge developer choosing a model: for every width
multiplier alpha and input resolution, the parameters and multiply-adds (counted by
`kerasnets.profile`), the `.tflite` file size and its LiteRT latency on this CPU, and the ImageNet
accuracy the paper reports. Writes `grid.md`, `grid.csv` and `grid.png` (latency and size against
multiply-adds) into the output folder, next to the exported files.
"""

import argparse
import csv
import io
import os
import statistics
import time

from export.errors import ExportError
from kerasnets.utils import atomic_output, save_figure

COLUMNS = ("model", "alpha", "size", "params", "mult_adds", "file_bytes", "latency_ms", "paper_top1")


def latency_ms(model, threads=1, runs=30, warmup=5, best=False):
    """Median (or with `best`, the fastest) batch-1 latency of a `.tflite` path or model bytes with
    the LiteRT interpreter (XNNPACK)."""
    import numpy as np

    from export.verify import interpreter

    runner = interpreter(model, num_threads=threads)
    detail = runner.get_input_details()[0]
    runner.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    for _ in range(warmup):
        runner.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return min(times) if best else statistics.median(times)


def measure_grid(family, alphas, sizes, quantize, representative, weights, output_dir, threads=1, progress=print):
    import kerasnets
    from export.tflite import to_tflite

    info = kerasnets.model_info(family)
    cells = info.grid.cells if info.grid else {}
    rows, total = [], len(alphas) * len(sizes)
    for i, (alpha, size) in enumerate(((a, s) for a in alphas for s in sizes), start=1):
        name = f"{family}_{alpha:g}_{size}_{quantize if quantize != 'none' else 'float32'}"
        progress(f"[{i}/{total}] {name}: building, exporting, timing")
        model = info.build(weights=weights, alpha=alpha, input_shape=(size, size, 3))
        counted = kerasnets.profile(model)
        path = os.path.join(output_dir, f"{name}.tflite")
        to_tflite(model, path, quantize=quantize, representative_data=representative, preprocessing=info.preprocessing)
        rows.append(dict(model=family, alpha=alpha, size=size, params=counted.params, mult_adds=counted.macs,
                         file_bytes=os.path.getsize(path), latency_ms=round(latency_ms(path, threads), 3),
                         paper_top1=getattr(cells.get((alpha, size)), "top1", None)))
    return rows


def markdown(rows, quantize, threads):
    lines = [
        f"MobileNet grid, {quantize if quantize != 'none' else 'float32'} TFLite, LiteRT latency with {threads} "
        "thread(s), batch 1.",
        "",
        "| model | alpha | size | params (M) | mult-adds (M) | file (MB) | latency (ms) | paper top-1 % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        top1 = "–" if r["paper_top1"] is None else f"{r['paper_top1']:.1f}"
        lines.append(f"| {r['model']} | {r['alpha']:g} | {r['size']} | {r['params'] / 1e6:.2f} | "
            f"{r['mult_adds'] / 1e6:.0f} | "
                     f"{r['file_bytes'] / 1e6:.2f} | {r['latency_ms']:.2f} | {top1} |")
    return "\n".join(lines) + "\n"


def to_csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def chart(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), dpi=110)
    for alpha in sorted({r["alpha"] for r in rows}, reverse=True):
        subset = sorted((r for r in rows if r["alpha"] == alpha), key=lambda r: r["mult_adds"])
        macs = [r["mult_adds"] / 1e6 for r in subset]
        left.plot(macs, [r["latency_ms"] for r in subset], "o-", label=f"alpha {alpha:g}")
        right.plot(macs, [r["file_bytes"] / 1e6 for r in subset], "o-", label=f"alpha {alpha:g}")
        for r, x in zip(subset, macs):
            left.annotate(str(r["size"]), (x, r["latency_ms"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    left.set(xlabel="multiply-adds (M)", ylabel="LiteRT latency (ms, batch 1)", title="latency vs. multiply-adds")
    right.set(xlabel="multiply-adds (M)", ylabel="file size (MB)", title="file size vs. multiply-adds")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m export grid", description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="mobilenet",
                        help="a registered network with a width x resolution grid (mobilenet, mobilenetv2)")
    parser.add_argument("--alphas", type=float, nargs="+", help="width multipliers (default: the paper's)")
    parser.add_argument("--sizes", type=int, nargs="+", help="input resolutions (default: the paper's)")
    parser.add_argument("--quantize", default="int8", choices=("none", "float16", "dynamic", "int8"))
    parser.add_argument("--representative", metavar="DIR", help="calibration images (needed for int8)")
    parser.add_argument("--weights", default="imagenet", help="imagenet (default) or none")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads for the latency (default 1)")
    parser.add_argument("--output-dir", required=True, help="folder for the .tflite files and the report")
    args = parser.parse_args(argv)
    if args.quantize == "int8" and not args.representative:
        raise ExportError("the int8 grid needs calibration images: --representative DIR (or choose --quantize none).")
    from kerasnets.core.registry import specs
    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    grids = {spec.name: spec.grid for spec in specs() if spec.grid is not None}
    if args.family not in grids:
        raise ExportError(f"no grid is defined for {args.family!r}; choose one of {', '.join(sorted(grids))}.")
    os.makedirs(args.output_dir, exist_ok=True)
    grid = grids[args.family]
    rows = measure_grid(
        args.family, args.alphas or grid.alphas, args.sizes or grid.sizes, args.quantize,
        args.representative, None if args.weights == "none" else args.weights, args.output_dir, args.threads,
        progress=lambda text: print(text, flush=True),
    )
    table = markdown(rows, args.quantize, args.threads)
    with atomic_output(os.path.join(args.output_dir, "grid.md")) as tmp:
        tmp.write_text(table)
    with atomic_output(os.path.join(args.output_dir, "grid.csv")) as tmp:
        tmp.write_text(to_csv(rows))
    chart(rows, os.path.join(args.output_dir, "grid.png"),
        f"{args.family} grid, {args.quantize}, {args.threads} thread(s)")
    print(table)
    print(f"Report written to {args.output_dir}/grid.md, grid.csv and grid.png")
    return 0
