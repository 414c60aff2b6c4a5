"""torchvision's ImageNet weights, loaded exactly.

Default suite (no torch here): torchvision's own outputs, recorded by
tests/data/torch/torchvision_reference.py for a few small networks with weights that
`tests.torchvision_oracle.numpy_state` rebuilds from names and shapes, are reproduced through
state dicts written in both torch.save formats; the download path against a loopback server
(published name, SHA-256 prefix, cache, offline); the names and URLs of torchvision's files.

Slow (`-m slow`, with KERASNETS_TORCH_PYTHON naming a Python that has torch and torchvision):
every network with torchvision weights at 224 px against torchvision itself, random weights with
non-trivial batch-norm statistics, both torch.save formats, logits within 1e-4 relative.
"""

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from functools import partial

import numpy as np
import pytest

import kerasnets
from kerasnets.core import registry, torch_weights
from kerasnets.core.torch_weights import TorchvisionWeights
from kerasnets.core.weights import BASE_URL_ENV, WeightsError, cache_dir
from kerasnets.models import resnet
from tests.conftest import ROOT
from tests.torchvision_oracle import numpy_state, relative_difference, save_state_dict

FIXTURE = os.path.join(ROOT, "tests", "data", "torch", "torchvision_logits.npz")
REFERENCE_SCRIPT = os.path.join(ROOT, "tests", "data", "torch", "torchvision_reference.py")
TOLERANCE = 1e-4  # relative: max |ours - torchvision| / max |torchvision|

#: Every file torchvision publishes for these networks (torchvision 0.29 source, *_Weights.IMAGENET1K_V1,
#: ResNeXt-101 64x4d's only file), by registry name.
PUBLISHED = {
    "alexnet_torchvision": "alexnet-owt-7be5be79.pth",
    "vgg11": "vgg11-8a719046.pth", "vgg13": "vgg13-19584684.pth",
    "vgg16_torchvision": "vgg16-397923af.pth", "vgg19_torchvision": "vgg19-dcbb9e9d.pth",
    "vgg11_bn": "vgg11_bn-6002323d.pth", "vgg13_bn": "vgg13_bn-abd245e5.pth",
    "vgg16_bn": "vgg16_bn-6c64b313.pth", "vgg19_bn": "vgg19_bn-c79401a0.pth",
    "googlenet_torchvision": "googlenet-1378be20.pth",
    "resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth",
    "resnet50_torchvision": "resnet50-0676ba61.pth", "resnet101_torchvision": "resnet101-63fe2227.pth",
    "resnet152_torchvision": "resnet152-394f9c45.pth",
    "resnext50": "resnext50_32x4d-7cdf4587.pth", "resnext101": "resnext101_32x8d-8ba56ff5.pth",
    "resnext101_64x4d": "resnext101_64x4d-173b62eb.pth",
}
#: torchvision's parameter counts (its weights' meta["num_params"]): the trainable weights here.
TORCHVISION_PARAMS = {
    "alexnet_torchvision": 61_100_840, "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16_torchvision": 138_357_544,
    "vgg19_torchvision": 143_667_240, "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248, "googlenet_torchvision": 6_624_904, "resnet18": 11_689_512, "resnet34": 21_797_672,
    "resnet50_torchvision": 25_557_032, "resnet101_torchvision": 44_549_160, "resnet152_torchvision": 60_192_808,
    "resnext50": 25_028_904, "resnext101": 88_791_336, "resnext101_64x4d": 83_455_272,
}


def torchvision_specs():
    return [spec for spec in registry.specs() if isinstance(spec.weights, TorchvisionWeights)]


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# -- the registry -------------------------------------------------------------------------------


