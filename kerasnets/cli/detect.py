"""Detect objects in an image with a trained detector (.keras from train_detector) and write the
annotated image: boxes, class names, scores and, for Mask R-CNN, the instance masks.

    python apps/detect.py --image street.png --model runs/detector/model.keras --output annotated.png
    python apps/detect.py --image a.png --model model.keras --score-threshold 0.3 --json detections.json
"""

import argparse
import json
import os
import sys


def parse_args(argv=None):
    from kerasnets.errors import program_name

    parser = argparse.ArgumentParser(prog=program_name("detect.py"), description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--image", required=True, help="input image (any format OpenCV reads)")
    parser.add_argument("--model", required=True, help="a FasterRCNN, MaskRCNN, SSD or YOLOv1 saved as .keras")
    parser.add_argument("--output", default="annotated.png", help="annotated image to write (default: annotated.png)")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="draw and list detections from this score")
    parser.add_argument("--json", help="also write the detections as JSON (boxes in xyxy pixels)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.score_threshold <= 1.0:
        parser.error("--score-threshold must be between 0 and 1")
    return args


def main(argv=None):
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    from kerasnets.errors import InputError
    from kerasnets.images import check_image_output, load_image, save_image
    from kerasnets.utils import check_output

    # every output is checked before any work, and never overwrites an input
    check_image_output(args.output, inputs=[args.image, args.model])
    if args.json:
        check_output(args.json, what="JSON output", suffixes=(".json",), inputs=[args.image, args.model, args.output])
    image = load_image(args.image)
    if not os.path.isfile(args.model):
        raise InputError(f"--model {args.model}: no such model file (train one with train_detector, which writes "
                         "runs/detector/model.keras).")
    import kerasnets
    from kerasnets.utils import atomic_output, import_keras_quietly

    import_keras_quietly()
    from kerasnets.detection.models import Detector, GeneralizedRCNN
    from kerasnets.detection.visualize import draw_detections

    try:
        model = kerasnets.load_model(args.model)  # a file that is not a Keras model fails here, before Keras reads it
    except ValueError as e:
        raise InputError(f"--model {e}") from None
    if not isinstance(model, Detector) or (isinstance(model, GeneralizedRCNN) and model.rpn is None):
        raise InputError(f"--model {args.model} holds a {type(model).__name__}, not a FasterRCNN, MaskRCNN, SSD or "
                         "YOLOv1 detector (train one with train_detector).")
    result = model.detect([image])[0]
    save_image(args.output, draw_detections(image, result, model.class_names, args.score_threshold))
    keep = result["scores"] >= args.score_threshold
    listed = [{"class": model.class_names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
              for b, s, c in zip(result["boxes"][keep], result["scores"][keep], result["classes"][keep])]
    for item in listed:
        print(f"{item['class']:>12s} {item['score']:.3f}  {item['box']}")
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(listed, indent=2))
    print(f"{len(listed)} detections at score >= {args.score_threshold}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
