"""Read PyTorch state dicts (`torch.save(model.state_dict(), path)`) without PyTorch.

    from kerasnets.core.torch_format import load_state_dict
    tensors = load_state_dict("resnet18.pth")          # {'conv1.weight': ndarray (64, 3, 7, 7), ...}

Both of `torch.save`'s formats are read:

- the zip format (torch >= 1.6): `<prefix>/data.pkl` is a pickle whose tensors point, by
  persistent id, at raw storages `<prefix>/data/<key>`; `<prefix>/byteorder` says their byte order
  (little-endian when absent). Any archive prefix is accepted.
- the legacy format (`_use_new_zipfile_serialization=False`, and every file saved before 1.6):
  a stream of pickles, magic number, protocol version, system info (byte order), the object
  itself, then the list of storage keys, then each storage as its element count (int64) followed
  by its raw bytes.

The pickle is read by a restricted unpickler that resolves only the globals a state dict needs,
as `torch.load(weights_only=True)` does: `collections.OrderedDict`, the tensor rebuild functions
`torch._utils._rebuild_tensor[_v2|_v3]` and `_rebuild_parameter[_with_state]`, the storage types
(`torch.FloatStorage`, ..., `torch.storage.UntypedStorage`), dtype objects (`torch.float32`, ...)
and `_codecs.encode` (how protocol 2 writes bytes). Any other global (`os.system`,
`builtins.eval`, a model class) is refused before anything runs: the file is not a plain state dict.

Tensors honour sizes, strides and storage offsets (transposed and strided views, several tensors
sharing one storage) and come back as C-contiguous NumPy copies, in the order the file lists
them. float32, float16, float64, int8/16/32/64, uint8, bool and complex keep their dtype;
bfloat16 (which NumPy lacks) becomes float32 exactly (its bits are the upper half of a float32);
uint16/32/64 (torch >= 2.3) keep theirs. A checkpoint that wraps the state dict
(`{"state_dict": ..., "epoch": ...}`, or under "model", "model_state_dict", "net") is unwrapped.

Every problem (missing, truncated or tampered file, not a PyTorch file, a refused global) is one
`WeightsError` naming the file and what is wrong with it.
"""

import io
import os
import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from kerasnets.core.weights import WeightsError

#: The legacy format's first pickle, and its protocol version.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

#: Keys under which checkpoints commonly keep the model's state dict.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net")

#: torch dtype name -> NumPy dtype (bfloat16 is stored as uint16 bits and widened on output).
_DTYPES = {
    "float32": "f4", "float64": "f8", "float16": "f2", "bfloat16": "u2",
    "int64": "i8", "int32": "i4", "int16": "i2", "int8": "i1", "uint8": "u1",
    "uint16": "u2", "uint32": "u4", "uint64": "u8", "bool": "?",
    "complex64": "c8", "complex128": "c16",
}
#: Aliases torch exports for the same dtype objects.
_DTYPE_ALIASES = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
    "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
}
#: Typed storage classes -> the dtype of their elements.
_STORAGES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
}


#: torch.save stores tensors uncompressed; a compressed storage record may inflate at most this many times.
MAX_INFLATION = 16


class _Refused(Exception):
    """A global outside the allow-list (turned into WeightsError with the file's name)."""


# -- what the pickle builds ----------------------------------------------------------------------


class _StorageType:
    """A storage class from the pickle (`torch.FloatStorage`, `torch.storage.UntypedStorage`, ...)."""

    __slots__ = ("dtype", "name")

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype  # dtype None: untyped bytes


