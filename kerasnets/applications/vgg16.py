"""`keras.applications.vgg16` for kerasnets: VGG16 with 'caffe' preprocessing, and `decode_predictions`."""

from kerasnets.applications import _module

_module.define(__name__)
