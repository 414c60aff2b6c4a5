"""`keras.applications.resnet_v2` for kerasnets: ResNet50V2, ResNet101V2, ResNet152V2 with 'tf'
preprocessing (keras' V2 networks scale to [-1, 1]), and `decode_predictions`.
"""

from kerasnets.applications import _module

_module.define(__name__)
