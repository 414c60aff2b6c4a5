#!/usr/bin/env python3
"""Detector training speed against torchvision: images per second of one optimizer step (forward,
losses, backward, update) for the same configuration in both, measured in one run.

    python3 -m venv /path/to/torch-venv && /path/to/torch-venv/bin/pip install torch torchvision
    python benchmarks/detection_training.py --torch-python /path/to/torch-venv/bin/python --threads 1 2

Configurations (`CONFIGS`), each built in both frameworks from the same numbers:

* `faster_rcnn_c4`: Faster R-CNN, ResNet-18 to its stride-16 stage (256 channels), one anchor level
  (32-256 px x 3 ratios), RoIAlign 7x7, a two-layer 1024 head; torchvision's `FasterRCNN` on that body.
* `faster_rcnn_fpn`: ResNet-18 + FPN (256 channels), RoIAlign over the levels. torchvision's
  `resnet_fpn_backbone` always adds its LastLevelMaxPool level (stride 64, anchors of 512 px): it has
  one pyramid level more than kerasnets' four (strides 4-32), which only its RPN sees.
* `ssd`: SSD on MobileNetV3-Large at 320 px - kerasnets' SSD (SSDLite heads, focal loss) and torchvision's
  `ssdlite320_mobilenet_v3_large` (hard negative mining): the same backbone and size, not the same heads
  or loss, so its ratio is indicative only.
* `yolov1` has no torchvision counterpart: its images/s are reported alone.

Both: random initialisation, BatchNorm frozen in the backbone (torchvision's FrozenBatchNorm2d, kerasnets'
`freeze_batchnorm=True`), Adam, the same batch of the seeded synthetic shapes (`--batch`, `--image-size`),
256 RPN anchors and `--rois` RoIs sampled per image. kerasnets runs `train_on_batch` (its compiled train
step: tf.function on TensorFlow, jit on JAX); torchvision the model in train mode, `sum(losses).backward()`
and `optimizer.step()`.

Each side is a long-lived worker process (threads fixed at its start), built and warmed up (3 steps)
before timing begins. The driver then asks the workers for `--steps` steps each, in alternating order
round after round (kerasnets first on even rounds, torchvision first on odd ones), `--rounds` rounds; a
second kerasnets worker is timed the same way as an A/A control (the ratio of two identical workers:
how far this machine's noise alone moves a ratio). Reports median images/s per side and the median of
the per-round ratios kerasnets / torchvision (> 1: kerasnets faster). Writes detection_training.{md,json}
into --output.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: name -> the shared numbers of one configuration
CONFIGS = {
    "faster_rcnn_c4": {"kind": "faster", "fpn": False, "image_size": 256},
    "faster_rcnn_fpn": {"kind": "faster", "fpn": True, "image_size": 256},
    "ssd": {"kind": "ssd", "image_size": 320},
    "yolov1": {"kind": "yolo", "image_size": 224},
}
NUM_CLASSES = 3  # the synthetic shapes; torchvision counts the background too (4)

KERAS_WORKER = r"""
import json, os, sys, time
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["root"])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(cfg["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(cfg["threads"])
import numpy as np
from kerasnets.detection import SSD, FasterRCNN, YOLOv1, synthetic_shapes
keras.utils.set_random_seed(0)
size, n = cfg["image_size"], cfg["num_classes"]
data = synthetic_shapes(cfg["batch"], size, seed=0)
arrays = data.padded(data.max_objects)
x = {"images": arrays["images"].astype("float32"), "boxes": arrays["boxes"], "classes": arrays["classes"]}
if cfg["kind"] == "faster":
    anchors = ((32,), (64,), (128,), (256,)) if cfg["fpn"] else (32, 64, 128, 256)
    model = FasterRCNN("resnet18", num_classes=n, image_size=size, fpn=cfg["fpn"], anchor_sizes=anchors,
                       rpn_batch_size_per_image=256, box_batch_size_per_image=cfg["rois"],
                       rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=2000 if cfg["fpn"] else 1000)
elif cfg["kind"] == "ssd":
    model = SSD("mobilenetv3large", num_classes=n, image_size=size)
else:
    model = YOLOv1("resnet18", num_classes=n, image_size=size)
model.compile(optimizer=keras.optimizers.Adam(1e-4))
for _ in range(3):
    model.train_on_batch(x, return_dict=True)
print("READY " + json.dumps({"parameters": model.count_params(), "backend": keras.backend.backend(),
                             "keras": keras.__version__}), flush=True)
for line in sys.stdin:
    steps = int(line)
    start = time.perf_counter()
    for _ in range(steps):
        logs = model.train_on_batch(x, return_dict=True)
    float(logs["loss"])
    print("TIME %r" % (time.perf_counter() - start), flush=True)
"""

TORCH_WORKER = r"""
import json, sys, time
cfg = json.loads(sys.argv[1])
import numpy as np
import torch, torchvision
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
size, n = cfg["image_size"], cfg["num_classes"] + 1
if cfg["kind"] == "faster":
    common = dict(min_size=size, max_size=size, rpn_batch_size_per_image=256,
                  box_batch_size_per_image=cfg["rois"], rpn_pre_nms_top_n_train=2000,
                  rpn_post_nms_top_n_train=2000 if cfg["fpn"] else 1000)
    if cfg["fpn"]:
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        body = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5)
        model = FasterRCNN(body, num_classes=n, **common)
    else:
        resnet = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
        body = torch.nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                                   resnet.layer1, resnet.layer2, resnet.layer3)
        body.out_channels = 256
        model = FasterRCNN(body, num_classes=None,
                           rpn_anchor_generator=AnchorGenerator(((32, 64, 128, 256),), ((0.5, 1.0, 2.0),)),
                           box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), box_head=TwoMLPHead(256 * 49, 1024),
                           box_predictor=FastRCNNPredictor(1024, n), **common)
