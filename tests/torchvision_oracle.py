"""torch-free helpers for checking kerasnets against torchvision (tests only, never the package).

- `save_state_dict(state, path, legacy=False)` writes {name: ndarray} the way `torch.save` does, in
  the zip format or the legacy one (`_use_new_zipfile_serialization=False`); torch.load reads it back
  (tests/data/torch/torchvision_reference.py checks that with a real torch).
- `numpy_state(keys_shapes, seed)` makes a deterministic state dict of plausible values (He-scaled
  weights, non-trivial batch-norm statistics) from names and shapes alone, so that a test without
  torch and a script with torch build the same network weights.
- `relative_difference(ours, theirs)`: max |ours - theirs| / max |theirs|.
"""

import pickle
import struct
import zipfile
import zlib

import numpy as np

#: NumPy dtype -> torch's typed storage class.
_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage", np.dtype("float64"): "DoubleStorage"}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def _unicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    if not -(2**31) <= value < 2**31:
        return b"\x8a\x08" + struct.pack("<q", value)  # LONG1, 8 bytes
    return b"J" + struct.pack("<i", value)


def _tuple(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _pickle(tensors, legacy):
    """Protocol 2, torch's opcodes: an OrderedDict of `_rebuild_tensor_v2(storage, 0, size, stride, False, {})`."""
    out = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for key, (name, array) in enumerate(tensors.items()):
        stride, step = [], 1
        for n in reversed(array.shape):
            stride.insert(0, step)
            step *= n
        pid = b"(" + _unicode("storage") + _global("torch", _STORAGE[array.dtype]) + _unicode(str(key))
        pid += _unicode("cpu") + _int(array.size) + (b"N" if legacy else b"") + b"t"
        out += _unicode(name) + _global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q" + _int(0)
        out += _tuple(array.shape) + _tuple(stride) + b"\x89}t" + b"R"
    return out + b"u."


def save_state_dict(state, path, legacy=False):
    """Write `state` ({name: ndarray of float32, float64 or int64}) as torch.save would."""
    tensors = {name: np.asarray(value, dtype=np.dtype(value.dtype).newbyteorder("<"), order="C")
               for name, value in state.items()}
    data = _pickle(tensors, legacy)
    if legacy:
        with open(path, "wb") as f:
            for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                                                          "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                pickle.dump(header, f, protocol=2)
            f.write(data)
            pickle.dump([str(k) for k in range(len(tensors))], f, protocol=2)
            for array in tensors.values():
                f.write(struct.pack("<q", array.size) + array.tobytes())
        return path
    prefix = "archive"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data)
        z.writestr(f"{prefix}/byteorder", "little")
        for key, array in enumerate(tensors.values()):
            z.writestr(f"{prefix}/data/{key}", array.tobytes())
        z.writestr(f"{prefix}/version", "3\n")
    return path


def numpy_state(keys_shapes, seed=0):
    """A state dict for `keys_shapes` ([(name, shape)]): each tensor drawn from its own generator
    (seeded by `seed` and the name), so any subset of the keys gets the same values."""
    state = {}
    for name, shape in keys_shapes:
        shape = tuple(shape)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            value = np.array(1000, dtype=np.int64)
        elif leaf == "running_var":
            value = rng.uniform(0.5, 2.0, shape)
        elif leaf == "running_mean":
            value = rng.normal(0.0, 0.2, shape)
        elif leaf == "weight" and len(shape) == 1:  # batch-norm scale
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf == "bias":
            value = rng.normal(0.0, 0.1, shape)
        else:  # convolution / linear weights, He-scaled by their fan-in
            value = rng.normal(0.0, np.sqrt(2.0 / max(1, int(np.prod(shape[1:])))), shape)
        state[name] = value if value.dtype == np.int64 else value.astype(np.float32)
    return state


def relative_difference(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))



def detection_state(keys_shapes, seed, scales):
    """`numpy_state` for a torchvision detector with the weights and biases of the modules in `scales`
    ({module: factor}, chosen by tests/data/torchvision_detection/torchvision_detections.py so that random
    heads give plausible boxes and scores that differ) multiplied by their factor (in float32)."""
    state = numpy_state(keys_shapes, seed)
    for module, factor in scales.items():
        for leaf in ("weight", "bias"):
            key = f"{module}.{leaf}"
            state[key] = (state[key] * np.float32(factor)).astype(np.float32)
    return state
def scale_detection_heads(state, scale):
    """`state` with the prediction convolutions of a detector's heads (`head.*` 4-D weights, not depthwise)
    multiplied by `scale`: `numpy_state`'s He-scaled heads saturate the class scores; scaled, they differ."""
    return {k: (v * np.float32(scale) if k.startswith("head.") and k.endswith(".weight") and v.ndim == 4
                and v.shape[1] != 1 else v) for k, v in state.items()}
