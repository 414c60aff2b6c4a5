"""keras.applications' module paths for kerasnets: swap the import, change nothing else.

    from keras.applications.resnet_v2 import ResNet50V2, preprocess_input, decode_predictions
    from kerasnets.applications.resnet_v2 import ResNet50V2, preprocess_input, decode_predictions

Modules: vgg16, vgg19, resnet, resnet50, resnet_v2, inception_v3, inception_resnet_v2, mobilenet,
mobilenet_v2, mobilenet_v3, densenet (each with its builders, keras' `preprocess_input` for that
module and `decode_predictions`) and imagenet_utils (`preprocess_input(x, data_format, mode)`,
`decode_predictions`, `obtain_input_shape`). The builders are also here, as in keras.applications
(`kerasnets.applications.ResNet50V2`). Importing a module does not start Keras; the builders load
on first use.
"""

import importlib

from kerasnets.applications._module import MODULES, builder

_SUBMODULES = (*MODULES, "imagenet_utils")
__all__ = sorted({name for _, builders in MODULES.values() for names in builders.values() for name in names})


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        value = builder(name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
