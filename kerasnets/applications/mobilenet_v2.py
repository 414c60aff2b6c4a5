"""`keras.applications.mobilenet_v2` for kerasnets: MobileNetV2 with 'tf' preprocessing, and `decode_predictions`."""

from kerasnets.applications import _module

_module.define(__name__)
