"""Fine-tune a kerasnets network on a folder of images (one sub-folder per class), then report,
plot and optionally export it as a `.tflite` for Android.

    python apps/fine_tune.py --data flowers/ --model mobilenetv2 --scenario fine_tune_top --epochs 10
    python apps/fine_tune.py --data flowers/ --model resnet50 --scenario fine_tune_from \
        --fine-tune-from conv5_block1_out
    python apps/fine_tune.py --demo            # offline: digits -> EfficientNet-Lite0 -> int8 .tflite -> LiteRT

Writes, next to --output (default runs/<model>/model.keras): the `.keras` model, `<stem>_curves.png`
(loss and accuracy per epoch, both phases), `<stem>_confusion.png`, `<stem>_report.txt` (the
classification report on the validation split), `<stem>_labels.txt`, and with --export-tflite the
`<stem>_<quantization>.tflite` with metadata and labels, checked on the validation images with LiteRT.
"""

import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from kerasnets.train.datasets import DataError, digits_image_folder, split_image_folder
from kerasnets.utils import atomic_output, check_output, created_folders, import_keras_quietly, save_figure

SCENARIOS = ("feature_extractor", "fine_tune_top", "fine_tune_from", "full")
EXPORTS = ("none", "float32", "float16", "dynamic", "int8")
#: The offline demo: scikit-learn's digits at 64 px, EfficientNet-Lite0 fine-tuned from its ImageNet weights
#: (a pip package, so nothing is downloaded): one epoch for the new classifier, then every layer from the stem
#: on at half its learning rate, BatchNorm frozen (benchmarks/transfer_learning.py compares this with training
#: from scratch: `--weights none --scenario full --head-epochs 0 --learning-rate 2e-3`).
DEMO = dict(model="efficientnet_lite0", weights="imagenet", scenario="fine_tune_from", fine_tune_from="stem_conv",
            epochs=6, head_epochs=1, image_size=64, batch_size=32, learning_rate=1e-3, fine_tune_learning_rate=5e-4,
            augment="rotation,zoom,translation", export_tflite="int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n",
                                         1)[1])
    parser.add_argument("--data", metavar="DIR",
        help="image folder (<class>/<images>, or train/ and validation/ of those), "
                                                      "or tfds:NAME for a prepared tensorflow-datasets dataset")
    parser.add_argument("--demo", action="store_true",
                        help="offline end-to-end demo on scikit-learn's digits (EfficientNet-Lite0, ImageNet weights)")
    parser.add_argument("--model", "-m", default="mobilenetv2", help="registered network (default: mobilenetv2)")
    parser.add_argument("--alpha", type=float, help="width multiplier for the MobileNets")
    parser.add_argument("--weights", default="imagenet", help="imagenet (default), none (random) or a weights file")
    parser.add_argument("--scenario", choices=SCENARIOS, default="feature_extractor")
    parser.add_argument("--fine-tune-from", metavar="LAYER|INDEX", help="for --scenario fine_tune_from")
    parser.add_argument("--top-blocks", type=int, default=1, help="blocks trained by fine_tune_top (default: 1)")
    parser.add_argument("--list-blocks", action="store_true", help="print the network's blocks and exit")
    parser.add_argument("--epochs", type=int, default=10, help="total epochs over both phases (default: 10)")
    parser.add_argument("--head-epochs", type=int, help="epochs that train only the new classifier (default: a third)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, help="input size in pixels (default: the network's)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--fine-tune-learning-rate", type=float, help="second phase (default: learning rate / 10)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "rmsprop", "sgd"))
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="e.g. 0.1 as in Inception v3")
    parser.add_argument("--augment", default="default", help="default, none, or a list of flip,rotation,crop,zoom,"
                                                              "translation,contrast,brightness")
    parser.add_argument("--validation-split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", choices=("float16", "bfloat16"), help="mixed-precision training")
    parser.add_argument("--distribute", action="store_true",
                        help="all devices: MirroredStrategy, or JAX DataParallel (multi-worker from TF_CONFIG)")
    parser.add_argument("--output", "-o", metavar="PATH.keras",
        help="the fine-tuned model (default: runs/<model>/model.keras)")
    parser.add_argument("--export-tflite", choices=EXPORTS, default="none",
        help="also export a .tflite (int8: for phones)")
    args = parser.parse_args(argv)
    if args.demo:
        for key, value in DEMO.items():
            if getattr(args, key) == parser.get_default(key) or getattr(args, key) is None:
                setattr(args, key, value)
        args.output = args.output or os.path.join("runs", "digits_demo", "model.keras")
    elif not args.data and not args.list_blocks:
        parser.error("give --data DIR (one sub-folder of images per class) or --demo")
    if args.scenario == "fine_tune_from" and args.fine_tune_from is None and not args.list_blocks:
        parser.error("--scenario fine_tune_from needs --fine-tune-from LAYER_NAME or BLOCK_INDEX (see --list-blocks)")
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    if args.weights == "none" and args.scenario != "full" and not args.list_blocks:
        print(f"warning: --weights none with --scenario {args.scenario} trains a classifier on a random body that "
              "stays frozen, which learns next to nothing; use --scenario full to train from scratch.", file=sys.stderr)
    args.output = args.output or os.path.join("runs", args.model.lower(), "model.keras")
    if not args.output.endswith(".keras"):
        parser.error(f"--output must end in .keras (the Keras model format); received {args.output}")
    return args


def outputs(args):
    """The files this run writes, by role."""
    stem = args.output[: -len(".keras")]
    files = {"model": args.output, "curves": f"{stem}_curves.png", "confusion": f"{stem}_confusion.png",
             "report": f"{stem}_report.txt", "labels": f"{stem}_labels.txt", "summary": f"{stem}_summary.json"}
    if args.export_tflite != "none":
        files["tflite"] = f"{stem}_{args.export_tflite}.tflite"
    return files


def load_data(args, image_size):
    """(train dataset, validation dataset, class names, validation ImageFolder or None)."""
    from kerasnets.train import datasets

    if args.data.startswith("tfds:"):
        return (*datasets.tfds_splits(args.data[len("tfds:"):], image_size, validation_split=args.validation_split,
                                      batch_size=args.batch_size, augment=args.augment, seed=args.seed,
                                      data_dir=os.environ.get("TFDS_DATA_DIR")), None)
    train_folder, validation_folder = args.folders
    train = datasets.image_dataset(train_folder, image_size, batch_size=args.batch_size, training=True,
                                   augment=args.augment, seed=args.seed, drop_remainder=args.distribute)
    validation = datasets.image_dataset(validation_folder, image_size, batch_size=args.batch_size)
    return train, validation, train_folder.class_names, validation_folder


def plot_curves(log, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = log.history
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, history[metric], "o-", label=f"training {metric}")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], "s-", label=f"validation {metric}")
        for name, start in log.phases[1:]:
            axis.axvline(start + 0.5, color="gray", linestyle="--")
            axis.text(start + 0.6, axis.get_ylim()[1], f" {name}", va="top", color="gray")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


