"""One harness for every detector configuration (`CONFIGS`): build at a small size, learn one batch of the
synthetic set, save, load in fresh interpreters three ways (`import kerasnets` then `keras.models.load_model`,
the other import order, `kerasnets.load_model`) with identical detections, export to `.tflite` where the
detector exports and compare with LiteRT, and the same files on JAX. A new detector is tested by adding a row.

Also: files written by an earlier release (`tests/data/legacy`, before the detection rebuild) load with
identical detections, and imports inside `kerasnets.detection` flow one way.
"""

import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerasnets.detection import SSD, FasterRCNN, FastRCNN, MaskRCNN, YOLOv1, synthetic_shapes  # noqa: E402
from kerasnets.detection.models import DETECTORS  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

LEGACY = os.path.join(ROOT, "tests", "data", "legacy")
COMMON = {"backbone": "mobilenet", "backbone_kwargs": {"alpha": 0.25}, "num_classes": 3, "image_size": 64,
          "freeze_batchnorm": False, "class_names": ["circle", "rectangle", "triangle"]}
TWO_STAGE = {"anchor_sizes": (8, 16, 32), "rpn_pre_nms_top_n_train": 100, "rpn_post_nms_top_n_train": 50,
             "rpn_pre_nms_top_n_test": 100, "rpn_post_nms_top_n_test": 30, "box_batch_size_per_image": 32,
             "representation_size": 16, "box_detections_per_img": 10, "box_score_thresh": 0.0, "seed": 1}
FPN = {**TWO_STAGE, "fpn": True, "anchor_sizes": ((8,), (16,), (32,), (64,)), "fpn_channels": 8}

#: (row id, class, keyword arguments): every detector configuration the project has
CONFIGS = [
    ("faster_rcnn_c4", FasterRCNN, TWO_STAGE),
    ("faster_rcnn_fpn", FasterRCNN, FPN),
    ("mask_rcnn", MaskRCNN, {**TWO_STAGE, "mask_channels": 4}),
    ("fast_rcnn", FastRCNN, {k: v for k, v in TWO_STAGE.items() if not k.startswith(("rpn", "anchor"))}),
    ("ssd_focal", SSD, {"extra_levels": 1, "extra_channels": 16, "score_thresh": 0.0, "detections_per_img": 10}),
    ("ssd_hard_negative", SSD, {"extra_levels": 1, "extra_channels": 16, "score_thresh": 0.0, "detections_per_img": 10,
                                "loss": "hard_negative"}),
    ("yolov1", YOLOv1, {"grid": 2, "hidden": 8, "head_channels": 8, "score_thresh": 0.0, "detections_per_img": 10}),
]
IDS = [row[0] for row in CONFIGS]
#: training steps on the harness's one batch: the first traces the train step, the other 11 cost 0.3 s per row
STEPS = 12


def test_every_detector_class_has_a_row():
    classes = [cls for _, cls, _ in CONFIGS] + [values(row)[1] for row in TORCHVISION_CONFIGS]
    assert {cls.__name__ for cls in classes} == set(DETECTORS)


def values(row):
    """A row's values, whether plain or a pytest.param."""
    return getattr(row, "values", row)


def proposals_for(data, n=12):
    """Fast R-CNN's external proposals: the ground truths jittered, and a few fixed boxes, padded with zeros."""
    out = np.zeros((len(data), n, 4), np.float32)
    for i, boxes in enumerate(data.boxes):
        k = min(len(boxes), n - 3)
        out[i, :k] = np.asarray(boxes[:k]) + 1.5
        out[i, k:k + 3] = [[2, 2, 30, 30], [20, 10, 60, 50], [0, 0, 64, 64]]
    return out


def spread(model):
    """Random but varied head outputs: an untrained detector's scores tie, which would make comparisons vacuous."""
    rng = np.random.default_rng(3)
    for w in model.weights:
        if "bias" in w.path and any(k in w.path for k in (
                "cls_score", "class_head", "head_fc2", "objectness", "classification_head", "cls_logits")):
            w.assign(rng.normal(0, 1, w.shape).astype("float32"))


