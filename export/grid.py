"""`python -m export grid`: a family's scaled networks, exported and measured.

The MobileNet paper's Tables 6-7 for an edge developer choosing a model: for every width
multiplier alpha and input resolution, the parameters and multiply-adds (counted by
`kerasnets.profile`), the `.tflite` file size and its LiteRT latency on this CPU, and the ImageNet
accuracy the paper reports. A family scaled by compound variants instead of a width grid
(`--family efficientnet_lite`: Lite0 ... Lite4, each at its own resolution) gives one row per
variant, with its ImageNet weights where they work offline and random ones otherwise. Writes
`grid.md`, `grid.csv` and `grid.png` (latency and size against multiply-adds) into the output
folder, next to the exported files.
"""

import argparse
import csv
import io
import os
import statistics
import time

from export.errors import ExportError
from kerasnets.utils import atomic_output, save_figure

COLUMNS = ("model", "alpha", "size", "params", "mult_adds", "file_bytes", "latency_ms", "paper_top1", "weights")


def latency_ms(model, threads=1, runs=30, warmup=5, best=False):
    """Median (or with `best`, the fastest) batch-1 latency of a `.tflite` path or model bytes with
    the LiteRT interpreter (XNNPACK)."""
    import numpy as np

    from export.verify import interpreter

    runner = interpreter(model, num_threads=threads)
    detail = runner.get_input_details()[0]
    runner.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    return invoke_ms(runner, runs, warmup, best)


def invoke_ms(runner, runs=30, warmup=5, best=False):
    """The median (or with `best`, the fastest: the better estimate on a machine other work shares) of `runs`
    timed invocations of a LiteRT interpreter whose inputs are set, after `warmup` untimed ones."""
    for _ in range(warmup):
        runner.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return min(times) if best else statistics.median(times)


def measure_grid(family, alphas, sizes, quantize, representative, weights, output_dir, threads=1, progress=print):
    """One row per (alpha, size) of a width x resolution family (MobileNet)."""
    import kerasnets

    info = kerasnets.model_info(family)
    cells = info.grid.cells if info.grid else {}
    points = [(a, s) for a in alphas for s in sizes]
    return [
        _measure(info, dict(alpha=alpha), size, f"{family}_{alpha:g}_{size}", quantize, representative, weights,
                 output_dir, threads, getattr(cells.get((alpha, size)), "top1", None), f"[{i}/{len(points)}]", progress)
        for i, (alpha, size) in enumerate(points, start=1)
    ]


def family_variants(family):
    """The registered networks of a family scaled by variants (EfficientNet-Lite0 ... 4), cheapest first."""
    from kerasnets.core.registry import specs

    return sorted((spec for spec in specs() if spec.family == family and spec.grid is None), key=lambda s: s.mult_adds)


def measure_variants(variants, sizes, quantize, representative, weights, output_dir, threads=1, progress=print):
    """One row per variant (ModelSpec) and size (default: the variant's own), with the ImageNet
    weights where `weights='imagenet'` has them and random ones otherwise."""
    points = [(spec, size) for spec in variants for size in (sizes or [spec.input_size])]
    return [
        _measure(spec, {}, size, f"{spec.name}_{size}", quantize, representative,
                 weights if weights != "imagenet" or spec.imagenet_weights else None, output_dir, threads,
                 spec.top1 if size == spec.input_size else None, f"[{i}/{len(points)}]", progress)
        for i, (spec, size) in enumerate(points, start=1)
    ]


def _measure(info, options, size, stem, quantize, representative, weights, output_dir, threads, top1, step, progress):
    import kerasnets
    from export.tflite import to_tflite

    name = f"{stem}_{quantize if quantize != 'none' else 'float32'}"
    progress(f"{step} {name}: building, exporting, timing")
    model = info.build(weights=weights, input_shape=(size, size, 3), **options)
    counted = kerasnets.profile(model)
    path = os.path.join(output_dir, f"{name}.tflite")
    to_tflite(model, path, quantize=quantize, representative_data=representative, preprocessing=info.preprocessing)
    return dict(model=info.name, alpha=options.get("alpha"), size=size, params=counted.params, mult_adds=counted.macs,
                file_bytes=os.path.getsize(path), latency_ms=round(latency_ms(path, threads), 3), paper_top1=top1,
                weights="random" if weights is None else str(weights))


