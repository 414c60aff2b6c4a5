"""The adversarial sweep's failures (issue 25), one test per case, named after its ID: each fails on
the code the sweep ran against and passes now. The cases of a shared mechanism test that mechanism
(`read_coco`, `check_output`, the weights cache writers, the `.pth` reader, the app wrapper)."""

import errno
import json
import os
import subprocess
import sys
import types
import warnings
import zipfile

import numpy as np
import pytest

from kerasnets.errors import BoxError, DataError, InputError, KerasnetsError, OutputError, WeightsError
from tests.conftest import ROOT

# -- group 1, 2: the COCO reader ----------------------------------------------------------------


def write_coco_folder(folder, images=None, annotations=None, categories=None, size=32):
    """A small COCO folder: `instances.json` and `images/` with one grey PNG per listed image."""
    from kerasnets.images import save_image

    images = [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}] if images is None else images
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]},
                   {"id": 2, "image_id": 2, "category_id": 2, "bbox": [4, 4, 12, 8]}] if annotations is None \
        else annotations
    categories = [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}] if categories is None else categories
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for info in images:
        if isinstance(info, dict) and isinstance(info.get("file_name"), str):
            save_image(folder / "images" / info["file_name"], np.full((size, size, 3), 90, np.uint8))
    path = folder / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def read(path):
    from kerasnets.detection.data import read_coco

    return read_coco(path)


def test_coco_reader_still_reads_a_good_file(tmp_path):
    data = read(write_coco_folder(tmp_path))
    assert len(data) == 2 and data.class_names == ("circle", "square") and data.num_objects == 2


def test_F05_annotation_without_bbox(tmp_path):
    path = write_coco_folder(tmp_path, annotations=[{"id": 7, "image_id": 1, "category_id": 1}])
    with pytest.raises(DataError, match=r"instances\.json: annotation 7 has no 'bbox'"):
        read(path)


def test_F06_image_without_file_name(tmp_path):
    path = write_coco_folder(tmp_path, images=[{"id": 1, "file_name": "a.png"}, {"id": 2}], annotations=[])
    with pytest.raises(DataError, match=r"instances\.json: image 2 \(entry 1\) has no 'file_name'"):
        read(path)


def test_F21_bbox_with_a_string(tmp_path):
    path = write_coco_folder(tmp_path, annotations=[{"id": 3, "image_id": 1, "category_id": 1, "bbox": ["a", 1, 2, 3]}])
    with pytest.raises(BoxError, match=r"instances\.json: annotation 3 \(image 1\) has bbox \['a', 1, 2, 3\]; a COCO "
                                       r"bbox is 4 numbers"):
        read(path)


def test_F22_bbox_of_three_numbers(tmp_path):
    path = write_coco_folder(tmp_path, annotations=[{"id": 4, "image_id": 2, "category_id": 2, "bbox": [1, 2, 3]}])
    with pytest.raises(BoxError, match=r"annotation 4 \(image 2\) has bbox \[1, 2, 3\]"):
        read(path)


def test_F23b_duplicate_image_ids(tmp_path):
    path = write_coco_folder(tmp_path, images=[{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}],
                             annotations=[])
    with pytest.raises(DataError, match=r"image id 1 is listed twice \(a\.png and b\.png\)"):
        read(path)


# -- group 3: a detector's label file -------------------------------------------------------------


def test_G06_detector_label_file_with_bom(tmp_path):
    from export.detection import load_labels

    labels = tmp_path / "labels.txt"
    labels.write_bytes("circle\nrectangle\ntriangle\n".encode("utf-8-sig"))
    model = types.SimpleNamespace(num_classes=3, class_names=["c", "r", "t"])
    assert load_labels(str(labels), model) == ["circle", "rectangle", "triangle"]


# -- group 4: training sets that cannot teach anything ------------------------------------------


def detection_set(class_names, objects=True):
    from kerasnets.detection.data import DetectionSet

    boxes = [np.array([[2, 2, 12, 12]], np.float32) if objects else np.zeros((0, 4), np.float32) for _ in range(2)]
    classes = [np.array([0] if objects else [], np.int32) for _ in range(2)]
    return DetectionSet(np.zeros((2, 32, 32, 3), np.uint8), boxes, classes, tuple(class_names))


