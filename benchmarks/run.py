"""kerasnets benchmarks, measured side by side in one process so that machine noise cancels.

    python benchmarks/run.py                      # everything (about 40 minutes on 2 cores)
    python benchmarks/run.py --sections keras fast --models MobileNet ResNet50
    python benchmarks/run.py --quick              # a tiny smoke run (the test suite uses it)

Sections (results as CSV + Markdown + PNG in --output, and the summary in benchmarks/README.md):
  keras   kerasnets vs keras.applications, same weights: batch-1 median latency through a
          tf.function call and through model.predict_on_batch, and batch-32 throughput, as ratios;
  fast    the fast CPU path (export.predictor.LiteRTPredictor, LiteRT float32 + XNNPACK) vs
          keras.applications' tf.function at batch 1, with the largest output difference;
  litert  MobileNet v1/v2 width x resolution grids and ResNet50 as float32, float16, dynamic and
          int8 .tflite files: size, LiteRT latency with 1 and 2 threads, multiply-adds per second
          against this CPU's fp32 matrix-multiply peak, and the fit of latency to multiply-adds.

Weights are random (nothing can be downloaded here); latency does not depend on them. Benchmarks
measure and report: nothing here fails because a machine is slow.
"""

import argparse
import csv
import io
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from export.grid import latency_ms
from kerasnets.utils import atomic_output, import_keras_quietly, save_figure

HERE = os.path.dirname(os.path.abspath(__file__))


def _specs():
    from kerasnets.core.registry import specs

    return specs()


#: The networks kerasnets and keras.applications both have (their weights are keras.applications'
#: files), with their input sizes: read from the model specs.
SHARED = {spec.builder_name: spec.input_size for spec in _specs() if spec.weights_source == "keras.applications"}
FAST = ("MobileNet", "MobileNetV2", "ResNet50")
#: Networks also timed against a second keras.applications copy: the noise floor of a ratio.
CONTROLS = ("MobileNetV2", "VGG19", "ResNet50V2")
#: The width x resolution grids of the specs, plus ResNet50 at its one size.
GRIDS = {
    **{spec.name: dict(alphas=spec.grid.alphas, sizes=spec.grid.sizes) for spec in _specs() if spec.grid is not None},
    "resnet50": dict(alphas=(None,), sizes=(224,)),
}
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
QUICK = dict(shared={"MobileNetV3Small": 96}, fast=("MobileNetV3Small",), grids={"mobilenet": dict(alphas=(0.25,),
    sizes=(96,))},
             quantizations=("none", "int8"), repeats=5)


def log(message):
    print(message, flush=True)


def interleaved_ms(functions, repeats, warmup=2):
    """Median milliseconds of each function, timed in turns (A, B, A, B, ...) so drift hits both."""
    for function in functions:
        for _ in range(warmup):
            function()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for bucket, function in zip(times, functions):
            start = time.perf_counter()
            function()
            bucket.append((time.perf_counter() - start) * 1000)
    return [statistics.median(bucket) for bucket in times]


