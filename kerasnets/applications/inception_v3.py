"""`keras.applications.inception_v3` for kerasnets: InceptionV3 with 'tf' preprocessing, and `decode_predictions`."""

from kerasnets.applications import _module

_module.define(__name__)
