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