def write_table(rows, columns, path_stem, title, formats):
    """`<stem>.csv` and `<stem>.md` (a Markdown table with `formats[column]` applied)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(f"{path_stem}.csv") as tmp:
        tmp.write_text(out.getvalue())
    lines = [title, "", "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(formats.get(c, "{}").format(row[c]) if row.get(c) is not None else "–"
                                       for c in columns) + " |")
    text = "\n".join(lines) + "\n"
    with atomic_output(f"{path_stem}.md") as tmp:
        tmp.write_text(text)
    return text


# -- 1. kerasnets vs keras.applications --------------------------------------------------------

def paired_models(name, size, tmp, control=False, activation=None):
    """(kerasnets model, keras.applications model) with the same random weights (loaded through a
    legacy .h5 file, as the official weights are). control=True pairs two keras.applications
    copies instead: their ratio is the noise floor of the measurement. activation: None (logits) or
    'softmax' (probabilities, what a user gets)."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    import kerasnets

    reference = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
        classifier_activation=activation)
    calibrate(reference, size)
    path = os.path.join(tmp, f"{name}.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    library = keras.applications if control else kerasnets
    ours = getattr(library, name)(weights=path, input_shape=(size, size, 3), classifier_activation=activation)
    return ours, reference


def calibrate(model, size):
    """Give a randomly initialised network BatchNorm statistics of its inputs (precise BN on uniform
    [-1, 1] images): with the initial ones, activations vanish through the depth and every output is
    the same, which would make any comparison of outputs vacuous."""
    import tensorflow as tf

    from kerasnets.train import PreciseBatchNorm

    x = np.random.default_rng(7).uniform(-1, 1, (16, size, size, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(16, "float32"))).batch(8)
    PreciseBatchNorm(data, batches=2).update(model)


def bench_keras(shared, repeats, output, controls=()):
    import keras
    import tensorflow as tf

    rows = []
    jobs = [(name, size, False) for name, size in shared.items()] + [(name, shared[name], True) for name in controls
                                                                       if name in shared]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, size, control) in enumerate(jobs, start=1):
            log(f"[keras {i}/{len(jobs)}] {name} "
                f"{size}px{' (control: keras.applications vs itself)' if control else ''}")
            ours, reference = paired_models(name, size, tmp, control)
            rng = np.random.default_rng(0)
            one = tf.constant(rng.uniform(-1, 1, (1, size, size, 3)).astype("float32"))
            batch = tf.constant(rng.uniform(-1, 1, (32, size, size, 3)).astype("float32"))
            calls = [tf.function(lambda x, m=m: m(x, training=False)) for m in (ours, reference)]
            difference = float(np.max(np.abs(calls[0](batch).numpy() - calls[1](batch).numpy())))
            latency = interleaved_ms([lambda c=c: c(one).numpy() for c in calls], repeats)
            throughput = interleaved_ms([lambda c=c: c(batch).numpy() for c in calls], max(3, repeats // 4), 1)
            one_predict = one.numpy()
            predict = interleaved_ms([lambda m=m: m.predict_on_batch(one_predict) for m in (ours, reference)], repeats)
            rows.append(dict(network=f"{name} (A/A control)" if control else name, size=size, max_abs_diff=difference,
                             latency_kerasnets_ms=latency[0], latency_keras_ms=latency[1],
                             latency_ratio=latency[0] / latency[1],
                             throughput_kerasnets=32000 / throughput[0], throughput_keras=32000 / throughput[1],
                             throughput_ratio=throughput[0] / throughput[1],
                             predict_kerasnets_ms=predict[0], predict_keras_ms=predict[1],
                                 predict_ratio=predict[0] / predict[1]))
            log(f"    batch 1: {latency[0]:.1f} vs {latency[1]:.1f} ms (ratio {rows[-1]['latency_ratio']:.3f}); "
                "predict "
                f"{predict[0]:.1f} vs {predict[1]:.1f} ms; batch 32: {rows[-1]['throughput_kerasnets']:.1f} vs "
                f"{rows[-1]['throughput_keras']:.1f} images/s")
            del ours, reference
            keras.backend.clear_session()
    columns = ["network", "size", "latency_kerasnets_ms", "latency_keras_ms", "latency_ratio", "predict_kerasnets_ms",
               "predict_keras_ms", "predict_ratio", "throughput_kerasnets", "throughput_keras", "throughput_ratio",
               "max_abs_diff"]
    formats = {key: "{:.1f}" for key in columns if key.endswith(("_ms", "kerasnets", "keras"))}
    formats.update({key: "{:.3f}" for key in columns if key.endswith("ratio")}, max_abs_diff="{:.1e}")
    text = write_table(rows, columns, os.path.join(output, "keras_vs_applications"),
                       "kerasnets / keras.applications, same weights, same process, timed in turns. latency: batch 1, "
                       f"median of {repeats} tf.function calls (ms); predict: batch 1 through model.predict_on_batch "
                       "(ms); "
                       f"throughput: batch 32 through the tf.function (images/s, median of {max(3, repeats // 4)}). "
                       "Ratios are "
                       "kerasnets time / keras.applications time (< 1: kerasnets faster). max_abs_diff: logits on the "
                       "batch.",
                       formats)
    ratio_chart(rows, os.path.join(output, "keras_vs_applications.png"))
    return text


def ratio_chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["network"] for r in rows]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5), dpi=110)
    ax.barh(y - 0.27, [r["latency_ratio"] for r in rows], 0.27, label="batch 1, tf.function")
    ax.barh(y, [r["predict_ratio"] for r in rows], 0.27, label="batch 1, predict_on_batch")
    ax.barh(y + 0.27, [r["throughput_ratio"] for r in rows], 0.27, label="batch 32, tf.function")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set(yticks=y, yticklabels=names, xlabel="kerasnets time / keras.applications time",
        title="kerasnets vs keras.applications")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