def test_F15_training_set_without_objects(tmp_path, capsys):
    from kerasnets.cli import train_detector

    path = write_coco_folder(tmp_path / "data", annotations=[])
    out = tmp_path / "out"
    assert train_detector.main(["--data", f"coco:{path}", "--output", str(out), "--image-size", "32"]) == 1
    err = capsys.readouterr().err
    assert "the training images hold no objects (1 images, 0 boxes)" in err and err.count("\n") == 1
    assert not out.exists()


def test_F24_training_set_all_crowd():
    from kerasnets.cli.train_detector import check_training_data

    train = detection_set(("a", "b"), objects=False)
    train.crowd_annotations = 5
    with pytest.raises(DataError, match=r"hold no objects \(2 images, 0 boxes, and 5 crowd annotations, which are "
                                        r"left out"):
        check_training_data(train, detection_set(("a", "b")), "coco:x.json", "coco:v.json")


def test_F39_val_data_with_other_class_names():
    from kerasnets.cli.train_detector import check_training_data

    with pytest.raises(DataError, match=r"coco:v\.json: the held-out classes are not the training classes \(2 vs 2; "
                                        r"missing from it: b; not in the training data: z\)"):
        check_training_data(detection_set(("a", "b")), detection_set(("a", "z")), "coco:t.json", "coco:v.json")


def test_F39b_val_data_with_fewer_classes():
    from kerasnets.cli.train_detector import check_training_data

    with pytest.raises(DataError, match=r"\(1 vs 3; missing from it: b, c\)"):
        check_training_data(detection_set(("a", "b", "c")), detection_set(("a",)), "coco:t.json", "coco:v.json")
    check_training_data(detection_set(("a", "b")), detection_set(("a", "b")), "shapes", "shapes")  # the same: fine


# -- group 5: the detection apps' model files -------------------------------------------------------


