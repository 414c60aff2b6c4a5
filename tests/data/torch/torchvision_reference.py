"""torchvision's side of the parity tests: run with a Python that has torch and torchvision (never
kerasnets' own environment; torch is no dependency of kerasnets):

    python3 -m venv /tmp/tvvenv && /tmp/tvvenv/bin/pip install torch torchvision numpy
    # the slow parity test runs this itself when KERASNETS_TORCH_PYTHON names that interpreter:
    KERASNETS_TORCH_PYTHON=/tmp/tvvenv/bin/python python -m pytest -m slow tests/test_torchvision.py

Two commands:

    parity OUT_DIR SIZE BATCH NAME [NAME ...]
        For each torchvision builder NAME (resnet18, vgg11_bn, googlenet, ...): the network with
        torchvision's random initialisation and random, non-trivial batch-norm statistics; its
        state_dict saved with torch.save in both formats (OUT_DIR/NAME.pt, the zip format, and
        OUT_DIR/NAME_legacy.pth, the legacy one); BATCH random 8-bit images of SIZE px and the
        network's logits in eval mode on them ('torch' normalisation; GoogLeNet with
        transform_input=True, as torchvision uses its published weights) in OUT_DIR/NAME.npz.

    fixture OUT_FILE
        The committed fixture of tests/test_torchvision.py (tests/data/torch/torchvision_logits.npz):
        for a few small networks, the state-dict keys and shapes, and torchvision's outputs on
        fixed images with the weights `tests.torchvision_oracle.numpy_state` makes from them. Also
        checks that torch.load reads `tests.torchvision_oracle.save_state_dict`'s files exactly.
"""

import json
import os
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
from tests.torchvision_oracle import numpy_state, save_state_dict  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

#: (registry name, torchvision builder, input size, features only) of the committed fixture.
FIXTURE_CASES = (
    ("resnet18", "resnet18", 64, False),
    ("resnet50_torchvision", "resnet50", 64, False),
    ("resnext50", "resnext50_32x4d", 64, False),
    ("googlenet_torchvision", "googlenet", 64, False),
    ("alexnet_torchvision", "alexnet", 96, False),
    ("vgg11", "vgg11", 32, True),
    ("vgg11_bn", "vgg11_bn", 32, True),
)


def build(name):
    kwargs = dict(aux_logits=True, transform_input=True, init_weights=True) if name == "googlenet" else {}
    return getattr(torchvision.models, name)(weights=None, **kwargs)


def images(batch, size, seed):
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def normalised(pixels):
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


def randomise_batch_norm(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def parity(folder, size, batch, names):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(names):
        torch.manual_seed(i)
        model = build(name)
        randomise_batch_norm(model, i)
        model.eval()
        state = model.state_dict()
        torch.save(state, os.path.join(folder, f"{name}.pt"))
        torch.save(state, os.path.join(folder, f"{name}_legacy.pth"), _use_new_zipfile_serialization=False)
        pixels = images(batch, size, i)
        with torch.no_grad():
            logits = model(normalised(pixels)).numpy()
        params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("aux1.", "aux2.")))
        np.savez(os.path.join(folder, f"{name}.npz"), pixels=pixels, logits=logits, params=params,
                 versions=np.array(f"torch {torch.__version__}, torchvision {torchvision.__version__}"))
        print(f"{name}: logits {logits.shape}, |logits| <= {np.abs(logits).max():.3g}", flush=True)


def check_writer(state, folder):
    """torch.load reads save_state_dict's files (both formats) back exactly."""
    for legacy in (False, True):
        path = os.path.join(folder, f"written{'_legacy' if legacy else ''}.pth")
        save_state_dict(state, path, legacy=legacy)
        loaded = torch.load(path, weights_only=True)
        assert list(loaded) == list(state), "keys or their order differ"
        for key, value in state.items():
            assert np.array_equal(loaded[key].numpy(), value), key


def fixture(out_file):
    arrays, folder = {}, tempfile.mkdtemp()
    for case, (name, tv_name, size, features_only) in enumerate(FIXTURE_CASES):
        model = build(tv_name)
        keys_shapes = [(k, list(v.shape)) for k, v in model.state_dict().items()]
        state = numpy_state(keys_shapes, seed=case)
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True)
        model.eval()
        if case == 0:
            check_writer(state, folder)
        pixels = images(2, size, case)
        with torch.no_grad():
            x = normalised(pixels)
            output = model.features(x).permute(0, 2, 3, 1) if features_only else model(x)
        if features_only:
            keys_shapes = [(k, s) for k, s in keys_shapes if k.startswith("features.")]
        arrays[f"{name}/keys_shapes"] = np.array(json.dumps(keys_shapes))
        arrays[f"{name}/seed"] = np.array(case)
        arrays[f"{name}/pixels"] = pixels
        arrays[f"{name}/output"] = output.numpy()
        print(f"{name} ({tv_name}, {size} px{', features' if features_only else ''}): output {tuple(output.shape)}")
    arrays["versions"] = np.array(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    np.savez_compressed(out_file, **arrays)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "parity":
        parity(rest[0], int(rest[1]), int(rest[2]), rest[3:])
    elif command == "fixture":
        fixture(rest[0])
    else:
        raise SystemExit(__doc__)
