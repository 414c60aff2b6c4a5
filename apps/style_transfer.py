#!/usr/bin/env python3
"""Neural style transfer: python apps/style_transfer.py --content C --style S --output O.

Installed as `kerasnets-style`; the code is `kerasnets.cli.style_transfer`.
"""

from kerasnets.cli.style_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