def test_F33_resume_with_a_classifier(tmp_path, capsys):
    import keras

    from kerasnets.cli import train_detector

    inputs = keras.Input((8, 8, 3))
    classifier = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)), name="tiny_classifier")
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    status = train_detector.main(["--resume", str(path), "--data", "shapes", "--train-images", "4", "--val-images",
                                  "2", "--image-size", "64", "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 1 and "holds a Functional (tiny_classifier), not a detector" in err, err
    assert "AttributeError" not in err and err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_F42_detect_on_a_random_bytes_keras_file(tmp_path, capsys):
    from kerasnets.cli import detect
    from kerasnets.images import save_image

    save_image(tmp_path / "a.png", np.zeros((16, 16, 3), np.uint8))
    model = tmp_path / "model.keras"
    model.write_bytes(os.urandom(4096))
    status = detect.main(["--image", str(tmp_path / "a.png"), "--model", str(model), "--output",
                          str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert status == 1 and "not a Keras model file" in err and "not found" not in err.lower(), err
    assert not (tmp_path / "o.png").exists()


def test_G15_preprocessing_refused_for_detectors():
    from export.detection import export_from_cli
    from export.errors import ExportError

    args = types.SimpleNamespace(quantize="none", qat_data=None, prune=None, saved_model=None, int8_io=False, size=None,
                                 alpha=None, preprocessing="tf")
    with pytest.raises(ExportError, match="--preprocessing is not supported for detectors"):
        export_from_cli(args, model=None, step=print)


# -- group 6: writing into the weights cache ---------------------------------------------------------


def test_W16_read_only_cache_folder(monkeypatch, tmp_path):
    from kerasnets import utils
    from kerasnets.core import weights

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(utils.tempfile, "mkstemp", refuse)
    monkeypatch.setenv(weights.BASE_URL_ENV, "http://127.0.0.1:9")
    with pytest.raises(WeightsError, match=r"Cannot write x\.h5 into the weights cache .*models \(Permission denied\): "
                                           r"set KERAS_HOME to a writable folder"):
        weights.get_file(weights.WeightsFile("f", "x.h5"), progress=False)


def test_W18_full_disk_during_the_efficientnet_lite_conversion(monkeypatch):
    import shutil

    from kerasnets.core.weights import cache_dir
    from kerasnets.models import efficientnet_lite

    monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(total=2 << 20, used=0, free=2 << 20))
    with pytest.raises(WeightsError, match=r"\(17\.\d MiB\) into the weights cache .*only 2\.0 MiB are free"):
        efficientnet_lite.converted_weights_path(0)
    assert os.listdir(cache_dir()) == []


def test_W18_full_disk_while_writing_converted_arrays(monkeypatch, tmp_path):
    """The disk fills up during the write itself: WeightsError, and no file left."""
    from kerasnets.core import torch_weights

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    variable = types.SimpleNamespace(name="kernel", numpy=lambda: np.ones(3, np.float32))
    model = types.SimpleNamespace(layers=[types.SimpleNamespace(name="d", weights=[variable])])
    monkeypatch.setattr(torch_weights.np, "savez", full)
    target = tmp_path / "w.keras.npz"
    with pytest.raises(WeightsError, match=r"no space left on the disk\): free some disk space"):
        torch_weights.save_layer_arrays(model, target)
    assert os.listdir(tmp_path) == []


def test_W19_full_disk_during_a_download(monkeypatch, tmp_path):
    """The write fails half-way (no Content-Length to check first): the WeightsError names the disk and
    is not replaced by a second OSError when the file is closed."""
    import io
    import urllib.request

    from kerasnets.core import weights

    class Response(io.BytesIO):
        headers = {}

    class FullFile(io.RawIOBase):
        def __init__(self, path, mode, buffering=-1):
            self.file = open(path, mode, buffering=buffering)  # noqa: SIM115

        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.file.close()
            super().close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(b"x" * 5000))
    monkeypatch.setattr(weights, "open", FullFile, raising=False)
    with pytest.raises(WeightsError, match=r"Cannot write y\.h5 into the weights cache .*no space left on the disk"):
        weights.get_file(weights.WeightsFile("f", "y.h5"), progress=False)
    assert os.listdir(weights.cache_dir()) == []


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/mount"), reason="mounts a small tmpfs (root)")
def test_W18_full_disk_app_exits_cleanly(tmp_path):
    """The real thing: KERAS_HOME on a 2 MB disk; the app says so, exit 1 (it segfaulted with 139)."""
    home = tmp_path / "small"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(home)], check=True)
    try:
        result = subprocess.run([sys.executable, os.path.join(ROOT, "apps", "test_imagenet.py"), "--image",
                                 os.path.join(ROOT, "images", "chelsea_cat.jpg"), "--model", "efficientnet_lite0"],
                                env={**os.environ, "KERAS_HOME": str(home), "PYTHONPATH": ROOT}, capture_output=True,
                                text=True, timeout=600, check=False)
        assert result.returncode == 1 and "are free on its disk" in result.stderr, result.stderr[-2000:]
        assert os.listdir(home / "models") == []
    finally:
        subprocess.run(["umount", str(home)], check=False)


# -- group 7, 8: .pth files --------------------------------------------------------------------------


def _long(value):
    return b"\x8a\x08" + int(value).to_bytes(8, "little", signed=True)  # LONG1: any int64


def forged_pickle_long(name, numel, legacy):
    from tests.test_torch_format import _ints, _unicode

    pid = b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n" + _unicode("0") + _unicode("cpu") + _long(numel)
    pid += (b"N" if legacy else b"") + b"t"
    body = _unicode(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"Q" + b"J\0\0\0\0"
    return b"\x80\x02}(" + body + _ints((4,)) + _ints((1,)) + b"\x89}t" + b"R" + b"u."


def test_W11_legacy_pth_declaring_a_huge_storage(tmp_path):
    from kerasnets.core.torch_format import load_state_dict
    from tests.test_torch_format import write_legacy

    path = write_legacy(tmp_path / "bomb.pth", forged_pickle_long("w", 1 << 38, legacy=True), {"0": b"\0" * 16},
                        counts={"0": 1 << 38})
    assert path.stat().st_size < 2048
    with pytest.raises(WeightsError, match=r"bomb\.pth: its storages declare 1,099,511,627,776 bytes, more than the "
                                           r"file holds"):
        load_state_dict(path)


def test_W12_zip_pth_inflating_far_beyond_its_size(tmp_path):
    import tracemalloc

    from kerasnets.core.torch_format import load_state_dict
    from tests.test_torch_format import forged_pickle

    numel = 16 << 20  # 64 MiB of zeros, deflated to ~64 KB
    path = tmp_path / "inflate.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("w/data.pkl", forged_pickle({"w": ("FloatStorage", "0", numel, 0, (numel,), (1,))}))
        z.writestr("w/data/0", bytes(numel * 4))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError, match=r"inflate\.pt: .*nothing was allocated"):
            load_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_W12_real_uncompressed_files_still_read(tmp_path):
    from kerasnets.core.torch_format import load_state_dict
    from tests.test_torch_format import forged_pickle, write_legacy, write_zip

    data = np.arange(12, dtype="<f4").tobytes()
    entries = {"w": ("FloatStorage", "0", 12, 0, (12,), (1,))}
    for path in (write_zip(tmp_path / "ok.pt", forged_pickle(entries), {"0": data}),
                 write_legacy(tmp_path / "ok.pth", forged_pickle(entries, legacy=True), {"0": data})):
        np.testing.assert_array_equal(load_state_dict(path)["w"], np.arange(12, dtype=np.float32))


