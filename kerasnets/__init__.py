"""kerasnets: the classic ImageNet CNNs in Keras 3, drop-in compatible with keras.applications.

    import kerasnets
    model = kerasnets.VGG16(weights="imagenet")
    x = kerasnets.preprocess_input(images, mode="caffe")        # or kerasnets.vgg.preprocess_input
    print(kerasnets.decode_predictions(model.predict(x), top=3))

Importing the package is cheap: the network builders (and Keras with its backend) load on first
use, so command-line tools can reject bad input before TensorFlow starts.
"""

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it. Each architecture family is one module.
_EXPORTS = {
    "kerasnets.imagenet": ("class_names", "decode_predictions", "preprocess_input"),
    "kerasnets.registry": ("ModelInfo", "get_model", "list_models", "model_info"),
    "kerasnets.weights": ("WeightsError",),
    "kerasnets.images": ("ImageError", "load_image"),
    "kerasnets.profiler": ("Profile", "profile"),
    "kerasnets.lenet": ("LeNet5",),
    "kerasnets.alexnet": ("AlexNet", "ZFNet"),
    "kerasnets.vgg": ("VGG", "VGG11", "VGG11LRN", "VGG13", "VGG16", "VGG16C", "VGG19"),
    "kerasnets.resnet": (
        "ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152",
        "ResNet50V2", "ResNet101V2", "ResNet152V2", "ResNeXt50", "ResNeXt101", "CifarResNet",
    ),
    "kerasnets.inception": (
        "GoogLeNet", "InceptionV3", "InceptionV4", "InceptionResNetV1", "InceptionResNetV2", "compile_with_auxiliary",
    ),
    "kerasnets.highway": ("HighwayNet", "PlainNet"),
    "kerasnets.losses": (
        "gram_matrix", "StyleLoss", "FeatureReconstructionLoss", "ContentLoss", "TotalVariationLoss", "PerceptualLoss",
    ),
    "kerasnets.style": ("feature_extractor", "gatys_transfer", "TransformNet", "train_transform_net"),
    "kerasnets.transfer": ("build_classifier", "fine_tune"),
    "kerasnets.layers": ("LocalResponseNormalization", "Highway", "ConvHighway", "ScaledResidual", "ImagePreprocessing"),
    "kerasnets.densenet": ("DenseNetBC", "DenseNet121", "DenseNet169", "DenseNet201", "DenseNet264"),
    "kerasnets.mobilenet": ("MobileNet", "MobileNetV2", "MobileNetV3", "MobileNetV3Large", "MobileNetV3Small"),
}
#: The family modules, imported (and so registered) before the registry is read.
FAMILIES = (
    "kerasnets.lenet", "kerasnets.alexnet", "kerasnets.vgg", "kerasnets.inception", "kerasnets.resnet",
    "kerasnets.highway", "kerasnets.densenet", "kerasnets.mobilenet",
)

_LOCATION = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_LOCATION)


def __getattr__(name):
    if name not in _LOCATION:
        raise AttributeError(f"module 'kerasnets' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LOCATION[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
