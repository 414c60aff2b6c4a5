"""Classify photos with an ImageNet network, the way the course slides do it.

    python apps/test_imagenet.py --image images/chelsea_cat.jpg
    python apps/test_imagenet.py --image dog.png --model resnet50 --top 3 --output dog_labelled.png

Prints "ImageNet ID: <wnid>, Label: <name>" for the best class, then the top-K table, and can
write the photo annotated with its label. Any image OpenCV reads works (grayscale, RGBA, palette,
16-bit); a missing, corrupt or unreadable file ends with one line on stderr and exit status 1.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from kerasnets.core.weights import WeightsError
from kerasnets.images import ImageError, load_image, resize, save_image
from kerasnets.utils import import_keras_quietly


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", "-i", required=True, nargs="+", metavar="PATH", help="image file(s) to classify")
    parser.add_argument("--model", "-m", default="vgg16", help="registered network name (default: vgg16; see --list)")
    parser.add_argument(
        "--weights", default="imagenet",
        help="'imagenet' (official weights, downloaded once into ~/.keras/models) or a weights file path",
    )
    parser.add_argument("--top", "-k", type=int, default=5, help="how many classes to list (default: 5)")
    parser.add_argument(
        "--output", "-o", metavar="PATH",
        help="write the photo annotated with its top label (a file for one image, a folder for several)",
    )
    parser.add_argument("--show", action="store_true", help="open a window with the annotated photo")
    parser.add_argument("--list", action="store_true", help="list the registered networks and exit")
    args = parser.parse_args(argv)
    if not 1 <= args.top <= 1000:
        parser.error(f"--top must be between 1 and 1000, received {args.top}")
    return args


def annotate(image_rgb, label, score):
    """The RGB photo with 'Label: name, 93.1%' drawn in its top-left corner, like the slides' cv2.putText."""
    canvas = image_rgb.copy()
    text = f"Label: {label}, {score:.1%}"
    scale = max(0.5, min(canvas.shape[:2]) / 500.0)
    thickness = max(1, round(2 * scale))
    (w, h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(canvas, (0, 0), (w + 20, h + baseline + 20), (0, 0, 0), cv2.FILLED)
    cv2.putText(canvas, text, (10, h + 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), thickness, cv2.LINE_AA)
    return canvas


def output_paths(output, images):
    if output is None:
        return [None] * len(images)
    if len(images) == 1 and not os.path.isdir(output):
        return [output]
    os.makedirs(output, exist_ok=True)
    return [os.path.join(output, os.path.splitext(os.path.basename(p))[0] + "_labelled.png") for p in images]


def main(argv=None):
    args = parse_args(argv)
    try:
        if not args.list:
            photos = [load_image(path) for path in args.image]  # fail fast, before loading TensorFlow
            destinations = output_paths(args.output, args.image)
            for dest in destinations:
                if dest is not None and not os.access(os.path.dirname(os.path.abspath(dest)), os.W_OK):
                    raise ImageError(f"{dest}: the folder does not exist or is not writable.")
        import_keras_quietly()
        import kerasnets

        if args.list:
            for name in kerasnets.list_models():
                info = kerasnets.model_info(name)
                print(f"{name:16s} {info.input_size:4d} px  {'imagenet' if info.imagenet_weights else '-':8s}  "
                    f"{info.paper}")
            return 0
        info = kerasnets.model_info(args.model)
        model = info.build(weights=None if args.weights == "none" else args.weights)
        height, width = model.input_shape[1:3]
        batch = np.stack([resize(photo, (height, width)) for photo in photos]).astype("float32")
        probabilities = np.asarray(model.predict(info.preprocess(batch), verbose=0))
        for path, photo, dest, result in zip(
            args.image, photos, destinations, kerasnets.decode_predictions(probabilities, top=args.top)
        ):
            report(path, result)
            wnid, label, score = result[0]
            if dest is not None or args.show:
                labelled = annotate(photo, label, float(score))
                if dest is not None:
                    save_image(dest, labelled)
                    print(f"Annotated image written to {dest}")
                if args.show:
                    show(labelled, f"{os.path.basename(path)}: {label}")
    except (ImageError, ValueError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def report(path, result):
    wnid, label, _ = result[0]
    print(f"\n{path}")
    print(f"ImageNet ID: {wnid}, Label: {label}")
    print(f"  {'#':>2}  {'ImageNet ID':11}  {'Label':30}  Probability")
    for rank, (wnid, label, score) in enumerate(result, start=1):
        print(f"  {rank:>2}  {wnid:11}  {label:30}  {float(score):10.2%}")


def show(image_rgb, title):
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
        print("--show: no display available; use --output to save the annotated image instead.", file=sys.stderr)
        return
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("--show needs matplotlib: pip install 'kerasnets[plots]' (or use --output).", file=sys.stderr)
        return
    plt.figure(title)
    plt.imshow(image_rgb)
    plt.axis("off")
    plt.show()


if __name__ == "__main__":
    sys.exit(main())
