"""`Detector`: the base of every kerasnets detector (keras-hub's `ObjectDetector`, torchvision's shared
detection plumbing): what the two-stage `GeneralizedRCNN` and the `SingleStageDetector` have in common.

* Hyper-parameters are written once, in the constructor's signature: the arguments a detector was built
  with (defaults filled in) are its `config` and its `get_config()`, and `from_config` rebuilds it, also
  from the files of earlier releases (`renamed` maps their knob names to today's).
* `detect(images)` on RGB images of any size and number: the `transform` (a `DetectionTransform`)
  resizes and batches them, the compiled predict function of the backend runs the model, and the
  detections are mapped back to each image.
* Training: `call(batch, training=True)` returns the component losses by name (`loss_names`);
  `compute_loss` adds them up and `compute_metrics` tracks each as `<name>_loss`.
* Export: single-stage detectors give `anchors`, `box_scales` and `postprocess_inputs`, the inputs of
  TFLite's `TFLite_Detection_PostProcess` op that `export.detection` reads.
"""

import difflib
import inspect

import keras
import numpy as np
from keras import ops

from kerasnets.detection.transform import DetectionTransform

#: Arguments every Keras layer takes; not hyper-parameters of a detector.
_KERAS_ARGUMENTS = ("name", "dtype", "trainable")


@keras.saving.register_keras_serializable(package="kerasnets")
class Detector(keras.Model):
    """Base class of the detectors (not built directly): subclasses declare their hyper-parameters in the
    signature of `__init__`, read them from `self.config`, and implement `call`."""

    #: names of the component losses `call(..., training=True)` returns
    loss_names = ()
    #: knob names of earlier releases -> today's (applied when loading their files)
    renamed = {}
    #: class-level defaults that take precedence over the signature's (the configurations of one class)
    preset = {}

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls, *args, **kwargs)
        object.__setattr__(obj, "_hyper", cls._bind(args, kwargs))  # not tracked by Keras
        return obj

    @classmethod
    def _bind(cls, args, kwargs):
        signature = inspect.signature(cls.__init__)
        known = {n for n, p in signature.parameters.items() if p.kind != p.VAR_KEYWORD} - {"self"}
        unknown = [k for k in kwargs if k not in known and k not in _KERAS_ARGUMENTS]
        for key in unknown:
            if key in cls.renamed:
                raise TypeError(f"{cls.__name__}: {key!r} is now called {cls.renamed[key]!r}.")
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise TypeError(f"{cls.__name__} has no argument {key!r}{hint}.")
        bound = signature.bind(None, *args, **kwargs)
        given = set(bound.arguments)
        bound.apply_defaults()
        config = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs")}
        for key, value in cls.preset.items():
            if key not in given:
                config[key] = value
        return config

    def __init__(self, **kwargs):
        super().__init__(**{k: v for k, v in kwargs.items() if k in _KERAS_ARGUMENTS})
        self.num_classes = int(self.config["num_classes"])
        names = self.config.get("class_names")
        self.class_names = list(names) if names is not None else [str(c) for c in range(self.num_classes)]

    @property
    def config(self):
        """The hyper-parameters this detector was built with (defaults filled in)."""
        return self._hyper

    def get_config(self):
        return {**super().get_config(), **_plain(self._hyper)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for old, new in cls.renamed.items():
            if old in config:
                config.setdefault(new, config.pop(old))
        return cls(**config)

    def _track_losses(self):
        self.loss_trackers = [keras.metrics.Mean(name=f"{n}_loss") for n in self.loss_names]

    # --- training --------------------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict) or not all(name in y_pred for name in self.loss_names):
            keys = "'images', 'boxes', 'classes'" + (", 'masks'" if "mask" in self.loss_names else "")
            raise ValueError(f"{type(self).__name__} trains on batches of {{{keys}}} with training=True (see "
                             "kerasnets.detection.data.DetectionSet.tf_dataset); evaluate with coco_evaluate.")
        total = sum(y_pred[name] for name in self.loss_names)
        return total + sum(self.losses) if self.losses else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            for tracker, name in zip(self.loss_trackers, self.loss_names):
                if name in y_pred:
                    tracker.update_state(y_pred[name])
        return self.get_metrics_result()

    @staticmethod
    def ground_truth(inputs):
        """(boxes float32 `[B, M, 4]`, classes int32 `[B, M]`, valid `[B, M]`) of a training batch."""
        boxes = ops.cast(inputs["boxes"], "float32")
        classes = ops.cast(inputs["classes"], "int32")
        return boxes, classes, classes >= 0

    # --- inference -------------------------------------------------------------------------------

    @property
    def transform(self):
        """The `DetectionTransform` of this detector (resize to `image_size`, batch, map back)."""
        return DetectionTransform(self.image_size)

    def detect(self, images, batch_size=8, **inputs):
        """Detections for a list (or array) of RGB images of any size: a list of dicts with `boxes` `[D, 4]`
        (xyxy pixels of that image), `scores`, `classes` (and `masks` `[D, h, w]` bool). Extra per-image
        inputs (Fast R-CNN's `proposals`, boxes in each image's pixels) are given as keyword lists."""
        transform = self.transform
        results = []
        for start in range(0, len(images), batch_size):
            batch, sizes = transform.batch(list(images[start:start + batch_size]))
            x = self.detection_inputs(batch, sizes, {k: v[start:start + batch_size] for k, v in inputs.items()})
            out = {k: ops.convert_to_numpy(v) for k, v in self._predict_fn()(x).items()}
            for i, size in enumerate(sizes):
                results.append(transform.postprocess({k: v[i] for k, v in out.items()}, size))
        return results

    def detection_inputs(self, batch, sizes, extra):
        """What the compiled predict function takes for a batch (the images; subclasses add inputs)."""
        if extra:
            raise TypeError(f"{type(self).__name__}.detect takes no {', '.join(sorted(extra))}.")
        return batch

    #: tf.function's reduce_retracing for predict (False where every input size is a trace of its own)
    reduce_retracing = True

    def _predict_fn(self):
        if getattr(self, "_compiled_predict", None) is None:
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                self._compiled_predict = tf.function(self._inference, reduce_retracing=self.reduce_retracing,
                                                     autograph=False)
            elif keras.backend.backend() == "jax":
                import jax

                jitted = jax.jit(lambda tv, ntv, x: self.stateless_call(tv, ntv, x, training=False)[0])
                self._compiled_predict = lambda x: jitted([v.value for v in self.trainable_variables],
                                                          [v.value for v in self.non_trainable_variables], x)
            else:
                self._compiled_predict = self._inference
        return self._compiled_predict

    def _inference(self, x):
        return self(x, training=False)

    # --- export ---------------------------------------------------------------------------------

    #: whether export.detection writes it as a .tflite with TFLite_Detection_PostProcess (single-stage detectors
    #: give its inputs: `anchors`, `box_scales`, `postprocess_inputs`)
    exportable = False


def _plain(value):
    """Config values as JSON-friendly Python (tuples -> lists, NumPy scalars -> numbers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
