"""`keras.applications.mobilenet_v3` for kerasnets: MobileNetV3Small and MobileNetV3Large;
`preprocess_input` is a pass-through (the networks rescale 0-255 pixels themselves), and
`decode_predictions`.
"""

from kerasnets.applications import _module

_module.define(__name__)
