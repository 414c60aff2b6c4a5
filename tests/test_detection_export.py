"""Detector export: TFLite_Detection_PostProcess, the four outputs and their metadata read back, LiteRT
against Keras, bad input (nothing written)."""

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")

import export  # noqa: E402
from export import cli, metadata  # noqa: E402
from export import detection as det_export  # noqa: E402
from export.verify import interpreter  # noqa: E402
from kerasnets.detection import SSD, YOLOv1, synthetic_shapes  # noqa: E402
from kerasnets.images import save_image  # noqa: E402

LABELS = ["circle", "rectangle", "triangle"]


def spread_heads(model, scale=40.0):
    """Scale the prediction layers' random weights and zero their biases, so an untrained detector gives varied
    boxes and scores (a freshly initialised head predicts the prior everywhere: the comparison would be vacuous)."""
    for layer in model.network.layers:
        if layer.name.endswith("_pw") or layer.name.startswith("head_fc2"):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * scale, np.zeros_like(bias)])
    return model


@pytest.fixture(scope="module")
def data():
    return synthetic_shapes(6, 64, seed=3, min_size=12, max_size=30)


@pytest.fixture(scope="module")
def ssd():
    keras.utils.set_random_seed(0)
    model = SSD("mobilenetv2", 3, 64, backbone_kwargs={"alpha": 0.35}, freeze_batchnorm=False, extra_levels=1,
                extra_channels=16, anchor_sizes=((12.0, 18.0), (24.0,), (40.0,)), detections_per_img=20,
                score_thresh=0.2, class_names=LABELS)
    return spread_heads(model)


@pytest.fixture(scope="module")
def exported(ssd, tmp_path_factory):
    path = tmp_path_factory.mktemp("det") / "ssd.tflite"
    export.detector_to_tflite(ssd, path)
    return path


def test_exported_file_has_the_op_four_outputs_and_metadata(exported):
    data = exported.read_bytes()
    ops = det_export.op_names(data)
    assert ops.count("TFLite_Detection_PostProcess") == 1 and ops[-1] == "TFLite_Detection_PostProcess"
    assert not [o for o in ops if o.startswith("Flex")]
    runner = interpreter(data)
    outputs = runner.get_output_details()
    assert [o["name"] for o in outputs] == ["location", "category", "score", "number_of_detections"]
    assert [tuple(o["shape"]) for o in outputs] == [(1, 20, 4), (1, 20), (1, 20), (1,)]
    assert runner.get_input_details()[0]["dtype"] == np.float32
    summary = metadata.read(data)
    assert summary.output_names == ["location", "category", "score", "number of detections"]
    assert summary.box_properties == {"index": [1, 0, 3, 2], "type": metadata.meta.BoundingBoxType.BOUNDARIES,
                                      "coordinate_type": metadata.meta.CoordinateType.RATIO}
    assert summary.output_name == "category" and summary.labels == LABELS
    assert summary.label_file_type == metadata.meta.AssociatedFileType.TENSOR_VALUE_LABELS
    assert summary.mean == [0.0] and summary.std == [1.0]


def test_litert_detections_match_keras(exported, ssd, data):
    result = det_export.verify_detector(exported, ssd, data.images, data, score_threshold=0.3)
    assert result.keras_detections >= 5, "the comparison needs detections"
    assert result.matched == result.keras_detections
    # untrained heads give near-tied class scores, so float32 rounding may flip one box's best class
    assert result.min_iou >= 0.95 and result.same_class >= 0.9 and result.max_score_diff < 1e-3
    assert 0.0 <= result.coco["mAP50"] <= 1.0


def test_bad_input_writes_nothing(ssd, tmp_path):
    classifier = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    out = tmp_path / "out.tflite"
    with pytest.raises(export.ExportError, match="not a single-stage detector"):
        export.detector_to_tflite(classifier, out)
    with pytest.raises(export.ExportError, match="object detector"):
        export.to_tflite(ssd, out, labels=LABELS)
    with pytest.raises(export.ExportError, match="2 labels for a detector of 3 classes"):
        export.detector_to_tflite(ssd, out, labels=["a", "b"])
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\nd\n")
    with pytest.raises(export.ExportError, match="4 labels"):
        export.detector_to_tflite(ssd, out, labels=labels)
    with pytest.raises(export.ExportError, match="representative data"):
        export.detector_to_tflite(ssd, out, quantize="int8")
    with pytest.raises(export.ExportError, match="detectors export as"):
        export.detector_to_tflite(ssd, out, quantize="dynamic")
    assert os.listdir(tmp_path) == ["labels.txt"]


def test_cli_refuses_bad_detector_exports(ssd, tmp_path, capsys):
    model_path = tmp_path / "det.keras"
    ssd.save(model_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("one\ntwo\n")
    out = tmp_path / "det.tflite"
    assert cli.main([str(model_path), "--labels", str(labels), "--output", str(out)]) == 1
    assert "2 labels for a detector of 3 classes" in capsys.readouterr().err
    assert cli.main([str(model_path), "--quantize", "int8", "--output", str(out)]) == 1
    assert "calibrates on typical images: give a folder of them with --representative DIR" in capsys.readouterr().err
    assert cli.main([str(model_path), "--quantize", "dynamic", "--output", str(out)]) == 1
    assert "--quantize dynamic is for classifiers" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_int8_and_float16_exports_and_the_cli(ssd, data, tmp_path, capsys):
    folder = tmp_path / "calibration"
    folder.mkdir()
    for i, image in enumerate(data.images):
        save_image(str(folder / f"{i}.png"), image)
    model_path = tmp_path / "det.keras"
    ssd.save(model_path)
    out = tmp_path / "det_int8.tflite"
    assert cli.main([str(model_path), "--quantize", "int8", "--representative", str(folder), "--output", str(out)]) == 0
    assert "matched" in capsys.readouterr().out
    runner = interpreter(out)
    assert runner.get_input_details()[0]["dtype"] == np.uint8
    assert runner.get_input_details()[0]["quantization"] == (1.0, 0)
    assert [o["dtype"] for o in runner.get_output_details()] == [np.float32] * 4
    result = det_export.verify_detector(out, ssd, data.images, score_threshold=0.3)
    assert result.matched >= 0.8 * result.keras_detections and result.mean_iou > 0.8
    half = export.detector_to_tflite(ssd, tmp_path / "det_fp16.tflite", quantize="float16")
    result = det_export.verify_detector(half, ssd, data.images, score_threshold=0.3)
    assert result.matched == result.keras_detections and result.min_iou >= 0.9


@pytest.mark.slow
def test_yolo_exports_with_the_postprocess_op(data, tmp_path):
    keras.utils.set_random_seed(0)
    model = spread_heads(YOLOv1("mobilenetv2", 3, 64, grid=2, backbone_kwargs={"alpha": 0.35}, hidden=16,
                                head_channels=8, class_names=LABELS), scale=3.0)
    path = export.detector_to_tflite(model, tmp_path / "yolo.tflite")
    result = det_export.verify_detector(path, model, data.images, score_threshold=0.1)
    assert result.keras_detections > 0 and result.min_iou >= 0.95 and result.same_class == 1.0