def plot_confusion(truth, predicted, class_names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5, 0.45 * len(class_names) + 3)
    figure, axis = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(truth, predicted, labels=range(len(class_names)),
        display_labels=class_names,
                                            ax=axis, colorbar=False, xticks_rotation="vertical")
    axis.set_title("validation confusion matrix")
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


def predictions(model, validation):
    """(true labels, predicted labels, images) over the validation dataset."""
    truth, predicted, images = [], [], []
    for x, y in validation:
        truth.append(np.argmax(np.asarray(y), axis=-1))
        predicted.append(np.argmax(np.asarray(model.predict_on_batch(x)), axis=-1))
        images.append(np.asarray(x))
    return np.concatenate(truth), np.concatenate(predicted), np.concatenate(images)


def export_tflite(model, args, files, train_folder, class_names, image_size, images, truth):
    """Write the .tflite and return its LiteRT accuracy on the validation images."""
    from export.tflite import to_tflite
    from export.verify import interpreter, run
    from kerasnets.train import datasets

    quantize = "none" if args.export_tflite == "float32" else args.export_tflite
    calibration = None
    if quantize == "int8":
        calibration = (datasets.image_dataset(train_folder, image_size, batch_size=1, cache=False)
                       if train_folder is not None else images[:, None])
    print(f"Exporting {files['tflite']} ({args.export_tflite}) ...", flush=True)
    to_tflite(model, files["tflite"], quantize=quantize, representative_data=calibration, labels=class_names,
              preprocessing="none", description=f"{model.name} fine-tuned by kerasnets on {len(class_names)} classes")
    probabilities = run(interpreter(files["tflite"]), images)
    return float(np.mean(np.argmax(probabilities, axis=-1) == truth))