class _DType:
    """A dtype object from the pickle (`torch.float32`, ...)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Storage:
    """One storage: `numel` elements of `dtype` (None: bytes); `data` arrives when it is read."""

    __slots__ = ("data", "dtype", "key", "numel", "offset", "parent")

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data = None  # bytes-like of numel * itemsize bytes
        self.parent, self.offset = None, 0  # a legacy storage view: a slice of `parent`

    @property
    def itemsize(self):
        return 1 if self.dtype is None else np.dtype(_DTYPES[self.dtype]).itemsize

    def buffer(self):
        if self.parent is not None:
            start = self.offset * self.itemsize
            return memoryview(self.parent.buffer())[start:start + self.numel * self.itemsize]
        return self.data


class _Tensor:
    """A tensor as the pickle describes it: a strided view into a storage."""

    __slots__ = ("dtype", "offset", "size", "storage", "stride")

    def __init__(self, storage, offset, size, stride, dtype=None):
        if not isinstance(storage, _Storage):
            raise TypeError(f"a tensor is rebuilt from {type(storage).__name__}, not from a storage")
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)
        self.dtype = dtype or storage.dtype
        if self.dtype is None:
            raise ValueError("a tensor on an untyped storage has no dtype")

    def array(self, byteorder):
        dtype = np.dtype(_DTYPES[self.dtype]).newbyteorder("<" if byteorder == "little" else ">")
        raw = self.storage.buffer()
        if raw is None:
            raise ValueError(f"storage {self.storage.key!r} is referenced but not in the file")
        if len(raw) % dtype.itemsize:
            raise ValueError(f"storage {self.storage.key!r} holds {len(raw)} bytes, not whole {self.dtype} elements")
        flat = np.frombuffer(raw, dtype=dtype)
        sizes, strides, offset = self.size, self.stride, self.offset
        if not (isinstance(offset, int) and offset >= 0 and len(sizes) == len(strides)
                and all(isinstance(v, int) and v >= 0 for v in (*sizes, *strides))):
            raise ValueError(f"invalid tensor geometry: offset {offset}, size {sizes}, stride {strides}")
        if 0 not in sizes:
            last = offset + sum((n - 1) * s for n, s in zip(sizes, strides))
            if last >= flat.size:
                raise ValueError(
                    f"a tensor of size {sizes}, stride {strides} at offset {offset} reaches element {last} "
                    f"of storage {self.storage.key!r}, which has only {flat.size}"
                )
            if sizes:
                view = np.lib.stride_tricks.as_strided(
                    flat[offset:], shape=sizes, strides=[s * dtype.itemsize for s in strides], writeable=False
                )
            else:  # a 0-d tensor
                view = flat[offset:offset + 1].reshape(())
        else:
            view = np.zeros(sizes, dtype)
        array = np.array(view, dtype=dtype.newbyteorder("="), order="C", copy=True)  # ndim kept, also 0
        if self.dtype == "bfloat16":  # the upper 16 bits of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    if not isinstance(dtype, _DType):
        raise TypeError(f"_rebuild_tensor_v3 got {dtype!r} as its dtype")
    return _Tensor(storage, storage_offset, size, stride, dtype.name)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


def _codecs_encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise ValueError(f"_codecs.encode with {type(text).__name__} and {encoding!r}")
    return text.encode(encoding)


_FUNCTIONS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("_codecs", "encode"): _codecs_encode,
}


def _allowed_global(module, name):
    """The stand-in for an allowed global, or None."""
    if (module, name) in _FUNCTIONS:
        return _FUNCTIONS[module, name]
    if module in ("torch", "torch.cuda") and name in _STORAGES:
        return _StorageType(name, _STORAGES[name])
    if module in ("torch", "torch.storage") and name == "UntypedStorage":
        return _StorageType(name, None)
    if module == "torch":
        dtype = _DTYPE_ALIASES.get(name, name)
        if dtype in _DTYPES:
            return _DType(dtype)
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only what a state dict is made of; records the storages it refers to."""

    def __init__(self, file, storages, legacy, read_storage=None, budget=None):
        super().__init__(file, encoding="utf-8")
        self.storages, self.legacy, self.read_storage = storages, legacy, read_storage
        self.budget = budget  # (what the bytes are checked against, the most the storages may declare)

    def find_class(self, module, name):
        found = _allowed_global(module, name)
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            raise ValueError(f"unsupported persistent id {kind!r} (only storages belong in a state dict)")
        if self.legacy:
            if len(pid) != 6:
                raise ValueError(f"a legacy storage reference has {len(pid)} fields, not 6")
            _, storage_type, key, _location, numel, view = pid
        else:
            if len(pid) != 5:
                raise ValueError(f"a storage reference has {len(pid)} fields, not 5")
            _, storage_type, key, _location, numel = pid
            view = None
        if not isinstance(storage_type, _StorageType):
            raise TypeError(f"storage {key!r} has type {storage_type!r}, not a storage type")
        if not isinstance(numel, int) or numel < 0:
            raise ValueError(f"storage {key!r} has an invalid element count {numel!r}")
        key = key.decode("ascii") if isinstance(key, bytes) else str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type.dtype, numel)
            if self.budget is not None:
                what, limit = self.budget
                declared = sum(s.numel * s.itemsize for s in self.storages.values() if s.parent is None)
                if declared + numel * storage.itemsize > limit:
                    raise ValueError(
                        f"its storages declare {declared + numel * storage.itemsize:,} bytes, more than {what} "
                        f"({limit:,} bytes): nothing was allocated"
                    )
            self.storages[key] = storage
            if self.read_storage is not None:
                storage.data = self.read_storage(storage)
        elif storage.dtype != storage_type.dtype or storage.numel != numel:
            raise ValueError(f"storage {key!r} is referenced with two different types or sizes")
        if view is None:
            return storage
        view_key, offset, view_numel = view
        view_key = str(view_key)
        if view_key not in self.storages:
            if not (isinstance(offset, int) and isinstance(view_numel, int) and 0 <= offset
                    and 0 <= view_numel and offset + view_numel <= numel):
                raise ValueError(f"storage view {view_key!r} lies outside storage {key!r}")
            child = self.storages[view_key] = _Storage(view_key, storage.dtype, view_numel)
            child.parent, child.offset = storage, offset
        return self.storages[view_key]