# -- 2. the fast CPU path ---------------------------------------------------------------------

def bench_fast(names, sizes, repeats, output):
    import keras
    import tensorflow as tf

    from export.predictor import LiteRTPredictor

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names, start=1):
            size = sizes.get(name, 224)
            log(f"[fast {i}/{len(names)}] {name}: converting to LiteRT float32")
            ours, reference = paired_models(name, size, tmp, activation="softmax")
            fast = LiteRTPredictor(ours)
            rng = np.random.default_rng(1)
            images = rng.uniform(-1, 1, (8, size, size, 3)).astype("float32")
            expected = reference.predict(images, verbose=0)
            difference = float(np.max(np.abs(fast.predict(images) - expected)))
            scale = float(np.max(expected))
            one = tf.constant(images[:1])
            call = tf.function(lambda x: reference(x, training=False))
            keras_ms, fast_ms = interleaved_ms([lambda: call(one).numpy(), lambda: fast.predict_one(images[0])],
                repeats)
            rows.append(dict(network=name, size=size, keras_tf_function_ms=keras_ms, litert_float32_ms=fast_ms,
                             ratio=fast_ms / keras_ms, threads=fast.threads, max_abs_diff=difference,
                                 max_probability=scale))
            log(f"    keras.applications tf.function {keras_ms:.1f} ms, kerasnets LiteRTPredictor {fast_ms:.1f} ms "
                f"(ratio {fast_ms / keras_ms:.2f}), max |diff| {difference:.1e}")
            keras.backend.clear_session()
    columns = ["network", "size", "keras_tf_function_ms", "litert_float32_ms", "ratio", "threads", "max_abs_diff",
               "max_probability"]
    return write_table(rows, columns, os.path.join(output, "fast_path"),
                       "The fast CPU path: `export.predictor.LiteRTPredictor` (LiteRT float32, XNNPACK) vs "
                       "keras.applications through tf.function, batch 1, median ms; the 1000 class probabilities "
                       "compared on "
                       "8 inputs (max_probability: the largest, above the uniform 0.001: with calibrated BatchNorm "
                       "statistics the outputs depend on the input).",
                       {"keras_tf_function_ms": "{:.1f}", "litert_float32_ms": "{:.1f}", "ratio": "{:.2f}",
                        "max_abs_diff": "{:.1e}", "max_probability": "{:.3f}"})


# -- 3. LiteRT grids, peak and cost growth -----------------------------------------------------

