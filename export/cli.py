"""`python -m export`: export a kerasnets network or a saved `.keras` model to an Android-ready `.tflite`.

    python -m export mobilenet --alpha 0.5 --size 160 --quantize int8 --representative photos/ --output mn.tflite
    python -m export my_model.keras --labels labels.txt --preprocessing tf --output my_model.tflite
    python -m export grid --family mobilenet --quantize int8 --representative photos/ --output-dir grid/
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def export_parser():
    from kerasnets.errors import program_name

    parser = argparse.ArgumentParser(
        prog=program_name("python -m export"), description="Export a network to TFLite with Android metadata.",
        epilog=f"Run '{program_name('python -m export')} grid --help' for the MobileNet width x resolution grid.",
    )
    parser.add_argument("source", help="a registered network name (e.g. mobilenet, resnet50) or a saved .keras file")
    parser.add_argument("--output", "-o", required=True,
                        help="the .tflite file to write (never the source; its folder must exist)")
    parser.add_argument("--alpha", type=float, help="width multiplier (MobileNet family)")
    parser.add_argument("--size", type=int, help="input resolution in pixels (square)")
    parser.add_argument("--score-threshold", type=float, metavar="S",
                        help="detectors: the file's NMS score threshold (default: the detector's own; 0.05 for "
                        "torchvision's SSDs, whose 0.001 / 0.01 are COCO evaluation's and cost 7x the latency)")
    parser.add_argument("--max-detections", type=int, metavar="N",
                        help="detectors: at most N detections per image (default: the detector's detections_per_img)")
    parser.add_argument("--weights", help="imagenet (default; coco for the COCO detectors), none, or a weights file "
                        "path (a torchvision state dict .pth for the COCO detectors)")
    parser.add_argument("--quantize", default="none", choices=("none", "float16", "dynamic", "int8"),
                        help="none = float32 (default); float16; dynamic = int8 weights; int8 = full integer, uint8 "
                            "I/O")
    parser.add_argument("--representative", metavar="DIR", help="folder of typical images to calibrate int8 with")
    parser.add_argument("--labels", metavar="FILE",
        help="label file, one per line (default: ImageNet labels for 1000 classes)")
    parser.add_argument("--preprocessing", choices=("caffe", "tf", "torch", "none"),
                        help="preprocessing to bake in (default: the registered network's)")
    parser.add_argument("--saved-model", metavar="DIR",
        help="also write a SavedModel (raw-pixel serving signature) to this new or empty folder, or over an "
             "earlier SavedModel (nothing else is ever replaced)")
    parser.add_argument("--verify-images", metavar="DIR",
        help="images to verify against Keras (default: --representative)")
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="skip the LiteRT check")
    parser.add_argument("--int8-io", action="store_true",
        help="int8 instead of uint8 input/output (Android classifiers refuse it)")
    parser.add_argument("--qat-data", metavar="DIR",
        help="image folder (one sub-folder per class) for quantization-aware training")
    parser.add_argument("--qat-epochs", type=int, default=1, help="epochs of quantization-aware training (default 1)")
    parser.add_argument("--prune", type=float, metavar="SPARSITY",
        help="prune to this fraction of zero weights (needs --qat-data)")
    return parser


def is_model_file(source):
    """A SOURCE that names a file (a `.keras` model) rather than a registered network."""
    return source.endswith(".keras") or os.sep in source or "/" in source or os.path.isfile(source)


def check_arguments(args):
    """Everything that can be wrong with the arguments, found before any work (and before TensorFlow
    starts): nothing is built, converted or written when one fails."""
    from export.checks import (
        MIN_CALIBRATION_IMAGES,
        check_keras_source,
        check_saved_model_destination,
        check_tflite_output,
        read_label_file,
    )
    from export.errors import ExportError

    model_file = is_model_file(args.source)
    if model_file:
        check_keras_source(args.source)
    inputs = [args.source if model_file else None, args.labels]
    check_tflite_output(args.output, inputs=inputs)
    if args.labels is not None:
        args.label_list = read_label_file(args.labels)
    if args.saved_model:
        check_saved_model_destination(args.saved_model, inputs=inputs + [args.output])
        if os.path.abspath(args.saved_model) == os.path.abspath(args.output):
            raise ExportError(f"{args.saved_model}: --saved-model and --output name the same path.")
    if args.quantize == "int8" and not args.representative and not args.qat_data:
        raise ExportError("--quantize int8 calibrates on typical images: give a folder of them with --representative "
                          f"DIR (at least {MIN_CALIBRATION_IMAGES}; images/ has 3 samples to try it).")
    if args.score_threshold is not None and not 0.0 <= args.score_threshold <= 1.0:
        raise ExportError(f"--score-threshold {args.score_threshold:g}: a score threshold lies between 0 and 1.")
    if args.max_detections is not None and args.max_detections < 1:
        raise ExportError(f"--max-detections {args.max_detections}: give at least 1.")
    from kerasnets.detection.pretrained import COCO_DETECTORS

    if (args.score_threshold is not None or args.max_detections is not None) and not model_file \
            and args.source not in COCO_DETECTORS:
        raise ExportError(f"--score-threshold and --max-detections are for detectors; {args.source} is a classifier.")
    if args.prune is not None and not args.qat_data:
        raise ExportError("--prune fine-tunes while pruning: give the training images with --qat-data DIR.")
    for option, folder in (("--representative", args.representative), ("--verify-images", args.verify_images),
                           ("--qat-data", args.qat_data)):
        if folder is not None and not os.path.isdir(folder):
            raise ExportError(f"{folder}: the {option} folder does not exist.")
    return model_file


def build_source(args, step, model_file):
    import kerasnets

    if model_file:
        step(f"loading {args.source}")
        return kerasnets.load_model(args.source), args.preprocessing
    from kerasnets.detection.torchvision_ssd import BUILDERS

    if args.source in BUILDERS:  # torchvision's COCO detectors (torchvision's builder names)
        weights = "coco" if args.weights is None else None if args.weights == "none" else args.weights
        step(f"building {args.source} (weights={weights})")
        return BUILDERS[args.source](weights=weights, weights_backbone=None), None
    info = kerasnets.model_info(args.source)
    kwargs = {"weights": None if args.weights == "none" else args.weights or "imagenet"}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    if args.size is not None:
        kwargs["input_shape"] = (args.size, args.size, 3)
    described = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    step(f"building {info.name} ({described})")
    return info.build(**kwargs), args.preprocessing or info.preprocessing


def verification_images(args, size):
    import numpy as np

    from export.tflite import representative_images

    folder = args.verify_images or args.representative
    if folder:
        return np.concatenate(representative_images(folder, size, limit=32, calibration=False))
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (8, *size, 3)).astype("float32")


def run_export(argv):
    args = export_parser().parse_args(argv)
    args.label_list = None
    model_file = check_arguments(args)
    steps = 4 + bool(args.saved_model) + bool(args.qat_data)
    counter = iter(range(1, steps + 1))

    def step(text):
        print(f"[{next(counter)}/{steps}] {text}", flush=True)

    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    import export
    from export.saved_model import image_size

    labels = args.label_list if args.labels is not None else None
    model, preprocessing = build_source(args, step, model_file)
    from export.checks import is_detector
    from export.detection import export_from_cli

    if is_detector(model):
        return export_from_cli(args, model, step)
    if args.score_threshold is not None or args.max_detections is not None:
        from export.errors import ExportError

        raise ExportError("--score-threshold and --max-detections are for detectors; "
                          f"{args.source} is a classifier.")
    size = image_size(model, args.size)
    if args.qat_data:
        from export import tfmot_bridge

        what = f"pruning to {args.prune:.0%} sparsity" if args.prune is not None else "quantization-aware training"
        step(f"{what} on {args.qat_data} ({args.qat_epochs} epoch(s), tensorflow-model-optimization)")
        tfmot_bridge.optimize_to_tflite(
            model, args.output, data=args.qat_data, epochs=args.qat_epochs, sparsity=args.prune,
            preprocessing=preprocessing, labels=labels, quantize=args.quantize,
        )
    else:
        step(f"converting to TFLite ({args.quantize if args.quantize != 'none' else 'float32'}"
             + (f", calibrating on {args.representative}" if args.quantize == "int8" else "") + ")")
        export.to_tflite(
            model, args.output, quantize=args.quantize, representative_data=args.representative, labels=labels,
            preprocessing=preprocessing, size=size[0], int8_io="int8" if args.int8_io else "uint8",
        )
    step(f"wrote {args.output} with metadata (labels, RGB input, normalization)")
    if args.saved_model:
        step(f"writing SavedModel to {args.saved_model}")
        export.to_saved_model(model, args.saved_model, preprocessing=preprocessing, size=size[0])
    if args.verify:
        step("verifying with the LiteRT interpreter")
        print(export.verify(args.output, model, verification_images(args, size), preprocessing=preprocessing))
    else:
        step("verification skipped (--no-verify)")
    return 0


def main(argv=None):
    """`python -m export` / `kerasnets-export`: one line `error: ...` and exit status 1 for bad input, 2 for
    bad usage, as every app (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, sys.argv[1:] if argv is None else argv)


def _main(argv):
    if argv and argv[0] == "grid":
        from export import grid

        return grid.main(argv[1:])
    return run_export(argv)
