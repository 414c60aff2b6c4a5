"""`keras.applications.densenet` for kerasnets: DenseNet121, DenseNet169, DenseNet201 with 'torch'
preprocessing, and `decode_predictions`.
"""

from kerasnets.applications import _module

_module.define(__name__)