@pytest.fixture(scope="module")
def data():
    return synthetic_shapes(4, 64, seed=0, min_size=10, max_size=28)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """Each configuration built, trained STEPS steps on one batch, saved:
    {row id: (model, path, losses, detections, padded predict output)}."""
    folder = tmp_path_factory.mktemp("harness")
    keras.utils.set_random_seed(0)
    arrays = data.padded(data.max_objects, masks=True)
    out = {}
    for row, cls, kwargs in CONFIGS:
        model = cls(**COMMON, **kwargs)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
        x = {"images": arrays["images"].astype("float32"), "boxes": arrays["boxes"], "classes": arrays["classes"]}
        if "mask" in model.loss_names:
            x["masks"] = arrays["masks"]
        extra = {}
        if cls is FastRCNN:
            x["proposals"] = extra["proposals"] = proposals_for(data)
        losses = [model.train_on_batch(x, return_dict=True) for _ in range(STEPS)]
        padded = model.predict_on_batch(x["images"]) if "proposals" not in x else None
        spread(model)
        path = folder / f"{row}.keras"
        model.save(path)
        detections = model.detect(data.images, **extra)
        out[row] = (model, path, losses, detections, padded)
    return out


@pytest.mark.parametrize("row", IDS)
def test_learns_a_batch_with_finite_named_losses(trained, data, row):
    model, _, losses, detections, padded = trained[row]
    for logs in losses:
        assert set(logs) >= {"loss", *(f"{n}_loss" for n in model.loss_names)}
        assert all(np.isfinite(v) for v in logs.values())
    # measured over 12 steps (Adam 3e-3, seed 0): the last loss is 0.33-0.56 of the first in every row
    assert losses[-1]["loss"] < 0.7 * losses[0]["loss"], [round(logs["loss"], 3) for logs in losses]
    if padded is not None:  # predict's padded form: -1 past num_detections, scores sorted, boxes inside the image
        assert padded["boxes"].shape == (4, 10, 4) and padded["classes"].shape == padded["scores"].shape == (4, 10)
        for i, n in enumerate(padded["num_detections"]):
            assert (padded["classes"][i, n:] == -1).all() and (padded["classes"][i, :n] >= 0).all()
            assert np.all(np.diff(padded["scores"][i, :n]) <= 1e-6)
            assert (padded["boxes"][i, :n] >= 0).all() and (padded["boxes"][i, :n] <= 64).all()
        odd = model.detect([np.zeros((100, 80, 3), np.uint8)])[0]  # another size: boxes mapped back onto it
        assert odd["boxes"].shape[1:] == (4,) and (odd["boxes"][:, [0, 2]] <= 80 + 1e-3).all()
    assert any(len(d["boxes"]) for d in detections)
    for d in detections:
        assert d["boxes"].shape[1:] == (4,) and len(d["scores"]) == len(d["classes"]) <= 10
        assert (d["classes"] >= 0).all() and (d["classes"] < 3).all()
        if "mask" in model.loss_names:
            assert d["masks"].shape == (len(d["boxes"]), 64, 64) and d["masks"].dtype == bool
    from kerasnets.errors import ImageError

    with pytest.raises(ImageError, match="RGB images"):  # P12h: a grayscale array
        model.detect([np.zeros((64, 64), np.uint8)])
    with pytest.raises(ImageError, match="NaN"):  # P12g: NaN pixels
        model.detect([np.full((64, 64, 3), np.nan, np.float32)])
    if isinstance(model, FastRCNN):  # no RPN built; the paper's RoI max pooling; proposals are required
        assert model.rpn is None and "rpn_box" not in model.loss_names
        assert type(model.roi_pooler).__name__ == "RoIPooling"
        with pytest.raises(ValueError, match="external proposals"):
            model(data.images[:1].astype("float32"))


