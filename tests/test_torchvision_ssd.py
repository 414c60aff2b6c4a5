"""torchvision's SSD300-VGG16 and SSDlite320-MobileNetV3-Large (kerasnets.detection.torchvision_ssd), loaded exactly.

Default suite (no torch): torchvision's parameter counts and default boxes; torchvision's head outputs and
detections on scikit-image photos, recorded by tests/data/torchvision_detection/torchvision_ssd_reference.py for
reduced configurations of the same torchvision classes with weights `tests.torchvision_oracle.numpy_state` rebuilds
from names and shapes, reproduced through state dicts written as torch.save does; `weights="coco"` through a
loopback server (published name, SHA-256 prefix, cache, offline); save / load; an int8 export for Android.

Slow (`-m slow`, KERASNETS_TORCH_PYTHON naming a Python with torch, torchvision and scikit-image): both full
builders against torchvision itself, random weights with spread BatchNorm statistics and scaled heads, on three
photos of different sizes: >= 95 % of torchvision's detections matched (same label, IoU >= 0.99), scores within
1e-3; and the published names, hashes, parameter counts and mAPs read from torchvision's source.
"""

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerasnets.core.weights import BASE_URL_ENV, WeightsError, cache_dir  # noqa: E402
from kerasnets.detection import torchvision_ssd as tv  # noqa: E402
from kerasnets.detection.boxes import box_iou_numpy  # noqa: E402
from kerasnets.detection.coco import COCO_CATEGORY_NAMES  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.test_torchvision import server, torch_python  # noqa: E402, F401  (the loopback server fixture)
from tests.torchvision_oracle import (  # noqa: E402
    numpy_state,
    relative_difference,
    save_state_dict,
    scale_detection_heads,
)

DATA = os.path.join(ROOT, "tests", "data", "torchvision_detection")
SCRIPT = os.path.join(DATA, "torchvision_ssd_reference.py")
#: torchvision 0.29's COCO_V1 weights of both builders (models/detection/ssd.py, ssdlite.py)
PUBLISHED = {
    "ssd300_vgg16": ("ssd300_vgg16_coco-b556d3b4.pth", 35_641_826, 25.1),
    "ssdlite320_mobilenet_v3_large": ("ssdlite320_mobilenet_v3_large_coco-a79551df.pth", 3_440_060, 21.3),
}


def photo(name):
    import skimage.data

    return getattr(skimage.data, name)()


def parameters(model):
    """torchvision's count: every weight but BatchNorm's running statistics (trainable or frozen)."""
    return sum(int(np.prod(w.shape)) for w in model.network.weights if "moving_" not in w.path)


def reference():
    return np.load(os.path.join(DATA, "ssd_reference.npz"))


def reference_state(case):
    with reference() as ref:
        keys_shapes = json.loads(str(ref[f"{case}/keys_shapes"]))
        return scale_detection_heads(numpy_state(keys_shapes, int(ref[f"{case}/seed"])),
                                     float(ref[f"{case}/head_scale"]))


def match(ours, theirs, iou=0.99):
    """(matched, total, max score difference) of torchvision's detections: each paired with the unused detection
    of ours of the same label and highest IoU, which must be at least `iou`."""
    matched, diffs = 0, [0.0]
    for mine, ref in zip(ours, theirs):
        if not len(ref["scores"]):
            continue
        overlap = box_iou_numpy(ref["boxes"], mine["boxes"]) if len(mine["boxes"]) else np.zeros((len(ref["boxes"]), 0))
        taken = set()
        for i in np.argsort(-ref["scores"]):
            same = [j for j in range(overlap.shape[1]) if j not in taken and mine["classes"][j] == ref["labels"][i]]
            if not same:
                continue
            j = max(same, key=lambda j: overlap[i, j])
            if overlap[i, j] >= iou:
                taken.add(j)
                matched += 1
                diffs.append(abs(float(mine["scores"][j]) - float(ref["scores"][i])))
    return matched, sum(len(r["scores"]) for r in theirs), max(diffs)


