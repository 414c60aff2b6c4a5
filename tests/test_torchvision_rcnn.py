"""torchvision's Faster / Mask R-CNN builders (kerasnets.detection.torchvision_rcnn), loaded exactly.

Default suite (no torch here): parameter counts equal torchvision's `num_params`; the transform's sizes,
pixels and pasted masks equal those torchvision computed (tests/data/torchvision_detection/transform.npz);
torchvision's detections on scikit-image photos, recorded by tests/data/torchvision_detection/
torchvision_detections.py for a reduced configuration of the same torchvision classes with weights that
`tests.torchvision_oracle.detection_state` rebuilds from the names and shapes, are reproduced through a
state dict written in torch.save's format; weights="coco" through a loopback server (published name,
SHA-256 prefix, truncated file, cache, offline message).

Slow (`-m slow`, KERASNETS_TORCH_PYTHON naming a Python with torch, torchvision and scikit-image): every
builder against torchvision itself at its default sizes, random weights with spread batch-norm statistics and
scaled heads, on three photos of different sizes.
"""

import hashlib
import json
import os
import subprocess
import time

import keras
import numpy as np
import pytest

from kerasnets.core.weights import BASE_URL_ENV, WeightsError, cache_dir
from kerasnets.detection import torchvision_rcnn as tvr
from kerasnets.detection.base import _plain
from kerasnets.detection.boxes import box_iou_numpy
from kerasnets.errors import UsageError
from tests.conftest import ROOT
from tests.test_torchvision import server  # noqa: F401  (the loopback server fixture)
from tests.torchvision_oracle import detection_state, save_state_dict

DATA = os.path.join(ROOT, "tests", "data", "torchvision_detection")
SCRIPT = os.path.join(DATA, "torchvision_detections.py")
PHOTOS = ("astronaut", "chelsea", "coffee")

#: torchvision 0.29's *_Weights.COCO_V1: file, num_params, COCO-val2017 box (mask) mAP.
PUBLISHED = {
    "fasterrcnn_resnet50_fpn": ("fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", 41_755_286, 37.0, None),
    "fasterrcnn_resnet50_fpn_v2": ("fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", 43_712_278, 46.7, None),
    "fasterrcnn_mobilenet_v3_large_fpn": ("fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth", 19_386_354, 32.8, None),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth", 19_386_354, 22.8,
                                              None),
    "maskrcnn_resnet50_fpn": ("maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth", 44_401_393, 37.9, 34.6),
    "maskrcnn_resnet50_fpn_v2": ("maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth", 46_359_409, 47.4, 41.8),
}


def photo(name):
    from skimage import data

    return getattr(data, name)()


def match(expected, ours, masks=False):
    """Greedy matching of torchvision's detections (by score) to ours: same label, best IoU >= 0.99.
    Returns (matched, total, max score difference, min mask IoU of the matches)."""
    boxes, scores, labels = expected["boxes"], expected["scores"], expected["labels"]
    if not len(scores):
        return 0, 0, 0.0, 1.0
    iou = box_iou_numpy(boxes, ours["boxes"]) if len(ours["scores"]) else np.zeros((len(scores), 0))
    taken, matched, worst, mask_iou = set(), 0, 0.0, 1.0
    for i in np.argsort(-scores, kind="stable"):
        candidates = [j for j in np.argsort(-iou[i], kind="stable")
                      if j not in taken and ours["classes"][j] == labels[i]]
        if not candidates or iou[i, candidates[0]] < 0.99:
            continue
        j = candidates[0]
        taken.add(j)
        matched += 1
        worst = max(worst, abs(float(scores[i]) - float(ours["scores"][j])))
        if masks:
            a, b = expected["masks"][i], ours["masks"][j]
            union = np.logical_or(a, b).sum()
            mask_iou = min(mask_iou, np.logical_and(a, b).sum() / union if union else 1.0)
    return matched, len(scores), worst, mask_iou


def reference(npz, name):
    out = {k: npz[f"{name}/{k}"] for k in ("boxes", "scores", "labels")}
    if f"{name}/masks" in npz:
        width = int(npz[f"{name}/mask_shape"][1])
        out["masks"] = np.unpackbits(npz[f"{name}/masks"], axis=-1)[..., :width].astype(bool)
    return out


# -- the builders ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", sorted(PUBLISHED))
def test_parameter_counts_are_torchvisions(builder):
    file_name, params, box_map, mask_map = PUBLISHED[builder]
    record = tvr.COCO_WEIGHTS[builder]
    assert (record.file_name, record.num_params, record.box_map, record.mask_map) == PUBLISHED[builder]
    assert record.weights.top.url == f"https://download.pytorch.org/models/{file_name}"
    model = tvr.BUILDERS[builder](weights=None)
    assert tvr.parameter_count(model) == params
    assert model.num_classes == 91 and model.class_names[1] == "person" and model.class_names[17] == "cat"


