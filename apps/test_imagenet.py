#!/usr/bin/env python3
"""Classify images with an ImageNet network: python apps/test_imagenet.py --image photo.jpg.

Installed as `kerasnets-classify`; the code is `kerasnets.cli.classify`.
"""

from kerasnets.cli.classify import main

if __name__ == "__main__":
    raise SystemExit(main())
