#!/usr/bin/env python3
"""Train a fast style-transfer network: python apps/train_style.py --data DIR --style S --output O.

Installed as `kerasnets-train-style`; the code is `kerasnets.cli.train_style`.
"""

from kerasnets.cli.train_style import main

if __name__ == "__main__":
    raise SystemExit(main())
