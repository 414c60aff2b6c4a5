"""One keras.applications module for kerasnets: its builders (imported on first use, so importing
the module does not start Keras), keras' `preprocess_input` for that module, `decode_predictions`."""

import importlib
import sys

from kerasnets import imagenet
from kerasnets.utils import lazy_exports

#: keras.applications module -> (keras' preprocessing mode there, {kerasnets module: builders}).
#: The modes are keras' own: ResNet V2 uses 'tf' (v1 'caffe'); MobileNetV3 rescales inside the
#: network, so its `preprocess_input` is a pass-through.
MODULES = {
    "vgg16": ("caffe", {"kerasnets.models.vgg": ("VGG16",)}),
    "vgg19": ("caffe", {"kerasnets.models.vgg": ("VGG19",)}),
    "resnet": ("caffe", {"kerasnets.models.resnet": ("ResNet50", "ResNet101", "ResNet152")}),
    "resnet50": ("caffe", {"kerasnets.models.resnet": ("ResNet50",)}),
    "resnet_v2": ("tf", {"kerasnets.models.resnet": ("ResNet50V2", "ResNet101V2", "ResNet152V2")}),
    "inception_v3": ("tf", {"kerasnets.models.inception": ("InceptionV3",)}),
    "inception_resnet_v2": ("tf", {"kerasnets.models.inception": ("InceptionResNetV2",)}),
    "mobilenet": ("tf", {"kerasnets.models.mobilenet": ("MobileNet",)}),
    "mobilenet_v2": ("tf", {"kerasnets.models.mobilenet": ("MobileNetV2",)}),
    "mobilenet_v3": ("none", {"kerasnets.models.mobilenet": ("MobileNetV3Small", "MobileNetV3Large")}),
    "densenet": ("torch", {"kerasnets.models.densenet": ("DenseNet121", "DenseNet169", "DenseNet201")}),
}


def define(module_name):
    """Fill the module `module_name` (`kerasnets.applications.<name>`): `preprocess_input`,
    `decode_predictions`, and its builders on first use."""
    short = module_name.rsplit(".", 1)[1]
    mode, builders = MODULES[short]
    module = sys.modules[module_name]
    module.preprocess_input = imagenet.preprocessing_function(mode)
    module.preprocess_input.__module__ = module_name
    module.decode_predictions = imagenet.decode_predictions
    names, module.__getattr__, module.__dir__ = lazy_exports(module_name, builders)
    module.__all__ = [*names, "decode_predictions", "preprocess_input"]
    module.PREPROCESSING_MODE = mode


def builder(name):
    """The kerasnets builder of keras.applications' top-level `name` (`ResNet50V2`), imported now."""
    for _, builders in MODULES.values():
        for module, names in builders.items():
            if name in names:
                return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'kerasnets.applications' has no attribute {name!r}")