# -- the two container formats -------------------------------------------------------------------


def _read_zip(path, max_bytes=None):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1] or (
            ["data.pkl"] if "data.pkl" in names else [])
        if len(pickles) != 1:
            raise _NotTorch(
                "it is a zip archive without exactly one `<prefix>/data.pkl` record, so not a file written by "
                "torch.save"
            )
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}constants.pkl" in names or any(n.startswith(f"{prefix}code/") for n in names):
            raise _NotTorch("it is a TorchScript archive (torch.jit.save), not a state dict saved with torch.save")
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            byteorder = archive.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise ValueError(f"its byteorder record says {byteorder!r}, neither 'little' nor 'big'")

        def read_storage(storage):
            name = f"{prefix}data/{storage.key}"
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise ValueError(f"the storage record {name} is missing") from None
            expected = storage.numel * storage.itemsize
            if info.file_size != expected:
                raise ValueError(
                    f"the storage record {name} holds {info.file_size} bytes, but the pickle declares "
                    f"{storage.numel} elements ({expected} bytes)"
                )
            if info.compress_type != zipfile.ZIP_STORED and expected > MAX_INFLATION * info.compress_size + (1 << 20):
                raise ValueError(
                    f"the storage record {name} inflates from {info.compress_size:,} to {expected:,} bytes; torch.save "
                    "stores tensors uncompressed, so this is not its file: nothing was allocated"
                )
            data = archive.read(name)
            if len(data) != expected:
                raise ValueError(f"the storage record {name} is short: {len(data)} of {expected} bytes")
            return data

        storages = {}
        # what the storages may declare: what the archive can hold (uncompressed, or inflating a little)
        room = sum(i.file_size if i.compress_type == zipfile.ZIP_STORED else
                   min(i.file_size, MAX_INFLATION * i.compress_size + (1 << 20)) for i in archive.infolist())
        budget = ("the archive holds", room) if max_bytes is None or room < max_bytes else ("the limit", max_bytes)
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages, legacy=False,
                                         read_storage=read_storage, budget=budget)
        obj = unpickler.load()
    return obj, byteorder


