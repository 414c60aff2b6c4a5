"""kerasnets: the classic ImageNet CNNs in Keras 3, drop-in compatible with keras.applications.

    import kerasnets
    model = kerasnets.VGG16(weights="imagenet")
    x = kerasnets.vgg.preprocess_input(images)                   # or kerasnets.preprocess_input(images, mode="caffe")
    print(kerasnets.decode_predictions(model.predict(x), top=3))

The package, one layer on top of the other (imports flow downwards only):

    kerasnets.cli          the console scripts (kerasnets-classify, -export, -fine-tune, ...)
    kerasnets.train        datasets, transfer-learning scenarios, fitting, distribution
    kerasnets.style        Gram-matrix and perceptual losses, Gatys optimisation, transform networks
    kerasnets.models       one module per architecture family, with shared blocks and layers
    kerasnets.core         the model spec and registry, the keras.applications contract, weights, profiler
    kerasnets.imagenet     class index, preprocess_input, decode_predictions (with .images and .utils)

Importing the package is cheap: the builders (and Keras with its backend) load on first use, so
command-line tools can reject bad input before TensorFlow starts. The short module paths of
earlier releases (`kerasnets.resnet`, `kerasnets.losses`, `kerasnets.transfer`, ...) are aliases
of the modules above, importable in a fresh interpreter. `kerasnets.applications.<module>` has
keras.applications' module paths (`kerasnets.applications.resnet_v2.preprocess_input`, ...).

Saved models: kerasnets' custom layers and losses are registered with Keras whenever both are
imported, in either order (`import kerasnets` then `keras.models.load_model("model.keras")`, or
`import keras` after `import kerasnets`), and `kerasnets.load_model(path)` loads any saved Keras
model with a clear error for a file that is not one.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from kerasnets.utils import lazy_exports

__version__ = "0.2.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "kerasnets.imagenet": ("class_names", "decode_predictions", "preprocess_input"),
    "kerasnets.core.registry": ("ModelSpec", "ModelInfo", "get_model", "list_models", "model_info"),
    "kerasnets.errors": (
        "KerasnetsError", "UsageError", "InputError", "WeightsError", "ImageError", "OutputError", "DataError",
        "BoxError", "ExportError",
    ),
    "kerasnets.images": ("load_image",),
    "kerasnets.core.profiler": ("Profile", "profile"),
    "kerasnets.models.lenet": ("LeNet5",),
    "kerasnets.models.alexnet": ("AlexNet", "AlexNetTorchvision", "ZFNet"),
    "kerasnets.models.vgg": (
        "VGG", "VGG11", "VGG11LRN", "VGG13", "VGG16", "VGG16C", "VGG19", "VGG11BN", "VGG13BN", "VGG16BN", "VGG19BN",
        "VGG16Torchvision", "VGG19Torchvision",
    ),
    "kerasnets.models.resnet": (
        "ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152",
        "ResNet50Torchvision", "ResNet101Torchvision", "ResNet152Torchvision",
        "ResNet50V2", "ResNet101V2", "ResNet152V2", "ResNeXt", "ResNeXt50", "ResNeXt101", "ResNeXt101_64x4d",
        "CifarResNet", "CifarResNet20", "CifarResNet56", "CifarResNet110", "CifarResNet164",
    ),
    "kerasnets.models.inception": (
        "GoogLeNet", "GoogLeNetTorchvision", "InceptionV3", "InceptionV4", "InceptionResNetV1", "InceptionResNetV2",
        "compile_with_auxiliary",
    ),
    "kerasnets.models.highway": ("HighwayNet", "PlainNet"),
    "kerasnets.models.densenet": ("DenseNetBC", "DenseNet121", "DenseNet169", "DenseNet201", "DenseNet264"),
    "kerasnets.models.mobilenet": ("MobileNet", "MobileNetV2", "MobileNetV3", "MobileNetV3Large", "MobileNetV3Small"),
    "kerasnets.models.efficientnet_lite": (
        "EfficientNetLite", "EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2", "EfficientNetLite3",
        "EfficientNetLite4",
    ),
    "kerasnets.models.layers": (
        "LocalResponseNormalization", "Highway", "ConvHighway", "ScaledResidual", "ImagePreprocessing",
        "AdaptiveAveragePooling2D",
    ),
    "kerasnets.style.losses": (
        "gram_matrix", "StyleLoss", "FeatureReconstructionLoss", "ContentLoss", "TotalVariationLoss", "PerceptualLoss",
    ),
    "kerasnets.style": ("feature_extractor", "gatys_transfer", "TransformNet", "train_transform_net"),
    "kerasnets.train": ("build_classifier", "fine_tune"),
    "kerasnets.classic": ("FisherVector", "DenseSIFT"),
}

#: Module paths of earlier releases (and of the README) -> where the module lives now.
MODULE_ALIASES = {
    **{f"kerasnets.{family}": f"kerasnets.models.{family}" for family in (
        "lenet", "alexnet", "vgg", "inception", "resnet", "highway", "densenet", "mobilenet", "blocks", "layers",
    )},
    "kerasnets.application": "kerasnets.core.application",
    "kerasnets.registry": "kerasnets.core.registry",
    "kerasnets.weights": "kerasnets.core.weights",
    "kerasnets.profiler": "kerasnets.core.profiler",
    "kerasnets.losses": "kerasnets.style.losses",
    "kerasnets.datasets": "kerasnets.train.datasets",
    "kerasnets.transfer": "kerasnets.train",
}

#: The modules whose classes are registered with Keras (`@keras.saving.register_keras_serializable`).
SERIALIZABLE_MODULES = ("kerasnets.models.layers", "kerasnets.style.losses", "kerasnets.detection.models")

__all__, _getattr, _dir = lazy_exports(__name__, _EXPORTS)

class _AliasImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `import kerasnets.resnet` give the module `kerasnets.models.resnet` itself (one module
    object under two names, so classes and registrations are never duplicated)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MODULE_ALIASES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(MODULE_ALIASES[spec.name])
        self._own_spec = module.__spec__  # the import machinery overwrites it with the alias' spec
        return module

    def exec_module(self, module):
        module.__spec__ = self._own_spec


if not any(isinstance(finder, _AliasImporter) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AliasImporter())


def register_serializables():
    """Register kerasnets' custom layers and losses with Keras (imports their modules; needs Keras)."""
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)