LOAD_SCRIPT = r"""
import json, sys
import numpy as np
order, detect = sys.argv[1], sys.argv[2] == "detect"
if order == "kerasnets-first":
    import kerasnets
    import keras
    load = keras.models.load_model
elif order == "keras-first":
    import keras
    import kerasnets
    load = keras.models.load_model
else:
    import kerasnets
    load = kerasnets.load_model
images = np.load(sys.argv[3])
proposals = np.load(sys.argv[4])
out = {}
for path in sys.argv[5:]:
    model = load(path)
    result = {"class": type(model).__name__, "config": model.get_config(),
              "weights": float(sum(np.abs(np.asarray(w, np.float64)).sum() for w in model.get_weights()))}
    if detect:
        extra = {"proposals": proposals} if getattr(model, "rpn", True) is None else {}
        result["detections"] = [{k: np.asarray(v).tolist() for k, v in d.items()}
                                for d in model.detect(images, **extra)]
    out[path] = result
print("RESULT" + json.dumps(out))
"""


def load_elsewhere(order, paths, images, proposals, tmp_path, backend="tensorflow", detect=True):
    """Load `paths` in a fresh interpreter (`order` of imports, `backend`): class, config, a weights checksum and,
    with `detect`, the detections on `images`."""
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "proposals.npy", proposals)
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, order, "detect" if detect else "load",
                          str(tmp_path / "images.npy"), str(tmp_path / "proposals.npy"), *map(str, paths)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.split("RESULT", 1)[1])


def assert_same(got, want, atol=0.0):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert set(g) == set(w)
        for key in w:
            if atol and key != "classes" and key != "masks":
                np.testing.assert_allclose(np.asarray(g[key], np.float32), w[key], atol=atol, err_msg=key)
            else:
                np.testing.assert_array_equal(np.asarray(g[key]), w[key], err_msg=key)


def checksum(model):
    return float(sum(np.abs(np.asarray(w, np.float64)).sum() for w in model.get_weights()))


LOADS = [("kerasnets-first", False), ("keras-first", True), ("kerasnets.load_model", False),
         pytest.param("kerasnets-first", True, marks=pytest.mark.slow),
         pytest.param("kerasnets.load_model", True, marks=pytest.mark.slow)]


@pytest.mark.parametrize(("order", "detect"), LOADS)
def test_loads_in_a_fresh_process_with_identical_detections(trained, data, tmp_path, order, detect):
    """Every file loads each way with its class, config and weights; the detections are compared in one of the
    three (the same weights and config give the same graph; `-m slow` compares them in all three)."""
    paths = [trained[row][1] for row in IDS]
    got = load_elsewhere(order, paths, data.images, proposals_for(data), tmp_path, detect=detect)
    for row in IDS:
        model, path, _, detections, _ = trained[row]
        result = got[str(path)]
        assert result["class"] == type(model).__name__
        assert result["config"] == json.loads(json.dumps(model.get_config()))
        assert result["weights"] == pytest.approx(checksum(model), rel=1e-12)
        if detect:
            assert_same(result["detections"], detections)


#: the rows checked on JAX in the default suite (all of them with -m slow)
JAX_ROWS = ["faster_rcnn_fpn", "mask_rcnn", "ssd_focal", "yolov1"]


@pytest.mark.parametrize("rows", [JAX_ROWS, pytest.param(IDS, marks=pytest.mark.slow)], ids=["some", "all"])
def test_same_files_on_jax(trained, data, tmp_path, rows):
    """TensorFlow-saved files detect the same on JAX (float tolerance across backends, same boxes kept)."""
    pytest.importorskip("jax")
    paths = [trained[row][1] for row in rows]
    got = load_elsewhere("kerasnets.load_model", paths, data.images, proposals_for(data), tmp_path, backend="jax")
    for row in rows:
        _, path, _, detections, _ = trained[row]
        for g, w in zip(got[str(path)]["detections"], detections, strict=True):
            assert_same_detections(g, w, atol=2e-3)


def assert_same_detections(got, want, atol, score_atol=None):
    """The same detections up to float tolerance, in any order (near-tied scores may swap places across backends):
    each wanted box has a found one of the same class, box and score."""
    boxes, scores, classes = (np.asarray(got[k], np.float32) for k in ("boxes", "scores", "classes"))
    assert len(boxes) == len(want["boxes"])
    for box, score, cls in zip(want["boxes"], want["scores"], want["classes"]):
        close = ((np.abs(boxes - box).max(axis=-1) <= atol) & (np.abs(scores - score) <= (score_atol or atol))
                 & (classes == cls))
        assert close.any(), f"no match for class {cls} score {score} box {box}"


