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
of the modules above, importable in a fresh interpreter.
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
    "kerasnets.core.weights": ("WeightsError",),
    "kerasnets.images": ("ImageError", "load_image"),
    "kerasnets.core.profiler": ("Profile", "profile"),
    "kerasnets.models.lenet": ("LeNet5",),
    "kerasnets.models.alexnet": ("AlexNet", "ZFNet"),
    "kerasnets.models.vgg": ("VGG", "VGG11", "VGG11LRN", "VGG13", "VGG16", "VGG16C", "VGG19"),
    "kerasnets.models.resnet": (
        "ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152",
        "ResNet50V2", "ResNet101V2", "ResNet152V2", "ResNeXt", "ResNeXt50", "ResNeXt101", "CifarResNet",
        "CifarResNet20", "CifarResNet56", "CifarResNet110", "CifarResNet164",
    ),
    "kerasnets.models.inception": (
        "GoogLeNet", "InceptionV3", "InceptionV4", "InceptionResNetV1", "InceptionResNetV2", "compile_with_auxiliary",
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


def __getattr__(name):
    if f"kerasnets.{name}" in MODULE_ALIASES:
        return importlib.import_module(f"kerasnets.{name}")
    return _getattr(name)


def __dir__():
    return sorted(set(_dir()) | {alias.rsplit(".", 1)[1] for alias in MODULE_ALIASES})
