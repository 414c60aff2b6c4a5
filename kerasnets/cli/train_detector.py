"""Train an object detector (Faster R-CNN or Mask R-CNN, optionally with FPN, SSD or YOLOv1) on any
kerasnets backbone, then evaluate it with COCO mAP.

    python apps/train_detector.py --data shapes --model faster_rcnn --backbone resnet18 --epochs 12
    python apps/train_detector.py --data digits --model mask_rcnn --backbone resnet18 --output runs/digits
    python apps/train_detector.py --data coco:annotations/instances_train.json --val-data coco:val/instances.json \\
        --backbone resnet50 --weights imagenet --image-size 512 --model mask_rcnn

--data is `shapes` or `digits` (the synthetic sets, generated offline and seeded), `coco:PATH` (a
COCO instances.json with its images in `images/` beside it or --images-dir), or `tfds:NAME` (a
prepared tensorflow-datasets detection dataset). Writes, in --output (default runs/detector): the
model (`model.keras`, saved atomically after every epoch and at the end), `history.csv`,
`curves.png` (each loss per epoch), `metrics.json` (COCO mAP@[.5:.95], mAP@.5, ... on the held-out
set, box and mask, with training and inference times) and `examples.png` (annotated validation images).
"""

import argparse
import json
import math
import os
import sys
import time

MODELS = ("faster_rcnn", "mask_rcnn", "ssd", "yolov1")


def parse_args(argv=None):
    doc = __doc__
    from kerasnets.errors import program_name

    parser = argparse.ArgumentParser(prog=program_name("train_detector.py"), description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc.split("\n\n",
                                         1)[1])
    parser.add_argument("--data", default="shapes", help="shapes (default), digits, coco:PATH or tfds:NAME")
    parser.add_argument("--val-data", help="held-out data in the same forms (default: a split of --data, or a "
                                           "fresh synthetic set)")
    parser.add_argument("--images-dir", help="image folder of a coco: dataset (default: images/ beside the json)")
    parser.add_argument("--train-images", type=int, default=2000, help="synthetic training images (default: 2000)")
    parser.add_argument("--val-images", type=int, default=200, help="held-out images (default: 200)")
    parser.add_argument("--model", choices=MODELS, default="faster_rcnn")
    parser.add_argument("--backbone", default="resnet18", help="any registered kerasnets network (default: resnet18)")
    parser.add_argument("--alpha", type=float, help="width multiplier for MobileNet backbones")
    parser.add_argument("--weights", default="none",
        help="backbone weights: none (default, random), imagenet, or a file")
    parser.add_argument("--freeze-batchnorm", choices=("auto", "yes", "no"), default="auto",
                        help="auto (default): frozen with pretrained weights, trained from scratch otherwise")
    parser.add_argument("--fpn", action="store_true", help="add a feature pyramid (strides 4-32)")
    parser.add_argument("--image-size", type=int, default=128, help="input size, a multiple of 32 (default: 128)")
    parser.add_argument("--anchor-sizes", help="comma-separated anchor sizes (default: image size / 8, / 4, / 2)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW peak learning rate (cosine decay)")
    parser.add_argument("--rois-per-image", type=int, default=128, help="sampled RoIs per image (torchvision: 512)")
    parser.add_argument("--representation-size", type=int, default=256, help="box head FC width (torchvision: 1024)")
    parser.add_argument("--object-size", metavar="MIN,MAX", help="object sizes in pixels of the synthetic sets "
                                                                "(default: their own, 16,48 for shapes)")
    parser.add_argument("--frozen-stride", type=int, choices=(2, 4, 8, 16, 32),
                        help="ssd, yolov1: freeze the backbone layers at this stride and finer (default: train all)")
    parser.add_argument("--grid", type=int, help="yolov1: the S x S grid (default: image size / 32)")
    parser.add_argument("--ssd-loss", choices=("focal", "hard_negative"), default="focal",
                        help="ssd: focal loss (default) or SSD's softmax with hard-negative mining")
    parser.add_argument("--resume", metavar="MODEL", help="continue training a saved .keras detector (its history.csv "
                                                          "in --output is appended to); --learning-rate restarts the "
                                                          "schedule")
    parser.add_argument("--augment", action="store_true", help="the YOLO paper's augmentation: flips, scale jitter "
                        "and translation up to 20 %% (boxes and masks moved along), exposure and saturation up to 1.5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=os.path.join("runs", "detector"), help="output folder")
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
        help="Keras backend (default: KERAS_BACKEND or tensorflow)")
    args = parser.parse_args(argv)
    if args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32, got {args.image_size}")
    if args.epochs < (0 if args.resume else 1) or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive (--epochs 0 with --resume only evaluates)")
    if not (args.data in ("shapes", "digits") or args.data.startswith(("coco:", "tfds:"))):
        parser.error(f"--data must be shapes, digits, coco:PATH or tfds:NAME, got {args.data!r}")
    if args.object_size:
        try:
            args.object_size = tuple(int(v) for v in args.object_size.split(","))
        except ValueError:
            args.object_size = ()
        if len(args.object_size) != 2 or not 0 < args.object_size[0] <= args.object_size[1] < args.image_size:
            parser.error("--object-size must be MIN,MAX pixels with 0 < MIN <= MAX < --image-size")
    return args