# -- architecture -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_and_default_boxes_are_torchvisions(name):
    model = tv.BUILDERS[name](weights_backbone=None)
    assert parameters(model) == PUBLISHED[name][1]
    with np.load(os.path.join(DATA, "ssd_anchors.npz")) as boxes:
        np.testing.assert_array_equal(model.anchor_boxes, boxes[name])  # bit for bit, torchvision's order
    # the export's normalised (yc, xc, h, w) are the same boxes
    size = model.image_size[0]
    yc, xc, h, w = model.anchors.T * size
    np.testing.assert_allclose(np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], 1), model.anchor_boxes,
                               atol=1e-3)
    assert model.class_names == list(COCO_CATEGORY_NAMES) and model.num_classes == 91
    config = model.config
    if name == "ssd300_vgg16":
        assert (config["score_thresh"], config["nms_thresh"], config["detections_per_img"],
                config["topk_candidates"]) == (0.01, 0.45, 200, 400)
        assert model.network.get_layer("backbone").scale_weight.numpy().tolist() == [20.0] * 512
    else:
        assert (config["score_thresh"], config["nms_thresh"], config["detections_per_img"],
                config["topk_candidates"], config["reduced_tail"]) == (0.001, 0.55, 300, 300, True)
        bn = model.network.get_layer("backbone_features_0_0_1")
        assert (bn.epsilon, bn.momentum) == (1e-3, 0.97)


def test_trainable_backbone_layers_freeze_torchvisions_stages():
    with pytest.warns(UserWarning, match="no effect"):
        model = tv.ssd300_vgg16(weights_backbone=None, trainable_backbone_layers=2)
    assert model.config["trainable_backbone_layers"] == 5  # torchvision: without pretrained weights, all train
    frozen = tv.SSD300VGG16(trainable_backbone_layers=2)
    assert not frozen.network.get_layer("backbone_features_14").trainable       # VGG stage 3 (before index 16)
    assert frozen.network.get_layer("backbone_features_17").trainable
    assert frozen.network.get_layer("backbone_extra_0_7_1").trainable            # fc6 is never frozen
    with pytest.raises(ValueError, match=r"range \[0, 6\]"):
        tv.SSDLite320MobileNetV3Large(trainable_backbone_layers=7)


# -- torchvision's outputs, without torch -------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["ssdlite_small", "ssd300_small"])
def test_outputs_and_detections_equal_torchvision(case, tmp_path):
    """Reduced configurations of torchvision's classes (SSDlite at width_mult 0.25, a few classes), their state
    dicts written as torch.save does: the head outputs and the detections torchvision gave on the same photos."""
    with reference() as ref:
        builder = str(ref[f"{case}/builder"])
        kwargs = json.loads(str(ref[f"{case}/kwargs"]))
        photos = [photo(p) for p in json.loads(str(ref[f"{case}/photos"]))]
        expected = [{k: ref[f"{case}/{i}/{k}"] for k in ("boxes", "scores", "labels")} for i in range(len(photos))]
        deltas, logits = ref[f"{case}/bbox_regression"], ref[f"{case}/cls_logits"]
    path = save_state_dict(reference_state(case), tmp_path / f"{case}.pth")
    model = tv.BUILDERS[builder](weights=str(path), **kwargs)  # num_classes (and the tail) read from the file
    assert model.num_classes == kwargs["num_classes"]
    batch, _ = model.transform.batch(photos[:1])
    ours = [np.asarray(t)[0] for t in model.network(batch)]
    assert relative_difference(ours[0], deltas) < 1e-4 and relative_difference(ours[1], logits) < 1e-4
    detections = model.detect(photos)
    for mine, theirs in zip(detections, expected):
        assert len(mine["scores"]) == len(theirs["scores"]) > 10
        np.testing.assert_array_equal(mine["classes"], theirs["labels"])
        assert np.abs(mine["scores"] - theirs["scores"]).max() < 1e-4
        assert np.diag(box_iou_numpy(mine["boxes"], theirs["boxes"])).min() > 0.999
        assert mine["names"] == [model.class_names[c] for c in mine["classes"]]
    assert match(detections, expected) [:2] == (sum(len(e["scores"]) for e in expected),) * 2


def test_a_state_dict_of_the_other_detector_is_one_clear_error(tmp_path):
    path = save_state_dict(reference_state("ssd300_small"), tmp_path / "ssd300.pth")
    with pytest.raises(WeightsError, match=r"ssd300\.pth has no tensor 'backbone\.features\.0\.0\.0\.weight'"):
        tv.ssdlite320_mobilenet_v3_large(weights=str(path), width_mult=0.25)
    with pytest.raises(ValueError, match="weights must be None, 'coco' or the path"):
        tv.ssd300_vgg16(weights="imagenet")
    with pytest.raises(ValueError, match="num_classes=10 cannot be combined with weights='coco'"):
        tv.ssd300_vgg16(weights="coco", num_classes=10)