def test_every_published_file_is_declared_with_its_url():
    declared = {spec.name: spec.weights for spec in torchvision_specs()}
    assert {name: w.file_name for name, w in declared.items()} == PUBLISHED
    for name, weights in declared.items():
        assert weights.top.url == f"https://download.pytorch.org/models/{PUBLISHED[name]}"
        assert weights.top.algorithm == "sha256" and weights.top.hash == PUBLISHED[name][-12:-4]
        assert weights.source == f"torchvision {PUBLISHED[name]}"
        spec = kerasnets.model_info(name)
        assert spec.preprocessing == ("tf" if name == "googlenet_torchvision" else "torch"), name
        assert spec.input_size == 224 and spec.imagenet_weights


def test_weights_sources_say_where_the_weights_come_from():
    sources = {spec.name: spec.weights_source for spec in registry.specs()}
    assert sources["resnet50"] == sources["vgg16"] == "keras.applications"
    assert sources["resnet18"] == "torchvision resnet18-f37072fd.pth"
    assert sources["efficientnet_lite0"].startswith("package ")
    assert sources["alexnet"] is None and sources["googlenet"] is None and sources["resnet34"].startswith("torchvision")
    from kerasnets.cli.zoo import spec_table

    assert "| resnext50 | `ResNeXt50` | Xie et al. 2017 | 224×224 | torchvision resnext50_32x4d-7cdf4587.pth |" in (
        spec_table())


def test_base_url_can_be_a_mirror(monkeypatch):
    monkeypatch.setenv(BASE_URL_ENV, "http://mirror.example/weights/")
    assert resnet.TORCHVISION["resnet18"].top.url == "http://mirror.example/weights/models/resnet18-f37072fd.pth"


def test_a_name_without_the_hash_prefix_is_refused():
    with pytest.raises(ValueError, match="not a torchvision weights name"):
        TorchvisionWeights("resnet18", "resnet18.pth")


@pytest.mark.parametrize("builder, trainable_params", [
    (kerasnets.ResNet18, 11_689_512), (kerasnets.ResNet34, 21_797_672), (kerasnets.ResNeXt50, 25_028_904),
])
def test_parameterisation_of_the_weights_is_the_default(builder, trainable_params):
    """Papers and torchvision count 11,689,512 / 21,797,672 / 25,028,904 trainable parameters."""
    model = builder(weights=None)
    assert trainable(model) == trainable_params
    convolutions = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert not any(layer.use_bias for layer in convolutions)  # no bias under batch norm
    assert {layer.epsilon for layer in model.layers if hasattr(layer, "moving_mean")} == {1e-5}
    strided = [layer for layer in convolutions if layer.strides == (2, 2) and layer.kernel_size == (3, 3)]
    assert strided and all(layer.padding == "valid" for layer in strided)  # explicitly padded, symmetric


def test_keras_layouts_stay_keras():
    """ResNet50 stays keras.applications' (stride on the 1x1, biases); the torchvision one is v1.5."""
    keras_layout = kerasnets.ResNet50(weights=None, include_top=False)
    v15 = kerasnets.ResNet50Torchvision(weights=None, include_top=False)
    assert keras_layout.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert keras_layout.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert v15.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert v15.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert keras_layout.get_layer("conv3_block1_1_conv").use_bias and not v15.get_layer("conv3_block1_1_conv").use_bias


# -- torchvision's outputs, without torch ---------------------------------------------------------


def fixture_case(name):
    with np.load(FIXTURE) as data:
        return (json.loads(str(data[f"{name}/keys_shapes"])), int(data[f"{name}/seed"]), data[f"{name}/pixels"],
                data[f"{name}/output"])


