"""What ImageNet weights buy on a small dataset: scikit-learn's digits with EfficientNet-Lite0.

    python benchmarks/transfer_learning.py                    # writes docs/transfer_learning_digits.{md,csv,png}
    python benchmarks/transfer_learning.py --size 64 --scratch-epochs 15 --output-dir /tmp/tl

The same split as `apps/fine_tune.py --demo` (1,438 training and 359 held-out images, one
sub-folder per digit, written as RGB images of --size pixels), the same network, five runs:

  features, imagenet    the ImageNet body frozen, a new classifier trained on its pooled features
  features, random      the same body as initialised (weights=None): its BatchNorm statistics
                        are the initial 0 and 1
  features, random+BN   the random body with its BatchNorm statistics recomputed on the digits
                        (precise BN), the fairer random-feature baseline
  fine-tune, imagenet   the demo: one epoch for the new classifier (learning rate 1e-3), then
                        every layer from the stem on at 5e-4 (BatchNorm frozen, as the Keras
                        transfer-learning guide advises)
  scratch               every layer from random weights (BatchNorm training, precise BN), as the
                        earlier MobileNet demo trained

and records the held-out accuracy after every epoch. The report says how many epochs fine-tuning
needs to reach the best accuracy training from scratch reaches.
"""

import argparse
import csv
import io
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasnets.utils import atomic_output, save_figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = ("features_imagenet", "features_random", "features_random_bn", "fine_tune_imagenet", "scratch")
LABELS = {
    "features_imagenet": "features, ImageNet weights (frozen)",
    "features_random": "features, random weights (frozen)",
    "features_random_bn": "features, random weights + BN statistics of the digits (frozen)",
    "fine_tune_imagenet": "fine-tune from ImageNet weights (all layers, BN frozen)",
    "scratch": "from scratch (all layers, random weights)",
}
AUGMENT = "rotation,zoom,translation"


def digits(folder, size, seed=0):
    """(training, held-out) ImageFolders of the digits at `size` px, as the demo splits them."""
    from kerasnets.train.datasets import digits_image_folder, split_image_folder

    digits_image_folder(folder, size=size)
    return split_image_folder(folder, 0.2, seed=seed)


def run(kind, train_folder, validation_folder, size, epochs, model_name="efficientnet_lite0", seed=0, log=print):
    """Held-out accuracy after each epoch of one run (see the module docstring), and its seconds."""
    import keras

    from kerasnets import train as transfer
    from kerasnets.train import datasets

    keras.utils.set_random_seed(seed)
    fine_tuning = kind in ("fine_tune_imagenet", "scratch")
    train = datasets.image_dataset(train_folder, size, batch_size=32, training=True, seed=seed,
                                   augment=AUGMENT if fine_tuning else None)
    validation = datasets.image_dataset(validation_folder, size, batch_size=64)
    weights = "imagenet" if kind.endswith("imagenet") else None
    if kind == "fine_tune_imagenet":
        scenario, options = "fine_tune_from", dict(fine_tune_from="stem_conv", head_epochs=1, learning_rate=1e-3,
                                                   fine_tune_learning_rate=5e-4)
    elif kind == "scratch":
        scenario, options = "full", dict(head_epochs=0, learning_rate=2e-3)
    else:
        scenario, options = "feature_extractor", dict(learning_rate=1e-3)
    model = transfer.build_classifier(model_name, validation_folder.num_classes,
                                      "full" if kind == "features_random_bn" else scenario, weights=weights,
                                      image_size=size, fine_tune_from=options.get("fine_tune_from"),
                                      name=f"{model_name}_{kind}")
    if kind == "features_random_bn":
        transfer.PreciseBatchNorm(train, batches=16).update(model)
    start = time.perf_counter()
    history = transfer.fine_tune(model, train, validation, scenario=scenario, epochs=epochs, verbose=0, **options)
    accuracy = history.history["val_accuracy"]
    seconds = time.perf_counter() - start
    log(f"  {kind:20s} " + " ".join(f"{a:.3f}" for a in accuracy) + f"  ({seconds:.0f} s)")
    return accuracy, seconds


def epochs_to_reach(curve, target):
    """The first epoch (1-based) whose accuracy is at least `target`, or None."""
    return next((epoch for epoch, value in enumerate(curve, start=1) if value >= target), None)


