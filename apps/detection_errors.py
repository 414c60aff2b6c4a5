#!/usr/bin/env python3
"""Break detectors' errors down as Hoiem et al. 2012 (YOLO's Figure 4) and draw them side by side.

Installed as `kerasnets-detection-errors`; the code is `kerasnets.cli.detection_errors`.
"""

from kerasnets.cli.detection_errors import main

if __name__ == "__main__":
    raise SystemExit(main())
