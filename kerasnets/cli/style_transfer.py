"""Neural style transfer: paint a photo in the style of another image.

    python apps/style_transfer.py --content photo.jpg --style painting.jpg --output stylised.png
    python apps/style_transfer.py --content photo.jpg --transform-model starry.keras --output fast.png

The first form optimises the pixels (Gatys et al. 2015) with a progress bar showing the loss terms;
the second applies a network trained with apps/train_style.py (Johnson et al. 2016) in one pass.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from kerasnets.images import check_image_output, load_image, save_image
from kerasnets.utils import import_keras_quietly


def non_negative(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, received {text}")
    return value


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, received {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, received {text}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", required=True, help="the photo to stylise")
    parser.add_argument("--style", help="the style image (optimisation mode)")
    parser.add_argument("--transform-model", metavar="PATH", help="a trained .keras transform network (fast mode)")
    parser.add_argument("--output", "-o", required=True, help="where to write the result (.png or .jpg)")
    parser.add_argument("--size", type=int, default=512, help="long side in pixels (default 512)")
    parser.add_argument("--iterations", type=positive_int, default=300, help="optimisation steps (default 300)")
    parser.add_argument("--content-weight", type=non_negative, default=1.0)
    parser.add_argument("--style-weight", type=non_negative, default=1e3)
    parser.add_argument("--tv-weight", type=non_negative, default=1e-5)
    parser.add_argument("--model", choices=("vgg16", "vgg19"), default="vgg19",
                        help="vgg19 with Gatys' layers (default) or vgg16 with Johnson's")
    parser.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    parser.add_argument("--weights", default="imagenet", help="VGG weights: imagenet (default), none, or a file")
    parser.add_argument("--save-every", type=positive_int, metavar="K",
                        help="also write every K-th iterate as OUTPUT_iterK.png")
    args = parser.parse_args(argv)
    if bool(args.style) == bool(args.transform_model):
        parser.error("give either --style (optimisation) or --transform-model (fast network), not both")
    if args.size < 16:
        parser.error("--size must be at least 16 pixels")
    return args


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    inputs = [args.content, args.style, args.transform_model]
    check_image_output(args.output, inputs=inputs)  # before any work
    if args.transform_model and not os.path.isfile(args.transform_model):
        raise ValueError(f"{args.transform_model}: no such transform model file.")
    content = load_image(args.content)
    style_image = load_image(args.style) if args.style else None
    keras = import_keras_quietly()
    from kerasnets import style

    if args.transform_model:
        import kerasnets

        model = kerasnets.load_model(args.transform_model, compile=False)
        batch = style.as_image_batch(content, args.size)
        h, w = (int(d) // 4 * 4 for d in batch.shape[1:3])
        result = model.predict(keras.ops.convert_to_numpy(batch)[:, :h, :w], verbose=0)[0]
        save_image(args.output, np.clip(result, 0, 255).round().astype("uint8"))
        print(f"Stylised image written to {args.output}")
        return 0
    stem, suffix = os.path.splitext(args.output)

    def save_frames(iteration, image, terms):
        if args.save_every and iteration % args.save_every == 0:
            save_image(f"{stem}_iter{iteration}{suffix or '.png'}", image)

    layers = "gatys" if args.model == "vgg19" else "johnson"
    image, history = style.gatys_transfer(
        content, style_image, size=args.size, iterations=args.iterations, layers=layers,
        weights=None if args.weights == "none" else args.weights, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, optimizer=args.optimizer, callback=save_frames,
    )
    save_image(args.output, image)
    print(f"Loss {history[0][0]:.4g} -> {history[-1][0]:.4g} in {len(history)} iterations; written to "
        f"{args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
