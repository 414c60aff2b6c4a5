"""Detect objects in photos and write them annotated: boxes, class names, scores and, for Mask R-CNN, the
instance masks. The detector is one of torchvision's COCO-trained detectors (see --list), a detector trained
with train_detector (.keras), or R-CNN (2014) with an ImageNet classifier.

    python apps/detect.py --model fasterrcnn_resnet50_fpn --weights coco --image photos/*.jpg --output out/
    python apps/detect.py --model maskrcnn_resnet50_fpn --weights maskrcnn.pth --image photos/
    python apps/detect.py --list
    python apps/detect.py --image street.png --model runs/detector/model.keras --output annotated.png
    python apps/detect.py --model rcnn --backbone efficientnet_lite0 --weights imagenet --image images/chelsea_cat.jpg

COCO detectors: --weights coco downloads torchvision's published file once (verified, cached, converted); a
torchvision state dict you saved (torch.save(model.state_dict(), "f.pth")) works offline; --weights none
builds the detector untrained. `--model rcnn` needs no training at all: selective-search proposals, each
warped to an ImageNet classifier's input and classified, per-class NMS - real photos labelled with ImageNet
classes offline (EfficientNet-Lite0's weights come with the install).
"""

import argparse
import json
import os
import sys

#: `--model` for R-CNN with an ImageNet classifier, rather than a saved detector file.
RCNN_MODEL = "rcnn"
#: the annotated photo's name for several photos: <stem>_detections.png in the --output folder
TAG = "detections"


def coco_names():
    from kerasnets.detection.pretrained import COCO_DETECTORS

    return sorted(COCO_DETECTORS)


def parse_args(argv=None):
    from kerasnets.errors import program_name

    parser = argparse.ArgumentParser(prog=program_name("detect.py"), description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--image", nargs="+", metavar="PATH",
                        help="photo(s) or folder(s) of photos (any format OpenCV reads); required unless --list")
    parser.add_argument("--model", help="a COCO detector (--list: fasterrcnn_resnet50_fpn, maskrcnn_resnet50_fpn, "
                        "ssdlite320_mobilenet_v3_large, ...), a FasterRCNN, MaskRCNN, SSD or YOLOv1 saved as .keras, "
                        "or 'rcnn': R-CNN with an ImageNet classifier (--backbone, --weights)")
    parser.add_argument("--backbone", help="with --model rcnn: the ImageNet classifier (default: efficientnet_lite0)")
    parser.add_argument("--weights", help="with a COCO detector: 'coco' (default: torchvision's file), 'none' "
                        "(untrained) or a torchvision state dict (.pth); with --model rcnn: 'imagenet' (default) or "
                        "the classifier's weights file")
    parser.add_argument("--output", help="annotated image to write for one photo (default: annotated.png); for "
                        f"several, a folder (default: {TAG}/) where each gets <name>_{TAG}.png")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="draw and list detections from this score")
    parser.add_argument("--json", help="also write the detections as JSON (boxes in xyxy pixels; for several photos "
                        "an object keyed by photo)")
    parser.add_argument("--list", action="store_true", help="list the COCO-trained detectors (COCO val2017 box and "
                        "mask mAP, parameters, torchvision's file) and exit")
    args = parser.parse_args(argv)
    if args.list:
        return args
    if not args.image or not args.model:
        parser.error("the following arguments are required: --image and --model (or --list to list the COCO "
                     "detectors)")
    if not 0.0 <= args.score_threshold <= 1.0:
        parser.error("--score-threshold must be between 0 and 1")
    if args.model in coco_names():
        if args.backbone:
            parser.error(f"--backbone goes with --model {RCNN_MODEL}; {args.model} has its own backbone")
    elif args.model != RCNN_MODEL and (args.backbone or args.weights):
        parser.error(f"--backbone and --weights go with --model {RCNN_MODEL} or a COCO detector (a saved detector "
                     "has its own weights)")
    return args


