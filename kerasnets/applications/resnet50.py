"""`keras.applications.resnet50` for kerasnets: ResNet50 with 'caffe' preprocessing, and `decode_predictions`."""

from kerasnets.applications import _module

_module.define(__name__)