@pytest.mark.parametrize("name, formats", [
    ("resnet18", ("zip", "legacy")), ("resnet50_torchvision", ("zip",)), ("resnext50", ("legacy",)),
    ("googlenet_torchvision", ("legacy",)), ("alexnet_torchvision", ("zip",)), ("vgg11", ("legacy",)),
    ("vgg11_bn", ("zip",)),
])
def test_outputs_equal_torchvision(name, formats, tmp_path):
    """torchvision's outputs (recorded with torch) from the same weights, written here in torch's formats.

    Small inputs: 64 px (96 for AlexNet, whose adaptive pooling then upsamples a 2x2 map to 6x6);
    VGG's convolutional features at 32 px."""
    keys_shapes, seed, pixels, expected = fixture_case(name)
    state = numpy_state(keys_shapes, seed)
    spec = kerasnets.model_info(name)
    features_only = expected.ndim == 4
    model = None
    for kind in formats:
        path = save_state_dict(state, tmp_path / f"{name}.{'pt' if kind == 'zip' else 'pth'}", legacy=kind == "legacy")
        model = spec.build(weights=str(path), include_top=not features_only, input_shape=pixels.shape[1:],
                           classifier_activation=None)
        ours = np.asarray(model(spec.preprocess(pixels.astype("float32")), training=False))
        assert ours.shape == expected.shape
        assert relative_difference(ours, expected) <= TOLERANCE, (name, kind)
    if not features_only:
        assert trainable(model) == sum(int(np.prod(s)) for k, s in keys_shapes if not k.startswith(("aux1.", "aux2."))
                                       and not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


def test_a_state_dict_of_another_network_is_one_clear_error(tmp_path):
    keys_shapes, seed, _, _ = fixture_case("resnet18")
    path = save_state_dict(numpy_state(keys_shapes, seed), tmp_path / "resnet18.pth")
    with pytest.raises(WeightsError, match=r"resnet18\.pth has no tensor 'layer1\.2\.conv1\.weight'.*ResNet"):
        kerasnets.ResNet34(weights=str(path))
    with pytest.raises(WeightsError, match=r"resnet18\.pth: fc has shapes .* needs .*another number of classes"):
        kerasnets.ResNet18(weights=str(path), classes=10)
    keys_shapes, seed, _, _ = fixture_case("resnext50")
    path = save_state_dict(numpy_state(keys_shapes, seed), tmp_path / "resnext50.pth")
    with pytest.raises(WeightsError, match=r"resnext50\.pth: layer1\.0\.conv1 has shapes"):
        kerasnets.ResNet50Torchvision(weights=str(path), include_top=False)
    (tmp_path / "broken.pth").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match=r"broken\.pth.*truncated"):
        kerasnets.ResNeXt50(weights=str(tmp_path / "broken.pth"))


def test_a_model_without_its_top_takes_the_whole_file(tmp_path):
    keys_shapes, seed, pixels, _ = fixture_case("googlenet_torchvision")
    path = save_state_dict(numpy_state(keys_shapes, seed), tmp_path / "googlenet.pth")
    model = kerasnets.GoogLeNetTorchvision(weights=str(path), include_top=False, pooling="avg",
                                           input_shape=pixels.shape[1:])
    assert model.output_shape == (None, 1024)
    with_aux = kerasnets.GoogLeNetTorchvision(weights=str(path), aux_logits=True, input_shape=(224, 224, 3))
    assert len(with_aux.outputs) == 3  # the auxiliary heads get torchvision's weights too
    np.testing.assert_array_equal(with_aux.get_layer("aux2_fc").get_weights()[1], numpy_state(
        [("aux2.fc1.bias", (1024,))], seed)["aux2.fc1.bias"])