def test_W10d_pth_for_a_network_without_torchvision_mapping(tmp_path):
    import kerasnets

    path = tmp_path / "mobilenet.pth"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(WeightsError, match=r"mobilenet\.pth is a PyTorch state dict, and .* has no PyTorch "
                                           r"\(torchvision\) weight mapping: this network takes Keras weights files"):
        kerasnets.MobileNet(weights=str(path), alpha=0.25, input_shape=(96, 96, 3), include_top=False)


# -- group 9: an output folder where nothing can be written -------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_A29_output_under_proc():
    from kerasnets.utils import check_output

    with pytest.raises(OutputError, match=r"/proc/out\.png: no file can be written in the folder /proc"):
        check_output("/proc/out.png", suffixes=(".png",))


# -- group 10: the Python API -----------------------------------------------------------------------


def test_P06b_strings_to_decode_predictions():
    import kerasnets

    with pytest.raises(ValueError, match="expects numeric scores .* received an array of strings") as e:
        kerasnets.decode_predictions(np.array([["cat"] * 1000]))
    assert "non-finite" not in str(e.value)


def test_P27d_negative_float_pixels_are_refused():
    from kerasnets.classic.fisher import to_gray8

    with pytest.raises(ValueError, match=r"float pixels must be in \[0, 1\] or \[0, 255\]; received values from -1"):
        to_gray8(np.linspace(-1, 1, 64 * 64 * 3, dtype=np.float32).reshape(64, 64, 3))
    assert to_gray8(np.full((8, 8), 0.5, np.float32)).max() == 128  # in range: unchanged behaviour


def test_P26_all_black_images_fit_with_one_clear_error():
    from kerasnets.classic import FisherVector

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="identical descriptors .*all-black or flat images"):
            FisherVector(n_components=2, pca_components=4).fit([np.zeros((48, 48, 3), np.uint8)] * 3)
    assert [str(w.message) for w in caught] == []


# -- group 11: a data folder with train/ only --------------------------------------------------------