def test_torchvisions_defaults_and_keyword_arguments():
    model = tvr.fasterrcnn_resnet50_fpn(box_score_thresh=0.3, min_size=600)
    c = model.config
    assert (c["min_size"], c["max_size"], c["rpn_pre_nms_top_n_test"], c["rpn_post_nms_top_n_test"]) == (600, 1333,
                                                                                                         1000, 1000)
    assert (c["rpn_nms_thresh"], c["rpn_score_thresh"], c["box_score_thresh"], c["box_nms_thresh"],
            c["box_detections_per_img"]) == (0.7, 0.0, 0.3, 0.5, 100)
    assert model.get_layer("body").get_layer("conv3_block1_2_conv").strides == (2, 2)  # v1.5: stride on the 3x3
    base = [a.tolist() for a in model.cell_anchors]
    assert base[0] == [[-23.0, -11.0, 23.0, 11.0], [-16.0, -16.0, 16.0, 16.0], [-11.0, -23.0, 11.0, 23.0]]
    with pytest.raises(TypeError, match="rpn_nms_tresh"):
        tvr.fasterrcnn_resnet50_fpn(rpn_nms_tresh=0.5)
    with pytest.raises(UsageError, match="91 classes"):
        tvr.fasterrcnn_resnet50_fpn(weights="coco", num_classes=3)
    with pytest.raises(UsageError, match="weights must be None, 'coco'"):
        tvr.maskrcnn_resnet50_fpn(weights="imagenet")


# -- the transform -----------------------------------------------------------------------------------------


def test_resized_sizes_are_torchvisions():
    with np.load(os.path.join(DATA, "transform.npz")) as ref:
        sizes, limits, resized = ref["sizes"], ref["limits"], ref["resized"]
    for i, (lo, hi) in enumerate(limits):
        t = tvr.RCNNTransform(int(lo), int(hi))
        assert [t.output_size(int(h), int(w)) for h, w in sizes] == [tuple(r) for r in resized[i].tolist()]


def test_normalised_resized_padded_batch_is_torchvisions():
    with np.load(os.path.join(DATA, "transform.npz")) as ref:
        batch, sizes, _ = tvr.RCNNTransform(40, 60).batch([ref["images0"], ref["images1"]])
        assert batch.shape == ref["batch"].shape and batch.shape[1] % 32 == 0 and batch.shape[2] % 32 == 0
        np.testing.assert_array_equal(sizes, ref["image_sizes"])
        np.testing.assert_allclose(batch, ref["batch"], rtol=0, atol=2e-6)
        pasted = tvr.paste_masks_in_image(ref["masks"], ref["boxes"], (48, 71))
        np.testing.assert_allclose(pasted, ref["pasted"], rtol=0, atol=1e-6)


# -- torchvision's detections from stored references ---------------------------------------------------------


class References:
    """The stored references, each loaded once: (npz, model from a torch.save file of its weights, the file)."""

    def __init__(self, folder):
        self.folder, self.loaded = folder, {}

    def __getitem__(self, builder):
        if builder not in self.loaded:
            npz = np.load(os.path.join(DATA, f"{builder}.npz"))
            keys_shapes = json.loads(str(npz["keys_shapes"]))
            state = detection_state(keys_shapes, int(npz["seed"]), json.loads(str(npz["scales"])))
            path = save_state_dict(state, self.folder / f"{builder}_random.pt")
            self.loaded[builder] = npz, tvr.BUILDERS[builder](weights=str(path), **json.loads(str(npz["kwargs"]))), path
        return self.loaded[builder]


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    yield References(tmp_path_factory.mktemp("rcnn"))


@pytest.fixture(scope="module")
def maskrcnn_reference(references):
    return references["maskrcnn_resnet50_fpn"]


@pytest.mark.parametrize("builder, name, count", [
    ("maskrcnn_resnet50_fpn", "astronaut", 20), ("maskrcnn_resnet50_fpn", "coffee", 20),
    ("fasterrcnn_mobilenet_v3_large_320_fpn", "chelsea", 30), ("fasterrcnn_mobilenet_v3_large_320_fpn", "coffee", 30),
])
def test_detections_equal_torchvisions(references, builder, name, count):
    """Reduced configurations (Mask R-CNN: min_size 320, 200 proposals, 20 detections; MobileNetV3 320: its
    defaults, 30 detections) of torchvision's builders: every detection, score and mask of torchvision's."""
    npz, model, _ = references[builder]
    expected = reference(npz, name)
    [ours] = model.detect([photo(name)])
    assert len(ours["scores"]) == len(expected["scores"]) == count
    matched, total, worst, mask_iou = match(expected, ours, masks="masks" in expected)
    assert matched == total, (matched, total)
    assert worst <= 1e-4 and mask_iou >= 0.97
    np.testing.assert_allclose(ours["boxes"], expected["boxes"], atol=0.01)
    assert ours["names"][0] == model.class_names[ours["classes"][0]]
    if "masks" in expected:
        assert ours["masks"].shape == (len(ours["scores"]),) + photo(name).shape[:2]