def test_saved_and_loaded_detects_the_same(tmp_path):
    path = save_state_dict(reference_state("ssdlite_small"), tmp_path / "small.pth")
    model = tv.ssdlite320_mobilenet_v3_large(weights=str(path), width_mult=0.25, score_thresh=0.05,
                                             detections_per_img=50, topk_candidates=60)
    model.save(tmp_path / "ssdlite.keras")
    loaded = keras.models.load_model(tmp_path / "ssdlite.keras")
    assert type(loaded) is tv.SSDLite320MobileNetV3Large and loaded.get_config() == model.get_config()
    image = photo("coffee")
    a, b = model.detect([image])[0], loaded.detect([image])[0]
    np.testing.assert_array_equal(a["classes"], b["classes"])
    np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-4)


# -- weights="coco" through a loopback server ----------------------------------------------------------------------


def test_coco_weights_download_verify_convert_and_cache(server, tmp_path, monkeypatch):  # noqa: F811
    folder, httpd = server
    builder = "ssdlite320_mobilenet_v3_large"
    keys = torch_shapes(tv.SSDLite320MobileNetV3Large(reduced_tail=True))
    data = save_state_dict(numpy_state(keys, 5), tmp_path / "coco.pth").read_bytes()
    published = PUBLISHED[builder][0]
    # the published name with another file's content: the SHA-256 prefix refuses it, nothing is kept
    (folder / published).write_bytes(data)
    with pytest.raises(WeightsError, match=rf"{published} .*failed verification .*expected a79551df"):
        tv.ssdlite320_mobilenet_v3_large(weights="coco")
    assert not cache_dir().exists() or not os.listdir(cache_dir())
    # a file named after its own hash, as torchvision names them: downloaded, converted once, cached
    name = f"ssdlite320_mobilenet_v3_large_coco-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (folder / name).write_bytes(data)
    record = tv.WEIGHTS[builder]
    monkeypatch.setitem(tv.WEIGHTS, builder, tv.CocoWeights(tv.TorchvisionWeights(builder, name), record.num_params,
                                                            record.box_map, record.backbone))
    model = tv.ssdlite320_mobilenet_v3_large(weights="coco")
    converted = name.replace(".pth", ".keras.npz")
    assert sorted(os.listdir(cache_dir())) == sorted([name, converted, converted + ".sha256"])
    local = tv.ssdlite320_mobilenet_v3_large(weights=str(tmp_path / "coco.pth"))
    for a, b in zip(model.network.weights, local.network.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert model.config["reduced_tail"] and local.config["reduced_tail"]
    httpd.shutdown()
    httpd.server_close()
    again = tv.ssdlite320_mobilenet_v3_large(weights="coco")  # offline: the converted file
    np.testing.assert_array_equal(again.network.weights[0].numpy(), model.network.weights[0].numpy())


def test_offline_names_the_coco_file_its_url_and_where_to_put_it(server):  # noqa: F811
    _, httpd = server
    httpd.shutdown()
    httpd.server_close()
    with pytest.raises(WeightsError) as info:
        tv.ssd300_vgg16(weights="coco")
    message = str(info.value)
    assert f"{os.environ[BASE_URL_ENV]}/models/ssd300_vgg16_coco-b556d3b4.pth" in message
    assert str(cache_dir() / "ssd300_vgg16_coco-b556d3b4.pth") in message


def torch_shapes(model):
    """The names and shapes of the torchvision state dict of `model` (from its Keras layers)."""
    layout = model.torch_layout()
    shapes = {}
    for layer in model.network.layers:
        for v in layer.weights:
            key = f"{layout.torch_name(layer.name)}.{tv._PARAMETER[v.name]}"
            shape = tuple(v.shape)
            if v.name == "kernel":
                shape = (shape[2], shape[3], *shape[:2]) if "Depthwise" in type(layer).__name__ else (
                    shape[3], shape[2], *shape[:2])
            shapes[key] = shape
    return list(shapes.items())


# -- Android -------------------------------------------------------------------------------------------------------


def test_int8_export_for_android(tmp_path):
    """int8 with uint8 input, TFLite_Detection_PostProcess with per-class NMS, four outputs, COCO's 91 labels: the
    op's class index is torchvision's label; LiteRT agrees with Keras on real photos."""
    from export import detection as det_export
    from export import metadata
    from export.verify import check_operators, interpreter

    model = tv.SSDLite320MobileNetV3Large(width_mult=0.25, reduced_tail=True, score_thresh=0.2, detections_per_img=100)
    model.load_torch_state(scale_detection_heads(numpy_state(torch_shapes(model), 3), 0.3), "numpy_state")
    photos = [photo(p) for p in ("astronaut", "coffee", "chelsea", "rocket")]
    images = np.stack([tv.torch_bilinear_resize(p, model.image_size) for p in photos])
    out = det_export.detector_to_tflite(model, tmp_path / "ssdlite_int8.tflite", quantize="int8",
                                        representative_data=images, labels=None)
    data = out.read_bytes()
    ops = [o.name for o in check_operators(data, allowed_custom=("TFLite_Detection_PostProcess",))]
    assert "TFLite_Detection_PostProcess" in ops and not [o for o in ops if o.startswith("Flex")]
    runner = interpreter(data)
    assert runner.get_input_details()[0]["dtype"] == np.uint8
    assert [o["name"] for o in runner.get_output_details()] == ["location", "category", "score",
                                                                "number_of_detections"]
    summary = metadata.read(data)
    assert summary.labels == list(COCO_CATEGORY_NAMES)  # index = the op's class = torchvision's label
    result = det_export.verify_detector(out, model, images, score_threshold=0.3)

    assert result.keras_detections >= 5
    # mean IoU 0.82 with the converter's fused HARD_SWISH, 0.76 with the XNNPACK-friendly tv.hard_swish
    assert result.matched >= 0.8 * result.keras_detections and result.mean_iou > 0.72 and result.same_class >= 0.8


def test_exported_files_use_an_application_threshold_and_keep_hard_swish_in_xnnpack():
    """torchvision's score_thresh 0.001 is COCO evaluation's: a file exported without a threshold uses 0.05 (at 0.001
    its per-class NMS cost 125 of 142 ms here), an explicit one is kept. Hard-swish is written so that the converter
    does not fuse it into HARD_SWISH, which XNNPACK does not run in int8 (20 of them on TFLite's reference kernels
    made the int8 file 1.24x slower than float32; without them 0.7x)."""
    from export.detection import convert_detector, op_names, run_detector
    from export.verify import interpreter

    model = tv.SSDLite320MobileNetV3Large(width_mult=0.25, reduced_tail=True)   # torchvision's defaults
    model.load_torch_state(scale_detection_heads(numpy_state(torch_shapes(model), 3), 0.3), "numpy_state")
    assert model.config["score_thresh"] == 0.001 and model.export_score_threshold == 0.05
    images = np.stack([tv.torch_bilinear_resize(photo(p), model.image_size) for p in ("astronaut", "coffee")])
    default, high = convert_detector(model), convert_detector(model, score_threshold=0.3)
    scores = [np.concatenate([d["scores"] for d in run_detector(interpreter(f), images.astype("float32"))])
              for f in (default, high)]
    assert len(scores[0]) and scores[0].min() >= 0.05 and scores[0].min() < 0.3
    assert scores[1].min() >= 0.3 and len(scores[1]) < len(scores[0])
    int8 = convert_detector(model, "int8", images)
    assert "HARD_SWISH" not in op_names(int8) and "HARD_SWISH" not in op_names(default)


# -- against torchvision itself (slow) -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("builder", sorted(PUBLISHED))
def test_parity_with_torchvision(builder, tmp_path):
    """torchvision's model (random init, BatchNorm statistics spread, heads scaled), saved with torch.save, loaded
    by kerasnets: the same detections on three photos of different sizes, with torchvision's thresholds."""
    python = torch_python()
    names = ("astronaut", "chelsea", "coffee")
    np.savez(tmp_path / "photos.npz", **{f"photo{i}": photo(n) for i, n in enumerate(names)})
    run = subprocess.run([python, SCRIPT, "parity", str(tmp_path), str(tmp_path / "photos.npz"), builder],
                         capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    with np.load(tmp_path / f"{builder}.npz") as ref:
        params = int(ref["params"])
        theirs = [{k: ref[f"{i}/{k}"] for k in ("boxes", "scores", "labels")} for i in range(len(names))]
    model = tv.BUILDERS[builder](weights=str(tmp_path / f"{builder}.pth"))
    ours = model.detect([photo(n) for n in names])
    matched, total, diff = match(ours, theirs)
    assert params == parameters(model) == PUBLISHED[builder][1]
    print(f"\nPARITY | {builder} | torchvision.models.detection.{builder} | {matched}/{total} | {diff:.1e} | "
          f"{params:,} | {[len(t['scores']) for t in theirs]} detections, scores "
          f"{min(float(t['scores'].min()) for t in theirs):.3f}-{max(float(t['scores'].max()) for t in theirs):.3f}, "
          f"{len(set(np.concatenate([t['labels'] for t in theirs]).tolist()))} labels |")
    assert total >= 100 and matched >= 0.95 * total and diff <= 1e-3


PUBLISHED_SCRIPT = r"""
import json
from torchvision.models import detection as d
out = {}
for name, enum, backbone in (("ssd300_vgg16", d.SSD300_VGG16_Weights, d.ssd.VGG16_Weights.IMAGENET1K_FEATURES),
        ("ssdlite320_mobilenet_v3_large", d.SSDLite320_MobileNet_V3_Large_Weights,
         d.ssdlite.MobileNet_V3_Large_Weights.IMAGENET1K_V1)):
    w = enum.COCO_V1
    out[name] = [w.url, w.meta["num_params"], w.meta["_metrics"]["COCO-val2017"]["box_map"], backbone.url,
                 len(w.meta["categories"]), list(w.meta["categories"])]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_published_files_are_torchvisions():
    """Names, hashes, parameter counts, mAPs and categories as torchvision's own source has them."""
    run = subprocess.run([torch_python(), "-c", PUBLISHED_SCRIPT], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    for name, (url, params, box_map, backbone, count, categories) in json.loads(run.stdout).items():
        record = tv.WEIGHTS[name]
        assert url == f"https://download.pytorch.org/models/{record.weights.file_name}" == record.weights.top.url
        assert (params, box_map) == (record.num_params, record.box_map) == PUBLISHED[name][1:]
        assert backbone == record.backbone.top.url
        assert count == 91 and categories == list(COCO_CATEGORY_NAMES)


@pytest.mark.slow
def test_cli_exports_the_coco_builder_from_a_state_dict(tmp_path, capsys):
    """`python -m export ssdlite320_mobilenet_v3_large --weights FILE.pth --quantize int8 --representative DIR`, and
    the float32 and float16 files, each verified against Keras on real photos."""
    from export import cli
    from export import detection as det_export
    from kerasnets.images import save_image

    model = tv.SSDLite320MobileNetV3Large(reduced_tail=True)
    state = scale_detection_heads(numpy_state(torch_shapes(model), 7), 0.3)
    path = save_state_dict(state, tmp_path / "ssdlite.pth")
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ("astronaut", "coffee", "chelsea", "rocket", "cat", "retina")
    for name in names:
        save_image(str(folder / f"{name}.png"), photo(name))
    out = tmp_path / "coco_ssdlite.tflite"
    assert cli.main(["ssdlite320_mobilenet_v3_large", "--weights", str(path), "--quantize", "int8",
                     "--representative", str(folder), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "building ssdlite320_mobilenet_v3_large" in printed and "Keras detections matched" in printed
    keras_model = tv.ssdlite320_mobilenet_v3_large(weights=str(path), score_thresh=0.1)
    images = np.stack([tv.torch_bilinear_resize(photo(n), keras_model.image_size) for n in names])
    for quantize in ("none", "float16"):
        file = det_export.detector_to_tflite(keras_model, tmp_path / f"ssdlite_{quantize}.tflite", quantize=quantize)
        result = det_export.verify_detector(file, keras_model, images, score_threshold=0.15)
        print(result)
        # the op neither clips before NMS nor keeps only topk_candidates per class: a few boxes differ a little
        assert result.keras_detections >= 10 and result.matched == result.keras_detections
        assert result.mean_iou >= 0.99 and result.same_class == 1.0
    result = det_export.verify_detector(out, keras_model, images, score_threshold=0.15)
    print(result)
    assert result.matched >= 0.8 * result.keras_detections and result.mean_iou > 0.8