elif cfg["kind"] == "ssd":
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=n)
else:
    raise SystemExit("torchvision has no " + cfg["kind"])
data = np.load(cfg["batch_file"])
images = [torch.tensor(im.transpose(2, 0, 1) / 255.0, dtype=torch.float32) for im in data["images"]]
targets = []
for boxes, classes in zip(data["boxes"], data["classes"]):
    keep = classes >= 0
    targets.append({"boxes": torch.tensor(boxes[keep], dtype=torch.float32),
                    "labels": torch.tensor(classes[keep] + 1, dtype=torch.int64)})
model.train()
optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
def step():
    losses = model(images, targets)
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss)
for _ in range(3):
    step()
print("READY " + json.dumps({"parameters": sum(p.numel() for p in model.parameters()),
                             "torch": torch.__version__, "torchvision": torchvision.__version__}), flush=True)
for line in sys.stdin:
    steps = int(line)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    print("TIME %r" % (time.perf_counter() - start), flush=True)
"""


class Worker:
    """One long-lived process that builds a model, warms up, then times `steps` training steps on request."""

    def __init__(self, label, python, code, cfg):
        self.label = label
        env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"]), "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process = subprocess.Popen([python, "-c", code, json.dumps(cfg)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.info = json.loads(self._expect("READY"))

    def _expect(self, word):
        for line in self.process.stdout:
            if line.startswith(word + " "):
                return line[len(word) + 1:]
        raise SystemExit(f"{self.label} worker ended before '{word}':\n{self.process.stderr.read()[-3000:]}")

    def time(self, steps):
        self.process.stdin.write(f"{steps}\n")
        self.process.stdin.flush()
        return float(self._expect("TIME"))

    def close(self):
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def measure(name, threads, args):
    """Per-round images/s of kerasnets (A and its A/A twin B) and torchvision, alternating order."""
    import numpy as np

    from kerasnets.detection import synthetic_shapes

    base = CONFIGS[name]
    cfg = {**base, "threads": threads, "batch": args.batch, "rois": args.rois, "num_classes": NUM_CLASSES,
           "root": ROOT}
    data = synthetic_shapes(args.batch, base["image_size"], seed=0)
    arrays = data.padded(data.max_objects)
    batch_file = os.path.join(args.output, f".batch_{name}.npz")
    np.savez(batch_file, images=arrays["images"], boxes=arrays["boxes"], classes=arrays["classes"])
    cfg["batch_file"] = batch_file
    workers = {"kerasnets": Worker("kerasnets", sys.executable, KERAS_WORKER, cfg),
               "kerasnets (A/A)": Worker("kerasnets A/A", sys.executable, KERAS_WORKER, cfg)}
    if base["kind"] != "yolo" and args.torch_python:
        workers["torchvision"] = Worker("torchvision", args.torch_python, TORCH_WORKER, cfg)
    os.unlink(batch_file)
    rates = {label: [] for label in workers}
    try:
        order = list(workers)
        for r in range(args.rounds):
            for label in (order if r % 2 == 0 else order[::-1]):
                seconds = workers[label].time(args.steps)
                rates[label].append(args.steps * args.batch / seconds)
            print(f"  {name} {threads} thread(s) round {r + 1}/{args.rounds}: "
                  + ", ".join(f"{k} {v[-1]:.2f} img/s" for k, v in rates.items()), flush=True)
    finally:
        for worker in workers.values():
            worker.close()
    row = {"config": name, "threads": threads, "image_size": base["image_size"], "batch": args.batch,
           "kerasnets_images_per_s": statistics.median(rates["kerasnets"]),
           "aa_ratio": statistics.median(a / b for a, b in zip(rates["kerasnets"], rates["kerasnets (A/A)"])),
           "kerasnets_parameters": workers["kerasnets"].info["parameters"],
           "backend": workers["kerasnets"].info["backend"], "rounds": rates}
    if "torchvision" in workers:
        row.update(torchvision_images_per_s=statistics.median(rates["torchvision"]),
                   ratio=statistics.median(a / b for a, b in zip(rates["kerasnets"], rates["torchvision"])),
                   torchvision_parameters=workers["torchvision"].info["parameters"],
                   torchvision=workers["torchvision"].info["torchvision"], torch=workers["torchvision"].info["torch"])
    return row


def cpu_flags():
    try:
        flags = open("/proc/cpuinfo").read().split("flags", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return platform.processor() or platform.machine()
    keep = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16") if f" {f}" in flags]
    return ", ".join(keep) or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", help="python of an environment with torch and torchvision (without it: "
                                               "kerasnets alone, with its A/A control)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rois", type=int, default=128, help="RoIs sampled per image for the box head")
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed call")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--output", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or args.batch < 1 or args.steps < 1 or args.rounds < 1:
        parser.error("--threads, --batch, --steps and --rounds must be at least 1")
    os.makedirs(args.output, exist_ok=True)
    sys.path.insert(0, ROOT)
    from kerasnets.utils import atomic_output

    rows = []
    for threads in args.threads:
        for name in args.configs:
            rows.append(measure(name, threads, args))
    lines = [f"Training images/s, batch {args.batch}, {args.rois} RoIs/image, {args.rounds} rounds x {args.steps} "
             f"steps, alternating order; CPU {cpu_flags()}, {os.cpu_count()} cores; load average at the end "
             f"{os.getloadavg()[0]:.1f}.", "",
             "| configuration | size | threads | kerasnets img/s | torchvision img/s | kerasnets / torchvision | "
             "A/A | parameters (kerasnets / torchvision) |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        theirs = row.get("torchvision_images_per_s")
        lines.append(f"| {row['config']} | {row['image_size']} | {row['threads']} | "
                     f"{row['kerasnets_images_per_s']:.2f} | "
                     + (f"{theirs:.2f} | {row['ratio']:.2f} | " if theirs else "- | - | ")
                     + f"{row['aa_ratio']:.2f} | {row['kerasnets_parameters']:,} / "
                     + (f"{row['torchvision_parameters']:,} |" if theirs else "- |"))
    table = "\n".join(lines) + "\n"
    with atomic_output(os.path.join(args.output, "detection_training.json")) as tmp:
        tmp.write_text(json.dumps({"rows": rows, "args": vars(args), "cpu": cpu_flags()}, indent=2))
    with atomic_output(os.path.join(args.output, "detection_training.md")) as tmp:
        tmp.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
