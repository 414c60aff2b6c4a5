"""torchvision's side of the R-CNN parity tests (tests/test_torchvision_rcnn.py): run with a Python that has
torch, torchvision and scikit-image (never kerasnets' environment; torch is no dependency of kerasnets).

    parity OUT_DIR BUILDER [KEY=VALUE ...]
        torchvision's BUILDER (fasterrcnn_resnet50_fpn, maskrcnn_resnet50_fpn, ...) built with weights=None,
        weights_backbone=None and the keyword arguments given (numbers or tuples as Python literals), randomly
        initialised (torch.manual_seed(0)), batch-norm statistics and affine parameters spread, the heads'
        last layers scaled so that scores differ and boxes stay plausible (`spread`); its
        state_dict saved with torch.save as OUT_DIR/BUILDER.pt and its detections on scikit-image's
        astronaut, chelsea and coffee photos (one image per call, as kerasnets' detect runs them) in
        OUT_DIR/BUILDER.npz, with torchvision's parameter count.

    fixture OUT_FILE BUILDER [KEY=VALUE ...]
        The committed reference of the default suite: the state dict's keys and shapes, and torchvision's
        detections on the photos with the weights `tests.torchvision_oracle.detection_state` makes from them
        and the head factors recorded (so no state dict needs to be stored). Also checks that torch.load reads
        `tests.torchvision_oracle.save_state_dict`'s file of them exactly.

    transform OUT_FILE
        torchvision's GeneralizedRCNNTransform on its own: the resized sizes of many image sizes for several
        (min_size, max_size), the normalised, resized and padded tensors of two small random images, and
        paste_masks_in_image of random 28x28 masks into a small image (transform.npz).
"""

import ast
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torchvision
from skimage import data

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
from tests.torchvision_oracle import detection_state, numpy_state, save_state_dict  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee")


def photos():
    return [getattr(data, name)() for name in PHOTOS]


def build(builder, kwargs):
    return getattr(torchvision.models.detection, builder)(weights=None, weights_backbone=None, **kwargs).eval()


#: Standard deviations the heads' outputs are scaled to (on the astronaut photo): objectness logits and
#: class logits that differ, regression deltas of plausible size.
HEAD_STD = {"rpn.head.cls_logits": 3.0, "rpn.head.bbox_pred": 0.2, "roi_heads.box_predictor.cls_score": 1.5,
            "roi_heads.box_predictor.bbox_pred": 0.5}


def head_factors(model):
    """{module: factor} that brings each head's output to its HEAD_STD on the astronaut photo."""
    modules = dict(model.named_modules())
    factors = {}
    for name, target in HEAD_STD.items():
        outputs = []
        hook = modules[name].register_forward_hook(lambda mod, i, out: outputs.append(out.detach()))
        with torch.no_grad():
            model([torch.from_numpy(photos()[0]).permute(2, 0, 1).float() / 255.0])
        hook.remove()
        factors[name] = target / float(torch.cat([o.flatten() for o in outputs]).std())
        with torch.no_grad():
            modules[name].weight.mul_(factors[name])
            modules[name].bias.mul_(factors[name])
    return factors


def spread(model, seed=0):
    """Random-init weights made informative: batch-norm statistics and affine parameters spread (FrozenBN
    buffers or BatchNorm2d), and the heads' last layers scaled so that their outputs have HEAD_STD (random
    heads give near-uniform scores, or saturated ones on the large features of a random backbone)."""
    g = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("running_mean"):
            value.copy_(torch.randn(value.shape, generator=g) * 0.1)
        elif key.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=g) * 1.5 + 0.5)
        elif key.endswith("weight") and value.ndim == 1:
            value.copy_(torch.rand(value.shape, generator=g) + 0.5)
        elif key.endswith("bias") and key.replace("bias", "running_mean") in state:
            value.copy_(torch.randn(value.shape, generator=g) * 0.1)
    model.load_state_dict(state)
    head_factors(model)
    return model


