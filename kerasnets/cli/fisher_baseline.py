"""The pre-CNN baseline against the CNNs on the same images: improved Fisher vectors of dense SIFT
with a linear SVM (Perronnin, Sánchez and Mensink, ECCV 2010), LeNet-5 trained from scratch, and
a pretrained network's features with a linear classifier, on one training / held-out split.

    python apps/fisher_baseline.py --data flowers/                 # one sub-folder of images per class
    python apps/fisher_baseline.py --demo                          # offline: scikit-learn's digits at 64 px
    python apps/fisher_baseline.py --data flowers/ --features-model mobilenetv2 --components 64

Writes into --output (default runs/fisher_baseline): comparison.md and comparison.csv (held-out
accuracy, training time, feature dimension per method) and comparison.png (accuracy and training
time as bars). A method that cannot run here (the features network is not registered, or its
weights cannot be had) gets a row that says why; the others still run.
"""

import argparse
import csv
import io
import os
import sys
import tempfile
import time
import warnings

import numpy as np

METHODS = ("fisher", "lenet5", "features")
#: The offline demo: scikit-learn's digits upsampled to 64 px, a small mixture (the digits are simple).
DEMO = {"components": 16, "pca": 32, "max_descriptors": 50_000}
OUTPUT_FILES = ("comparison.md", "comparison.csv", "comparison.png")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--data", metavar="DIR",
        help="image folder: <class>/<images>, or train/ and validation/ of those")
    parser.add_argument("--demo", action="store_true",
        help="offline demo on scikit-learn's digits (nothing to download)")
    parser.add_argument("--demo-size", type=int, default=64, help="pixels of the demo's upsampled digits (default: 64)")
    parser.add_argument("--output", "-o", metavar="DIR", default=os.path.join("runs", "fisher_baseline"),
                        help="folder for comparison.md/.csv/.png (default: runs/fisher_baseline)")
    parser.add_argument("--methods", default=",".join(METHODS),
        help=f"which rows to run (default: {','.join(METHODS)})")
    parser.add_argument("--validation-split", type=float, default=0.2,
        help="held-out fraction per class (default: 0.2)")
    parser.add_argument("--max-per-class", type=int, metavar="N", help="use at most N images per class in each split")
    parser.add_argument("--seed", type=int, default=0)
    fisher = parser.add_argument_group("Fisher vector")
    fisher.add_argument("--components", type=int, default=64,
        help="Gaussians in the mixture, K (default: 64; demo: 16)")
    fisher.add_argument("--pca", type=int, default=64, help="PCA dimensions of the descriptors, D; 0: no PCA "
                                                            "(default: 64; demo: 32)")
    fisher.add_argument("--step", type=int, default=4, help="dense SIFT grid step in pixels (default: 4)")
    fisher.add_argument("--patch-sizes", default="16,24,32",
        help="dense SIFT patch widths in pixels (default: 16,24,32)")
    fisher.add_argument("--max-side", type=int, default=256,
        help="shrink larger images to this longer side first (default: 256)")
    fisher.add_argument("--max-descriptors", type=int, default=100_000,
                        help="descriptors sampled to fit PCA and the mixture (default: 100000; demo: 50000)")
    fisher.add_argument("--C", type=float, default=1.0, dest="C", help="the linear SVM's C (default: 1)")
    fisher.add_argument("--n-jobs", type=int, default=1, help="threads extracting descriptors (-1: all cores)")
    fisher.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for PCA, the mixture and the SVM (default: 1; their matrices are thin, and "
                             "on a shared machine spinning BLAS threads made them 4-20x slower); 0: the library "
                             "default")
    cnn = parser.add_argument_group("CNNs")
    cnn.add_argument("--epochs", type=int, default=30, help="LeNet-5 training epochs (default: 30)")
    cnn.add_argument("--batch-size", type=int, default=32)
    cnn.add_argument("--features-model", default="efficientnet_lite0",
                     help="registered network whose pooled features feed a linear classifier (default: "
                         "efficientnet_lite0)")
    cnn.add_argument("--features-weights", default="imagenet",
        help="imagenet (default), none (random) or a weights file")
    args = parser.parse_args(argv)
    if args.demo == bool(args.data):
        parser.error("give either --data DIR (one sub-folder of images per class) or --demo")
    if args.demo:
        for key, value in DEMO.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown or not args.methods:
        parser.error(f"--methods takes a comma-separated list of {', '.join(METHODS)}; received {unknown or 'none'}")
    try:
        args.patch_sizes = tuple(int(s) for s in args.patch_sizes.split(","))
    except ValueError:
        parser.error(f"--patch-sizes takes comma-separated integers, e.g. 16,24,32; received {args.patch_sizes!r}")
    for name in ("components", "step", "max_side", "max_descriptors", "epochs", "batch_size", "demo_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    too_few_per_class = args.max_per_class is not None and args.max_per_class < 1
    if args.pca < 0 or args.blas_threads < 0 or too_few_per_class or args.C <= 0:
        parser.error("--pca and --blas-threads must be >= 0, --max-per-class >= 1 and --C > 0")
    return args


def limit_per_class(folder, limit, seed):
    """`folder` with at most `limit` images per class, chosen at random (all when limit is None)."""
    if limit is None:
        return folder
    rng = np.random.default_rng(seed)
    keep = [i for label in range(folder.num_classes)
            for i in rng.permutation(np.flatnonzero(folder.labels == label))[:limit]]
    return folder.subset(sorted(keep))


def readable(folder, size):
    """(folder without unreadable files, its images as float32 RGB 0-255 at size x size): every file is
    decoded once here, so that a corrupt file is skipped (with a warning) by every method alike."""
    from kerasnets.train.datasets import read_images

    bad = []
    images = read_images(folder.paths, size, on_error=lambda path, reason: bad.append(path))
    for path in bad:
        folder.skip(path, f"{path}: unreadable")
    if bad:
        bad = set(bad)
        folder = folder.subset([i for i, path in enumerate(folder.paths) if path not in bad])
    return folder, images


def row(method, accuracy=None, seconds=None, dimension=None, notes=""):
    return {"method": method, "accuracy": accuracy, "training_seconds": seconds, "feature_dimension": dimension,
            "notes": notes}


def run_fisher(args, train, validation):
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC
    from threadpoolctl import threadpool_limits

    from kerasnets.classic import DenseSIFT, FisherVector

    fisher = FisherVector(args.components, pca_components=args.pca or None, max_descriptors=args.max_descriptors,
                          descriptor=DenseSIFT(args.step, args.patch_sizes, max_side=args.max_side),
                          n_jobs=args.n_jobs, verbose=sys.stderr.isatty(), random_state=args.seed)
    model = Pipeline([("fisher", fisher), ("svm", LinearSVC(C=args.C, random_state=args.seed))])
    with threadpool_limits(limits=args.blas_threads or None, user_api="blas"):
        start = time.perf_counter()
        model.fit(train.paths, train.labels)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(model.predict(validation.paths) == validation.labels))
    pca = f"PCA {args.pca}" if args.pca else "no PCA"
    return row("Fisher vector + linear SVM (Perronnin et al. 2010)", accuracy, seconds, fisher.n_features_out_,
               f"dense SIFT (step {args.step}, patches {'/'.join(map(str, args.patch_sizes))} px), {pca}, "
               f"diagonal GMM K={args.components}, C={args.C:g}")


