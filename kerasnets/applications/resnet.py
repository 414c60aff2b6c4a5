"""`keras.applications.resnet` for kerasnets: ResNet50, ResNet101, ResNet152 with 'caffe'
preprocessing, and `decode_predictions`.
"""

from kerasnets.applications import _module

_module.define(__name__)
