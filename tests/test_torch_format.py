"""The torch-free reader of PyTorch state dicts, against files torch 2.13 wrote
(tests/data/torch/make_fixtures.py) and against forged, truncated and malicious files."""

import io
import os
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import pytest

from kerasnets.core.torch_format import load_state_dict
from kerasnets.core.weights import WeightsError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "torch")
ZIP = os.path.join(DATA, "state_zip.pt")
LEGACY = os.path.join(DATA, "state_legacy.pth")


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(DATA, "expected.npz")) as f:
        return {k: f[k] for k in f.files}


def assert_same(tensors, expected, keys):
    assert list(tensors) == keys  # the file's order
    for key in keys:
        got, want = tensors[key], expected[key]
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        assert got.flags.c_contiguous and got.flags.writeable, key
        np.testing.assert_array_equal(got, want, err_msg=key)


@pytest.mark.parametrize("path", [ZIP, LEGACY], ids=["zip", "legacy"])
def test_reads_what_torch_wrote_exactly(path, expected):
    tensors = load_state_dict(path)
    keys = [k for k in expected if k != "uint16" or path == ZIP]
    assert_same(tensors, expected, keys)
    # the views the fixture was made of
    assert tensors["conv.weight"].shape == (32, 3, 3, 3)
    assert tensors["transposed"].shape == (6, 4)
    assert tensors["bn.num_batches_tracked"].shape == () and tensors["bn.num_batches_tracked"] == 12345678901
    assert tensors["bfloat16"].dtype == np.float32 and tensors["half"].dtype == np.float16
    np.testing.assert_array_equal(tensors["shared_b"], np.arange(14, 24, dtype=np.float32))


def test_kernel_view_in_tensorflow_layout(expected):
    """(32,3,3,3) with stride (1,32,288,96) is a TensorFlow (3,3,3,32) kernel seen through a permute."""
    kernel = load_state_dict(LEGACY)["conv.weight"]
    np.testing.assert_array_equal(kernel.transpose(2, 3, 1, 0),
        np.ascontiguousarray(expected["conv.weight"].transpose(2, 3, 1, 0)))
    assert not np.shares_memory(kernel, load_state_dict(LEGACY)["conv.weight"])


def test_checkpoint_is_unwrapped(expected):
    assert_same(load_state_dict(os.path.join(DATA, "checkpoint.pt")), expected, [k for k in expected if k != "uint16"])


# -- forged files ------------------------------------------------------------------------------


def _unicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"J" + struct.pack("<i", value)