@pytest.mark.parametrize("row", [r for r, cls, _ in CONFIGS if cls.exportable])
def test_exports_to_tflite_like_keras(trained, data, tmp_path, row):
    pytest.importorskip("ai_edge_litert")
    import export
    from export.detection import op_names, run_detector
    from export.verify import interpreter

    model = trained[row][0]
    path = tmp_path / f"{row}.tflite"
    export.detector_to_tflite(model, path)
    content = path.read_bytes()
    ops = op_names(content)
    assert ops[-1] == "TFLite_Detection_PostProcess" and not [o for o in ops if o.startswith("Flex")]
    lite = run_detector(interpreter(content), data.images.astype("float32"))
    ours = model.detect(data.images)
    assert sum(len(d["boxes"]) for d in ours) > 0
    for got, want in zip(lite, ours, strict=True):  # the same boxes (0.05 px), scores (1e-3) and classes
        assert_same_detections(got, want, atol=0.05, score_atol=1e-3)


# --- torchvision's architectures (kerasnets.detection.pretrained), built by their builders ---------------------

from kerasnets.detection import torchvision_rcnn as tvr  # noqa: E402
from kerasnets.detection import torchvision_ssd as tvs  # noqa: E402

SMALL_RCNN = {"min_size": 64, "max_size": 96, "rpn_pre_nms_top_n_test": 50, "rpn_post_nms_top_n_test": 20,
              "box_detections_per_img": 10, "box_score_thresh": 0.0, "num_classes": 4}
SMALL_SSD = {"score_thresh": 0.0, "detections_per_img": 10, "topk_candidates": 9000, "num_classes": 4,
             "weights_backbone": None}
#: (row id, class, builder, keyword arguments): every torchvision architecture at a reduced size, random weights
#: (SSD: every default box a candidate, so that TFLite's per-class NMS, which has no pre-NMS cut, keeps the same);
#: torchvision's classes count the background (num_classes 4: labels 1-3 for the synthetic set's 3 shapes)
TORCHVISION_CONFIGS = [
    ("ssdlite320", tvs.SSDLite320MobileNetV3Large, "ssdlite320_mobilenet_v3_large", {**SMALL_SSD, "width_mult": 0.25}),
    ("fasterrcnn_mobilenet_320", tvr.TorchvisionRCNN, "fasterrcnn_mobilenet_v3_large_320_fpn", SMALL_RCNN),
    pytest.param("maskrcnn_r50_v2", tvr.TorchvisionRCNN, "maskrcnn_resnet50_fpn_v2", SMALL_RCNN,
                 marks=pytest.mark.slow),
    pytest.param("ssd300_vgg16", tvs.SSD300VGG16, "ssd300_vgg16", SMALL_SSD, marks=pytest.mark.slow),
]
#: steps of the trainable rows (SSD) on their two 320-pixel images: 12 cost 35 s at width 0.25, 6 suffice to show it
TORCHVISION_STEPS = 6