@pytest.mark.parametrize("call, message", [
    (lambda: kerasnets.GoogLeNet(weights="imagenet"), r"GoogLeNet\(variant='torchvision'\)"),
    (lambda: kerasnets.AlexNet(weights="imagenet"), r"AlexNet\(variant='torchvision'\)"),
    (lambda: kerasnets.AlexNet(variant="torchvision", groups=2, weights=None), "one tower"),
    (lambda: kerasnets.ResNet("resnet18", variant="keras", weights="imagenet"), r"variant='torchvision'.*ResNet18"),
    (lambda: kerasnets.ResNet("resnet50", preact=True, variant="torchvision"), "pre-activation"),
    (lambda: kerasnets.VGG("C", weights="imagenet"), "no ImageNet weights are published"),
    (lambda: kerasnets.ResNet18(weights="imagenet", input_shape=(64, 64, 3)), r"input must be \(224, 224, 3\)"),
    (lambda: kerasnets.VGG11BN(weights="imagenet", classes=10), "classes=10 cannot be combined"),
])
def test_clear_errors_before_anything_is_downloaded(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


# -- the download path -------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve tmp_path/www on a free loopback port; KERASNETS_WEIGHTS_URL points at it."""
    root = tmp_path / "www"
    (root / "models").mkdir(parents=True)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv(BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    yield root / "models", httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A torchvision-layout ResNet-18 state dict (zip format), its published name and pixels."""
    keys_shapes, seed, _, _ = fixture_case("resnet18")
    data = save_state_dict(numpy_state(keys_shapes, seed), tmp_path_factory.mktemp("pth") / "r.pth").read_bytes()
    return data, f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def cache_files():
    return sorted(p.name for p in cache_dir().iterdir()) if cache_dir().exists() else []


def test_imagenet_downloads_verifies_converts_and_caches(server, resnet18_file, monkeypatch, tmp_path):
    folder, httpd = server
    data, name = resnet18_file
    (folder / name).write_bytes(data)
    monkeypatch.setitem(resnet.TORCHVISION, "resnet18", TorchvisionWeights("resnet18", name))
    model = kerasnets.ResNet18(weights="imagenet")
    converted = name.replace(".pth", ".keras.npz")
    assert cache_files() == sorted([name, converted, converted + ".sha256"])  # nothing half-written left
    assert (cache_dir() / name).read_bytes() == data
    reference = kerasnets.ResNet18(weights=str(folder / name))
    x = kerasnets.model_info("resnet18").preprocess(np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)))
    expected = np.asarray(reference(x, training=False))
    assert relative_difference(np.asarray(model(x, training=False)), expected) == 0.0
    # offline from now on: the converted file serves every configuration
    httpd.shutdown()
    get_file = torch_weights.get_file
    monkeypatch.setattr(torch_weights, "get_file", lambda *a, **k: pytest.fail("downloaded again"))
    features = kerasnets.ResNet18(weights="imagenet", include_top=False, pooling="avg", input_shape=(160, 160, 3))
    assert features.output_shape == (None, 512)
    for layer in (layer for layer in features.layers if layer.weights):
        for a, b in zip(layer.get_weights(), reference.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)
    # a tampered converted file is noticed and converted again from the verified .pth in the cache
    monkeypatch.setattr(torch_weights, "get_file", get_file)
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")  # nothing listens there
    blob = bytearray((cache_dir() / converted).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (cache_dir() / converted).write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match=rf"{converted} failed verification .*converting it again"):
        again = kerasnets.ResNet18(weights="imagenet")
    assert relative_difference(np.asarray(again(x, training=False)), expected) == 0.0


def test_a_wrong_hash_prefix_is_refused_and_nothing_is_cached(server, resnet18_file, monkeypatch):
    folder, _ = server
    data, _ = resnet18_file
    name = "resnet18-00000000.pth"
    (folder / name).write_bytes(data)
    monkeypatch.setitem(resnet.TORCHVISION, "resnet18", TorchvisionWeights("resnet18", name))
    with pytest.raises(WeightsError, match=r"resnet18-00000000\.pth .*failed verification .*expected 00000000"):
        kerasnets.ResNet18(weights="imagenet")
    assert cache_files() == []


def test_offline_names_the_file_its_url_and_where_to_put_it(server, monkeypatch):
    _, httpd = server
    httpd.shutdown()
    httpd.server_close()
    with pytest.raises(WeightsError) as info:
        kerasnets.VGG11BN(weights="imagenet")
    message = str(info.value)
    assert f"{os.environ[BASE_URL_ENV]}/models/vgg11_bn-6002323d.pth" in message
    assert str(cache_dir() / "vgg11_bn-6002323d.pth") in message
    assert "weights='/path/to/vgg11_bn-6002323d.pth'" in message
    assert cache_files() == []


# -- the adaptive pooling -------------------------------------------------------------------------


def adaptive_average_reference(x, out):
    """PyTorch's AdaptiveAvgPool2d, written out (NHWC)."""
    n, h, w, c = x.shape
    y = np.zeros((n, out, out, c))
    for i in range(out):
        for j in range(out):
            r0, r1 = (i * h) // out, -((-(i + 1) * h) // out)
            c0, c1 = (j * w) // out, -((-(j + 1) * w) // out)
            y[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("size, out", [(7, 7), (13, 6), (14, 4), (2, 6), (1, 7), (9, 4)])
def test_adaptive_average_pooling_is_pytorchs(size, out):
    import keras

    x = np.random.default_rng(size).normal(size=(2, size, size, 5)).astype("float32")
    layer = kerasnets.AdaptiveAveragePooling2D(out)
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y, adaptive_average_reference(x, out), rtol=1e-5, atol=1e-6)
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert restored.output_size == (out, out)
    if size == out:
        assert np.array_equal(y, x)


JAX_SCRIPT = r"""
import sys
import numpy as np
import keras
import kerasnets
from tests.test_torchvision import fixture_case
from tests.torchvision_oracle import numpy_state, relative_difference, save_state_dict
assert keras.backend.backend() == "jax"
worst = 0.0
for name in sys.argv[2:]:
    keys_shapes, seed, pixels, expected = fixture_case(name)
    path = save_state_dict(numpy_state(keys_shapes, seed), f"{sys.argv[1]}/{name}.pth")
    spec = kerasnets.model_info(name)
    model = spec.build(weights=str(path), input_shape=pixels.shape[1:], classifier_activation=None)
    worst = max(worst, relative_difference(model.predict(spec.preprocess(pixels.astype("float32")), verbose=0),
                                           expected))
print(worst)
"""


@pytest.mark.slow
def test_same_outputs_on_the_jax_backend(tmp_path):
    """Adaptive pooling, ceil-mode pooling, symmetric padding: keras.ops only, so JAX gives torchvision's outputs."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path),
                             "alexnet_torchvision", "googlenet_torchvision", "resnet18"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.split()[-1]) <= TOLERANCE


# -- the whole zoo against torchvision itself (slow) -----------------------------------------------


def torch_python():
    python = os.environ.get("KERASNETS_TORCH_PYTHON")
    if not python:
        pytest.skip("set KERASNETS_TORCH_PYTHON to a Python with torch and torchvision (tests/data/torch/"
                    "torchvision_reference.py says how to make one)")
    check = subprocess.run([python, "-c", "import torch, torchvision"], capture_output=True, text=True)
    if check.returncode:
        pytest.skip(f"{python} cannot import torch and torchvision: {check.stderr.strip()[-300:]}")
    return python


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parity_with_torchvision(name, tmp_path):
    """torchvision's network, random weights and batch-norm statistics, saved with torch.save in
    both formats, loaded by kerasnets: the same logits on the same images (224 px)."""
    python = torch_python()
    spec = kerasnets.model_info(name)
    tv_name = spec.weights.model
    result = subprocess.run([python, REFERENCE_SCRIPT, "parity", str(tmp_path), "224", "2", tv_name],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / f"{tv_name}.npz") as reference:
        pixels, logits, params = reference["pixels"], reference["logits"], int(reference["params"])
    differences, counted = [], set()
    for path in (tmp_path / f"{tv_name}.pt", tmp_path / f"{tv_name}_legacy.pth"):
        model = spec.build(weights=str(path), classifier_activation=None)
        ours = np.asarray(model(spec.preprocess(pixels.astype("float32")), training=False))
        differences.append(relative_difference(ours, logits))
        counted.add(trainable(model))
        del model
        path.unlink()  # up to 1.1 GB per network: do not keep them for pytest's three last runs
    assert counted == {params} and params == TORCHVISION_PARAMS[name]
    print(f"\nPARITY | {name} | torchvision.models.{tv_name} | {max(differences):.1e} | "
          f"{float(np.max(np.abs(logits))):.3g} | {params:,} |")
    assert max(differences) <= TOLERANCE, differences
