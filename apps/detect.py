#!/usr/bin/env python3
"""Detect objects in an image and write it annotated.

Installed as `kerasnets-detect`; the code is `kerasnets.cli.detect`.
"""

from kerasnets.cli.detect import main

if __name__ == "__main__":
    raise SystemExit(main())
