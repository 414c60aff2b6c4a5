#!/usr/bin/env python3
"""See what a network learns (deconvnet, occlusion, Grad-CAM, filters, receptive fields, ...):
python apps/visualize.py --image photo.jpg --method gradcam --output cam.png.

Installed as `kerasnets-visualize`; the code is `kerasnets.cli.visualize`.
"""

from kerasnets.cli.visualize import main

if __name__ == "__main__":
    raise SystemExit(main())