def matmul_peak_gmacs(threads, n=2048, repeats=5):
    """Practical fp32 peak of this CPU: multiply-adds per second of an n x n matrix product (NumPy's
    BLAS, the best of `repeats` runs)."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    with threadpool_limits(threads):
        a @ a
        best = min(_seconds(lambda: a @ a) for _ in range(repeats))
    return n ** 3 / best / 1e9


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def litert_matmul_peak_gmacs(threads, n=2048, batch=256, repeats=5):
    """The same, for LiteRT itself: a float32 `[batch, n] x [n, n]` fully-connected layer run by XNNPACK."""
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((n,), batch_size=batch), keras.layers.Dense(n, use_bias=False)])
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ms = latency_ms(data, threads, runs=repeats, warmup=1, best=True)
    return batch * n * n / (ms / 1000) / 1e9


def grid_points(grids):
    for family, grid in grids.items():
        for alpha in grid["alphas"]:
            for size in grid["sizes"]:
                yield family, alpha, size


def top1_agreement(model_bytes, keras_model, images):
    from export.verify import interpreter, run

    got = run(interpreter(model_bytes), images)
    expected = keras_model.predict(images, verbose=0)
    return float(np.mean(np.argmax(got, -1) == np.argmax(expected, -1)))


def bench_litert(grids, quantizations, repeats, output):
    import keras

    import kerasnets
    from export.saved_model import with_preprocessing, write_saved_model
    from export.tflite import _convert_saved_model, representative_images
    from kerasnets.train.datasets import image_files, read_images

    samples = read_images(image_files(os.path.join(os.path.dirname(HERE), "images")), (224, 224))
    blas = {threads: matmul_peak_gmacs(threads) for threads in (1, 2)}
    litert = {threads: litert_matmul_peak_gmacs(threads) for threads in (1, 2)}
    peaks = {threads: max(blas[threads], litert[threads]) for threads in (1, 2)}
    log(f"fp32 matrix-multiply peak: BLAS {blas[1]:.1f} / {blas[2]:.1f} GMAC/s, LiteRT fully-connected "
        f"{litert[1]:.1f} / {litert[2]:.1f} GMAC/s (1 / 2 threads)")
    rows, points = [], list(grid_points(grids))
    for i, (family, alpha, size) in enumerate(points, start=1):
        info = kerasnets.model_info(family)
        options = {} if alpha is None else {"alpha": alpha}
        model = info.build(weights=None, input_shape=(size, size, 3), **options)
        macs = kerasnets.profile(model).macs
        wrapped = with_preprocessing(model, info.preprocessing)
        images = np.stack([keras.ops.convert_to_numpy(keras.ops.image.resize(x, (size, size))) for x in samples])
        calibration = representative_images(images, (size, size), limit=len(images))
        with tempfile.TemporaryDirectory() as tmp:
            write_saved_model(wrapped, tmp, batch_size=1)
            for quantize in quantizations:
                log(f"[litert {i}/{len(points)}] {family} {alpha or ''} {size}px {quantize}")
                data = _convert_saved_model(tmp, model.name, quantize, calibration if quantize == "int8" else None)
                row = dict(network=family, alpha=alpha, size=size,
                    quantization=quantize if quantize != "none" else "float32",
                           mult_adds_m=macs / 1e6, file_mb=len(data) / 1e6,
                           agreement=top1_agreement(data, wrapped, images))
                for threads in (1, 2):
                    ms = latency_ms(data, threads, runs=repeats, warmup=3)
                    row[f"latency_{threads}t_ms"] = ms
                    row[f"gmacs_{threads}t"] = macs / (ms / 1000) / 1e9
                    row[f"peak_fraction_{threads}t"] = row[f"gmacs_{threads}t"] / peaks[threads]
                rows.append(row)
        keras.backend.clear_session()
    columns = ["network", "alpha", "size", "quantization", "mult_adds_m", "file_mb", "latency_1t_ms", "latency_2t_ms",
               "gmacs_1t", "gmacs_2t", "peak_fraction_1t", "agreement"]
    formats = {"alpha": "{:g}", "mult_adds_m": "{:.0f}", "file_mb": "{:.2f}", "latency_1t_ms": "{:.2f}",
               "latency_2t_ms": "{:.2f}", "gmacs_1t": "{:.1f}", "gmacs_2t": "{:.1f}", "peak_fraction_1t": "{:.2f}",
               "agreement": "{:.2f}"}
    text = write_table(rows, columns, os.path.join(output, "litert"),
                       f"LiteRT (XNNPACK) batch-1 median latency, {repeats} runs. Practical fp32 peak, the best of a "
                       "2048x2048 "
                       f"NumPy/BLAS matmul ({blas[1]:.1f} / {blas[2]:.1f} GMAC/s on 1 / 2 threads) and a LiteRT "
                       "256x2048x2048 "
                       f"fully-connected layer ({litert[1]:.1f} / {litert[2]:.1f}); peak_fraction_1t = gmacs_1t / "
                       f"{peaks[1]:.1f}. agreement: top-1 agreement with Keras on the sample photos (random weights, "
                       "so int8 "
                       "agreement is a lower bound).", formats)
    fits = cost_growth(rows, os.path.join(output, "cost_growth.png"))
    return text + "\n" + fits


def cost_growth(rows, path):
    """Fit latency = a * mult-adds + b per MobileNet family and quantization (1 thread); name outliers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["Cost growth (1 thread): latency = a x mult-adds + b fitted over each grid; outliers are points more than "
             "25 % off the line.", "", "| grid | quantization | a (ms per G mult-adds) | b (ms) | R^2 | outliers |",
             "|---|---|---:|---:|---:|---|"]
    families = [f for f in dict.fromkeys(r["network"] for r in rows) if f.startswith("mobilenet")]
    quantizations = list(dict.fromkeys(r["quantization"] for r in rows))
    fig, axes = plt.subplots(1, max(1, len(families)), figsize=(6 * max(1, len(families)), 4.5), dpi=110, squeeze=False)
    for ax, family in zip(axes[0], families):
        for quantize in quantizations:
            subset = [r for r in rows if r["network"] == family and r["quantization"] == quantize]
            if len(subset) < 3:
                continue
            x = np.array([r["mult_adds_m"] / 1000 for r in subset])
            y = np.array([r["latency_1t_ms"] for r in subset])
            a, b = np.polyfit(x, y, 1)
            predicted = a * x + b
            r2 = 1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2)
            outliers = [f"{r['alpha']:g}@{r['size']} ({(yy / pp - 1) * 100:+.0f} %)" for r, yy, pp in zip(subset, y,
                predicted)
                        if abs(yy / pp - 1) > 0.25]
            lines.append(f"| {family} | {quantize} | {a:.2f} | {b:.2f} | {r2:.3f} | {', '.join(outliers) or 'none'} |")
            ax.scatter(x * 1000, y, s=14, label=f"{quantize} (R² {r2:.2f})")
            grid = np.linspace(0, x.max(), 20)
            ax.plot(grid * 1000, a * grid + b, linewidth=1)
        ax.set(xlabel="multiply-adds (M)", ylabel="LiteRT latency, 1 thread (ms)",
            title=f"{family}: width x resolution grid")
        ax.grid(alpha=0.3)
        if ax.collections:
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return "\n".join(lines) + "\n"