def spread_all(model, seed=4, head_scale=0.3):
    """Every weight drawn anew (He-scaled kernels, batch-norm statistics spread, prediction layers scaled by
    `head_scale`): torchvision's initialisation of an untrained detector gives tied scores."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape, name = tuple(w.shape), w.path.rsplit("/", 1)[-1]
        if name in ("moving_variance", "gamma", "scale"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name in ("moving_mean", "beta", "bias", "offset"):
            value = rng.normal(0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            value = rng.normal(0, np.sqrt(2.0 / max(fan_in, 1)), shape)
            if any(k in w.path for k in ("classification_head", "regression_head", "cls_score", "bbox_pred",
                                         "cls_logits", "mask_fcn_logits")):
                value *= head_scale
        w.assign(value.astype("float32"))


@pytest.fixture(scope="module")
def torchvision_data():
    return synthetic_shapes(2, 320, seed=0, min_size=40, max_size=140)


@pytest.fixture(scope="module")
def torchvision_built(torchvision_data, tmp_path_factory):
    """Per row, built on first use: (model, saved path, training losses, detections on the synthetic images)."""
    folder = tmp_path_factory.mktemp("torchvision_rows")
    cache = {}

    def get(row, builder, kwargs):
        if row not in cache:
            keras.utils.set_random_seed(0)
            model = (tvs.BUILDERS | tvr.BUILDERS)[builder](**kwargs)
            spread_all(model)
            losses = []
            if model.trainable_weights and not isinstance(model, tvr.TorchvisionRCNN):
                arrays = torchvision_data.padded(torchvision_data.max_objects)
                x = {"images": arrays["images"].astype("float32"), "boxes": arrays["boxes"],
                     "classes": np.where(arrays["classes"] >= 0, arrays["classes"] + 1, -1)}
                model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
                losses = [model.train_on_batch(x, return_dict=True) for _ in range(TORCHVISION_STEPS)]
            path = folder / f"{row}.keras"
            model.save(path)
            cache[row] = (model, path, losses, model.detect(list(torchvision_data.images)))
        return cache[row]

    return get


@pytest.mark.parametrize(("row", "cls", "builder", "kwargs"), TORCHVISION_CONFIGS)
def test_torchvision_rows_learn_and_detect(torchvision_built, torchvision_data, row, cls, builder, kwargs):
    """Built by its builder, a trainable row learns its batch; detections lie in the image with torchvision's labels
    and the class names of a num_classes other than COCO's."""
    model, path, losses, detections = torchvision_built(row, builder, kwargs)
    assert type(model) is cls
    if losses:  # measured (width 0.25, 6 steps, seed 0): loss 10.9 -> 6.8
        assert all(np.isfinite(v) for logs in losses for v in logs.values())
        assert losses[-1]["loss"] < 0.8 * losses[0]["loss"], [round(logs["loss"], 3) for logs in losses]
    assert model.class_names == ["__background__", "1", "2", "3"]
    assert any(len(d["boxes"]) for d in detections)
    for d, image in zip(detections, torchvision_data.images):
        h, w = image.shape[:2]
        assert len(d["boxes"]) <= 10 and ((d["classes"] >= 1) & (d["classes"] <= 3)).all()
        assert (d["boxes"] >= -1e-3).all() and (d["boxes"][:, [0, 2]] <= w + 1e-3).all()
        assert (d["boxes"][:, [1, 3]] <= h + 1e-3).all()
        if "masks" in d:
            assert d["masks"].shape == (len(d["boxes"]), h, w)


DEFAULT_TORCHVISION_ROWS = [r for r in TORCHVISION_CONFIGS if not getattr(r, "marks", None)]


@pytest.mark.parametrize("rows", [DEFAULT_TORCHVISION_ROWS, pytest.param([values(r) for r in TORCHVISION_CONFIGS],
                                                                          marks=pytest.mark.slow)],
                         ids=["some", "all"])
def test_torchvision_files_load_in_fresh_processes(torchvision_built, torchvision_data, tmp_path, rows):
    """The rows' files load in fresh interpreters the three ways (one process each for all rows), with their class,
    config and weights, and identical detections in one of them."""
    built = {row: torchvision_built(row, builder, kwargs) for row, _, builder, kwargs in rows}
    images = np.stack(torchvision_data.images)
    paths = [b[1] for b in built.values()]
    for order, detect in (("kerasnets-first", False), ("keras-first", True), ("kerasnets.load_model", False)):
        got = load_elsewhere(order, paths, images, np.zeros((len(images), 1, 4), np.float32), tmp_path, detect=detect)
        for (row, cls, _, _), (model, path, _, detections) in zip(rows, built.values()):
            result = got[str(path)]
            assert result["class"] == cls.__name__
            assert result["config"] == json.loads(json.dumps(model.get_config()))
            assert result["weights"] == pytest.approx(checksum(model), rel=1e-12)
            if detect:
                for g, want in zip(result["detections"], detections, strict=True):
                    assert_same_detections(g, want, atol=1e-3)


