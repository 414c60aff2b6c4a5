"""`keras.applications.inception_resnet_v2` for kerasnets: InceptionResNetV2 with 'tf' preprocessing,
and `decode_predictions`.
"""

from kerasnets.applications import _module

_module.define(__name__)
