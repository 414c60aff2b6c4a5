#!/usr/bin/env python3
"""CPU inference time per image: kerasnets Faster R-CNN against torchvision's Faster R-CNN with the
same backbone (ResNet-18 to its stride-16 stage, as in the kerasnets C4 model), the same anchors,
RPN and head sizes, and the same input size, measured in one run. torchvision runs in a separate
environment (never a kerasnets dependency), given by --torch-python:

    python3 -m venv /path/to/torch-venv && /path/to/torch-venv/bin/pip install torch torchvision
    python benchmarks/detection_vs_torchvision.py --model runs/shapes_faster/model.keras \
        --torch-python /path/to/torch-venv/bin/python

Batch 1, median of --runs calls after warm-up, both with all CPU threads. kerasnets: the model's
compiled call (tf.function, or jax.jit) on a uint8-valued float image, outputs fetched to NumPy.
torchvision: `model([image])` under `torch.inference_mode()` (its transform resizes nothing: min and
max size equal the input size). The torchvision model is untrained (no detection weights can be
downloaded here), so its post-processing sees other boxes; both keep 100 proposals and at most 100
detections. Writes benchmarks/results/detection_vs_torchvision.{json,md}.
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

TORCH_SCRIPT = r"""
import json, sys, time
import numpy as np
import torch, torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg['threads'])
resnet = torchvision.models.resnet18(weights=None)
body = torch.nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                           resnet.layer1, resnet.layer2, resnet.layer3)
body.out_channels = 256
size = cfg['image_size']
model = FasterRCNN(
    body, num_classes=None, min_size=size, max_size=size,
    rpn_anchor_generator=AnchorGenerator((tuple(cfg['anchor_sizes']),), (tuple(cfg['aspect_ratios']),)),
    box_roi_pool=MultiScaleRoIAlign(['0'], 7, cfg['sampling_ratio']),
    box_head=TwoMLPHead(256 * 49, cfg['representation_size']),
    box_predictor=FastRCNNPredictor(cfg['representation_size'], cfg['num_classes'] + 1),
    rpn_pre_nms_top_n_test=cfg['rpn_pre_nms_top_n_test'], rpn_post_nms_top_n_test=cfg['rpn_post_nms_top_n_test'],
    box_detections_per_img=cfg['box_detections_per_img'], box_score_thresh=0.0)
model.eval()
image = torch.tensor(np.load(cfg['image']).transpose(2, 0, 1) / 255.0, dtype=torch.float32)
with torch.inference_mode():
    for _ in range(5):
        model([image])
    times = []
    for _ in range(cfg['runs']):
        t = time.perf_counter(); out = model([image]); times.append(time.perf_counter() - t)
print('RESULT' + json.dumps({'median': float(np.median(times)), 'torch': torch.__version__,
                             'torchvision': torchvision.__version__, 'detections': int(len(out[0]['boxes'])),
                             'parameters': sum(p.numel() for p in model.parameters())}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained kerasnets FasterRCNN (.keras), C4 (no FPN)")
    parser.add_argument("--torch-python", required=True, help="python of an environment with torch and torchvision")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="CPU threads for both frameworks (default: all); 1 is robust on a shared machine, where "
                             "OpenMP's spinning threads make torch's multi-threaded timings erratic")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from keras import ops

    import kerasnets.detection as det
    from kerasnets.utils import atomic_output

    model = keras.saving.load_model(args.model)
    config = model.get_config()
    if config["fpn"] or config["backbone"] != "resnet18":
        raise SystemExit("this benchmark mirrors a ResNet-18 C4 model (no FPN) in torchvision")
    size = model.image_size[0]
    image = det.synthetic_shapes(1, size, seed=123).images[0]
    predict = model._predict_fn()
    x = image[None].astype("float32")
    for _ in range(5):
        out = {k: ops.convert_to_numpy(v) for k, v in predict(x).items()}
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        out = {k: ops.convert_to_numpy(v) for k, v in predict(x).items()}
        times.append(time.perf_counter() - start)
    ours = float(np.median(times))
    path = os.path.join(args.output, ".benchmark_image.npy")
    os.makedirs(args.output, exist_ok=True)
    np.save(path, image)
    cfg = {k: config[k] for k in ("anchor_sizes", "aspect_ratios", "sampling_ratio", "representation_size",
        "num_classes",
                                  "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test", "box_detections_per_img")}
    cfg.update(image_size=size, image=path, runs=args.runs, threads=args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    run = subprocess.run([args.torch_python, "-c", TORCH_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                         check=False, timeout=1200, env=env)
    os.unlink(path)
    if run.returncode != 0:
        raise SystemExit(f"torchvision run failed:\n{run.stderr[-2000:]}")
    theirs = json.loads(run.stdout.split("RESULT", 1)[1])
    report = {"image_size": size, "backbone": "resnet18 (to stride 16)", "runs": args.runs, "threads": args.threads,
              "kerasnets_seconds": ours, "kerasnets_backend": keras.backend.backend(), "keras": keras.__version__,
              "kerasnets_detections": int(out["num_detections"][0]), "kerasnets_parameters": model.count_params(),
              "torchvision_seconds": theirs["median"], "torch": theirs["torch"], "torchvision": theirs["torchvision"],
              "torchvision_detections": theirs["detections"], "torchvision_parameters": theirs["parameters"],
              "ratio_kerasnets_over_torchvision": ours / theirs["median"]}
    with atomic_output(os.path.join(args.output, "detection_vs_torchvision.json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    table = ("| Faster R-CNN, ResNet-18 C4, {s}x{s}, batch 1, CPU {t} threads | median s/image | parameters |\n"
             "|---|---|---|\n"
             "| kerasnets ({b}, Keras {k}) | {o:.4f} | {op:,} |\n"
             "| torchvision {tv} (torch {tt}) | {th:.4f} | {tp:,} |\n"
             "| ratio kerasnets / torchvision | {r:.2f} | |\n").format(
        s=size, t=args.threads, b=report["kerasnets_backend"], k=keras.__version__, o=ours,
        op=report["kerasnets_parameters"], tv=theirs["torchvision"], tt=theirs["torch"], th=theirs["median"],
        tp=theirs["parameters"], r=report["ratio_kerasnets_over_torchvision"])
    with atomic_output(os.path.join(args.output, "detection_vs_torchvision.md")) as tmp:
        tmp.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