def _initializing(name):
    module = sys.modules.get(name)
    return module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False)


def _register_when_safe():
    """After Keras has been imported: register now, unless a kerasnets module is half-imported (it is
    the one importing Keras; the layers, which need only Keras, are then registered and the rest
    when `kerasnets.load_model` runs)."""
    busy = [name for name in list(sys.modules) if name.startswith("kerasnets.") and _initializing(name)]
    try:
        if not busy:
            register_serializables()
        elif not _initializing(SERIALIZABLE_MODULES[0]):
            importlib.import_module(SERIALIZABLE_MODULES[0])
    except Exception:  # noqa: S110 - registration must never break `import keras`
        pass


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Runs `_register_when_safe` right after `import keras` completes (Keras imports the modules of
    its own packages by itself, never ours, so a saved model's `kerasnets>ImagePreprocessing` would
    otherwise be unknown). TensorFlow is not imported until the user imports Keras."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register_when_safe()

    def __getattr__(self, name):  # get_resource_reader, is_package, ... of the wrapped loader
        return getattr(self.loader, name)


def load_model(path, custom_objects=None, compile=True, safe_mode=True):
    """Load a saved Keras model (`.keras`, or legacy `.h5`) that may use kerasnets' layers and losses,
    as `keras.models.load_model` does; a missing file or one that is not a Keras model is a clear
    ValueError naming it."""
    import os
    import zipfile

    text = os.fspath(path)
    if not os.path.isfile(text):
        raise ValueError(f"{text}: {'is a folder, not' if os.path.isdir(text) else 'no such'} model file.")
    if text.endswith(".keras") and not zipfile.is_zipfile(text):
        raise ValueError(f"{text}: not a Keras model file (a .keras file is a zip archive written by model.save()).")
    from kerasnets.utils import import_keras_quietly

    keras = import_keras_quietly()
    register_serializables()
    try:
        return keras.models.load_model(text, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        first = first if len(first) <= 300 else f"{first[:300]}..."  # Keras quotes whole configs
        raise ValueError(f"{text}: cannot be loaded as a Keras model ({first}).") from e


def __getattr__(name):
    if f"kerasnets.{name}" in MODULE_ALIASES or name == "applications":
        return importlib.import_module(f"kerasnets.{name}")
    return _getattr(name)


def __dir__():
    return sorted(set(_dir()) | {alias.rsplit(".", 1)[1] for alias in MODULE_ALIASES} | {"applications", "load_model"})


# Last, once every name above exists (the registered modules import parts of this package).
if "keras" in sys.modules:
    _register_when_safe()
elif not any(isinstance(finder, _KerasImportHook) for finder in sys.meta_path):
    sys.meta_path.insert(0, _KerasImportHook())
