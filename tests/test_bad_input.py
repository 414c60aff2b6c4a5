"""The bad-input sweep, one test per case: the message, the exit status, and that nothing was written,
deleted or overwritten. Apps run as users run them (a subprocess) where the case fails before
TensorFlow starts; cases that need a network run in this process, with small models."""

import hashlib
import os
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib

import cv2
import numpy as np
import pytest

from tests.conftest import IMAGES, ROOT

CAT = os.path.join(IMAGES, "chelsea_cat.jpg")
APPS = os.path.join(ROOT, "apps")
MOBILENET = ["mobilenet", "--alpha", "0.25", "--size", "128", "--weights", "none"]


def run(*command, cwd, env=None, timeout=300):
    """`python <command>` in `cwd`, as a user starts it."""
    return subprocess.run([sys.executable, *map(str, command)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


def snapshot(folder):
    """Every file under `folder` (hidden ones included) with a hash of its bytes."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return files


def one_error(result, *fragments, status=1):
    """The run failed with `status` and exactly one line on stderr, `error: ...` holding `fragments`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def png_claiming(width, height):
    """A few hundred bytes of PNG whose header claims `width` x `height` pixels (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


# -- 1. --saved-model never deletes what is there -----------------------------------------------------------------

def test_saved_model_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "thesis.txt").write_text("x")
    before = snapshot(tmp_path)
    result = run("-m", "export", *MOBILENET, "--output", "a.tflite", "--saved-model", "d", cwd=tmp_path)
    one_error(result, "d: the folder holds other files (thesis.txt)", "not a SavedModel", "nothing was deleted")
    assert snapshot(tmp_path) == before


def test_saved_model_refuses_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("my notes")
    before = snapshot(tmp_path)
    result = run("-m", "export", *MOBILENET, "--output", "a.tflite", "--saved-model", "notes.txt", cwd=tmp_path)
    one_error(result, "notes.txt: a file is in the way of the SavedModel folder", "left as it is")
    assert snapshot(tmp_path) == before


def test_saved_model_replaces_only_a_saved_model(tmp_path):
    from export.errors import ExportError
    from export.saved_model import atomic_directory

    def write(folder):
        (folder / "saved_model.pb").write_bytes(b"new")

    old = tmp_path / "old"
    old.mkdir()
    (old / "saved_model.pb").write_bytes(b"old")
    (old / "variables").mkdir()
    atomic_directory(old, write)  # an earlier SavedModel is replaced
    assert snapshot(old) == {"saved_model.pb": hashlib.sha256(b"new").hexdigest()}
    empty = tmp_path / "empty"
    empty.mkdir()
    atomic_directory(empty, write)  # so is an empty folder
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.csv").write_text("1,2")
    before = snapshot(tmp_path)
    with pytest.raises(ExportError, match="holds other files"):
        atomic_directory(tmp_path / "mine", write)  # the Python API refuses too
    assert snapshot(tmp_path) == before


# -- 2. export never overwrites its source; --output ends in .tflite ------------------------------------------------

def fake_keras_file(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    return path


def test_export_refuses_to_overwrite_its_source(tmp_path):
    fake_keras_file(tmp_path / "src.keras")
    before = snapshot(tmp_path)
    result = run("-m", "export", "src.keras", "--output", "src.keras", cwd=tmp_path)
    one_error(result, "src.keras: is an input file and would be overwritten")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("output, message", [
    ("model.keras", "must end in .tflite; received '.keras'"),
    ("a.txt", "must end in .tflite; received '.txt'"),
    ("existing_dir", "existing_dir: is a folder; the output (--output) must be a file name ending in .tflite"),
    ("nodir/a.tflite", "does not exist; create it first"),
    ("notes.txt/a.tflite", "is a file, not a folder"),
])
def test_export_output_checked_before_any_work(tmp_path, output, message):
    (tmp_path / "existing_dir").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    before = snapshot(tmp_path)
    start = time.perf_counter()
    result = run("-m", "export", *MOBILENET, "--output", output, cwd=tmp_path)
    one_error(result, message)
    assert "[1/" not in result.stdout and time.perf_counter() - start < 60  # nothing was built or converted
    assert snapshot(tmp_path) == before


def test_export_random_bytes_is_not_a_keras_file(tmp_path):
    (tmp_path / "bad.keras").write_bytes(np.random.default_rng(0).bytes(5000))
    result = run("-m", "export", "bad.keras", "--output", "b.tflite", cwd=tmp_path)
    line = one_error(result, "bad.keras: not a Keras model file")
    assert "not found" not in line.lower() and not (tmp_path / "b.tflite").exists()


def test_export_label_file_not_utf8_names_the_file(tmp_path):
    (tmp_path / "labels.txt").write_bytes(b"cat\n\xff\xfedog\n")
    result = run("-m", "export", *MOBILENET, "--output", "a.tflite", "--labels", "labels.txt", cwd=tmp_path)
    one_error(result, "labels.txt: the label file is not UTF-8 text", "save it as UTF-8")
    assert not (tmp_path / "a.tflite").exists()


def test_export_prints_no_tensorflow_log_lines(tmp_path):
    """Keras, TensorFlow and the devices start quietly: the run's own lines only (LeNet-5 fails after building)."""
    result = run("-m", "export", "lenet5", "--weights", "none", "--output", "l.tflite", cwd=tmp_path)
    assert result.stdout.startswith("[1/4] building lenet5"), result.stdout + result.stderr
    one_error(result, "takes inputs of shape (None, 32, 32, 1)")
    result = run("-c", "import export, sys; assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr


# -- 3. test_imagenet never overwrites an input; one unique output per input -----------------------------------------

def test_classify_refuses_to_overwrite_the_input(tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(open(CAT, "rb").read())
    before = snapshot(tmp_path)
    result = run(os.path.join(APPS, "test_imagenet.py"), "--model", "mobilenet", "--weights", "none",
                 "--image", "p.jpg", "--output", "p.jpg", cwd=tmp_path)
    one_error(result, "p.jpg: is an input file and would be overwritten")
    assert snapshot(tmp_path) == before


def test_labelled_names_are_unique():
    from kerasnets.cli.classify import labelled_names

    assert labelled_names(["a/x.jpg", "b/x.jpg", "cat.webp", "cat.tiff", "cat.bmp", "dog.png"]) == [
        "x_jpg_labelled.png", "x_jpg_labelled_2.png", "cat_webp_labelled.png", "cat_tiff_labelled.png",
        "cat_bmp_labelled.png", "dog_labelled.png"]


def test_classify_several_inputs_into_a_new_folder(tmp_path, capsys):
    """`--output newdir/` (missing, trailing slash) is a folder; inputs sharing a name all come out."""
    from kerasnets.cli import classify

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    bgr = cv2.resize(cv2.imread(CAT), (96, 64))
    inputs = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "cat.webp", tmp_path / "cat.bmp"]
    for path in inputs:
        assert cv2.imwrite(str(path), bgr)
    before = snapshot(tmp_path)
    status = classify.main(["--model", "mobilenet", "--weights", "none", "--top", "1", "--image", *map(str, inputs),
                            "--output", str(tmp_path / "newdir") + os.sep])
    assert status == 0, capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "newdir")) == [
        "cat_bmp_labelled.png", "cat_webp_labelled.png", "x_jpg_labelled.png", "x_jpg_labelled_2.png"]
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("newdir")} == before