def test_a_state_dict_of_another_builder_is_one_clear_error(maskrcnn_reference):
    _, _, path = maskrcnn_reference
    with pytest.raises(WeightsError, match=r"not fit fasterrcnn_resnet50_fpn: 12 tensors have no layer.*mask_head"):
        tvr.fasterrcnn_resnet50_fpn(weights=str(path))
    with pytest.raises(WeightsError, match=r"roi_heads.box_predictor.cls_score has shapes .*num_classes"):
        tvr.maskrcnn_resnet50_fpn(weights=str(path), num_classes=3)
    with pytest.raises(WeightsError, match="does not exist"):
        tvr.maskrcnn_resnet50_fpn(weights=str(path.with_name("missing.pth")))


def test_saved_and_loaded_with_keras(maskrcnn_reference, tmp_path):
    npz, model, _ = maskrcnn_reference
    model.save(tmp_path / "maskrcnn.keras")
    restored = keras.models.load_model(tmp_path / "maskrcnn.keras")
    assert isinstance(restored, tvr.TorchvisionRCNN) and _plain(restored.config) == _plain(model.config)
    image = photo("coffee")
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    [a], [b] = model.detect([image]), restored.detect([image])
    np.testing.assert_array_equal(a["classes"], b["classes"])
    np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-3)  # (TensorFlow's threads sum in any order)
    assert np.mean(a["masks"] == b["masks"]) > 0.9999


# -- weights="coco" through a loopback server -----------------------------------------------------------------


def published_copy(monkeypatch, folder, data, builder="maskrcnn_resnet50_fpn", digits=None):
    """Serve `data` under a published-style name whose SHA-256 prefix is `digits` (the right one by default)."""
    digits = digits or hashlib.sha256(data).hexdigest()[:8]
    name = f"{builder}_coco-{digits}.pth"
    (folder / name).write_bytes(data)
    record = tvr.COCO_WEIGHTS[builder]
    monkeypatch.setitem(tvr.COCO_WEIGHTS, builder, tvr.COCOWeights(builder, name, record.num_params, record.box_map,
                                                                   record.mask_map, record.eps_zero))
    return name


def cache_files():
    return sorted(p.name for p in cache_dir().iterdir()) if cache_dir().exists() else []