def _read_legacy(path, max_bytes=None):
    size = os.path.getsize(path)
    budget = ("the file holds", size) if max_bytes is None or size < max_bytes else ("the limit", max_bytes)
    with open(path, "rb") as f:
        storages = {}

        def header():
            return _RestrictedUnpickler(f, storages, legacy=True, budget=budget).load()

        try:
            magic = header()
        except _Refused:
            raise
        except Exception:  # noqa: BLE001 (random bytes fail in many ways inside pickle)
            raise _NotTorch("it is neither a zip archive nor a pickle stream written by torch.save") from None
        if magic != LEGACY_MAGIC:
            raise _NotTorch(f"it starts with the pickle {str(magic)[:40]!r}, not torch's magic number")
        protocol = header()
        if protocol != LEGACY_PROTOCOL:
            raise ValueError(f"its protocol version is {protocol!r}, not {LEGACY_PROTOCOL}")
        info = header()
        byteorder = "little" if not isinstance(info, dict) or info.get("little_endian", True) else "big"
        obj = _RestrictedUnpickler(f, storages, legacy=True, budget=budget).load()
        keys = header()
        if not (isinstance(keys, list) and all(isinstance(k, (str, bytes)) for k in keys)):
            raise ValueError("the list of storage keys after the pickle is malformed")
        for key in keys:
            key = key.decode("ascii") if isinstance(key, bytes) else key
            storage = storages.get(key)
            if storage is None or storage.parent is not None:
                raise ValueError(f"the storage key {key!r} is listed but no tensor refers to it")
            count = f.read(8)
            if len(count) != 8:
                raise EOFError(f"the file ends before storage {key!r}")
            (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", count)
            if numel != storage.numel:
                raise ValueError(
                    f"storage {key!r} is recorded with {numel} elements, but the pickle declares {storage.numel}"
                )
            nbytes = numel * storage.itemsize
            if nbytes > size - f.tell():
                raise EOFError(f"storage {key!r} declares {nbytes:,} bytes, but only {size - f.tell():,} are left in "
                               "the file")
            storage.data = f.read(nbytes)
            if len(storage.data) != nbytes:
                raise EOFError(f"storage {key!r} is cut short: {len(storage.data)} of {nbytes} bytes")
        missing = [k for k, s in storages.items() if s.parent is None and s.data is None]
        if missing:
            raise ValueError(f"storages {missing[:5]} are referenced but not in the file")
    return obj, byteorder


class _NotTorch(Exception):
    """The file is not a PyTorch file at all."""


# -- the state dict ------------------------------------------------------------------------------


def _unwrap(obj):
    """The state dict inside what torch.save wrote: the object itself, or a checkpoint's entry."""
    if isinstance(obj, dict) and not any(isinstance(v, _Tensor) for v in obj.values()):
        for key in CHECKPOINT_KEYS:
            if isinstance(obj.get(key), dict) and any(isinstance(v, _Tensor) for v in obj[key].values()):
                return obj[key]
    return obj


def load_state_dict(path, max_bytes=None):
    """The tensors of a `.pth`/`.pt` state dict as an ordered `{name: numpy.ndarray}` (C-contiguous
    copies), read without PyTorch. Raises WeightsError naming the file and the problem.

    Sizes are checked before anything is allocated: the storages may not declare more bytes than
    the file holds (compressed records inflating at most MAX_INFLATION times), nor than
    `max_bytes` (what the network needs) when given."""
    path = Path(os.fspath(path))
    if not path.is_file():
        raise WeightsError(f"PyTorch weights file not found: {path}.")
    try:
        with open(path, "rb") as f:
            start = f.read(4)
        if not start:
            raise _NotTorch("it is empty")
        if zipfile.is_zipfile(path):
            obj, byteorder = _read_zip(path, max_bytes)
        elif start == b"PK\x03\x04":
            raise ValueError("it starts as a zip archive but has no central directory at its end")
        elif tarfile.is_tarfile(path):
            raise _NotTorch("it is a tar archive: the format of torch < 0.4, which is not supported; re-save it with "
                "a current torch")
        else:
            obj, byteorder = _read_legacy(path, max_bytes)
        state = _unwrap(obj)
        if not isinstance(state, dict):
            raise _NotTorch(f"it holds a {type(state).__name__}, not a state dict (a mapping of names to tensors)")
        tensors = OrderedDict()
        for name, value in state.items():
            if not isinstance(value, _Tensor):
                raise TypeError(
                    f"its entry {name!r} is a {type(value).__name__}, not a tensor (only state dicts of tensors are "
                    "read)"
                )
            tensors[str(name)] = value.array(byteorder)
        return tensors
    except _Refused as e:
        raise WeightsError(
            f"Refusing to load {path}: its pickle needs the global `{e}`, which a plain state dict never "
            "contains (only tensors, storages and OrderedDict are allowed, as with torch.load(weights_only=True)). "
            "The file is not a plain state dict: it may hold a whole pickled model or run code when loaded. "
            "Re-save it with torch.save(model.state_dict(), path) in a trusted environment."
        ) from None
    except _NotTorch as e:
        raise WeightsError(f"{path} is not a PyTorch state dict file: {e}.") from None
    except WeightsError:
        raise
    except (EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, pickle.UnpicklingError, ValueError, TypeError,
            KeyError, IndexError, AttributeError, struct.error, OverflowError, UnicodeDecodeError, OSError,
            MemoryError) as e:
        raise WeightsError(
            f"Cannot read the PyTorch file {path}: {e or type(e).__name__}. The file is truncated, corrupt "
            "or was modified after torch.save wrote it."
        ) from None