def gray(images):
    """float32 RGB 0-255 (N, H, W, 3) -> luma 0-1 (N, H, W, 1)."""
    return (images @ np.float32([0.299, 0.587, 0.114]) / 255.0)[..., None]


def run_lenet(args, keras, train_images, train, validation_images, validation):
    import kerasnets

    keras.utils.set_random_seed(args.seed)
    model = kerasnets.LeNet5(classes=train.num_classes, weights=None)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(gray(train_images), train.labels, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    seconds = time.perf_counter() - start
    predicted = np.argmax(model.predict(gray(validation_images), verbose=0), axis=-1)
    return row("LeNet-5 from scratch (LeCun et al. 1998)", float(np.mean(predicted == validation.labels)), seconds,
               int(model.get_layer("f6").units),
               f"32x32 grayscale, {args.epochs} epochs, Adam; {model.count_params():,} parameters; feature: F6")


def run_features(args, keras, train, validation):
    """Pooled features of a registered network, then a logistic regression: a row, 'unavailable' if it cannot run."""
    import kerasnets
    from kerasnets.train.datasets import read_images

    name = args.features_model.lower()
    weights = None if args.features_weights == "none" else args.features_weights
    kind = "ImageNet" if weights == "imagenet" else "random" if weights is None else "pretrained"
    label = f"{name} {kind} features + logistic regression"
    if name not in kerasnets.list_models():
        return row(label, notes=f"unavailable: {name} is not a registered network in this kerasnets "
                                "(--features-model picks one of kerasnets.list_models())")
    info = kerasnets.model_info(name)
    try:
        network = kerasnets.get_model(name, weights=weights, include_top=False, pooling="avg",
                                      input_shape=(info.input_size, info.input_size, info.channels))
    except (ValueError, OSError, ImportError) as e:  # WeightsError is a ValueError: no network, no file, no package
        return row(label, notes=f"unavailable: {str(e).splitlines()[0]}")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def features(paths):
        out = []
        for start in range(0, len(paths), 64):
            images = read_images(paths[start:start + 64], info.input_size)
            images = gray(images) * 255.0 if info.channels == 1 else images
            out.append(np.asarray(network.predict(info.preprocess(images), verbose=0)))
        return np.concatenate(out).reshape(len(paths), -1)

    start = time.perf_counter()
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(features(train.paths), train.labels)
    seconds = time.perf_counter() - start
    held_out = features(validation.paths)
    accuracy = float(np.mean(classifier.predict(held_out) == validation.labels))
    return row(label, accuracy, seconds, held_out.shape[1],
               f"{info.input_size}x{info.input_size} input, frozen network, features extracted in the training time")


def markdown(rows, summary):
    lines = [f"# Fisher vector vs CNNs: {summary['data']}", "",
             (f"{summary['classes']} classes, {summary['train']} training and {summary['validation']} held-out images "
              f"(the same split for every method, seed {summary['seed']}); chance: {100 / summary['classes']:.1f} %."),
                  "",
             "| method | held-out accuracy | training time (s) | feature dimension | notes |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        accuracy = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
        seconds = "" if r["training_seconds"] is None else f"{r['training_seconds']:.1f}"
        dimension = "" if r["feature_dimension"] is None else f"{r['feature_dimension']:,}"
        lines.append(f"| {r['method']} | {accuracy} | {seconds} | {dimension} | {r['notes']} |")
    lines += ["", (f"Training time: wall-clock seconds on {summary['cpus']} CPU core(s), from image files to a fitted "
                   "classifier (the Fisher vector's time includes descriptor extraction, PCA and the mixture; the "
                   "features row's includes running the frozen network on the training images). Feature dimension: "
                   "the length of the vector the linear classifier reads (2·K·D for the Fisher vector)."), ""]
    return "\n".join(lines)


def csv_text(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    return out.getvalue()


def plot(rows, summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasnets.utils import save_figure

    names = [r["method"].split(" (")[0] for r in rows]
    figure, axes = plt.subplots(1, 2, figsize=(11, 1.2 + 0.7 * len(rows)))
    for axis, key, scale, title in ((axes[0], "accuracy", 100.0, "held-out accuracy (%)"),
                                    (axes[1], "training_seconds", 1.0, "training time (s)")):
        values = [0.0 if r[key] is None else r[key] * scale for r in rows]
        bars = axis.barh(names, values, color=["#4c72b0", "#dd8452", "#55a868"][:len(rows)])
        for bar, r, value in zip(bars, rows, values):
            text = "unavailable" if r[key] is None else f"{value:.1f}"
            axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {text}", va="center")
        axis.set_title(title)
        axis.invert_yaxis()
        axis.set_xlim(0, (100 if key == "accuracy" else max(values + [1.0])) * 1.2)
        if key == "accuracy":
            axis.set_xticks(range(0, 101, 20))
        axis.grid(axis="x", alpha=0.3)
    axes[0].axvline(100 / summary["classes"], color="gray", linestyle="--")
    axes[0].set_title(f"held-out accuracy (%; dashed: chance, {100 / summary['classes']:.0f} %)")
    axes[1].set_yticklabels([])
    figure.suptitle(f"{summary['data']}: {summary['train']} training / {summary['validation']} held-out images")
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


def check_dependencies():
    import importlib.util

    missing = [name for module, name in (("sklearn", "scikit-learn"), ("matplotlib", "matplotlib"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise ValueError(f"fisher_baseline needs {' and '.join(missing)}: pip install 'kerasnets[train]'.")


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    check_dependencies()
    from kerasnets.utils import check_output, created_folders

    check_output(args.output, what="output folder", folder=True)  # before any work
    with created_folders(args.output), tempfile.TemporaryDirectory(prefix="fisher_demo_") as scratch:
        return run(args, scratch)


def run(args, scratch):
    from kerasnets.utils import atomic_output, import_keras_quietly

    keras = import_keras_quietly()  # kerasnets.train loads Keras: without its start-up log lines
    from kerasnets.train.datasets import digits_image_folder, split_image_folder

    if args.demo:
        args.data = digits_image_folder(os.path.join(scratch, "digits"), size=args.demo_size)
        print(f"Demo data: scikit-learn's 1,797 handwritten digits as {args.demo_size}-px images")
    train, validation = split_image_folder(args.data, args.validation_split, seed=args.seed)
    train = limit_per_class(train, args.max_per_class, args.seed)
    validation = limit_per_class(validation, args.max_per_class, args.seed)
    if not len(validation):
        raise ValueError(f"{args.data}: no held-out images; use a --validation-split above 0.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped files are reported below, once
        train, train_images = readable(train, 32)
        validation, validation_images = readable(validation, 32)
    skipped = train.skipped
    summary = {"data": "scikit-learn digits" if args.demo else os.path.basename(os.path.abspath(args.data)),
               "classes": train.num_classes, "train": len(train), "validation": len(validation),
               "seed": args.seed, "cpus": len(os.sched_getaffinity(0)) if hasattr(os,
                   "sched_getaffinity") else os.cpu_count()}
    print(f"Data: {len(train)} training and {len(validation)} held-out images, {train.num_classes} classes"
          + (f"; skipped {len(skipped)} unreadable file(s)" if skipped else ""))
    rows = []
    for method in args.methods:
        print(f"Running {method} ...", flush=True)
        if method == "fisher":
            rows.append(run_fisher(args, train, validation))
        elif method == "lenet5":
            rows.append(run_lenet(args, keras, train_images, train, validation_images, validation))
        else:
            rows.append(run_features(args, keras, train, validation))
        print(f"  {rows[-1]['method']}: " + (rows[-1]["notes"] if rows[-1]["accuracy"] is None else
                                             f"{rows[-1]['accuracy']:.2%} in {rows[-1]['training_seconds']:.1f} s"))
    table = markdown(rows, summary)
    paths = [os.path.join(args.output, name) for name in OUTPUT_FILES]
    plot(rows, summary, paths[2])  # first: the likeliest to fail
    with atomic_output(paths[1]) as tmp:
        tmp.write_text(csv_text(rows))
    with atomic_output(paths[0]) as tmp:
        tmp.write_text(table)
    print("\n" + table)
    print("Wrote " + ", ".join(paths))
    return 0