def main(argv=None):
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    if args.list:
        from kerasnets.detection.pretrained import list_pretrained

        print(list_pretrained())
        return 0
    from kerasnets.cli.classify import output_paths
    from kerasnets.errors import InputError
    from kerasnets.images import expand_images, load_image
    from kerasnets.utils import check_output, import_keras_quietly

    paths = expand_images(args.image)
    inputs = [*paths, args.model]
    # every output is checked before any work, and never overwrites an input
    output = args.output or ("annotated.png" if len(paths) == 1 else TAG + os.sep)
    destinations = output_paths(output, paths, tag=TAG)
    if args.json:
        check_output(args.json, what="JSON output", suffixes=(".json",), inputs=[*inputs, *destinations])
    photos = [load_image(p) for p in paths]
    if args.model == RCNN_MODEL:
        return _rcnn(args, paths, photos, destinations)
    if args.model in coco_names():
        model = _coco_detector(args)
    else:
        if not os.path.isfile(args.model):
            import difflib

            close = difflib.get_close_matches(args.model, [*coco_names(), RCNN_MODEL], n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise InputError(f"--model {args.model}: no such model file or COCO detector{hint} (--list shows the COCO "
                             "detectors; train_detector writes runs/detector/model.keras).")
        import kerasnets

        import_keras_quietly()
        from kerasnets.detection.models import Detector, GeneralizedRCNN

        try:
            model = kerasnets.load_model(args.model)  # a file that is not a Keras model fails here, before Keras
        except ValueError as e:
            raise InputError(f"--model {e}") from None
        if not isinstance(model, Detector) or (isinstance(model, GeneralizedRCNN) and model.rpn is None):
            raise InputError(f"--model {args.model} holds a {type(model).__name__}, not a FasterRCNN, MaskRCNN, SSD "
                             "or YOLOv1 detector (train one with train_detector).")
    results = {}
    for path, photo, dest in zip(paths, photos, destinations):
        result = model.detect([photo])[0]
        results[path] = _report(args, path if len(paths) > 1 else None, photo, result, model.class_names, dest)
    _write_json(args, results)
    return 0


def _coco_detector(args):
    """--model <COCO detector>: built with --weights coco (default), none or a torchvision state dict."""
    import time

    from kerasnets.core.torch_weights import is_torch_file
    from kerasnets.errors import InputError, UsageError, WeightsError, app_syntax
    from kerasnets.utils import import_keras_quietly

    weights = args.weights or "coco"
    if weights not in ("coco", "none"):
        if not is_torch_file(weights):
            raise UsageError(f"--weights {weights}: {args.model} takes --weights coco, none or a torchvision state "
                             "dict (.pth / .pt).")
        if not os.path.isfile(weights):
            raise InputError(f"--weights {weights}: no such file; give --weights coco (downloaded once) or the path "
                             f"of a {args.model} state dict saved with torch.save(model.state_dict(), PATH).")
    import_keras_quietly()
    from kerasnets.detection.pretrained import COCO_DETECTORS

    record = COCO_DETECTORS[args.model]
    start = time.perf_counter()
    try:
        model = record.build(weights=None if weights == "none" else weights, weights_backbone=None)
    except WeightsError as e:
        text = app_syntax(e).split(" Works offline:")[0]
        raise WeightsError(f"{text} Works offline: --model {RCNN_MODEL} --backbone efficientnet_lite0 (real ImageNet "
                           f"classes, no download), or --weights none (an untrained {args.model}).") from None
    source = {"coco": f"COCO weights, box mAP {record.box_map}", "none": "untrained"}.get(weights, weights)
    print(f"{args.model} ({source}; {record.num_params:,} parameters) ready in {time.perf_counter() - start:.1f} s")
    if weights == "none":
        print(f"Note: --weights none: {args.model} has random weights, so what it finds is noise; --weights coco has "
              f"torchvision's COCO-trained weights, --model {RCNN_MODEL} finds ImageNet classes offline.")
    return model


def _report(args, header, image, result, class_names, dest):
    """Write the annotated image, print the detections at or above the threshold; returns them as JSON-able rows."""
    from kerasnets.detection.visualize import draw_detections
    from kerasnets.images import save_image

    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    save_image(dest, draw_detections(image, result, class_names, args.score_threshold))
    keep = result["scores"] >= args.score_threshold
    listed = [{"class": class_names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
              for b, s, c in zip(result["boxes"][keep], result["scores"][keep], result["classes"][keep])]
    if header:
        print(f"\n{header}")
    for item in listed:
        print(f"{item['class']:>14s} {item['score']:.3f}  {item['box']}")
    print(f"{len(listed)} detections at score >= {args.score_threshold}; wrote {dest}")
    return listed


def _write_json(args, results):
    from kerasnets.utils import atomic_output

    if args.json:
        payload = next(iter(results.values())) if len(results) == 1 else results
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(payload, indent=2))


def _rcnn(args, paths, photos, destinations):
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
    results = {}
    for path, image, dest in zip(paths, photos, destinations):
        start = time.perf_counter()
        proposals = rcnn.proposals(image)
        result = rcnn.detect([image], [proposals], progress=True)[0]
        print(f"R-CNN with {backbone}: {len(proposals)} selective-search proposals classified in "
              f"{time.perf_counter() - start:.1f} s")
        results[path] = _report(args, path if len(paths) > 1 else None, image, result, rcnn.class_names, dest)
    _write_json(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
