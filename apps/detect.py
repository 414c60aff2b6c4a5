#!/usr/bin/env python3
"""Detect objects in an image and write it annotated (see kerasnets/cli/detect.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kerasnets.cli.detect import main

if __name__ == "__main__":
    sys.exit(main())
