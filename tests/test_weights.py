"""The real download path, exercised against an HTTP server on 127.0.0.1."""

import hashlib
import http.server
import threading
import warnings
from functools import partial

import numpy as np
import pytest

import kerasnets
from kerasnets.core import weights
from kerasnets.core.weights import WeightsError, WeightsFile
from kerasnets.models import resnet
from tests.conftest import max_abs_diff, random_images, save_legacy_h5


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve `tmp_path/www` on a free loopback port; KERASNETS_WEIGHTS_URL points at it."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv(weights.BASE_URL_ENV, url)

    class Server:
        folder = root
        base_url = url

        def publish(self, folder, name, data):
            (root / folder).mkdir(exist_ok=True)
            (root / folder / name).write_bytes(data)
            return WeightsFile(folder, name, hashlib.sha256(data).hexdigest())

        def stop(self):
            httpd.shutdown()
            httpd.server_close()

    yield Server()
    httpd.shutdown()
    httpd.server_close()


def cache_files():
    folder = weights.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_caches_and_verifies(server):
    data = np.random.default_rng(0).bytes(3 << 20)
    spec = server.publish("demo", "demo.h5", data)
    path = weights.get_file(spec, progress=False)
    assert path == weights.cache_dir() / "demo.h5" and path.read_bytes() == data
    server.stop()
    # The verified cached file is reused: no network needed any more.
    assert weights.get_file(spec, progress=False).read_bytes() == data
    assert cache_files() == ["demo.h5"]


def test_md5_hashes_as_published_by_keras(server):
    data = b"weights" * 1000
    published = server.publish("demo", "md5.h5", data)
    spec = WeightsFile("demo", "md5.h5", hashlib.md5(data).hexdigest())
    assert spec.algorithm == "md5" and published.algorithm == "sha256"
    assert weights.get_file(spec, progress=False).read_bytes() == data


def test_wrong_hash_leaves_nothing_behind(server):
    spec = server.publish("demo", "demo.h5", b"not the official file")
    tampered = WeightsFile(spec.folder, spec.name, "0" * 64)
    with pytest.raises(WeightsError, match="failed verification.*Nothing was saved"):
        weights.get_file(tampered, progress=False)
    assert cache_files() == []  # neither the final name nor a partial download


def test_http_404_is_a_clear_error(server):
    with pytest.raises(WeightsError, match=r"answered 404 .*missing\.h5") as info:
        weights.get_file(WeightsFile("demo", "missing.h5", "0" * 64), progress=False)
    assert str(weights.cache_dir() / "missing.h5") in str(info.value)
    assert cache_files() == []


def test_offline_error_names_file_url_and_destination(server):
    spec = server.publish("demo", "demo.h5", b"abc")
    server.stop()
    with pytest.raises(WeightsError) as info:
        weights.get_file(spec, progress=False)
    message = str(info.value)
    assert "demo.h5" in message and f"{server.base_url}/demo/demo.h5" in message
    assert str(weights.cache_dir() / "demo.h5") in message and "weights='/path/to/demo.h5'" in message
    assert cache_files() == []


def test_tampered_cache_is_downloaded_again(server):
    data = b"official bytes" * 100
    spec = server.publish("demo", "demo.h5", data)
    weights.cache_dir().mkdir(parents=True)
    (weights.cache_dir() / "demo.h5").write_bytes(data[:-10])  # a truncated earlier download
    with pytest.warns(UserWarning, match="failed verification"):
        path = weights.get_file(spec, progress=False)
    assert path.read_bytes() == data


def test_tampered_cache_is_never_loaded_offline(server):
    spec = server.publish("demo", "demo.h5", b"official bytes")
    weights.cache_dir().mkdir(parents=True)
    (weights.cache_dir() / "demo.h5").write_bytes(b"tampered bytes")
    server.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(WeightsError, match="Could not download"):
            weights.get_file(spec, progress=False)


def test_imagenet_weights_end_to_end(server, tmp_path, monkeypatch):
    """ResNet50(weights='imagenet', include_top=False) downloads, verifies and loads a legacy .h5."""
    import keras

    reference = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg")
    data = save_legacy_h5(reference, tmp_path / "ref.h5").read_bytes()
    name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    published = server.publish("resnet", name, data)
    spec = weights.WeightsSpec(top=None, notop=published)
    monkeypatch.setitem(resnet.WEIGHTS, "resnet50", spec)
    model = kerasnets.ResNet50(weights="imagenet", include_top=False, pooling="avg")
    x = resnet.preprocess_input(random_images(n=1, size=64))
    assert max_abs_diff(model.predict(x, verbose=0), reference.predict(x, verbose=0)) <= 1e-5
    assert cache_files() == [name]