def compare(curves):
    """The comparison the report states, from {run: accuracy per epoch}."""
    result = {}
    if "features_imagenet" in curves:
        pretrained = curves["features_imagenet"][-1]
        baselines = [curves[k][-1] for k in ("features_random", "features_random_bn") if k in curves]
        if baselines:
            result["feature_margin"] = pretrained - max(baselines)
    if "scratch" in curves and "fine_tune_imagenet" in curves:
        target = max(curves["scratch"])
        result.update(scratch_best=target, scratch_best_epoch=curves["scratch"].index(target) + 1,
                      fine_tune_epochs_to_scratch_best=epochs_to_reach(curves["fine_tune_imagenet"], target),
                      thresholds={level: (epochs_to_reach(curves["fine_tune_imagenet"], level),
                                          epochs_to_reach(curves["scratch"], level)) for level in THRESHOLDS})
    return result


THRESHOLDS = (0.9, 0.95, 0.97, 0.98, 0.99)


def markdown(curves, seconds, size, model_name, train_size, validation_size):
    facts = compare(curves)
    lines = [
        f"# Transfer learning on scikit-learn's digits: {model_name}, ImageNet weights vs random",
        "",
        f"Generated by `python benchmarks/transfer_learning.py --size {size}` on {time.strftime('%Y-%m-%d')}: "
        f"{train_size} training and {validation_size} held-out images (the `apps/fine_tune.py --demo` split), "
        f"{size} px, batch 32, Adam. Held-out accuracy after each epoch; seconds of training on this machine "
        "(2 shared CPU cores).",
        "",
        "| run | epochs | final | best | seconds | held-out accuracy per epoch |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for kind, curve in curves.items():
        lines.append(f"| {LABELS[kind]} | {len(curve)} | {curve[-1]:.1%} | {max(curve):.1%} | {seconds[kind]:.0f} | "
                     + " ".join(f"{a:.3f}" for a in curve) + " |")
    lines.append("")
    if "feature_margin" in facts:
        lines.append(f"- Frozen ImageNet features beat the best frozen random features by "
                     f"**{100 * facts['feature_margin']:.1f} points** of held-out accuracy.")
    if "scratch_best" in facts:
        reached = facts["fine_tune_epochs_to_scratch_best"]
        lines.append(f"- Training from scratch reaches at best {facts['scratch_best']:.1%} (epoch "
                     f"{facts['scratch_best_epoch']} of {len(curves['scratch'])}); fine-tuning from ImageNet weights "
                     + (f"reaches it after **{reached} epoch(s)**." if reached else "does not reach it in "
                        f"{len(curves['fine_tune_imagenet'])} epochs."))
        lines += ["", "Epochs needed to reach a held-out accuracy (– : not reached):", "",
                  "| accuracy | " + " | ".join(f"{level:.0%}" for level in THRESHOLDS) + " |",
                  "|---|" + "---:|" * len(THRESHOLDS)]
        for column, kind in enumerate(("fine_tune_imagenet", "scratch")):
            lines.append(f"| {LABELS[kind]} | " + " | ".join(
                str(facts["thresholds"][level][column] or "–") for level in THRESHOLDS) + " |")
    return "\n".join(lines) + "\n"


def chart(curves, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for kind, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), [100 * a for a in curve], "o-", markersize=3, label=LABELS[kind])
    ax.set(xlabel="epoch", ylabel="held-out accuracy (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels (default 64, the demo's)")
    parser.add_argument("--feature-epochs", type=int, default=5)
    parser.add_argument("--fine-tune-epochs", type=int, default=8)
    parser.add_argument("--scratch-epochs", type=int, default=15)
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "docs"))
    args = parser.parse_args(argv)
    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    epochs = {"features_imagenet": args.feature_epochs, "features_random": args.feature_epochs,
              "features_random_bn": args.feature_epochs, "fine_tune_imagenet": args.fine_tune_epochs,
              "scratch": args.scratch_epochs}
    curves, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="kerasnets-digits-") as tmp:
        train_folder, validation_folder = digits(tmp, args.size)
        print(f"digits at {args.size} px: {len(train_folder)} training, {len(validation_folder)} held-out images")
        for kind in args.runs:
            curves[kind], seconds[kind] = run(kind, train_folder, validation_folder, args.size, epochs[kind],
                                              args.model)
    text = markdown(curves, seconds, args.size, args.model, len(train_folder), len(validation_folder))
    os.makedirs(args.output_dir, exist_ok=True)
    stem = os.path.join(args.output_dir, "transfer_learning_digits")
    with atomic_output(f"{stem}.md") as tmp:
        tmp.write_text(text)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run", "epoch", "val_accuracy"])
    writer.writerows((kind, epoch, f"{a:.4f}") for kind, curve in curves.items()
                     for epoch, a in enumerate(curve, start=1))
    with atomic_output(f"{stem}.csv") as tmp:
        tmp.write_text(out.getvalue())
    chart(curves, f"{stem}.png", f"{args.model} on the digits ({args.size} px): held-out accuracy")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