def test_classify_single_image_into_a_new_folder(tmp_path, capsys):
    from kerasnets.cli import classify

    photo = tmp_path / "p.png"
    assert cv2.imwrite(str(photo), cv2.resize(cv2.imread(CAT), (64, 48)))
    status = classify.main(["--model", "mobilenet", "--weights", "none", "--image", str(photo),
                            "--output", str(tmp_path / "newdir") + "/"])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "newdir").is_dir() and os.listdir(tmp_path / "newdir") == ["p_labelled.png"]


# -- 5. every output path is checked before any work --------------------------------------------------------------

@pytest.mark.parametrize("app, args, message", [
    ("test_imagenet.py", ["--model", "mobilenet", "--weights", "none", "--image", CAT, "--output", "out.txt"],
     "out.txt: the output image must end in .png or .jpg"),
    ("test_imagenet.py", ["--model", "mobilenet", "--weights", "none", "--image", CAT, "--output", "notes.txt/c.png"],
     "is a file, not a folder"),
    ("test_imagenet.py", ["--model", "mobilenet", "--weights", "none", "--image", CAT, CAT, "--output", "notes.txt"],
     "the output folder for several images is an existing file"),
    ("style_transfer.py", ["--content", CAT, "--style", CAT, "--weights", "none", "--output", "e.txt"],
     "e.txt: the output image must end in .png or .jpg"),
    ("style_transfer.py", ["--content", "p.png", "--style", CAT, "--weights", "none", "--output", "p.png"],
     "p.png: is an input file and would be overwritten"),
    ("style_transfer.py", ["--content", CAT, "--style", CAT, "--weights", "none", "--output", "nodir/s.png"],
     "does not exist; create it first"),
    ("train_style.py", ["--content-dir", IMAGES, "--style", CAT, "--weights", "none", "--output", "nodir/ts.keras"],
     "nodir/ts.keras: the folder"),
    ("train_style.py", ["--content-dir", IMAGES, "--style", CAT, "--weights", "none", "--output", "ts.txt"],
     "must end in .keras"),
    ("train_style.py", ["--content-dir", IMAGES, "--style", CAT, "--weights", "none", "--output", "ts.keras",
                        "--tflite", "existing_dir"], "existing_dir: is a folder"),
    ("fine_tune.py", ["--data", IMAGES, "--output", "notes.txt/run/model.keras"], "is a file, not a folder"),
    ("model_zoo.py", ["--chart", "zoo.txt"], "zoo.txt: the chart (--chart) must end in .png"),
    ("visualize.py", ["--image", CAT, "--output", "out.txt"], "out.txt: the output image (--output) must end in .png"),
    ("visualize.py", ["--image", "p.png", "--output", "p.png"], "p.png: is an input file and would be overwritten"),
    ("visualize.py", ["--method", "receptive", "--output", "t.png"], "t.png: the table (--output) must end in .md"),
    ("visualize.py", ["--image", CAT, "--class", "tabbby", "--output", "c.png"],
     "'tabbby' is not an ImageNet class; close matches: tabby"),
])
def test_outputs_are_checked_before_any_work(tmp_path, app, args, message):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "existing_dir").mkdir()
    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((8, 8, 3), np.uint8))
    before = snapshot(tmp_path)
    start = time.perf_counter()
    result = run(os.path.join(APPS, app), *args, cwd=tmp_path)
    one_error(result, message)
    assert time.perf_counter() - start < 60 and "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["existing_dir", "notes.txt", "p.png"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run(os.path.join(APPS, "test_imagenet.py"), "--image", CAT, "--output", folder / "c.png",
                     cwd=tmp_path)
        one_error(result, "is not writable")
    finally:
        folder.chmod(0o755)


