#!/usr/bin/env python3
"""Train Faster R-CNN / Mask R-CNN on any kerasnets backbone (see kerasnets/cli/train_detector.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kerasnets.cli.train_detector import main

if __name__ == "__main__":
    sys.exit(main())
