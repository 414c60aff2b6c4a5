#!/usr/bin/env python3
"""The model zoo as a table and an accuracy-vs-multiply-adds chart: python apps/model_zoo.py --chart zoo.png.

Installed as `kerasnets-zoo`; the code is `kerasnets.cli.zoo`.
"""

from kerasnets.cli.zoo import main

if __name__ == "__main__":
    raise SystemExit(main())