# -- 7. decompression bombs are refused from the header ----------------------------------------------------------

def test_image_bomb_is_refused_from_its_header(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_claiming(20000, 20000))
    start = time.perf_counter()
    result = run(os.path.join(APPS, "test_imagenet.py"), "--model", "mobilenet", "--weights", "none",
                 "--image", "bomb.png", cwd=tmp_path)
    one_error(result, "bomb.png: the image is 20000x20000 pixels (400 megapixels)", "limit is 150 megapixels",
              "KERASNETS_MAX_IMAGE_PIXELS")
    assert time.perf_counter() - start < 30  # nothing was decoded (decoding took 36 s and 2.4 GB)
    result = run(os.path.join(APPS, "style_transfer.py"), "--content", "bomb.png", "--style", CAT,
                 "--weights", "none", "--output", "s.png", cwd=tmp_path)
    one_error(result, "400 megapixels")
    assert sorted(os.listdir(tmp_path)) == ["bomb.png"]


def test_pixel_limit_can_be_raised(tmp_path, monkeypatch):
    from kerasnets.images import ImageError, load_image

    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(20000, 20000))
    monkeypatch.setenv("KERASNETS_MAX_IMAGE_PIXELS", "400000000")
    with pytest.raises(ImageError, match="not a readable image"):  # past the limit check, to the (failing) decoder
        load_image(path)
    monkeypatch.setenv("KERASNETS_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ImageError, match="KERASNETS_MAX_IMAGE_PIXELS='lots' is not a positive number"):
        load_image(path)


# -- 8. misleading or silent ---------------------------------------------------------------------------------------

def test_lenet5_on_a_photo_says_what_it_reads(capsys):
    from kerasnets.cli import classify

    status = classify.main(["--model", "lenet5", "--image", CAT])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "\x1b[" not in err
    assert "lenet5 reads 32x32 grayscale images" in err and "--model mobilenet" in err


@pytest.mark.parametrize("args, message", [
    (["--iterations", "0"], "argument --iterations: must be at least 1, received 0"),
    (["--iterations", "-5"], "argument --iterations: must be at least 1, received -5"),
])
def test_style_transfer_needs_iterations(tmp_path, args, message):
    result = run(os.path.join(APPS, "style_transfer.py"), "--content", CAT, "--style", CAT, "--output", "s.png",
                 *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and os.listdir(tmp_path) == []


def test_train_style_needs_epochs(tmp_path):
    result = run(os.path.join(APPS, "train_style.py"), "--content-dir", IMAGES, "--style", CAT, "--output", "t.keras",
                 "--epochs", "0", cwd=tmp_path)
    assert result.returncode == 2 and "--epochs and --batch-size must be at least 1" in result.stderr
    assert os.listdir(tmp_path) == []


def image_folder(root, per_class):
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(root / name / f"{i}.png"), np.full((8, 8, 3), 40 * i, np.uint8))
    return root


@pytest.mark.parametrize("per_class, split, message", [
    (1, "0.2", "no class has two images (largest: 1)"),
    (3, "0", "--validation-split 0 holds out no images"),
])
def test_fine_tune_empty_validation_says_why(tmp_path, per_class, split, message):
    data = image_folder(tmp_path / "data", per_class)
    result = run(os.path.join(APPS, "fine_tune.py"), "--data", data, "--validation-split", split, "--weights", "none",
                 "--scenario", "full", "--output", tmp_path / "runs" / "x" / "model.keras", cwd=tmp_path)
    line = one_error(result, message)
    assert "lower the validation split" not in line
    assert not (tmp_path / "runs").exists()  # a failed run leaves no empty output folder


def test_mobilenet_alpha_too_small_names_alpha():
    import kerasnets

    with pytest.raises(ValueError, match=r"alpha=0.01 leaves the first convolution with int\(32 \* alpha\) = 0"):
        kerasnets.MobileNet(alpha=0.01, weights=None)


def test_decode_predictions_rejects_non_finite():
    import kerasnets

    preds = np.full((2, 1000), 1e-3, "float32")
    preds[1, 7] = np.nan
    with pytest.raises(ValueError, match=r"non-finite scores \(NaN or infinity\) in 1 of 2 samples"):
        kerasnets.decode_predictions(preds)
    preds[1, 7] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        kerasnets.decode_predictions(preds)


# -- 9. cosmetic: another network's weights in one line; EXIF orientation -------------------------------------------

def test_another_networks_weights_is_one_line_naming_both(tmp_path):
    import kerasnets
    from kerasnets.core.weights import WeightsError

    path = tmp_path / "lenet.weights.h5"
    kerasnets.LeNet5(weights=None).save_weights(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WeightsError) as info:
            kerasnets.MobileNet(alpha=0.25, input_shape=(128, 128, 3), weights=str(path))
    message = str(info.value)
    assert "\n" not in message and len(message) < 400 and not caught
    assert "(the size of lenet5)" in message and "mobilenet_0.25_128" in message


def exif_block(order, orientation):
    """A TIFF structure (the body of EXIF data) with one tag, Orientation, in byte order `order`."""
    mark = b"II*\x00" if order == "<" else b"MM\x00*"
    entry = struct.pack(order + "HHI", 0x0112, 3, 1) + struct.pack(order + "H", orientation) + b"\0\0"
    return mark + struct.pack(order + "IH", 8, 1) + entry + struct.pack(order + "I", 0)


def exif_orientation_png(image_bgr, orientation):
    """PNG bytes carrying an eXIf chunk with the given orientation (a TIFF structure with one tag)."""
    tiff = exif_block("<", orientation)
    png = cv2.imencode(".png", image_bgr)[1].tobytes()
    at = png.index(b"IDAT") - 4
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    return png[:at] + chunk + png[at:]


def exif_orientation_jpeg(image_bgr, orientation):
    tiff = exif_block(">", orientation)
    payload = b"Exif\x00\x00" + tiff
    jpeg = cv2.imencode(".jpg", image_bgr)[1].tobytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    """OpenCV's own color decoder applies EXIF orientation: the oracle for every value of the tag."""
    from kerasnets.images import load_image

    image = np.random.default_rng(orientation).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    for name, data in (("o.png", exif_orientation_png(image, orientation)),
                       ("o.jpg", exif_orientation_jpeg(image, orientation))):
        path = tmp_path / name
        path.write_bytes(data)
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        assert expected.shape[:2] == ((6, 10) if orientation <= 4 else (10, 6))
        np.testing.assert_array_equal(load_image(path), expected)


# -- 10. saved models load the way a Keras user loads them -----------------------------------------------------------

@pytest.fixture(scope="module")
def fine_tuned_file(tmp_path_factory):
    import kerasnets
    from kerasnets.train import build_classifier, compile_classifier

    base = kerasnets.MobileNet(alpha=0.25, input_shape=(32, 32, 3), weights=None, include_top=False)
    model = build_classifier(base, 3, preprocessing="tf")  # what apps/fine_tune.py builds, compiles and saves
    compile_classifier(model, label_smoothing=0.1)
    path = tmp_path_factory.mktemp("ft") / "model.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("code", [
    "import kerasnets, keras; m = keras.models.load_model(PATH)",
    "import keras, kerasnets; m = keras.models.load_model(PATH); m2 = kerasnets.load_model(PATH)",
])
def test_fine_tuned_model_loads_in_a_fresh_process(fine_tuned_file, code):
    check = ("; assert type(m.layers[1]).__name__ == 'ImagePreprocessing', m.layers[1]; import kerasnets; "
             "assert kerasnets.losses.gram_matrix(__import__('numpy').ones((1, 2, 2, 3))).shape == (1, 3, 3)")
    result = run("-c", code.replace("PATH", repr(str(fine_tuned_file))) + check, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


def test_load_model_errors_name_the_file(tmp_path):
    import kerasnets

    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.keras: not a Keras model file"):
        kerasnets.load_model(tmp_path / "bad.keras")
    with pytest.raises(ValueError, match="missing.keras: no such model file"):
        kerasnets.load_model(tmp_path / "missing.keras")
