"""Detect objects in an image with a trained detector (.keras from train_detector) and write the
annotated image: boxes, class names, scores and, for Mask R-CNN, the instance masks.

    python apps/detect.py --image street.png --model runs/detector/model.keras --output annotated.png
    python apps/detect.py --image a.png --model model.keras --score-threshold 0.3 --json detections.json
    python apps/detect.py --model rcnn --backbone efficientnet_lite0 --weights imagenet --image images/chelsea_cat.jpg

`--model rcnn` is R-CNN (2014) with no training at all: selective-search proposals, each warped to
an ImageNet classifier's input and classified, per-class NMS - real photos labelled with ImageNet
classes offline (EfficientNet-Lite0's weights come with the install).
"""

import argparse
import json
import os
import sys

#: `--model` for R-CNN with an ImageNet classifier, rather than a saved detector file.
RCNN_MODEL = "rcnn"


def parse_args(argv=None):
    from kerasnets.errors import program_name

    parser = argparse.ArgumentParser(prog=program_name("detect.py"), description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--image", required=True, help="input image (any format OpenCV reads)")
    parser.add_argument("--model", required=True, help="a FasterRCNN, MaskRCNN, SSD or YOLOv1 saved as .keras, or "
                        "'rcnn': R-CNN with an ImageNet classifier (--backbone, --weights)")
    parser.add_argument("--backbone", help="with --model rcnn: the ImageNet classifier (default: efficientnet_lite0)")
    parser.add_argument("--weights", help="with --model rcnn: 'imagenet' (default) or the classifier's weights file")
    parser.add_argument("--output", default="annotated.png", help="annotated image to write (default: annotated.png)")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="draw and list detections from this score")
    parser.add_argument("--json", help="also write the detections as JSON (boxes in xyxy pixels)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.score_threshold <= 1.0:
        parser.error("--score-threshold must be between 0 and 1")
    if args.model != RCNN_MODEL and (args.backbone or args.weights):
        parser.error(f"--backbone and --weights go with --model {RCNN_MODEL} (a saved detector has its own weights)")
    return args


def main(argv=None):
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    from kerasnets.errors import InputError
    from kerasnets.images import check_image_output, load_image
    from kerasnets.utils import check_output, import_keras_quietly

    # every output is checked before any work, and never overwrites an input
    check_image_output(args.output, inputs=[args.image, args.model])
    if args.json:
        check_output(args.json, what="JSON output", suffixes=(".json",), inputs=[args.image, args.model, args.output])
    image = load_image(args.image)
    if args.model == RCNN_MODEL:
        return _rcnn(args, image)
    if not os.path.isfile(args.model):
        raise InputError(f"--model {args.model}: no such model file (train one with train_detector, which writes "
                         "runs/detector/model.keras).")
    import kerasnets

    import_keras_quietly()
    from kerasnets.detection.models import Detector, GeneralizedRCNN

    try:
        model = kerasnets.load_model(args.model)  # a file that is not a Keras model fails here, before Keras reads it
    except ValueError as e:
        raise InputError(f"--model {e}") from None
    if not isinstance(model, Detector) or (isinstance(model, GeneralizedRCNN) and model.rpn is None):
        raise InputError(f"--model {args.model} holds a {type(model).__name__}, not a FasterRCNN, MaskRCNN, SSD or "
                         "YOLOv1 detector (train one with train_detector).")
    result = model.detect([image])[0]
    _report(args, image, result, model.class_names)
    return 0


def _report(args, image, result, class_names):
    """Write the annotated image, print the detections at or above the threshold (and write the JSON)."""
    from kerasnets.detection.visualize import draw_detections
    from kerasnets.images import save_image
    from kerasnets.utils import atomic_output

    save_image(args.output, draw_detections(image, result, class_names, args.score_threshold))
    keep = result["scores"] >= args.score_threshold
    listed = [{"class": class_names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
              for b, s, c in zip(result["boxes"][keep], result["scores"][keep], result["classes"][keep])]
    for item in listed:
        print(f"{item['class']:>12s} {item['score']:.3f}  {item['box']}")
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(listed, indent=2))
    print(f"{len(listed)} detections at score >= {args.score_threshold}; wrote {args.output}")


def _rcnn(args, image):
    """`--model rcnn`: R-CNN with a registered ImageNet classifier, checked before anything is built."""
    import difflib
    import time

    from kerasnets.errors import InputError, UsageError, WeightsError, app_syntax
    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    import kerasnets

    backbone = (args.backbone or "efficientnet_lite0").lower()
    weights = args.weights or "imagenet"
    if backbone not in kerasnets.list_models():
        close = difflib.get_close_matches(backbone, kerasnets.list_models(), n=4, cutoff=0.6)
        hint = f"close matches: {', '.join(close)}" if close else "apps/test_imagenet.py --list lists them"
        raise UsageError(f"--backbone {args.backbone}: no such network ({hint}); e.g. --backbone efficientnet_lite0, "
                         "whose ImageNet weights come with the install.")
    info = kerasnets.model_info(backbone)
    if info.channels != 3:
        raise UsageError(f"--backbone {backbone} classifies {info.input_size}x{info.input_size} grayscale images into "
                         "its own classes (digits), not photos into the 1000 ImageNet classes that R-CNN labels "
                         "regions with; use an ImageNet network, e.g. --backbone efficientnet_lite0.")
    if weights == "none":
        raise UsageError("--weights none: R-CNN without training needs a trained classifier; use --weights imagenet "
                         "or a weights file.")
    if weights != "imagenet" and not os.path.isfile(weights):
        raise InputError(f"--weights {weights}: no such file; give --weights imagenet or the path of the "
                         f"{backbone} weights file.")
    from kerasnets.cli.classify import offline_hint
    from kerasnets.detection.rcnn import ImageNetRCNN

    try:
        rcnn = ImageNetRCNN.from_classifier(backbone, weights, score_threshold=args.score_threshold)
    except WeightsError as e:
        raise WeightsError(f"{app_syntax(e).split(' Works offline:')[0]}{offline_hint(info, weights)}") from None
    start = time.perf_counter()
    proposals = rcnn.proposals(image)
    result = rcnn.detect([image], [proposals], progress=True)[0]
    print(f"R-CNN with {backbone}: {len(proposals)} selective-search proposals classified in "
          f"{time.perf_counter() - start:.1f} s")
    _report(args, image, result, rcnn.class_names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
