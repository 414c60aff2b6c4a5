"""Print the kerasnets model zoo as a table and draw accuracy against multiply-adds.

    python apps/model_zoo.py --chart zoo.png [--markdown zoo.md] [--models resnet50 mobilenet ...]

For every registered network: parameters and multiply-adds at its default input size (counted by
`kerasnets.profile`), and the ImageNet top-1 accuracy its paper reports. The chart is the course
slide's bubble plot: x = multiply-adds, y = top-1, bubble area = parameters.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasnets.utils import atomic_output, check_output, import_keras_quietly, save_figure

#: What matplotlib writes (--chart), by suffix.
CHART_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp")


def measure(names, progress=True):
    import kerasnets
    from kerasnets.core.profiler import profile

    rows = []
    for i, name in enumerate(names, start=1):
        info = kerasnets.model_info(name)
        if progress:
            print(f"[{i}/{len(names)}] profiling {name} ...", file=sys.stderr, flush=True)
        size = info.input_size
        model = info.build(weights=None, input_shape=(size, size, info.channels))
        result = profile(model)
        rows.append(dict(name=name, family=info.family, paper=info.paper, year=info.year, size=size,
            params=result.params,
                         macs=result.macs, top1=info.top1, top5=info.top5, imagenet=info.imagenet_weights))
        del model
    return rows


def markdown(rows):
    lines = [
        "| model | year | input | params (M) | mult-adds (G) | paper top-1 % | ImageNet weights |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        top1 = f"{r['top1']:.1f}" if r["top1"] is not None else "–"
        lines.append(
            f"| {r['name']} | {r['year']} | {r['size']} | {r['params'] / 1e6:.1f} | {r['macs'] / 1e9:.3f} | {top1} | "
            f"{'yes' if r['imagenet'] else '–'} |"
        )
    return "\n".join(lines)


def spec_table():
    """The README's model table, from the specs alone (nothing is built)."""
    from kerasnets.core.registry import specs

    lines = [
        "| name | builder | paper | input | ImageNet weights | params | mult-adds | paper top-1 % |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    import kerasnets.models

    def order(spec):
        return kerasnets.models.FAMILIES.index(spec.family), spec.year, spec.mult_adds

    def multiply_adds(n):
        return f"{n / 1e9:.2f} G" if n >= 1e9 else f"{n / 1e6:.0f} M" if n >= 1e7 else f"{n / 1e6:.2f} M"

    for spec in sorted(specs(), key=order):
        weights = spec.weights_source or "–"
        if spec.imagenet_weights and getattr(spec.weights, "choices", None):
            weights += f" ({spec.weights.choices})"
        macs = multiply_adds(spec.mult_adds)
        top1 = f"{spec.top1:.1f}" if spec.top1 is not None else "–"
        size = f"{spec.input_size}×{spec.input_size}" + ("×1" if spec.channels == 1 else "")
        lines.append(f"| {spec.name} | `{spec.builder_name}` | {spec.paper.split(',')[0]} {spec.year} | {size} | "
                     f"{weights} | {spec.params:,} | {macs} | {top1} |")
    return "\n".join(lines)


def draw_chart(rows, path):
    """Top-1 against multiply-adds (log scale), bubble area proportional to parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plotted = [r for r in rows if r["top1"] is not None]
    if not plotted:
        raise ValueError("none of the selected models has a paper top-1 accuracy to plot")
    fig, ax = plt.subplots(figsize=(11, 7), dpi=110)
    families = sorted({r["family"] for r in plotted})
    colours = plt.get_cmap("tab10")
    for r in plotted:
        colour = colours(families.index(r["family"]) % 10)
        ax.scatter(r["macs"] / 1e9, r["top1"], s=r["params"] / 1e6 * 12, color=colour, alpha=0.45, edgecolors="black")
        ax.annotate(r["name"], (r["macs"] / 1e9, r["top1"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours(i % 10), alpha=0.6, label=family)
               for i, family in enumerate(families)]
    ax.legend(handles=handles, title="family", loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per image (G, log scale)")
    ax.set_ylabel("ImageNet top-1 accuracy reported by the paper (%)")
    ax.set_title("kerasnets: accuracy vs. multiply-adds (bubble area = parameters)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="registered names to include (default: all)")
    parser.add_argument("--chart", metavar="PNG", help="write the accuracy vs. multiply-adds chart here")
    parser.add_argument("--markdown", metavar="MD", help="also write the table as Markdown here")
    parser.add_argument("--specs", action="store_true",
                        help="print the README's model table from the specs (nothing is built) and exit")
    args = parser.parse_args(argv)
    if args.specs:
        print(spec_table())
        return 0
    if args.chart:
        check_output(args.chart, what="chart (--chart)", suffixes=CHART_SUFFIXES)
    if args.markdown:
        check_output(args.markdown, what="Markdown table (--markdown)")
    import_keras_quietly()
    import kerasnets

    names = [kerasnets.model_info(n).name for n in args.models] if args.models else kerasnets.list_models()
    rows = sorted(measure(names), key=lambda r: r["macs"])
    table = markdown(rows)
    print(table)
    if args.markdown:
        with atomic_output(args.markdown) as tmp:
            tmp.write_text(table + "\n")
    if args.chart:
        draw_chart(rows, args.chart)
        print(f"\nChart written to {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