def cpu_description():
    import platform

    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
        wanted = [flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f" {flag}" in info]
        flags = f"{model}; {', '.join(wanted)}"
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores ({flags})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=["keras", "fast", "litert"], choices=("keras", "fast",
        "litert"))
    parser.add_argument("--models", nargs="+",
        help=f"networks for keras/fast (default: all shared: {', '.join(SHARED)})")
    parser.add_argument("--grids", nargs="+", choices=sorted(GRIDS), help="LiteRT grids (default: all)")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per measurement (default 30)")
    parser.add_argument("--quick", action="store_true", help="tiny run to check the harness")
    parser.add_argument("--output", default=os.path.join(HERE, "results"),
        help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    keras = import_keras_quietly()
    os.makedirs(args.output, exist_ok=True)
    shared = {name: SHARED[name] for name in (args.models or SHARED) if name in SHARED}
    fast = [name for name in (args.models or FAST) if name in FAST]
    grids = {name: GRIDS[name] for name in (args.grids or GRIDS)}
    quantizations, repeats = QUANTIZATIONS, args.repeats
    if args.quick:
        shared, fast, grids = QUICK["shared"], QUICK["fast"], QUICK["grids"]
        quantizations, repeats = QUICK["quantizations"], QUICK["repeats"]
    start = time.perf_counter()
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {cpu_description()}; Keras {keras.__version__}, "
              f"backend {keras.backend.backend()}.")
    parts = [header]
    if "keras" in args.sections:
        parts.append(bench_keras(shared, repeats, args.output, controls=() if args.quick else CONTROLS))
    if "fast" in args.sections:
        parts.append(bench_fast(fast, {**SHARED, **shared}, repeats, args.output))
    if "litert" in args.sections:
        parts.append(bench_litert(grids, quantizations, repeats, args.output))
    parts.append(f"Total benchmark time: {time.perf_counter() - start:.0f} s.")
    with atomic_output(os.path.join(args.output, "summary.md")) as tmp:
        tmp.write_text("\n\n".join(parts) + "\n")
    log(f"Results in {args.output} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