def test_coco_weights_download_verify_convert_and_cache(server, maskrcnn_reference, monkeypatch):  # noqa: F811
    folder, httpd = server
    npz, model, path = maskrcnn_reference
    name = published_copy(monkeypatch, folder, path.read_bytes())
    kwargs = json.loads(str(npz["kwargs"]))
    coco = tvr.maskrcnn_resnet50_fpn(weights="coco", **kwargs)
    converted = name.replace(".pth", ".keras.npz")
    assert cache_files() == sorted([name, converted, converted + ".sha256"])
    assert coco.get_layer("body").get_layer("conv1_bn").epsilon == 0.0  # torchvision's overwrite_eps(model, 0.0)
    image = photo("coffee")
    [ours] = coco.detect([image])
    assert ours["scores"][0] > 0.05 and len(ours["scores"]) == 20
    # offline from now on: the converted file is used, nothing is downloaded
    httpd.shutdown()
    monkeypatch.setattr("kerasnets.core.weights.get_file", lambda *a, **k: pytest.fail("downloaded again"))
    again = tvr.maskrcnn_resnet50_fpn(weights="coco", **kwargs)
    for a, b in zip(coco.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a local file with the published name is the published file (eps 0 too)
    local = tvr.maskrcnn_resnet50_fpn(weights=str(cache_dir() / name), **kwargs)
    assert local.get_layer("body").get_layer("conv1_bn").epsilon == 0.0
    [same] = local.detect([image])
    np.testing.assert_allclose(same["boxes"], ours["boxes"], atol=1e-3)


def test_a_wrong_hash_or_a_truncated_file_is_refused_and_not_cached(server, maskrcnn_reference, monkeypatch):  # noqa: F811
    folder, _ = server
    _, _, path = maskrcnn_reference
    data = path.read_bytes()
    name = published_copy(monkeypatch, folder, data, digits="00000000")
    with pytest.raises(WeightsError, match=rf"{name} .*failed verification .*expected 00000000"):
        tvr.maskrcnn_resnet50_fpn(weights="coco")
    assert cache_files() == []
    truncated = data[: len(data) // 3]
    published_copy(monkeypatch, folder, truncated, digits=hashlib.sha256(data).hexdigest()[:8])
    with pytest.raises(WeightsError, match="failed verification"):
        tvr.maskrcnn_resnet50_fpn(weights="coco")
    assert cache_files() == []


def test_offline_names_the_file_its_url_and_where_to_put_it(server):  # noqa: F811
    _, httpd = server
    httpd.shutdown()
    httpd.server_close()
    with pytest.raises(WeightsError) as info:
        tvr.fasterrcnn_resnet50_fpn(weights="coco")
    message = str(info.value)
    assert f"{os.environ[BASE_URL_ENV]}/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth" in message
    assert str(cache_dir() / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth") in message
    assert cache_files() == []


# -- against torchvision itself (slow) --------------------------------------------------------------------------


def torch_python():
    python = os.environ.get("KERASNETS_TORCH_PYTHON")
    if not python:
        pytest.skip("set KERASNETS_TORCH_PYTHON to a Python with torch, torchvision and scikit-image")
    return python


#: Per builder, torchvision keyword arguments of the parity run (identical on both sides).
PARITY_KWARGS = {
    "fasterrcnn_resnet50_fpn": {}, "maskrcnn_resnet50_fpn": {}, "fasterrcnn_resnet50_fpn_v2": {},
    "maskrcnn_resnet50_fpn_v2": {}, "fasterrcnn_mobilenet_v3_large_fpn": {},
    "fasterrcnn_mobilenet_v3_large_320_fpn": {},
}


@pytest.mark.slow
@pytest.mark.parametrize("builder", sorted(PARITY_KWARGS))
def test_parity_with_torchvision(builder, tmp_path):
    """torchvision's builder at its defaults, random weights with spread batch-norm statistics and scaled
    heads, saved with torch.save; kerasnets loads the file: the same detections on three photos of different
    sizes (>= 95 % matched with the same label at IoU >= 0.99, scores within 1e-3, masks' IoU >= 0.95)."""
    python = torch_python()
    kwargs = PARITY_KWARGS[builder]
    start = time.perf_counter()
    run = subprocess.run([python, SCRIPT, "parity", str(tmp_path), builder, *[f"{k}={v!r}" for k, v in kwargs.items()]],
                         capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    torch_seconds = time.perf_counter() - start
    npz = np.load(tmp_path / f"{builder}.npz")
    model = tvr.BUILDERS[builder](weights=str(tmp_path / f"{builder}.pt"), **kwargs)
    (tmp_path / f"{builder}.pt").unlink()
    params = tvr.parameter_count(model)
    rows = []
    for name in PHOTOS:
        expected = reference(npz, name)
        [ours] = model.detect([photo(name)])
        rows.append(match(expected, ours, masks="masks" in expected))
    matched, total = sum(r[0] for r in rows), sum(r[1] for r in rows)
    worst, mask_iou = max(r[2] for r in rows), min(r[3] for r in rows)
    print(f"\nPARITY | {builder} | {matched}/{total} | {worst:.1e} | "
          f"{'%.3f' % mask_iou if 'masks' in expected else '-'} | {params:,} | torch {torch_seconds:.0f} s |")
    assert total >= 30 and matched >= 0.95 * total
    assert worst <= 1e-3 and mask_iou >= 0.95
    assert params == PUBLISHED[builder][1]
    if builder.endswith("_v2"):
        assert int(npz["params"]) == params  # no frozen batch norm in the v2 builders


def test_the_pretrained_table_is_torchvisions():
    from kerasnets.detection.pretrained import COCO_DETECTORS, build_pretrained, list_pretrained

    for name, (file_name, params, box_map, mask_map) in PUBLISHED.items():
        d = COCO_DETECTORS[name]
        assert (d.file, d.num_params, d.box_map, d.mask_map) == (file_name, params, box_map, mask_map)
    assert COCO_DETECTORS["ssd300_vgg16"].num_params == 35_641_826
    assert "fasterrcnn_resnet50_fpn                     37.0        -   41,755,286" in list_pretrained()
    assert tvr.parameter_count(build_pretrained("fasterrcnn_mobilenet_v3_large_320_fpn")) == 19_386_354
    with pytest.raises(UsageError, match="no COCO detector 'yolo'"):
        build_pretrained("yolo")
