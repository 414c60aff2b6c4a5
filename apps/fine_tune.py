#!/usr/bin/env python3
"""Fine-tune a network on an image folder: python apps/fine_tune.py --data DIR (or --demo).

Installed as `kerasnets-fine-tune`; the code is `kerasnets.cli.fine_tune`.
"""

from kerasnets.cli.fine_tune import main

if __name__ == "__main__":
    raise SystemExit(main())