def check_dependencies():
    import importlib.util

    missing = [name for module, name in (("sklearn", "scikit-learn"), ("matplotlib", "matplotlib"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise DataError(f"fine_tune.py needs {' and '.join(missing)} for its report and plots: pip install "
            "'kerasnets[train]'.")


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def list_blocks(args):
    """--list-blocks: the network's blocks (what --fine-tune-from and --top-blocks count), from the
    architecture alone: no data, no weights, nothing written."""
    from kerasnets import train as transfer
    from kerasnets.core import registry

    import_keras_quietly()
    info = registry.model_info(args.model)
    size = args.image_size or info.input_size
    options = {"alpha": args.alpha} if args.alpha is not None else {}
    base = info.build(include_top=False, weights=None, input_shape=(size, size, info.channels), **options)
    for index, name in enumerate(transfer.block_names(base)):
        print(f"{index:4d}  {name}")
    return 0


def _main(argv=None):
    args = parse_args(argv)
    if args.list_blocks:
        return list_blocks(args)
    files = outputs(args)
    start = time.perf_counter()
    check_dependencies()
    for role, path in files.items():  # every output, before any work; the run folder may be new
        check_output(path, what=f"{role} file", create_parents=True)
    folder = os.path.dirname(os.path.abspath(args.output))
    with created_folders(folder):  # a failed run leaves no empty folder behind
        if args.demo and not args.data:
            args.data = os.path.join(folder, "digits")
            digits_image_folder(args.data, size=args.image_size)
            print(f"Demo data: scikit-learn's 1,797 handwritten digits as {args.image_size}-px RGB images in "
                f"{args.data}")
        args.folders = None
        if not args.data.startswith("tfds:"):  # scan before TensorFlow loads: bad data fails in a second
            args.folders = split_image_folder(args.data, args.validation_split, seed=args.seed)
            train_folder, validation_folder = args.folders
            check_validation(args, train_folder, validation_folder)
            print(f"Data: {len(train_folder)} training and {len(validation_folder)} validation images, "
                  f"{train_folder.num_classes} classes ({', '.join(train_folder.class_names[:10])}"
                  f"{', ...' if train_folder.num_classes > 10 else ''})")
        keras = import_keras_quietly()
        if args.mixed_precision:
            keras.config.set_dtype_policy(f"mixed_{args.mixed_precision}")
        return run_training(args, files, keras, start)


def check_validation(args, train_folder, validation_folder):
    """The run reports held-out accuracy: refuse an empty validation split, saying what would fill it."""
    if len(validation_folder):
        return
    if args.validation_split == 0:
        raise DataError(
            "--validation-split 0 holds out no images, but the run measures accuracy on held-out images; use a "
            f"split such as 0.2, or put train/ and validation/ folders in {args.data}."
        )
    counts = train_folder.counts()
    raise DataError(
        f"{args.data}: no class has two images (largest: {int(counts.max())}), so none can be held out for "
        f"validation whatever --validation-split is; add images (at least 2 per class), or put train/ and "
        f"validation/ folders in {args.data}."
    )


def run_training(args, files, keras, start):
    import contextlib

    from kerasnets import train as transfer
    from kerasnets.core import registry

    info = registry.model_info(args.model)
    image_size = args.image_size or info.input_size
    weights = None if args.weights == "none" else args.weights
    options = {"alpha": args.alpha} if args.alpha is not None else {}
    context = transfer.distributed() if args.distribute else contextlib.nullcontext("one device")
    with context as where:
        base = info.build(include_top=False, weights=weights, input_shape=(image_size, image_size, info.channels),
                          **options)
        train, validation, class_names, validation_folder = load_data(args, image_size)
        model = transfer.build_classifier(base, len(class_names), args.scenario, preprocessing=info.preprocessing,
                                          fine_tune_from=args.fine_tune_from, top_blocks=args.top_blocks,
                                          name=f"{args.model.lower()}_classifier")
        print(f"Training on {where}; {transfer.describe(model)}")
        head_epochs = args.head_epochs if args.head_epochs is not None else (0 if weights is None else None)
        log = transfer.fine_tune(
            model, train, validation, scenario=args.scenario, epochs=args.epochs, head_epochs=head_epochs,
            learning_rate=args.learning_rate, fine_tune_learning_rate=args.fine_tune_learning_rate,
            optimizer=args.optimizer, label_smoothing=args.label_smoothing, fine_tune_from=args.fine_tune_from,
            top_blocks=args.top_blocks, verbose=1 if sys.stdout.isatty() else 2,
        )
    trained = time.perf_counter() - start
    with atomic_output(files["model"]) as tmp:
        model.save(tmp)
    with atomic_output(files["labels"]) as tmp:
        tmp.write_text("\n".join(class_names) + "\n")
    truth, predicted, images = predictions(model, validation)
    report = classification_report(truth, predicted, class_names)
    accuracy = float(np.mean(truth == predicted))
    with atomic_output(files["report"]) as tmp:
        tmp.write_text(report)
    plot_curves(log, files["curves"])
    plot_confusion(truth, predicted, class_names, files["confusion"])
    print(report)
    summary = {"model": model.name, "scenario": args.scenario, "epochs": args.epochs, "image_size": image_size,
               "validation_images": int(len(truth)), "keras_accuracy": accuracy, "training_seconds": round(trained, 1)}
    skipped = args.folders[0].skipped if args.folders else []
    if skipped:
        summary["skipped_files"] = [path for path, _ in skipped]
        print(f"Skipped {len(skipped)} unreadable file(s): " + "; ".join(reason for _, reason in skipped[:5])
              + (" ..." if len(skipped) > 5 else ""))
    if "tflite" in files:
        train_folder = args.folders[0] if args.folders else None
        summary["tflite"] = files["tflite"]
        summary["tflite_accuracy"] = export_tflite(model, args, files, train_folder, class_names, image_size, images,
            truth)
        summary["tflite_bytes"] = os.path.getsize(files["tflite"])
        print(f"Held-out accuracy on {len(truth)} validation images: Keras float32 {accuracy:.2%}, "
              f"LiteRT {args.export_tflite} {summary['tflite_accuracy']:.2%} "
              f"({summary['tflite_bytes'] / 1024:.0f} KiB)")
    else:
        print(f"Held-out accuracy on {len(truth)} validation images: {accuracy:.2%}")
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    with atomic_output(files["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    print("Wrote " + ", ".join(path for role, path in files.items()) + f" in {summary['wall_seconds']:.0f} s")
    return 0


def classification_report(truth, predicted, class_names):
    from sklearn.metrics import classification_report as report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes absent from a small validation split
        return report(truth, predicted, labels=range(len(class_names)), target_names=class_names, digits=3,
            zero_division=0)


if __name__ == "__main__":
    sys.exit(main())