@pytest.mark.parametrize(("row", "cls", "builder", "kwargs"), [r for r in TORCHVISION_CONFIGS
                                                                if values(r)[1].exportable])
def test_torchvision_rows_export_to_tflite_like_keras(torchvision_built, torchvision_data, tmp_path, row, cls,
                                                      builder, kwargs):
    pytest.importorskip("ai_edge_litert")
    import export
    from export.detection import op_names, run_detector
    from export.verify import interpreter

    model, _, _, detections = torchvision_built(row, builder, kwargs)
    path = tmp_path / f"{row}.tflite"
    export.detector_to_tflite(model, path)
    content = path.read_bytes()
    assert op_names(content)[-1] == "TFLite_Detection_PostProcess"
    lite = run_detector(interpreter(content), np.stack(torchvision_data.images).astype("float32"))
    for got, want in zip(lite, detections, strict=True):
        assert_same_detections(got, want, atol=0.05, score_atol=1e-3)


# --- files of earlier releases -----------------------------------------------------------------------------

LEGACY_FILES = ["faster_rcnn", "ssd", "yolov1"]


@pytest.mark.parametrize("name", LEGACY_FILES)
def test_files_of_the_earlier_release_load_with_the_same_detections(name):
    import kerasnets

    want = json.load(open(os.path.join(LEGACY, "detections.json")))[name]
    images = np.load(os.path.join(LEGACY, "images.npy")).astype("float32")
    model = kerasnets.load_model(os.path.join(LEGACY, f"{name}.keras"))
    got = model.predict_on_batch(images)
    np.testing.assert_array_equal(got["num_detections"], want["num_detections"])
    np.testing.assert_array_equal(got["classes"], want["classes"])
    np.testing.assert_allclose(got["scores"], want["scores"], atol=1e-5)
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-3)


def test_legacy_files_load_with_keras_in_a_fresh_process(tmp_path):
    images = np.load(os.path.join(LEGACY, "images.npy"))
    paths = [os.path.join(LEGACY, f"{n}.keras") for n in LEGACY_FILES]
    got = load_elsewhere("keras-first", paths, images, np.zeros((len(images), 1, 4), np.float32), tmp_path)
    assert [got[p]["class"] for p in paths] == ["FasterRCNN", "SSD", "YOLOv1"]
    assert got[paths[1]]["config"]["topk_candidates"] == 50  # `nms_candidates` of the earlier release, renamed


# --- the shape of the package ------------------------------------------------------------------------------

#: kerasnets.detection's modules, lowest first: each may import only modules listed before it
ORDER = ["coco", "pretrained", "boxes", "anchors", "matcher", "ops", "losses", "common", "augment", "layers",
         "backbone", "transform", "base", "rpn", "roi_heads", "single_stage", "generalized_rcnn", "ssd", "yolo",
         "faster_rcnn", "data", "metrics", "diagnosis", "visualize", "rcnn", "torchvision_ssd", "torchvision_rcnn",
         "models"]


def _detection_imports(path):
    tree = ast.parse(open(path).read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kerasnets.detection"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kerasnets.detection"))
    return found


def test_imports_inside_detection_flow_one_way():
    folder = os.path.join(ROOT, "kerasnets", "detection")
    modules = sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py")
    assert sorted(ORDER) == modules, "every module of kerasnets.detection has a place in ORDER"
    for name in modules:
        for imported in _detection_imports(os.path.join(folder, f"{name}.py")):
            assert imported != "kerasnets.detection", f"{name} imports the package itself (a cycle through __init__)"
            target = imported.split(".")[2]
            assert ORDER.index(target) < ORDER.index(name), f"kerasnets.detection.{name} imports {imported}"


def test_importing_one_detection_module_does_not_import_the_others():
    code = ("import sys, kerasnets.detection.boxes; "
            "print(sorted(m for m in sys.modules if m.startswith('kerasnets.detection')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         check=True)
    assert run.stdout.strip() == "['kerasnets.detection', 'kerasnets.detection.boxes']"
