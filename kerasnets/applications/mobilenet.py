"""`keras.applications.mobilenet` for kerasnets: MobileNet with 'tf' preprocessing, and `decode_predictions`."""

from kerasnets.applications import _module

_module.define(__name__)
