#!/usr/bin/env python3
"""The lecture's progression on one backbone and one dataset: R-CNN -> Fast R-CNN -> Faster R-CNN.

Starts from a Faster R-CNN trained by apps/train_detector.py and reuses its backbone for the
other two, so the table compares the pipelines, not the features:

* R-CNN: selective search (OpenCV contrib), every region warped to --warp-size px and passed
  through the backbone one by one (batched), features averaged over space, linear SVMs and ridge box
  regression trained on --train-images images.
* Fast R-CNN: selective search, one backbone pass per image, RoI max pooling (7x7) and the box head;
  backbone and head start from the Faster R-CNN's and are fine-tuned on selective-search proposals.
* Faster R-CNN: the trained model itself (RPN proposals, RoIAlign).

Writes benchmarks/results/detection_progression.{json,md}: COCO mAP@[.5:.95] and mAP@.5 on
--val-images held-out images, and seconds per image (proposals and network separately).

    python benchmarks/detection_progression.py --model runs/shapes_faster/model.keras --data shapes
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained FasterRCNN (.keras)")
    parser.add_argument("--data", default="shapes", choices=("shapes", "digits"))
    parser.add_argument("--train-images", type=int, default=300)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--max-proposals", type=int, default=500, help="selective search proposals kept per image")
    parser.add_argument("--warp-size", type=int, default=64, help="R-CNN region size (a multiple of 32)")
    parser.add_argument("--fast-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)

    import keras

    import kerasnets.detection as det
    from kerasnets.detection.backbone import backbone_features
    from kerasnets.detection.metrics import coco_evaluate
    from kerasnets.detection.rcnn import RCNN, pad_proposals, selective_search
    from kerasnets.utils import atomic_output

    faster = keras.saving.load_model(args.model)
    size = faster.image_size[0]
    make = det.synthetic_shapes if args.data == "shapes" else det.synthetic_digits
    # fresh seeds: neither set was seen by the Faster R-CNN's training (seed 0) nor its validation (10000)
    train = make(args.train_images, size, seed=20_000 + args.seed)
    val = make(args.val_images, size, seed=30_000 + args.seed)

    def proposals_for(images):
        start = time.perf_counter()
        props = [selective_search(im, max_proposals=args.max_proposals) for im in images]
        return props, (time.perf_counter() - start) / len(images)

    train_props, _ = proposals_for(train.images)
    val_props, ss_seconds = proposals_for(val.images)
    recall = np.mean([
        (det.box_iou(gt.astype("float64"),
            p.astype("float64")).numpy().max(1) >= 0.5).mean() if len(gt) and len(p) else 0.0
        for gt, p in zip(val.boxes, val_props)]) if keras.backend.backend() == "tensorflow" else float("nan")
    rows = {}

    # Faster R-CNN
    faster.detect(val.images[:2])
    start = time.perf_counter()
    dets = [faster.detect(val.images[i:i + 1])[0] for i in range(len(val))]
    seconds = (time.perf_counter() - start) / len(val)
    rows["Faster R-CNN"] = dict(coco_evaluate(val, dets)["bbox"], proposal_seconds=0.0, network_seconds=seconds)

    # Fast R-CNN: same backbone and head, fed with selective search, RoI max pooling
    config = {k: v for k, v in faster.get_config().items()
              if not k.startswith("rpn_") and k not in ("name", "trainable", "dtype", "mask_channels", "mask_roi_size")}
    fast = det.FastRCNN(**config, roi_op="pool")
    fast.features.set_weights(faster.features.get_weights())
    fast.box_head.set_weights(faster.box_head.get_weights())
    count = args.max_proposals
    arrays = train.padded(train.max_objects, masks=False)
    arrays["proposals"] = pad_proposals(train_props, count)
    arrays["images"] = arrays["images"].astype("float32")
    fast.compile(optimizer=keras.optimizers.AdamW(2e-4, weight_decay=1e-4, clipnorm=10.0), jit_compile=False)
    start = time.perf_counter()
    fast.fit(arrays, batch_size=8, epochs=args.fast_epochs, shuffle=True, verbose=2)
    fast_train = time.perf_counter() - start
    padded_val = pad_proposals(val_props, count)
    fast.detect(val.images[:2], padded_val[:2])
    start = time.perf_counter()
    dets = [fast.detect(val.images[i:i + 1], padded_val[i:i + 1])[0] for i in range(len(val))]
    seconds = (time.perf_counter() - start) / len(val)
    rows["Fast R-CNN"] = dict(coco_evaluate(val, dets)["bbox"], proposal_seconds=ss_seconds, network_seconds=seconds,
                              train_seconds=fast_train)

    # R-CNN: warped regions through the same backbone, SVMs and box regression
    features, _ = backbone_features(config["backbone"], (args.warp_size, args.warp_size), faster.strides[:1],
                                    backbone_kwargs=config.get("backbone_kwargs"))
    features.set_weights(faster.features.get_weights())
    rcnn = RCNN(features, faster.num_classes, context=args.warp_size // 14, seed=args.seed)
    start = time.perf_counter()
    rcnn.fit(train, train_props)
    rcnn_train = time.perf_counter() - start
    start = time.perf_counter()
    dets = rcnn.detect(val.images, val_props)
    seconds = (time.perf_counter() - start) / len(val)
    rows["R-CNN"] = dict(coco_evaluate(val, dets)["bbox"], proposal_seconds=ss_seconds, network_seconds=seconds,
                         train_seconds=rcnn_train)

    report = {"backbone": config["backbone"], "data": args.data, "image_size": size, "train_images": len(train),
              "val_images": len(val), "max_proposals": args.max_proposals, "warp_size": args.warp_size,
              "selective_search_recall_at_0.5": float(recall), "backend": keras.backend.backend(),
              "cpu_threads": os.cpu_count(), "rows": rows}
    os.makedirs(args.output, exist_ok=True)
    with atomic_output(os.path.join(args.output, "detection_progression.json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    lines = [(f"Backbone {config['backbone']}, {args.data} {size} px, {len(val)} held-out images, CPU "
             f"({os.cpu_count()} threads), {keras.backend.backend()} backend; selective search (fast mode) keeps "
             f"{args.max_proposals} proposals, recall@0.5 {recall:.2f}."), "",
             "| method | proposals | s/image proposals | s/image network | s/image total | mAP@[.5:.95] | mAP@.5 |",
             "|---|---|---|---|---|---|---|"]
    for name, proposals in (("R-CNN", "selective search"), ("Fast R-CNN", "selective search"), ("Faster R-CNN", "RPN")):
        r = rows[name]
        lines.append(f"| {name} | {proposals} | {r['proposal_seconds']:.3f} | {r['network_seconds']:.3f} | "
                     f"{r['proposal_seconds'] + r['network_seconds']:.3f} | {r['mAP']:.3f} | {r['mAP50']:.3f} |")
    with atomic_output(os.path.join(args.output, "detection_progression.md")) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
