"""What kind of errors detectors make (Hoiem et al. 2012, as YOLO's Figure 4 compares YOLO with Fast R-CNN):
run saved detectors on one held-out set and draw their error breakdowns side by side.

    python apps/detection_errors.py --model runs/yolo/model.keras --model runs/frcnn/model.keras \\
        --label YOLOv1 --label "Faster R-CNN" --data shapes --images 200 --output errors.png

--data is `shapes` or `digits` (the seeded synthetic sets; --seed picks the held-out images, default 10000 as
train_detector's held-out split of seed 0), `coco:PATH` or `tfds:NAME`. Prints one table per detector and
writes the pie charts (correct, localization, similar, other, background) to --output.
"""

import argparse
import os


def parse_args(argv=None):
    from kerasnets.errors import program_name

    doc = __doc__
    parser = argparse.ArgumentParser(prog=program_name("detection_errors.py"),
                                     description=doc.split("\n\n")[0], epilog=doc.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="MODEL.keras",
                        help="a saved kerasnets detector (repeat for several)")
    parser.add_argument("--label", action="append", help="a name per --model (default: the file's folder name)")
    parser.add_argument("--data", default="shapes", help="shapes (default), digits, coco:PATH or tfds:NAME")
    parser.add_argument("--images-dir", help="image folder of a coco: dataset")
    parser.add_argument("--images", type=int, default=200, help="synthetic held-out images (default: 200)")
    parser.add_argument("--image-size", type=int, help="image size of the set (default: the first model's)")
    parser.add_argument("--seed", type=int, default=10_000, help="seed of a synthetic set (default: 10000)")
    parser.add_argument("--similar", metavar="A:B,...", help="pairs of class names that count as similar")
    parser.add_argument("--output", default="detection_errors.png", help="the chart (default: detection_errors.png)")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.model):
        parser.error(f"{len(args.label)} --label for {len(args.model)} --model: give one per model or none")
    if args.images < 1:
        parser.error("--images must be at least 1")
    return args


def main(argv=None):
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    from kerasnets.errors import InputError, UsageError
    from kerasnets.utils import check_output

    check_output(args.output, what="--output chart", inputs=args.model)
    for path in args.model:
        if not os.path.isfile(path):
            raise InputError(f"--model {path}: no such model file (train one with train_detector, which writes "
                             "runs/detector/model.keras).")
    import kerasnets
    from kerasnets.cli.train_detector import load_data
    from kerasnets.detection.base import Detector
    from kerasnets.detection.diagnosis import error_analysis, plot_breakdowns

    models = []
    for path in args.model:
        try:
            model = kerasnets.load_model(path)
        except ValueError as e:
            raise InputError(f"--model {e}") from None
        if not isinstance(model, Detector) or getattr(model, "rpn", True) is None:
            raise InputError(f"--model {path} holds a {type(model).__name__}, not a detector that finds objects by "
                             "itself (Faster/Mask R-CNN, SSD, YOLOv1).")
        models.append(model)
    size = args.image_size or models[0].image_size[0]
    data = load_data(args.data, args.images, size, args.seed, False, args.images_dir, "validation")
    names = list(data.class_names)
    for model in models:
        if list(model.class_names) != names:
            raise InputError(f"--model: a model detects {', '.join(model.class_names)}; the --data set has "
                             f"{', '.join(names)}.")
    similar = {}
    for pair in (args.similar or "").split(","):
        if not pair:
            continue
        a, _, b = pair.partition(":")
        if a not in names or b not in names:
            raise UsageError(f"--similar {pair}: the classes are {', '.join(names)}.")
        similar.setdefault(names.index(a), set()).add(names.index(b))
        similar.setdefault(names.index(b), set()).add(names.index(a))
    labels = args.label or [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in args.model]
    breakdowns = []
    for model, label in zip(models, labels):
        breakdowns.append(error_analysis(model.detect(data.images), data, similar=similar, label=label))
        print(breakdowns[-1].table())
    plot_breakdowns(breakdowns, args.output)
    print(f"wrote {args.output}")
    return 0