def test_D18_train_folder_without_validation(tmp_path):
    from kerasnets.images import save_image
    from kerasnets.train.datasets import split_image_folder

    for label in ("cats", "dogs"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(5):
            save_image(tmp_path / "train" / label / f"{i}.png", np.full((8, 8, 3), 40 * i, np.uint8))
    train, validation = split_image_folder(tmp_path, 0.2)
    assert train.class_names == validation.class_names == ["cats", "dogs"]
    assert len(train) == 8 and len(validation) == 2
    (tmp_path / "birds").mkdir()
    with pytest.raises(DataError, match=r"has a train/ folder next to birds/ but no validation/ one"):
        split_image_folder(tmp_path, 0.2)


# -- group 12: cosmetic but misleading --------------------------------------------------------------


def test_C16_grid_with_an_unknown_family_names_the_family(tmp_path):
    from export import grid
    from export.errors import ExportError

    with pytest.raises(ExportError, match="no grid is defined for 'bogus'"):
        grid.main(["--family", "bogus", "--output-dir", str(tmp_path / "g")])


def test_X01_int8_without_representative_is_refused_first(tmp_path, capsys):
    from export import cli

    assert cli.main(["mobilenet", "--quantize", "int8", "--output", str(tmp_path / "m.tflite")]) == 1
    captured = capsys.readouterr()
    assert "calibrating on None" not in captured.out and captured.out == ""
    assert "--quantize int8 calibrates on typical images: give a folder of them with --representative DIR" in \
        captured.err


def test_X01_few_calibration_images_warn():
    from export.tflite import CalibrationWarning, representative_images

    with pytest.warns(CalibrationWarning, match=r"int8 calibration on only 4 images .* use at least 32"):
        assert len(representative_images([np.zeros((4, 8, 8, 3), np.float32)], (8, 8))) == 4


def test_X01_empty_detector_comparison_says_nothing_to_compare():
    from export.detection import DetectorVerification

    text = str(DetectorVerification(path="d.tflite", size_bytes=10**6, input_dtype="uint8", output_names=["a"],
                                    ops=[], matched=0, keras_detections=0, mean_iou=float("nan"),
                                    min_iou=float("nan"), same_class=1.0, max_score_diff=0.0, latency_ms=3.0,
                                    samples=8, lite_detections=0))
    assert "nothing to compare" in text and "nan" not in text and "0/0" not in text


def test_F25_F34_failed_train_detector_runs_leave_no_folder(tmp_path, capsys):
    from kerasnets.cli import train_detector

    out = tmp_path / "new" / "run"
    assert train_detector.main(["--data", f"coco:{tmp_path / 'missing.json'}", "--output", str(out)]) == 1
    assert "no such COCO annotation file" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def _dead_pid():
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_K08_leftovers_of_a_killed_run_are_removed(tmp_path, monkeypatch):
    import tempfile

    from kerasnets.utils import atomic_output, temporary_folder

    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".w.npz.{dead}.abc123.part.npz"
    busy = tmp_path / f".w.npz.{alive}.def456.part.npz"
    stale.write_bytes(b"half"), busy.write_bytes(b"in progress")
    with atomic_output(tmp_path / "w.npz") as tmp:
        tmp.write_bytes(b"done")
    assert sorted(os.listdir(tmp_path)) == sorted([busy.name, "w.npz"])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / f"kerasnets-export-{dead}-xyz").mkdir()
    with temporary_folder("kerasnets-export-") as folder:
        assert os.path.isdir(folder)
    assert not any(name.startswith("kerasnets-export-") for name in os.listdir(tmp_path))


NOISY = r"""
import os, sys, time
from kerasnets.utils import filtered_stderr
with filtered_stderr():
    for line in (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1764600000.123456    8254 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
        "E0000 00:00:1764600000.123456    8254 cuda_executor.cc:1309] failed call to cuInit: UNKNOWN ERROR (303)",
        "E0000 00:00:1764600000.1    8254 mkl_util.cc:143] oneDNN supports DT_INT64 only on platforms with AVX-512.",
        "fully_quantize: 0, inference_type: 6, input_inference_type: UINT8, output_inference_type: UINT8",
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        "E0000 00:00:1764600000.2    8254 real.cc:1] a real error that must show",
        "Traceback (most recent call last): also shown",
    ):
        os.write(2, (line + "\n").encode())
    print("python warning line", file=sys.stderr, flush=True)
    os.write(2, b"unfinished")
"""


def test_C22_X02_native_log_noise_is_filtered_and_real_errors_pass():
    result = subprocess.run([sys.executable, "-c", NOISY], env={**os.environ, "PYTHONPATH": ROOT},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "E0000 00:00:1764600000.2    8254 real.cc:1] a real error that must show",
        "Traceback (most recent call last): also shown", "python warning line", "unfinished"]