def load_data(spec, n, image_size, seed, masks, images_dir=None, split="train", object_size=None):
    from kerasnets.detection import data

    sizes = {"min_size": object_size[0], "max_size": object_size[1]} if object_size else {}
    if spec == "shapes":
        return data.synthetic_shapes(n, image_size, seed=seed, **sizes)
    if spec == "digits":
        return data.synthetic_digits(n, image_size, seed=seed, **sizes)
    if spec.startswith("coco:"):
        return data.read_coco(spec[5:], images_dir, image_size, masks=masks)
    return data.tfds_detection(spec[5:], split, image_size)


def build(args, class_names):
    from kerasnets.detection import FasterRCNN, MaskRCNN

    size = args.image_size
    if args.anchor_sizes:
        sizes = tuple(int(s) for s in args.anchor_sizes.split(","))
    else:
        sizes = (size // 8, size // 4, size // 2)
    if args.fpn:
        sizes = tuple((s,) for s in ((sizes[0] // 2,) + sizes if len(sizes) == 3 else sizes))[:4]
    pretrained = args.weights != "none"
    freeze = {"auto": pretrained, "yes": True, "no": False}[args.freeze_batchnorm]
    if args.model == "ssd":
        from kerasnets.detection.ssd import SSD

        return SSD(args.backbone, len(class_names), size, backbone_weights=args.weights if pretrained else None,
                   freeze_batchnorm=freeze, frozen_stride=args.frozen_stride, loss=args.ssd_loss,
                   anchor_sizes=tuple((s,) for s in sizes) if args.anchor_sizes else None,
                   class_names=list(class_names), backbone_kwargs={"alpha": args.alpha} if args.alpha else None)
    if args.model == "yolov1":
        from kerasnets.detection.yolo import YOLOv1

        return YOLOv1(args.backbone, len(class_names), size, grid=args.grid or size // 32,
                      backbone_weights=args.weights if pretrained else None, freeze_batchnorm=freeze,
                      frozen_stride=args.frozen_stride, class_names=list(class_names),
                      backbone_kwargs={"alpha": args.alpha} if args.alpha else None)
    options = {"fpn": args.fpn, "backbone_weights": args.weights if pretrained else None,
                   "backbone_kwargs": {"alpha": args.alpha} if args.alpha else None, "freeze_batchnorm": freeze,
                   "anchor_sizes": sizes, "rpn_pre_nms_top_n_train": 600, "rpn_post_nms_top_n_train": 300,
                   "rpn_pre_nms_top_n_test": 300, "rpn_post_nms_top_n_test": 100,
                   "box_batch_size_per_image": args.rois_per_image, "representation_size": args.representation_size,
                   "fpn_channels": 64, "class_names": list(class_names), "seed": args.seed}
    if args.model == "mask_rcnn":
        return MaskRCNN(args.backbone, len(class_names), size, mask_channels=64, **options)
    return FasterRCNN(args.backbone, len(class_names), size, **options)


def read_history(path):
    """The numeric columns of a CSVLogger file (epochs of resumed runs included), without the epoch index."""
    import csv

    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("epoch") != "epoch"]
    columns = {}
    for name in rows[0] if rows else ():
        if name == "epoch":
            continue
        try:
            columns[name] = [float(r[name]) for r in rows]
        except (TypeError, ValueError):
            continue
    return {k: v for k, v in columns.items() if not any(math.isnan(x) for x in v)}


def check_training_data(train, val, data, val_data):
    """Refuse data that would train without a word and report mAP 0: no objects at all, or a held-out
    set whose classes are not the training set's."""
    from kerasnets.errors import DataError

    if train.num_objects == 0:
        crowd = f", and {train.crowd_annotations} crowd annotations, which are left out as in COCO training" if \
            train.crowd_annotations else ""
        raise DataError(f"{data}: the training images hold no objects ({len(train)} images, 0 boxes{crowd}); a "
                        "detector needs annotated objects to learn from.")
    if tuple(val.class_names) != tuple(train.class_names):
        missing = [c for c in train.class_names if c not in val.class_names]
        extra = [c for c in val.class_names if c not in train.class_names]
        detail = "; ".join(part for part in (
            f"missing from it: {', '.join(missing[:10])}" if missing else "",
            f"not in the training data: {', '.join(extra[:10])}" if extra else "",
            "the same names in another order" if not missing and not extra else "") if part)
        raise DataError(f"{val_data}: the held-out classes are not the training classes ({len(val.class_names)} vs "
                        f"{len(train.class_names)}; {detail}); give --val-data with the categories of --data.")


def load_detector(path, num_classes):
    """A saved detector to resume: loaded with kerasnets.load_model's errors, and refused with one line
    when it is not a detector or detects another number of classes."""
    import kerasnets
    from kerasnets.errors import DataError, InputError

    try:
        model = kerasnets.load_model(path, compile=False)
    except ValueError as e:
        raise InputError(f"--resume {e}") from None
    if not (hasattr(model, "num_classes") and hasattr(model, "detect")):
        raise InputError(f"--resume {path}: holds a {type(model).__name__} ({model.name}), not a detector saved by "
                         "train_detector; give the model.keras of an earlier run.")
    if model.num_classes != num_classes:
        raise DataError(f"--resume {path} detects {model.num_classes} classes, the data has {num_classes}.")
    return model


def main(argv=None):
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from kerasnets.utils import check_output, created_folders, import_keras_quietly

    check_output(args.output, what="output folder", folder=True)  # before any work
    keras = import_keras_quietly()
    with created_folders(args.output):  # a failed run leaves no empty output folder behind
        return train_and_evaluate(args, keras)


def train_and_evaluate(args, keras):
    import numpy as np

    from kerasnets.detection.metrics import evaluate_detector
    from kerasnets.detection.visualize import draw_detections
    from kerasnets.errors import DataError
    from kerasnets.images import save_image
    from kerasnets.utils import atomic_output, save_figure

    masks = args.model == "mask_rcnn"
    train = load_data(args.data, args.train_images, args.image_size, args.seed, masks, args.images_dir,
                      object_size=args.object_size)
    if args.val_data:
        val = load_data(args.val_data, args.val_images, args.image_size, args.seed + 1, masks, args.images_dir,
                        "validation")
    elif args.data in ("shapes", "digits"):
        val = load_data(args.data, args.val_images, args.image_size, args.seed + 10_000, masks,
                        object_size=args.object_size)
    else:
        order = np.random.default_rng(args.seed).permutation(len(train))
        cut = max(1, int(len(train) * 0.1))
        val, train = train.subset(order[:cut]), train.subset(order[cut:])
    check_training_data(train, val, args.data, args.val_data or f"the held-out part of {args.data}")
    if masks and train.masks is None:
        raise DataError("--model mask_rcnn needs masks (coco data with segmentations, or a synthetic set).")
    keras.utils.set_random_seed(args.seed)
    model = load_detector(args.resume, train.num_classes) if args.resume else build(args, train.class_names)
    steps = len(train) // args.batch_size
    if steps < 1:
        raise DataError(f"{len(train)} training images are fewer than one batch of {args.batch_size}; lower "
                        "--batch-size or give more images.")
    schedule = keras.optimizers.schedules.CosineDecay(0.0, max(1, steps * args.epochs),
        warmup_target=args.learning_rate,
                                                      warmup_steps=min(200, steps * args.epochs // 10))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4, clipnorm=10.0), jit_compile=False)
    data = train.tf_dataset(args.batch_size, training=True, max_objects=train.max_objects, masks=masks, seed=args.seed,
                            augment="default" if args.augment else None)
    model_path = os.path.join(args.output, "model.keras")

    class Save(keras.callbacks.Callback):
        """Checkpoint after every epoch, atomically (a crash never leaves a half-written model)."""

        def on_epoch_end(self, epoch, logs=None):
            with atomic_output(model_path) as tmp:
                self.model.save(tmp)

    print(f"{args.model} on {args.backbone}{' + FPN' if args.fpn else ''}: {model.count_params():,} parameters, "
          f"{len(train)} training / {len(val)} held-out images of {args.image_size} px, {steps} steps x {args.epochs} "
          "epochs")
    start = time.perf_counter()
    history_path = os.path.join(args.output, "history.csv")
    if args.epochs:
        model.fit(data, epochs=args.epochs, shuffle=False, callbacks=[Save(), keras.callbacks.CSVLogger(history_path,
            append=bool(args.resume))],
                  verbose=2 if not sys.stdout.isatty() else 1)
    train_seconds = time.perf_counter() - start
    history = read_history(history_path) if os.path.exists(history_path) else {}
    if history:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(7, 4))
        for name, values in history.items():
            axis.plot(np.arange(1, len(values) + 1), values, label=name)
        axis.set_xlabel("epoch")
        axis.set_ylabel("loss")
        axis.set_yscale("log")
        axis.legend()
        axis.set_title(f"{args.model} / {args.backbone} on {args.data}")
        save_figure(figure, os.path.join(args.output, "curves.png"), dpi=100)
    metrics, detections, per_image = evaluate_detector(model, val, args.batch_size)
    report = {"model": args.model, "backbone": args.backbone, "fpn": args.fpn, "data": args.data,
              "train_images": len(train), "val_images": len(val), "image_size": args.image_size,
              "epochs": args.epochs, "epochs_in_history": len(next(iter(history.values()), [])),
              "resumed_from": args.resume, "batch_size": args.batch_size, "augment": args.augment,
              "backend": keras.backend.backend(),
              "train_seconds": round(train_seconds, 1), "inference_seconds_per_image": round(per_image, 4),
              "coco": metrics}
    with atomic_output(os.path.join(args.output, "metrics.json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    tiles = [draw_detections(val.images[i], detections[i], val.class_names) for i in range(min(8, len(val)))]
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + 4], axis=1) for i in range(0, len(tiles), 4)]
    save_image(os.path.join(args.output, "examples.png"), np.concatenate(rows, axis=0))
    for kind, values in metrics.items():
        print(f"{kind}: mAP@[.5:.95] {values['mAP']:.3f}  mAP@.5 {values['mAP50']:.3f}  mAP@.75 {values['mAP75']:.3f}")
    print(f"training {train_seconds / 60:.1f} min, inference {per_image * 1000:.0f} ms per image; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