# -- files published without a hash (MobileNet v1 and v2): structure-verified ------------------------------------

MOBILENET_NOTOP = "mobilenet_2_5_128_tf_no_top.h5"


def trained_legacy_h5(model, path, seed=0):
    """`model`'s weights in the official legacy layout, with BatchNormalization statistics as training
    leaves them (an untouched network has means 0 and variances 1)."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape).astype("float32"))
    return save_legacy_h5(model, path).read_bytes()


@pytest.fixture(scope="module")
def mobilenet_files(tmp_path_factory):
    """keras.applications' own MobileNet (alpha 0.25, 128 px, no top) as the official file, the same network
    untrained, and another network's file (MobileNetV2)."""
    import keras

    folder = tmp_path_factory.mktemp("mobilenet_files")
    official = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3), include_top=False, weights=None)
    untrained = save_legacy_h5(official, folder / "untrained.h5").read_bytes()
    files = {"official": trained_legacy_h5(official, folder / "official.h5"), "untrained": untrained}
    other = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False, weights=None)
    files["other"] = trained_legacy_h5(other, folder / "other.h5")
    files["reference"] = official
    return files


def mobilenet_imagenet():
    return kerasnets.MobileNet(alpha=0.25, input_shape=(128, 128, 3), include_top=False, weights="imagenet")


def test_unhashed_official_file_is_structure_verified_and_loads(server, mobilenet_files):
    from kerasnets.models import mobilenet

    assert mobilenet.V1_WEIGHTS.at(0.25, 128).notop.hash is None  # keras.applications publishes none
    server.publish("mobilenet", MOBILENET_NOTOP, mobilenet_files["official"])
    model = mobilenet_imagenet()
    x = random_images(n=1, size=128)
    reference = mobilenet_files["reference"]
    assert max_abs_diff(model.predict(x, verbose=0), reference.predict(x, verbose=0)) <= 1e-5
    assert cache_files() == [MOBILENET_NOTOP]
    server.stop()
    mobilenet_imagenet()  # the verified cached file is used offline


@pytest.mark.parametrize("served, reason", [
    ("html", "an HTML/XML page, not an HDF5 weights file"),
    ("random", "not an HDF5 file"),
    ("other", "layers with weights where mobilenet_0.25_128 has 54: the weights of another network"),
    ("untrained", "the weights of a network that was never trained"),
])
def test_bad_mirror_answers_are_never_cached(server, mobilenet_files, served, reason):
    data = {"html": b"<!DOCTYPE html><html><body>Sign in to continue</body></html>",
            "random": np.random.default_rng(1).bytes(200_000)}.get(served) or mobilenet_files[served]
    server.publish("mobilenet", MOBILENET_NOTOP, data)
    with pytest.raises(WeightsError, match="failed verification") as info:
        mobilenet_imagenet()
    assert reason in str(info.value) and "Nothing was saved" in str(info.value), str(info.value)
    assert cache_files() == []  # neither the final name nor a partial download


class _CutShortHandler(http.server.BaseHTTPRequestHandler):
    """Answers 200 without Content-Length and closes the connection halfway through the file."""

    payload = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(self.payload[: len(self.payload) // 2])

    def log_message(self, *args):
        pass


def test_response_cut_short_without_length_is_never_cached(monkeypatch, mobilenet_files):
    handler = type("Handler", (_CutShortHandler,), {"payload": mobilenet_files["official"]})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv(weights.BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        with pytest.raises(WeightsError, match="the HDF5 file is cut short"):
            mobilenet_imagenet()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert cache_files() == []


@pytest.mark.parametrize("cached, reason", [("untrained", "never trained"), ("truncated", "cut short")])
def test_bad_cached_unhashed_file_is_downloaded_again(server, mobilenet_files, cached, reason):
    official = mobilenet_files["official"]
    server.publish("mobilenet", MOBILENET_NOTOP, official)
    weights.cache_dir().mkdir(parents=True)
    bad = mobilenet_files["untrained"] if cached == "untrained" else official[: len(official) // 3]
    (weights.cache_dir() / MOBILENET_NOTOP).write_bytes(bad)
    with pytest.warns(UserWarning, match=f"failed verification.*{reason}.*downloading it again"):
        mobilenet_imagenet()
    assert (weights.cache_dir() / MOBILENET_NOTOP).read_bytes() == official
