"""ImageNet utilities: the shipped 1000-class index, `decode_predictions`, `preprocess_input`.

Numbers and conventions are those of `keras.applications.imagenet_utils`; the class index is the
official `imagenet_class_index.json` (MD5 c2c37ea517e94d9795004a39431a14cb) shipped inside the
package, so nothing here ever touches the network.
"""

import functools
import json
from importlib import resources

import numpy as np

NUM_CLASSES = 1000
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"

#: Per-mode constants, in the channel order the network sees (BGR for 'caffe').
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)
PREPROCESSING_MODES = ("caffe", "tf", "torch")


@functools.lru_cache(maxsize=1)
def class_index():
    """The 1000 ImageNet classes as a tuple of `(wnid, name)` pairs, in model output order."""
    text = resources.files("kerasnets").joinpath("data/imagenet_class_index.json").read_text()
    index = json.loads(text)
    return tuple(tuple(index[str(i)]) for i in range(NUM_CLASSES))


def class_names():
    """The 1000 human-readable ImageNet class names, in model output order."""
    return [name for _, name in class_index()]


def decode_predictions(preds, top=5):
    """Decode ImageNet predictions into `[(wnid, name, score), ...]`, one list per sample.

    Args:
        preds: array-like of shape `(N, 1000)` (NumPy array or backend tensor).
        top: how many of the highest-scoring classes to return per sample.

    Returns:
        A list with one list per sample of `(wnid, class_name, score)` tuples, best first,
        exactly as `keras.applications.imagenet_utils.decode_predictions` returns them.
    """
    preds = _to_numpy(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(
            "decode_predictions expects a batch of ImageNet predictions of shape (N, 1000); "
            f"received an array of shape {tuple(preds.shape)}. Pass the output of a model built "
            "with include_top=True and classes=1000 (add a batch axis for a single image)."
        )
    if not (np.issubdtype(preds.dtype, np.number) or preds.dtype == np.bool_):
        raise ValueError(
            f"decode_predictions expects numeric scores (the model's probabilities); received an array of "
            f"{preds.dtype.name if preds.dtype.kind not in 'UO' else 'strings or objects'} (dtype {preds.dtype}). "
            "Pass model.predict(x), not labels or file names."
        )
    if not np.all(np.isfinite(preds)):
        bad = ~np.isfinite(preds.astype("float64", copy=False))
        where = f" in {int(bad.any(axis=1).sum())} of {len(preds)} samples"
        raise ValueError(
            f"decode_predictions received non-finite scores (NaN or infinity){where}; they cannot be ranked. The "
            "model diverged or its input was invalid (check the preprocessing and the weights)."
        )
    if not isinstance(top, (int, np.integer)) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top must be an integer between 1 and {NUM_CLASSES}; received top={top!r}.")
    index = class_index()
    results = []
    for pred in preds:
        best = np.argsort(pred, kind="stable")[-top:][::-1]
        result = [index[i] + (pred[i],) for i in best]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocess a batch of RGB images with values in [0, 255] for an ImageNet network.

    The signature, constants and behaviour are keras.applications' (`imagenet_utils.preprocess_input`):
      - 'caffe': RGB -> BGR, then subtract the ImageNet mean per channel, no scaling (VGG, ResNet v1).
      - 'tf': scale to [-1, 1] (Inception, MobileNet, ResNet v2); any number of channels.
      - 'torch': scale to [0, 1], then normalise with the ImageNet mean and std (DenseNet).

    Like keras, a float NumPy array is preprocessed IN PLACE (and returned; in 'caffe' mode the
    result is a channel-reversed view of it), so code that ignores the return value behaves as it
    does with keras; integer arrays are converted to a new float array first. Pass `x.copy()` to
    keep the original. Backend tensors go through `keras.ops` and are never modified. `x` is 3D
    (one image) or 4D (a batch).
    """
    if mode not in PREPROCESSING_MODES:
        raise ValueError(f"Unknown preprocessing mode {mode!r}; choose one of {PREPROCESSING_MODES}.")
    data_format = _data_format(data_format)
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        x = np.asarray(x)
    if mode != "tf":
        channels = x.shape[_channel_axis(len(x.shape), data_format)] if len(x.shape) >= 3 else None
        if channels != 3:
            raise ValueError(
                f"'{mode}' preprocessing needs RGB images with 3 channels ({data_format}); received an array of "
                f"shape {tuple(x.shape)}. Convert grayscale or RGBA images to RGB first."
            )
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, mode, data_format)
    return _preprocess_tensor(x, mode, data_format)


def preprocessing_function(mode):
    """The module-level `preprocess_input(x, data_format=None)` of a family, as keras.applications
    has one per module (`keras.applications.resnet.preprocess_input`); 'none' is a pass-through
    for networks that rescale raw pixels themselves (MobileNetV3)."""
    if mode == "none":
        def preprocess_input(x, data_format=None):
            return x

        preprocess_input.__doc__ = "A pass-through: the network rescales raw 0-255 pixels itself."
        return preprocess_input

    def preprocess_input(x, data_format=None):
        return globals()["preprocess_input"](x, data_format=data_format, mode=mode)

    preprocess_input.__doc__ = (
        f"Preprocess RGB images in [0, 255] in '{mode}' mode; see `kerasnets.imagenet.preprocess_input`."
    )
    preprocess_input.__qualname__ = "preprocess_input"
    return preprocess_input


def _data_format(data_format):
    if data_format is None:
        import keras

        return keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first'; received {data_format!r}."
        )
    return data_format


def _channel_constants(mode):
    """(flip RGB->BGR?, scale, mean, std): x -> ((x / scale) - mean) / std, keras' order of operations."""
    if mode == "tf":
        return False, 127.5, 1.0, None  # a scalar: any number of channels
    if mode == "torch":
        return False, 255.0, TORCH_MEAN_RGB, TORCH_STD_RGB
    return True, None, CAFFE_MEAN_BGR, None


def _broadcast_shape(ndim, data_format):
    if data_format == "channels_last":
        return (1,) * (ndim - 1) + (3,)
    return (3,) + (1,) * 2 if ndim == 3 else (1, 3) + (1,) * (ndim - 2)


def _channel_axis(ndim, data_format):
    return -1 if data_format == "channels_last" else (0 if ndim == 3 else 1)


def _preprocess_numpy(x, mode, data_format):
    """keras' NumPy path, vectorised: the same in-place updates on the same views."""
    import keras

    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(keras.config.floatx(), copy=False)
    flip, scale, mean, std = _channel_constants(mode)
    if flip:
        axis = _channel_axis(x.ndim, data_format) % x.ndim
        x = x[(slice(None),) * axis + (slice(None, None, -1),)]
    if scale is not None:
        x /= scale
    shape = _broadcast_shape(x.ndim, data_format)
    x -= np.asarray(mean, dtype=x.dtype).reshape(shape if np.ndim(mean) else ())
    if std is not None:
        x /= np.asarray(std, dtype=x.dtype).reshape(shape)
    return x


def _preprocess_tensor(x, mode, data_format):
    from keras import ops

    if not ops.is_tensor(x):
        x = ops.convert_to_tensor(x)
    if "float" not in str(x.dtype):
        import keras

        x = ops.cast(x, keras.config.floatx())
    flip, scale, mean, std = _channel_constants(mode)
    ndim = len(x.shape)
    if flip:
        x = ops.flip(x, axis=_channel_axis(ndim, data_format))
    if scale is not None:
        x = x / scale
    shape = _broadcast_shape(ndim, data_format)
    x = x - ops.reshape(ops.convert_to_tensor(np.asarray(mean), dtype=x.dtype), shape if np.ndim(mean) else ())
    if std is not None:
        x = x / ops.reshape(ops.convert_to_tensor(np.asarray(std), dtype=x.dtype), shape)
    return x


def _to_numpy(preds):
    if isinstance(preds, np.ndarray):
        return preds
    try:
        from keras import ops

        return np.asarray(ops.convert_to_numpy(preds))
    except Exception:  # plain Python lists and the like
        return np.asarray(preds)
