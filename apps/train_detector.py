#!/usr/bin/env python3
"""Train a detector (Faster/Mask R-CNN, SSD, YOLOv1) on synthetic, COCO-format or tfds data.

Installed as `kerasnets-train-detector`; the code is `kerasnets.cli.train_detector`.
"""

from kerasnets.cli.train_detector import main

if __name__ == "__main__":
    raise SystemExit(main())
