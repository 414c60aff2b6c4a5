"""Train Johnson et al.'s fast style-transfer network on a folder of photos, for one style image.

    python apps/train_style.py --content-dir photos/ --style painting.jpg --output starry.keras [--tflite starry.tflite]

Keras progress bars show the perceptual loss; the result applies with
`python apps/style_transfer.py --content photo.jpg --transform-model starry.keras --output out.png`,
and `--tflite` also exports it as a float16 TFLite file for phones.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasnets.images import load_image
from kerasnets.utils import OutputError, atomic_output, check_output, import_keras_quietly


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content-dir", required=True, help="folder of training photos")
    parser.add_argument("--style", required=True, help="the style image")
    parser.add_argument("--output", required=True, help="the trained network (.keras)")
    parser.add_argument("--tflite", help="also export a float16 .tflite here")
    parser.add_argument("--size", type=int, default=256, help="training crop size, a multiple of 4 (default 256)")
    parser.add_argument("--epochs", type=int, default=2, help="passes over the photos (default 2)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--style-weight", type=float, default=1e3)
    parser.add_argument("--tv-weight", type=float, default=1e-5)
    parser.add_argument("--weights", default="imagenet", help="VGG16 weights: imagenet (default), none, or a file")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error(f"--epochs and --batch-size must be at least 1; received {args.epochs} and {args.batch_size}")
    return args


def _main(argv=None):
    args = parse_args(argv)
    check_output(args.output, what="transform network (--output)", suffixes=(".keras",), inputs=[args.style])
    if args.tflite:
        check_output(args.tflite, what="--tflite file", suffixes=(".tflite",), inputs=[args.style])
        if os.path.abspath(args.tflite) == os.path.abspath(args.output):
            raise OutputError(f"{args.tflite}: --tflite and --output name the same file.")
    style_image = load_image(args.style)
    import_keras_quietly()
    from kerasnets import style

    model, history = style.train_transform_net(
        args.content_dir, style_image, size=args.size, epochs=args.epochs, batch_size=args.batch_size,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        weights=None if args.weights == "none" else args.weights,
    )
    with atomic_output(args.output) as tmp:
        model.save(tmp)
    print(f"Transform network written to {args.output}")
    if args.tflite:
        from export.tflite import image_model_to_tflite

        image_model_to_tflite(model, args.tflite, args.size, quantize="float16")
        print(f"Float16 TFLite written to {args.tflite}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