@pytest.mark.slow
def test_C22_X02_export_prints_only_its_own_lines(tmp_path):
    result = subprocess.run([sys.executable, "-m", "export", "mobilenet", "--weights", "none", "--alpha", "0.25",
                             "--size", "128", "--output", str(tmp_path / "m.tflite")],
                            env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.strip() == "", result.stderr[-2000:]


# -- the hierarchy ----------------------------------------------------------------------------------


def test_one_exception_hierarchy_with_the_old_paths_as_aliases():
    import export.errors
    import kerasnets
    import kerasnets.detection.boxes
    import kerasnets.detection.data
    import kerasnets.images
    import kerasnets.train.datasets
    import kerasnets.utils
    from kerasnets.core import weights

    assert kerasnets.train.datasets.DataError is kerasnets.detection.data.DataError is DataError
    assert kerasnets.detection.boxes.BoxError is BoxError and issubclass(BoxError, DataError)
    for cls, builtin in ((weights.WeightsError, RuntimeError), (kerasnets.images.ImageError, ValueError),
                         (kerasnets.utils.OutputError, ValueError), (export.errors.ExportError, ValueError),
                         (DataError, ValueError), (InputError, ValueError)):
        assert issubclass(cls, KerasnetsError) and issubclass(cls, builtin), cls
    assert kerasnets.KerasnetsError is KerasnetsError and kerasnets.WeightsError is WeightsError


def test_run_app_statuses_and_one_line(capsys):
    from kerasnets.errors import UsageError, run_app

    def fails(error):
        def main(argv):
            raise error
        return main

    assert run_app(fails(DataError("data.json: broken"))) == 1
    assert run_app(fails(UsageError("--a and --b together"))) == 2
    assert run_app(fails(OSError(errno.ENOSPC, "No space left on device", "/x/y.png"))) == 1
    assert run_app(fails(WeightsError("..., or pass weights='/path/to/a.h5'. Works offline: EfficientNet-Lite0/1/2 "
                                      "(x) or weights=None (an untrained network).")), None) == 1
    assert run_app(lambda argv: 0) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "error: data.json: broken" and lines[1] == "error: --a and --b together"
    assert lines[2].startswith("error: /x/y.png: No space left on device. Free some space")
    assert "pass --weights /path/to/a.h5" in lines[3] and "--weights none (an untrained network)" in lines[3]
    assert len(lines) == 4
    with pytest.raises(KeyError):  # a bug keeps its traceback
        run_app(fails(KeyError("bug")))


def test_one_spelling_per_argument_old_ones_warn():
    import inspect

    import kerasnets
    from kerasnets.train import build_classifier, fine_tune
    from kerasnets.train.scenarios import apply_scenario

    for function in (build_classifier, fine_tune, apply_scenario):
        assert "freeze_batchnorm" in inspect.signature(function).parameters, function
    assert "scale" in inspect.signature(kerasnets.EfficientNetLite).parameters
    with pytest.warns(DeprecationWarning, match=r"EfficientNetLite\(variant=\.\.\.\) is deprecated; .* scale="):
        model = kerasnets.EfficientNetLite(variant=1, weights=None, input_shape=(64, 64, 3), include_top=False)
    assert model.name == "efficientnet_lite1"
    with pytest.raises(TypeError, match="got both scale= and its old spelling variant="):
        kerasnets.EfficientNetLite(1, variant=1, weights=None)


def test_profiler_reads_no_private_keras_attributes():
    import inspect

    import keras

    from kerasnets.core import profiler

    assert "_inbound_nodes" not in inspect.getsource(profiler)
    inputs = keras.Input((4, 4, 3))
    shared = keras.layers.Conv2D(5, 3, padding="same", name="shared")
    model = keras.Model(inputs, keras.layers.Add()([shared(inputs), shared(inputs)]))
    row = next(r for r in profiler.profile(model).layers if r.name == "shared")
    assert row.macs == 2 * 4 * 4 * 5 * 3 * 3 * 3 and row.output_shape == (None, 4, 4, 5)  # two calls


def test_P12g_P12h_detection_inputs_are_checked_by_one_function():
    """The check Detector.detect calls (wired in with the detection refactoring, issue 26)."""
    from kerasnets.errors import ImageError
    from kerasnets.images import check_rgb_images

    image = np.zeros((8, 8, 3), np.float32)
    assert len(check_rgb_images([image, image.astype(np.uint8)])) == 2
    with pytest.raises(ImageError, match=r"detect: image 1 has NaN or infinite pixels"):
        check_rgb_images([image, np.full((8, 8, 3), np.nan, np.float32)])
    with pytest.raises(ImageError, match=r"image 0 has shape \(8, 8\); RGB images \(H, W, 3\) are needed \(a gray"):
        check_rgb_images([np.zeros((8, 8), np.uint8)])