def markdown(rows, quantize, threads, family="mobilenet"):
    lines = [
        f"{family} grid, {quantize if quantize != 'none' else 'float32'} TFLite, LiteRT latency with {threads} "
        "thread(s), batch 1.",
        "",
        "| model | alpha | size | params (M) | mult-adds (M) | file (MB) | latency (ms) | paper top-1 % | weights |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        top1 = "–" if r["paper_top1"] is None else f"{r['paper_top1']:.1f}"
        alpha = "–" if r["alpha"] is None else f"{r['alpha']:g}"
        lines.append(f"| {r['model']} | {alpha} | {r['size']} | {r['params'] / 1e6:.2f} | {r['mult_adds'] / 1e6:.0f} | "
                     f"{r['file_bytes'] / 1e6:.2f} | {r['latency_ms']:.2f} | {top1} | {r['weights']} |")
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
    for alpha in sorted({r["alpha"] for r in rows}, key=lambda a: -1 if a is None else a, reverse=True):
        subset = sorted((r for r in rows if r["alpha"] == alpha), key=lambda r: r["mult_adds"])
        macs = [r["mult_adds"] / 1e6 for r in subset]
        label = f"alpha {alpha:g}" if alpha is not None else subset[0]["model"].rstrip("0123456789")
        left.plot(macs, [r["latency_ms"] for r in subset], "o-", label=label)
        right.plot(macs, [r["file_bytes"] / 1e6 for r in subset], "o-", label=label)
        for r, x in zip(subset, macs):
            text = str(r["size"]) if alpha is not None else f"{r['model']} {r['size']}"
            left.annotate(text, (x, r["latency_ms"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    left.set(xlabel="multiply-adds (M)", ylabel="LiteRT latency (ms, batch 1)", title="latency vs. multiply-adds")
    right.set(xlabel="multiply-adds (M)", ylabel="file size (MB)", title="file size vs. multiply-adds")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    from kerasnets.errors import program_name

    parser = argparse.ArgumentParser(prog=f"{program_name('python -m export')} grid",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="mobilenet",
                        help="a network with a width x resolution grid (mobilenet, mobilenetv2) or a family of "
                             "variants (efficientnet_lite)")
    parser.add_argument("--alphas", type=float, nargs="+", help="width multipliers (default: the paper's)")
    parser.add_argument("--sizes", type=int, nargs="+",
                        help="input resolutions (default: the paper's; for variants, each one's own)")
    parser.add_argument("--variants", nargs="+", metavar="NAME", help="for a family of variants: which ones "
                        "(default: all, e.g. efficientnet_lite0 ... efficientnet_lite4)")
    parser.add_argument("--quantize", default="int8", choices=("none", "float16", "dynamic", "int8"))
    parser.add_argument("--representative", metavar="DIR", help="calibration images (needed for int8)")
    parser.add_argument("--weights", default="imagenet", help="imagenet (default) or none")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads for the latency (default 1)")
    parser.add_argument("--output-dir", required=True, help="folder for the .tflite files and the report")
    args = parser.parse_args(argv)
    from kerasnets.core.registry import specs
    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()  # the registry loads the builders (and Keras): without TensorFlow's start-up lines

    grids = {spec.name: spec.grid for spec in specs() if spec.grid is not None}
    families = {spec.family for spec in specs() if len(family_variants(spec.family)) > 1} - set(grids)
    if args.family not in grids and args.family not in families:
        raise ExportError(f"no grid is defined for {args.family!r}; choose a width x resolution grid "
                          f"({', '.join(sorted(grids))}) or a family of variants ({', '.join(sorted(families))}).")
    if args.quantize == "int8" and not args.representative:
        raise ExportError("the int8 grid needs calibration images: --representative DIR (or choose --quantize none).")
    weights = None if args.weights == "none" else args.weights
    progress = lambda text: print(text, flush=True)  # noqa: E731
    if args.family in grids:
        if args.variants:
            raise ExportError(f"--variants is for families of variants; {args.family} has a width grid (--alphas).")
        os.makedirs(args.output_dir, exist_ok=True)
        grid = grids[args.family]
        rows = measure_grid(args.family, args.alphas or grid.alphas, args.sizes or grid.sizes, args.quantize,
                            args.representative, weights, args.output_dir, args.threads, progress=progress)
    else:
        variants = family_variants(args.family)
        if args.alphas:
            raise ExportError(f"{args.family} is scaled by variants, not by a width multiplier: use --variants.")
        if args.variants:
            known = {spec.name: spec for spec in variants}
            unknown = [name for name in args.variants if name.lower() not in known]
            if unknown:
                raise ExportError(f"{', '.join(unknown)}: not in {args.family}; choose from {', '.join(known)}.")
            variants = [known[name.lower()] for name in args.variants]
        os.makedirs(args.output_dir, exist_ok=True)
        rows = measure_variants(variants, args.sizes, args.quantize, args.representative, weights, args.output_dir,
                                args.threads, progress=progress)
    table = markdown(rows, args.quantize, args.threads, args.family)
    with atomic_output(os.path.join(args.output_dir, "grid.md")) as tmp:
        tmp.write_text(table)
    with atomic_output(os.path.join(args.output_dir, "grid.csv")) as tmp:
        tmp.write_text(to_csv(rows))
    chart(rows, os.path.join(args.output_dir, "grid.png"),
        f"{args.family} grid, {args.quantize}, {args.threads} thread(s)")
    print(table)
    print(f"Report written to {args.output_dir}/grid.md, grid.csv and grid.png")
    return 0
