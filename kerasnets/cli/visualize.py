"""See what a network learns: Zeiler & Fergus' deconvnet, occlusion, filters and feature maps, Grad-CAM,
guided backpropagation, gradients and receptive fields, drawn on a photo.

    python apps/visualize.py --image images/chelsea_cat.jpg --method gradcam --output cam.png
    python apps/visualize.py --image images/chelsea_cat.jpg --method deconvnet --layer block4a_project_bn -o d.png
    python apps/visualize.py --image images/coffee_cup.jpg --method occlusion --class espresso --output occ.png
    python apps/visualize.py --model alexnet --weights none --method filters --output filters.png
    python apps/visualize.py --model vgg16 --weights none --method receptive
    python apps/visualize.py --model efficientnet_lite0 --list-layers

The photo is prepared as the network was evaluated (its centre crop; `--resize plain` squeezes the
whole photo), the top classes are printed, and the picture is the photo with the map over it (or a
grid). The default network, EfficientNet-Lite0, has ImageNet weights that come with the install.
Bad input (an unknown layer, a Dense layer for a spatial method, a class that is not an ImageNet
label, an output that cannot be written) ends with one line on stderr, before any work.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from kerasnets.core.weights import WeightsError
from kerasnets.errors import app_syntax
from kerasnets.images import ImageError, check_image_output, load_image
from kerasnets.utils import OutputError, atomic_output, check_output, import_keras_quietly

METHODS = ("gradcam", "deconvnet", "guided", "gradients", "occlusion", "filters", "maps", "receptive")
#: Methods that read a photo, and those that need a layer with a spatial output.
PHOTO_METHODS = ("gradcam", "deconvnet", "guided", "gradients", "occlusion", "maps")
TEXT_SUFFIXES = (".md", ".txt")
DEFAULT_MODEL = "efficientnet_lite0"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", "-i", metavar="PATH", help="the photo (any image file OpenCV reads)")
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL,
                        help=f"registered network name (default: {DEFAULT_MODEL}, whose ImageNet weights ship with "
                             "kerasnets; see kerasnets-classify --list)")
    parser.add_argument("--weights", default="imagenet", help="'imagenet' (default), 'none', or a weights file path")
    parser.add_argument("--method", default="gradcam", choices=METHODS, help="what to show (default: gradcam)")
    parser.add_argument("--layer", "-l", help="the layer to look at (see --list-layers); default: the last layer with "
                                              "a spatial output (filters: the first convolution; guided/gradients: "
                                              "none, the class score)")
    parser.add_argument("--class", "-c", dest="label", metavar="LABEL",
                        help="ImageNet class: a name (tabby, 'Egyptian cat'), a WordNet id or an index "
                             "(default: the most probable class)")
    parser.add_argument("--channels", type=int,
                        help="deconvnet/guided/gradients with a layer: how many of its most active channels to "
                             "project (default 9, as the paper's grids); maps: how many maps to show (default 64)")
    parser.add_argument("--patch", type=int, help="occlusion: square size in input pixels (default: a seventh)")
    parser.add_argument("--stride", type=int, help="occlusion: step in input pixels (default: half the square)")
    parser.add_argument("--resize", choices=("crop", "plain"), default="crop",
                        help="crop (default): the network's evaluation centre crop; plain: the whole photo squeezed")
    parser.add_argument("--top", "-k", type=int, default=5, help="how many classes to print (default: 5)")
    parser.add_argument("--max-side", type=int, default=448, metavar="PX",
                        help="the photo's longer side in the picture, in pixels (default: 448)")
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="the picture to write (.png, .jpg, ...); receptive: an optional table (.md or .txt)")
    parser.add_argument("--list-layers", action="store_true",
                        help="list the layers (name, type, output shape), then exit")
    args = parser.parse_args(argv)
    if not 1 <= args.top <= 1000:
        parser.error(f"--top must be between 1 and 1000, received {args.top}")
    if args.max_side < 32:
        parser.error(f"--max-side must be at least 32 pixels, received {args.max_side}")
    if args.channels is not None and args.channels < 1:
        parser.error(f"--channels must be at least 1, received {args.channels}")
    for name in ("patch", "stride"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1 pixel, received {getattr(args, name)}")
    if not args.list_layers:
        if args.method in PHOTO_METHODS and args.image is None:
            parser.error(f"--method {args.method} needs a photo: --image PATH")
        if args.method != "receptive" and args.output is None:
            parser.error(f"--method {args.method} writes a picture: --output PATH (e.g. --output {args.method}.png)")
    return args


def check_destination(args):
    """The output path, checked before any work."""
    if args.output is None:
        return None
    if args.method == "receptive":
        try:
            return check_output(args.output, what="table (--output)", suffixes=TEXT_SUFFIXES,
                                inputs=[args.image] if args.image else ())
        except OutputError as e:
            raise ImageError(str(e)) from None
    return check_image_output(args.output, inputs=[args.image] if args.image else (),
                              what="output image (--output)")


def main(argv=None):
    """The app: one line `error: ...` and exit status 1 for bad input, 2 for bad usage (kerasnets.errors.run_app)."""
    from kerasnets.errors import run_app

    return run_app(_main, argv)


def _main(argv=None):
    args = parse_args(argv)
    destination = None if args.list_layers else check_destination(args)  # fail fast, before TensorFlow
    photo = load_image(args.image) if args.image and not args.list_layers else None
    from kerasnets import inspect as ki

    class_index = ki.class_index_of(args.label)
    import_keras_quietly()
    import kerasnets

    info = kerasnets.model_info(args.model)
    if info.channels != 3:
        raise ValueError(f"{info.name} reads grayscale digits, not photos; choose an ImageNet network, "
                         f"e.g. --model {DEFAULT_MODEL}.")
    if args.list_layers:
        net = ki.network(args.model, weights=None)
        return list_layers(net)
    weights = None if args.method == "receptive" else args.weights
    try:
        net = ki.network(args.model, weights=weights)
    except WeightsError as e:
        from kerasnets.cli.classify import offline_hint

        raise WeightsError(f"{app_syntax(e).split(' Works offline:')[0]}{offline_hint(info, args.weights)}") \
            from None
    layer = check_layer(ki, net, args)
    if args.method == "receptive":
        return receptive(ki, net, destination)
    if args.method == "filters":
        kernel = net.model.get_layer(layer).kernel.shape
        picture = ki.caption(ki.filters(net, layer), f"{layer}: {kernel[-1]} kernels {kernel[0]}x{kernel[1]}x"
                                                     f"{kernel[2]}")
    else:
        probabilities = ki.predict(net, photo, args.resize)
        report(args.image, kerasnets.decode_predictions(probabilities[None], top=args.top)[0])
        picture = draw(ki, net, photo, args, layer, class_index, probabilities)
    ki.save(picture, destination)
    print(f"Picture written to {destination}")
    return 0


def check_layer(ki, net, args):
    """The layer to use, checked: it exists, and has a spatial output where the method maps positions."""
    if args.method in ("receptive",) or (args.layer is None and args.method in ("guided", "gradients")):
        return args.layer
    if args.layer is None:
        return ki.first_conv_layer(net.model) if args.method == "filters" else ki.last_spatial_layer(net.model)
    try:
        layer = ki.get_layer(net.model, args.layer, spatial=args.method != "filters")
    except ValueError as e:
        raise ValueError(f"{e} (--list-layers names them all)") from None
    return layer.name


def list_layers(net):
    print(f"{'layer':36s} {'type':26s} output shape   (* spatial: usable with --layer for every method)")
    for layer in net.model.layers:
        shape = tuple(layer.output.shape[1:]) if hasattr(layer, "output") else ()
        mark = "*" if len(shape) == 3 else " "
        print(f"{mark}{layer.name:35s} {type(layer).__name__:26s} {shape}")
    return 0


def report(path, result):
    print(f"\n{path}")
    print(f"  {'#':>2}  {'ImageNet ID':11}  {'Label':30}  Probability")
    for rank, (wnid, label, score) in enumerate(result, start=1):
        print(f"  {rank:>2}  {wnid:11}  {label:30}  {float(score):10.2%}")


def class_label(index):
    import kerasnets

    return kerasnets.class_names()[index]


def draw(ki, net, photo, args, layer, class_index, probabilities):
    """The picture of one method: the photo beside its map, or a grid."""
    index = int(np.argmax(probabilities)) if class_index is None else class_index
    name = f"{class_label(index)} ({probabilities[index]:.1%})"
    shown = shrink_rgb(photo.astype(np.uint8), None, args.max_side)  # the photo as drawn
    if args.method == "gradcam":
        cam = ki.grad_cam(net, photo, index, layer, resize=args.resize)
        return ki.caption(ki.side_by_side(shown, ki.overlay(shown, shrink(cam.map, shown))),
                          f"Grad-CAM of {name} at {cam.layer}")
    if args.method == "occlusion":
        occlusion = ki.occlusion_sensitivity(net, photo, index, args.patch, args.stride, resize=args.resize)
        counts = np.bincount(occlusion.top_class().ravel(), minlength=len(probabilities))
        print("Most probable class with the square over each position: "
              + ", ".join(f"{class_label(c)} ({counts[c]})" for c in np.argsort(-counts)[:3] if counts[c]))
        drop = occlusion.sensitivity()
        return ki.caption(ki.side_by_side(shown, ki.overlay(shown, shrink(drop, shown))),
                          f"Occlusion, {occlusion.patch} px squares: where one lowers p({name})")
    if args.method == "maps":
        grid = ki.feature_maps(net, photo, layer, top=args.channels or 64, resize=args.resize)
        return ki.caption(grid, f"{net.name} {layer}: most active feature maps")
    rule = {"deconvnet": "deconvnet", "guided": "guided", "gradients": "gradient"}[args.method]
    title = {"deconvnet": "Deconvnet", "guided": "Guided backprop", "gradients": "Gradient"}[args.method]
    if layer is None:
        projection = ki.project(net, photo, rule, class_index=index, resize=args.resize)
        if rule == "gradient":  # Simonyan et al.'s saliency map: max over colours of |gradient|, in grey
            heat = shrink(ki.saliency(projection.maps[0]), shown)
            grey = (np.clip(heat / max(float(np.percentile(heat, 99.5)), 1e-12), 0, 1) * 255).astype(np.uint8)
            picture = np.repeat(grey[..., None], 3, axis=-1)
            title = "Saliency (max over colours of |gradient|)"
        else:
            picture = shrink_rgb(ki.to_image(projection.maps[0]), shown)
        return ki.caption(ki.side_by_side(shown, picture), f"{title} of the score of {name}")
    projection = ki.project(net, photo, rule, layer, top=args.channels or 9, resize=args.resize)
    seen = ki.view(net, photo, args.resize)
    fields = {row.layer: row for row in ki.receptive_fields(net.model, input_size=net.size)}
    tiles = []
    for unit, projected in zip(projection.targets, projection.maps):
        box = photo_box(seen, fields[layer], unit)
        patch = ki.to_image(crop(projected, box))  # rendered within the unit's receptive field
        size = max(32, args.max_side // 4)
        tiles.append(np.concatenate([tile(patch, size), tile(crop(photo.astype(np.uint8), box), size)], axis=1))
    return ki.caption(ki.grid(tiles, columns=3, pad=6),
                      f"{title}: {layer}, the strongest unit of {len(tiles)} channels (projection | photo)")


def _target_size(shape, limit=448):
    scale = min(1.0, limit / max(shape[:2]))
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def shrink(heat, like):
    import cv2

    height, width = like.shape[:2]
    return cv2.resize(np.asarray(heat, np.float32), (width, height), interpolation=cv2.INTER_AREA)


def shrink_rgb(image, like, limit=448):
    import cv2

    height, width = like.shape[:2] if like is not None else _target_size(image.shape, limit)
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def photo_box(seen, field, unit):
    """The receptive field of `unit` (input pixels) as a box (top, bottom, left, right) on the photo."""
    (top, bottom), (left, right) = field.span(unit[:2])
    sy, sx = seen.photo_shape[0] / seen.scaled[0], seen.photo_shape[1] / seen.scaled[1]
    box = [(top + seen.offset[0]) * sy, (bottom + 1 + seen.offset[0]) * sy,
           (left + seen.offset[1]) * sx, (right + 1 + seen.offset[1]) * sx]
    limit = (seen.photo_shape[0], seen.photo_shape[0], seen.photo_shape[1], seen.photo_shape[1])
    return [int(round(min(max(v, 0), n))) for v, n in zip(box, limit)]


def crop(image, box):
    top, bottom, left, right = box
    return image[top:max(bottom, top + 1), left:max(right, left + 1)]


def tile(image, size=112):
    import cv2

    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA
                      if min(image.shape[:2]) >= size else cv2.INTER_NEAREST)


def receptive(ki, net, destination):
    rows = ki.receptive_fields(net.model, input_size=net.size)
    lines = [f"Receptive fields of {net.name} at {net.size[0]}x{net.size[1]} px (per axis; the offset is the centre "
             "of unit 0, the padding google-research/receptive_field's effective padding)", "",
             "| layer | type | feature map | receptive field | jump | offset | effective padding |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in rows:
        if row.field is None:
            lines.append(f"| {row.layer} | {row.kind} | {row.size[0]}x{row.size[1]} | whole image | | | |")
            continue
        same = row.field[0] == row.field[1] and row.jump[0] == row.jump[1] and row.offset[0] == row.offset[1]
        fmt = (lambda v: f"{v[0]:g}") if same else (lambda v: f"{v[0]:g}x{v[1]:g}")
        lines.append(f"| {row.layer} | {row.kind} | {row.size[0]}x{row.size[1]} | {fmt(row.field)} | {fmt(row.jump)} | "
                     f"{fmt(row.offset)} | {fmt(row.padding)} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if destination is not None:
        with atomic_output(destination) as tmp:
            tmp.write_text(text)
        print(f"Table written to {destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
