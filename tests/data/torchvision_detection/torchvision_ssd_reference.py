"""torchvision's side of the SSD / SSDlite parity tests (tests/test_torchvision_ssd.py): run with a Python that has
torch, torchvision and scikit-image, never kerasnets' own environment (see tests/data/torch/torchvision_reference.py):

    fixture OUT_DIR
        The committed files: OUT_DIR/ssd_anchors.npz, torchvision's DefaultBoxGenerator output of both detectors
        (xyxy pixels for one 300x300 / 320x320 image), and OUT_DIR/ssd_reference.npz: for reduced configurations of
        the same torchvision classes (few classes; SSDlite at width_mult 0.25), the state-dict keys and shapes, the
        head outputs and the detections on scikit-image photos with the weights that
        `tests.torchvision_oracle.numpy_state` makes from those names and shapes (kerasnets rebuilds the same).

    parity OUT_DIR PHOTOS.npz BUILDER [BUILDER ...]
        For each builder (ssd300_vgg16, ssdlite320_mobilenet_v3_large): torchvision's model with its random
        initialisation (weights_backbone=None), BatchNorm statistics spread, the heads scaled so that scores differ;
        its state_dict saved with torch.save (OUT_DIR/BUILDER.pth); its detections on the photos of PHOTOS.npz
        (uint8 arrays `photo0`, `photo1`, ...) and its parameter count in OUT_DIR/BUILDER.npz.
"""

import json
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision.models import detection

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
from tests.torchvision_oracle import numpy_state, scale_detection_heads  # noqa: E402

#: (case, builder, keyword arguments, photos, seed, head scale) of the committed reference (reduced configurations)
FIXTURE_CASES = (
    ("ssdlite_small", "ssdlite320_mobilenet_v3_large",
     dict(num_classes=5, width_mult=0.25, score_thresh=0.05, detections_per_img=50, topk_candidates=60),
     ("astronaut", "coffee"), 3, 0.1),
    ("ssd300_small", "ssd300_vgg16",
     dict(num_classes=4, score_thresh=0.05, detections_per_img=50, topk_candidates=60), ("chelsea",), 4, 0.02),
)


def photo(name):
    import skimage.data

    return getattr(skimage.data, name)()


def tensor(image):
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0


def detections(model, images):
    model.eval()
    with torch.no_grad():
        out = model([tensor(i) for i in images])
    return [{k: v.numpy() for k, v in d.items()} for d in out]


def head_outputs(model, image):
    """The raw head outputs (bbox_regression, cls_logits) of one image (after torchvision's transform)."""
    model.eval()
    with torch.no_grad():
        batch, _ = model.transform([tensor(image)])
        features = list(model.backbone(batch.tensors).values())
        out = model.head(features)
    return out["bbox_regression"][0].numpy(), out["cls_logits"][0].numpy()


def anchors(model, size):
    model.eval()
    with torch.no_grad():
        batch, _ = model.transform([torch.rand(3, size, size)])
        features = list(model.backbone(batch.tensors).values())
        return model.anchor_generator(batch, features)[0].numpy()


def fixture(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    boxes = {}
    for name, size in (("ssd300_vgg16", 300), ("ssdlite320_mobilenet_v3_large", 320)):
        boxes[name] = anchors(getattr(detection, name)(weights=None, weights_backbone=None), size)
    np.savez_compressed(os.path.join(out_dir, "ssd_anchors.npz"), **boxes)
    arrays = {}
    for case, builder, kwargs, photos, seed, head_scale in FIXTURE_CASES:
        torch.manual_seed(0)
        model = getattr(detection, builder)(weights=None, weights_backbone=None, **kwargs)
        state = model.state_dict()
        keys_shapes = [(k, list(v.shape)) for k, v in state.items()]
        values = scale_detection_heads(numpy_state(keys_shapes, seed), head_scale)
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in values.items()})
        arrays[f"{case}/keys_shapes"] = json.dumps(keys_shapes)
        arrays[f"{case}/seed"] = seed
        arrays[f"{case}/head_scale"] = head_scale
        arrays[f"{case}/kwargs"] = json.dumps(kwargs)
        arrays[f"{case}/builder"] = builder
        arrays[f"{case}/photos"] = json.dumps(photos)
        images = [photo(p) for p in photos]
        deltas, logits = head_outputs(model, images[0])
        arrays[f"{case}/bbox_regression"] = deltas
        arrays[f"{case}/cls_logits"] = logits
        for i, d in enumerate(detections(model, images)):
            for key in ("boxes", "scores", "labels"):
                arrays[f"{case}/{i}/{key}"] = d[key]
            print(case, photos[i], len(d["scores"]), "detections, scores", d["scores"][:3], "labels",
                  d["labels"][:8])
    np.savez_compressed(os.path.join(out_dir, "ssd_reference.npz"), **arrays)


def spread(model, head_scale, rescale_backbone=False):
    """Random but varied outputs: BatchNorm statistics and affine parameters spread, the heads' last convolutions
    scaled (a fresh torchvision SSD predicts near-uniform class scores, which would make the comparison vacuous)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        if rescale_backbone:  # SSDlite's normal(0, 0.03) init fades the features to constants through 17 blocks
            for m in model.backbone.modules():
                if isinstance(m, torch.nn.Conv2d):
                    fan_in = m.weight[0].numel()
                    m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
        for head in (model.head.classification_head, model.head.regression_head):
            for block in head.module_list:
                last = block if isinstance(block, torch.nn.Conv2d) else block[-1]
                last.weight.mul_(head_scale)
                last.bias.copy_(torch.randn(last.bias.shape, generator=generator) * 0.5)


#: (head scale, He-initialise the backbone) per builder: varied scores (see `spread`)
HEAD_SPREAD = {"ssd300_vgg16": (0.3, False), "ssdlite320_mobilenet_v3_large": (1.0, True)}


def parity(out_dir, photos_path, builders):
    with np.load(photos_path) as data:
        images = [data[k] for k in sorted(data.files, key=lambda k: int(k[5:]))]
    for builder in builders:
        torch.manual_seed(0)
        model = getattr(detection, builder)(weights=None, weights_backbone=None)
        spread(model, *HEAD_SPREAD[builder])
        torch.save(model.state_dict(), os.path.join(out_dir, f"{builder}.pth"))
        out = {"params": sum(p.numel() for p in model.parameters())}
        for i, d in enumerate(detections(model, images)):
            for key in ("boxes", "scores", "labels"):
                out[f"{i}/{key}"] = d[key]
        np.savez(os.path.join(out_dir, f"{builder}.npz"), **out)


if __name__ == "__main__":
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}", file=sys.stderr)
    command, *rest = sys.argv[1:]
    if command == "fixture":
        fixture(rest[0])
    elif command == "parity":
        parity(rest[0], rest[1], rest[2:])
    else:
        raise SystemExit(__doc__)
