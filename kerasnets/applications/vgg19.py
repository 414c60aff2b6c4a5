"""`keras.applications.vgg19` for kerasnets: VGG19 with 'caffe' preprocessing, and `decode_predictions`."""

from kerasnets.applications import _module

_module.define(__name__)
