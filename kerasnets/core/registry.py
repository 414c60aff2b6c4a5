"""One record per network: `ModelSpec`, and the registry of every kerasnets network.

A spec holds everything known about a network and its weights in one place, as torchvision's
`Weights` records do: the family builder and the options that select the variant, the paper,
the default input size and evaluation crop, the preprocessing, the ImageNet weight files, the
paper's accuracy, and the parameter and multiply-add counts that the tests check. The registry,
`model_info`, the weights loader, the export grid, the benchmarks, the model-zoo app and the
README's model table all read specs; none keeps a copy of these facts.

A family module declares its variants as data over one family builder:

    RESNET = Family("resnet", paper=..., year=2016, input_size=224, preprocessing="caffe")
    ResNet50 = RESNET.variant("resnet50", "ResNet50", ResNet, depth="resnet50",
                              weights=..., top1=77.15, params=25_636_712, mult_adds=3.8e9)

`variant` registers the spec and returns the public builder (`kerasnets.ResNet50`), whose
signature is the family builder's with the variant's options fixed, and whose docstring carries
the keras.applications arguments (`kerasnets.core.application.DOC`).
"""

import dataclasses
import importlib
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

PREPROCESSING_MODES = ("caffe", "tf", "torch", "none")


@dataclass(frozen=True)
class Grid:
    """The width x resolution grid of a scalable family (MobileNet's alpha x input size), with the
    ImageNet top-1 its paper reports per cell: what `python -m export grid` measures."""

    alphas: tuple
    sizes: tuple
    cells: Mapping = field(default_factory=dict)  # (alpha, size) -> Paper(top1, params, mult_adds) of the paper's table


