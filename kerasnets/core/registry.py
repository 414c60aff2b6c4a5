"""Every kerasnets network under a lower-case name, with what the papers say about it."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelInfo:
    """A registered network: its builder and the facts a user chooses a model by."""

    name: str
    builder: object = field(repr=False)
    family: str
    paper: str
    year: int
    input_size: int
    preprocessing: str  # 'caffe', 'tf', 'torch', or 'none' (the model rescales raw pixels itself)
    imagenet_weights: bool = False
    top1: float | None = None  # the paper's single-crop ImageNet top-1 accuracy, %
    top5: float | None = None
    channels: int = 3  # input channels (LeNet-5 reads grayscale)

    def build(self, **kwargs):
        return self.builder(**kwargs)

    def preprocess(self, x, data_format=None):
        from kerasnets.imagenet import preprocess_input

        if self.preprocessing == "none":
            return x
        return preprocess_input(x, mode=self.preprocessing, data_format=data_format)


_REGISTRY = {}


def _load_families():
    import importlib

    import kerasnets.models

    for module in kerasnets.models.FAMILIES:
        importlib.import_module(f"kerasnets.models.{module}")


def register(name, **info):
    """Decorator: register a builder under `name` with ModelInfo fields as keyword arguments."""

    def decorate(builder):
        if name in _REGISTRY:
            raise ValueError(f"A network named {name!r} is already registered.")
        _REGISTRY[name] = ModelInfo(name=name, builder=builder, **info)
        return builder

    return decorate


def list_models():
    """The names of all registered networks, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def model_info(name):
    """The ModelInfo of a registered network (names are case-insensitive)."""
    _load_families()
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
    _load_families()
    name = model.name.lower().replace("_", "")
    matches = [key for key in _REGISTRY if name.startswith(key.replace("_", ""))]
    return _REGISTRY[max(matches, key=len)].preprocessing if matches else None