def _ints(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def forged_pickle(entries, legacy=False):
    """A protocol-2 pickle of {name: tensor} in torch's own opcodes, written by hand.

    entries: name -> (storage class, storage key, numel, offset, size, stride)."""
    out = b"\x80\x02}("
    for name, (storage_type, key, numel, offset, size, stride) in entries.items():
        pid = b"(" + _unicode("storage") + b"ctorch\n" + storage_type.encode() + b"\n" + _unicode(key) + _unicode("cpu")
        pid += _int(numel) + (b"N" if legacy else b"") + b"t"
        out += _unicode(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"Q" + _int(offset)
        out += _ints(size) + _ints(stride) + b"\x89}t" + b"R"
    return out + b"u."


def write_zip(path, data_pkl, storages, prefix="weights"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"{prefix}/data/{key}", data)
    return path


def write_legacy(path, data_pkl, storages, counts=None):
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(data_pkl)
        pickle.dump(list(storages), f, protocol=2)
        for key, data in storages.items():
            count = (counts or {}).get(key, len(data) // 4)
            f.write(struct.pack("<q", count) + data)
    return path


def test_forged_files_read_like_torch_files(tmp_path):
    storage = np.arange(12, dtype="<f4").tobytes()
    entries = {"a": ("FloatStorage", "0", 12, 2, (2, 3), (1, 2)), "b": ("FloatStorage", "0", 12, 0, (12,), (1,))}
    base = np.arange(12, dtype=np.float32)
    for tensors in (
        load_state_dict(write_zip(tmp_path / "f.pt", forged_pickle(entries), {"0": storage})),
        load_state_dict(write_legacy(tmp_path / "f.pth", forged_pickle(entries, legacy=True), {"0": storage})),
    ):
        np.testing.assert_array_equal(tensors["a"], np.lib.stride_tricks.as_strided(base[2:], (2, 3), (4, 8)))
        np.testing.assert_array_equal(tensors["b"], base)


def test_view_beyond_its_storage_is_refused(tmp_path):
    storage = np.arange(12, dtype="<f4").tobytes()
    entries = {"a": ("FloatStorage", "0", 12, 4, (3, 4), (4, 1))}  # elements 4..15 of 12
    path = write_zip(tmp_path / "oob.pt", forged_pickle(entries), {"0": storage})
    with pytest.raises(WeightsError, match=r"oob\.pt.*reaches element 15 of storage '0', which has only 12"):
        load_state_dict(path)


def test_tampered_storage_size_zip(tmp_path):
    entries = {"a": ("FloatStorage", "0", 12, 0, (12,), (1,))}
    path = write_zip(tmp_path / "t.pt", forged_pickle(entries), {"0": b"\0" * 40})
    with pytest.raises(WeightsError, match=r"t\.pt.*holds 40 bytes, but the pickle declares 12 elements \(48 bytes\)"):
        load_state_dict(path)


def test_tampered_storage_count_legacy(tmp_path):
    """The element count written before a storage's bytes disagrees with the pickle."""
    with open(LEGACY, "rb") as f:
        data = bytearray(f.read())
    f = io.BytesIO(bytes(data))
    for _ in range(5):  # magic, protocol, sys info, the state dict, the storage keys
        for _op in pickletools.genops(f):
            pass
    (count,) = struct.unpack_from("<q", data, f.tell())
    struct.pack_into("<q", data, f.tell(), count + 1)
    path = tmp_path / "tampered.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError,
        match=rf"tampered\.pth.*recorded with {count + 1} elements, but the pickle declares {count}"):
        load_state_dict(path)


@pytest.mark.parametrize("source", [ZIP, LEGACY], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_file(tmp_path, source, keep):
    with open(source, "rb") as f:
        data = f.read()
    path = tmp_path / f"cut{os.path.splitext(source)[1]}"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(WeightsError, match=rf"Cannot read the PyTorch file .*{path.name}: .*truncated"):
        load_state_dict(path)


def test_random_bytes_and_empty_file(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(WeightsError, match=r"noise\.pth is not a PyTorch state dict file"):
        load_state_dict(path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"empty\.pt is not a PyTorch state dict file: it is empty"):
        load_state_dict(tmp_path / "empty.pt")


def test_storage_record_missing_from_zip(tmp_path):
    entries = {"a": ("FloatStorage", "7", 2, 0, (2,), (1,))}
    path = write_zip(tmp_path / "m.pt", forged_pickle(entries), {})
    with pytest.raises(WeightsError, match=r"m\.pt.*the storage record weights/data/7 is missing"):
        load_state_dict(path)


def test_other_pickle_is_not_torch(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(WeightsError, match=r"list\.pkl is not a PyTorch state dict file.*not torch's magic number"):
        load_state_dict(path)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match=r"not found: .*absent\.pth"):
        load_state_dict(tmp_path / "absent.pth")


# -- malicious pickles: refused, nothing executed ---------------------------------------------------


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _refused(path, global_name):
    with pytest.raises(WeightsError, match=rf"Refusing to load .*{path.name}.*`{global_name}`.*not a plain state dict"):
        load_state_dict(path)


def test_malicious_plain_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    _refused(path, f"{os.system.__module__}.system")
    assert not marker.exists()


def test_malicious_state_dict_in_legacy_stream_refused(tmp_path):
    """Valid torch headers, then a state dict whose value runs builtins.eval."""
    marker = tmp_path / "pwned"
    payload = b"\x80\x02}(" + _unicode("x") + b"cbuiltins\neval\n(" + _unicode(f"open({str(marker)!r}, 'w')") + b"tRu."
    path = write_legacy(tmp_path / "evil_legacy.pth", payload, {})
    _refused(path, "builtins.eval")
    assert not marker.exists()


def test_malicious_zip_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = write_zip(tmp_path / "evil.pt", pickle.dumps({"w": _Evil(marker)}, protocol=2), {})
    _refused(path, f"{os.system.__module__}.system")
    assert not marker.exists()


def test_pickled_module_class_refused(tmp_path):
    """A whole pickled model (torch.save(model)) needs its class: refused the same way."""
    payload = b"\x80\x02ctorchvision.models.resnet\nResNet\n)\x81."
    path = write_zip(tmp_path / "model.pt", payload, {})
    _refused(path, "torchvision.models.resnet.ResNet")