@dataclass(frozen=True)
class Paper:
    """What a paper's table prints for one network: top-1 %, parameters and multiply-adds
    (absolute numbers, e.g. 4.2e6 and 569e6, at the precision the paper prints them)."""

    top1: float | None = None
    params: float | None = None
    mult_adds: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything about one registered network.

    `params` and `mult_adds` are the exact counts of `build(weights=None)` at the default input size
    (keras' `count_params`, equal to keras.applications' or torchvision's where they have the
    network; `kerasnets.profile`'s multiply-adds for one image). `paper_params` and
    `paper_mult_adds` are what the paper prints (trainable parameters; multiply-adds): the counts
    must match them at the printed precision or within `tolerance`.
    """

    name: str                     # registry key, lower case: 'resnet50'
    builder_name: str             # the public builder: 'ResNet50'
    family_builder: Callable = field(repr=False)
    options: Mapping = field(default_factory=dict)  # the family builder's arguments that make this variant
    family: str = ""
    paper: str = ""
    year: int = 0
    input_size: int = 224
    preprocessing: str = "caffe"  # 'caffe', 'tf', 'torch', or 'none' (the model rescales raw pixels itself)
    crop_fraction: float = 0.875  # evaluation: resize the shorter side to input_size / crop_fraction, centre-crop
    channels: int = 3             # input channels (LeNet-5 reads grayscale)
    weights: Any = None           # the ImageNet weights (a WeightsSpec or a family's weights table), or None
    top1: float | None = None     # the paper's single-crop ImageNet top-1 accuracy, %
    top5: float | None = None
    params: int | None = None
    mult_adds: int | None = None
    paper_params: float | None = None
    paper_mult_adds: float | None = None
    tolerance: float = 0.02
    convolutional: bool = True    # False for fully connected networks (no spatial pooling)
    grid: Grid | None = None
    summary: str = ""             # one line for the builder's docstring
    model_name: str | None = ""   # default Keras model name: "" for the registry name, None to let the family choose
    builder: Callable | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        missing = [f for f in ("name", "builder_name", "family", "paper", "year", "summary") if not getattr(self, f)]
        if missing:
            raise ValueError(f"ModelSpec {self.name or self.builder_name!r} lacks {', '.join(missing)}.")
        if self.name != self.name.lower():
            raise ValueError(f"ModelSpec names are lower case; received {self.name!r}.")
        if self.preprocessing not in PREPROCESSING_MODES:
            raise ValueError(f"ModelSpec {self.name!r}: preprocessing must be one of {PREPROCESSING_MODES}.")
        if not 0 < self.crop_fraction <= 1:
            raise ValueError(f"ModelSpec {self.name!r}: crop_fraction must be in (0, 1].")

    @property
    def imagenet_weights(self):
        """Whether `weights='imagenet'` loads published ImageNet weights."""
        return self.weights is not None

    @property
    def weights_source(self):
        """Where the ImageNet weights come from ('keras.applications', a package, ...), or None."""
        return getattr(self.weights, "source", None) if self.weights is not None else None

    def build(self, **kwargs):
        return self.builder(**kwargs)

    def preprocess(self, x, data_format=None):
        from kerasnets.imagenet import preprocess_input

        if self.preprocessing == "none":
            return x
        return preprocess_input(x, data_format=data_format, mode=self.preprocessing)


ModelInfo = ModelSpec  # the name of earlier releases

_REGISTRY = {}


@dataclass(frozen=True)
class Family:
    """The facts shared by a family's variants; `variant` declares one network."""

    family: str
    paper: str
    year: int
    input_size: int = 224
    preprocessing: str = "caffe"
    extra: Mapping = field(default_factory=dict)  # other ModelSpec fields shared by the family

    def variant(self, name, builder_name, family_builder, *, summary, options=None, **facts):
        """Register `name` and return its public builder (see the module docstring)."""
        shared = dict(family=self.family, paper=self.paper, year=self.year, input_size=self.input_size,
                      preprocessing=self.preprocessing, **self.extra)
        spec = ModelSpec(name=name, builder_name=builder_name, family_builder=family_builder,
                         options=dict(options or {}), summary=summary, **{**shared, **facts})
        module = sys._getframe(1).f_globals.get("__name__", family_builder.__module__)
        return register(spec, module=module)


def register(spec, module=None):
    """Make `spec`'s public builder, record the spec, and return the builder."""
    if spec.name in _REGISTRY:
        raise ValueError(f"A network named {spec.name!r} is already registered.")
    builder = _variant_builder(spec, module or spec.family_builder.__module__)
    _REGISTRY[spec.name] = dataclasses.replace(spec, builder=builder)
    return builder


def _variant_builder(spec, module):
    """The family builder with the spec's options fixed: its own signature (for help() and IDEs),
    ImageNet weights by default where they exist, and the keras.applications argument docs."""
    family = inspect.signature(spec.family_builder)
    unknown = set(spec.options) - set(family.parameters)
    if unknown:
        raise TypeError(f"{spec.builder_name}: {spec.family_builder.__name__} has no argument {sorted(unknown)}.")
    parameters = []
    for parameter in family.parameters.values():
        if parameter.name in spec.options:
            continue
        if parameter.name == "weights":
            parameter = parameter.replace(default="imagenet" if spec.imagenet_weights else None)
        elif parameter.name == "name":
            parameter = parameter.replace(default=spec.name if spec.model_name == "" else spec.model_name)
        parameters.append(parameter)
    signature = inspect.Signature(parameters)
    family_builder, options = spec.family_builder, dict(spec.options)

    def builder(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return family_builder(**options, **bound.arguments)

    builder.__signature__ = signature
    builder.__name__ = builder.__qualname__ = spec.builder_name
    builder.__module__ = module
    from kerasnets.core.application import DOC

    builder.__doc__ = f"{spec.summary}\n\n{spec.paper} ({spec.year}).\n{DOC}"
    return builder


def load_families():
    """Import every family module listed in `kerasnets.models.FAMILIES` (and so register its networks)."""
    for module in importlib.import_module("kerasnets.models").FAMILIES:
        importlib.import_module(f"kerasnets.models.{module}")


def specs():
    """Every registered ModelSpec, sorted by name."""
    load_families()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def list_models():
    """The names of all registered networks, sorted."""
    return [spec.name for spec in specs()]


def model_info(name):
    """The ModelSpec of a registered network (names are case-insensitive)."""
    load_families()
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}. Available models: {', '.join(list_models())}.")
    return _REGISTRY[key]


def get_model(name, **kwargs):
    """Build the registered network `name` with keras.applications-style keyword arguments."""
    return model_info(name).build(**kwargs)


def preprocessing_for(model):
    """The preprocessing mode of a kerasnets model, found from its name ('mobilenet_0.50_160' ->
    'mobilenet' -> 'tf'); None when the name matches no registered network."""
    load_families()
    name = model.name.lower().replace("_", "")
    matches = [key for key in _REGISTRY if name.startswith(key.replace("_", ""))]
    return _REGISTRY[max(matches, key=len)].preprocessing if matches else None