@torch.no_grad()
def detections(model):
    out = {}
    for name, photo in zip(PHOTOS, photos()):
        x = torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1).float() / 255.0
        [result] = model([x])
        out[f"{name}/boxes"] = result["boxes"].numpy()
        out[f"{name}/scores"] = result["scores"].numpy()
        out[f"{name}/labels"] = result["labels"].numpy()
        if "masks" in result:
            out[f"{name}/masks"] = np.packbits(result["masks"][:, 0].numpy() > 0.5, axis=-1)
            out[f"{name}/mask_shape"] = np.array(result["masks"].shape[-2:])
    return out


def parse(pairs):
    return {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in pairs)}


def parity(out_dir, builder, kwargs):
    torch.manual_seed(0)
    model = spread(build(builder, kwargs))
    torch.save(model.state_dict(), os.path.join(out_dir, f"{builder}.pt"))
    params = sum(p.numel() for p in model.parameters())
    np.savez(os.path.join(out_dir, f"{builder}.npz"), params=params, kwargs=json.dumps(kwargs), **detections(model))


def fixture(out_file, builder, kwargs):
    model = build(builder, kwargs)
    keys_shapes = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    seed = 22
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in numpy_state(keys_shapes, seed).items()})
    scales = {name: float(np.float32(f)) for name, f in head_factors(model).items()}
    state = detection_state(keys_shapes, seed, scales)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_state_dict(state, os.path.join(tmp, "state.pt"))
        loaded = torch.load(path, weights_only=True)
    assert all(np.array_equal(loaded[k].numpy(), v) for k, v in state.items())
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    np.savez_compressed(out_file, builder=builder, kwargs=json.dumps(kwargs), keys_shapes=json.dumps(keys_shapes),
                        seed=seed, scales=json.dumps(scales), torchvision=torchvision.__version__,
                        **detections(model))


#: (height, width) and (min_size, max_size) pairs of the transform reference (odd sizes, both orientations,
#: sizes where max_size binds, and where floor(side * scale) rounds in double).
SIZES = ((480, 640), (640, 480), (512, 512), (300, 451), (400, 600), (333, 500), (1, 7), (37, 1000), (1000, 37),
         (799, 1201), (427, 640), (375, 500), (2000, 3000), (123, 457), (601, 599))
LIMITS = ((800, 1333), (320, 640), (600, 1000), (320, 480))


def transform(out_file):
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    out = {"sizes": np.array(SIZES), "limits": np.array(LIMITS)}
    resized = np.zeros((len(LIMITS), len(SIZES), 2), np.int64)
    for i, (lo, hi) in enumerate(LIMITS):
        t = GeneralizedRCNNTransform(lo, hi, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()
        for j, (h, w) in enumerate(SIZES):
            image_list, _ = t([torch.zeros(3, h, w)])
            resized[i, j] = image_list.image_sizes[0]
    out["resized"] = resized
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (23, 35, 3), dtype=np.uint8), rng.integers(0, 256, (31, 18, 3), dtype=np.uint8)]
    t = GeneralizedRCNNTransform(40, 60, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).eval()
    image_list, _ = t([torch.from_numpy(a).permute(2, 0, 1).float() / 255.0 for a in images])
    out["images0"], out["images1"] = images
    out["batch"] = image_list.tensors.permute(0, 2, 3, 1).numpy()
    out["image_sizes"] = np.array(image_list.image_sizes)
    masks = torch.from_numpy(rng.uniform(0, 1, (6, 1, 28, 28)).astype(np.float32))
    boxes = torch.tensor([[3.2, 4.7, 40.1, 30.3], [-5.0, -2.5, 20.0, 10.0], [50.5, 20.2, 70.0, 47.9],
                          [10.0, 10.0, 10.4, 10.3], [0.0, 0.0, 71.0, 48.0], [33.3, 1.1, 34.9, 47.7]])
    out["masks"], out["boxes"] = masks[:, 0].numpy(), boxes.numpy()
    out["pasted"] = paste_masks_in_image(masks, boxes, (48, 71))[:, 0].numpy()
    np.savez_compressed(out_file, **out)


if __name__ == "__main__":
    command, target, *rest = sys.argv[1:]
    if command == "transform":
        transform(target)
    else:
        {"parity": parity, "fixture": fixture}[command](target, rest[0], parse(rest[1:]))
