"""Every `.tflite` the project writes holds built-in operators only (plus TFLite_Detection_PostProcess in
detectors): `export.verify.check_operators` passes on each kind of file, fails on a real Flex file, and
runs inside every writer before anything is written."""

import keras
import numpy as np
import pytest

import export
from export import detection as det_export
from export import tfmot_bridge
from export.errors import ExportError
from export.tflite import image_model_to_tflite
from export.verify import POSTPROCESS_OP, check_operators, operators

pytest.importorskip("ai_edge_litert")

LABELS = ["circle", "rectangle", "triangle"]


class ChannelInverse(keras.layers.Layer):
    """Inverse of the channels' Gram matrix: tf.linalg.inv on TensorFlow, which TFLite has no builtin for."""

    def call(self, x):
        flat = keras.ops.reshape(x, (-1, x.shape[1] * x.shape[2], 3))
        gram = keras.ops.matmul(keras.ops.transpose(flat, (0, 2, 1)), flat) / 255.0 + keras.ops.eye(3)
        return keras.ops.reshape(keras.ops.linalg.inv(gram), (-1, 9))


def flex_classifier():
    inputs = keras.Input((16, 16, 3))
    x = ChannelInverse(name="channel_inverse")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="flexnet")


@pytest.fixture(scope="module")
def flex_bytes():
    """A real Flex file: TFLite's converter with SELECT_TF_OPS on a function using MatrixInverse."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 3, 3], tf.float32)])
    def f(x):
        with tf.name_scope("covariance_inverse"):
            y = tf.linalg.inv(x + 1.0)
        return y * 2.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return converter.convert()


def test_a_flex_file_fails_naming_the_operator_and_the_layer(flex_bytes, tmp_path):
    ops = operators(flex_bytes)
    assert [o.name for o in ops if o.custom] == ["FlexMatrixInverse"]  # the file really has a Flex op
    from ai_edge_litert.interpreter import Interpreter

    with pytest.raises(Exception):  # and the LiteRT runtime really refuses it
        Interpreter(model_content=flex_bytes).allocate_tensors()
    path = tmp_path / "flex.tflite"
    path.write_bytes(flex_bytes)
    for source in (flex_bytes, path):
        with pytest.raises(ExportError, match=r"Flex.*FlexMatrixInverse.*covariance_inverse/MatrixInverse"):
            check_operators(source)
    # allowing the detector's custom op does not let a Flex op through
    with pytest.raises(ExportError, match="FlexMatrixInverse"):
        check_operators(flex_bytes, allowed_custom=(POSTPROCESS_OP,))


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ExportError, match="not a TFLite flatbuffer"):
        check_operators(bad)
    with pytest.raises(ExportError, match="cannot read"):
        check_operators(tmp_path / "missing.tflite")


# --- every kind of file the project writes ------------------------------------------------------------

def tiny_classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU(6.0)(x))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="tiny")


def tiny_ssd():
    from kerasnets.detection import SSD

    keras.utils.set_random_seed(0)
    return SSD("mobilenetv2", 3, 64, backbone_kwargs={"alpha": 0.35}, freeze_batchnorm=False, extra_levels=1,
               extra_channels=16, anchor_sizes=((12.0, 18.0), (24.0,), (40.0,)), detections_per_img=20,
               score_thresh=0.2, class_names=LABELS)


def tiny_yolo():
    from kerasnets.detection import YOLOv1

    keras.utils.set_random_seed(0)
    return YOLOv1("mobilenetv2", 3, 64, grid=2, backbone_kwargs={"alpha": 0.35}, hidden=16, head_channels=8,
                  class_names=LABELS)


def calibration(size, n=4):
    return np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype("float32")


def style_net():
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(x), name="style")


def digits(n=40, size=32):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32"), rng.integers(0, 3, n)


#: (kind, writer(path), custom operators the file must carry). Every writer is the project's own.
KINDS = [
    ("classifier float32", lambda p: export.to_tflite(tiny_classifier(), p, labels=LABELS, preprocessing="tf"), ()),
    ("classifier float16", lambda p: export.to_tflite(tiny_classifier(), p, "float16", labels=LABELS,
                                                      preprocessing="tf"), ()),
    ("classifier dynamic", lambda p: export.to_tflite(tiny_classifier(), p, "dynamic", labels=LABELS,
                                                      preprocessing="tf"), ()),
    ("classifier int8", lambda p: export.to_tflite(tiny_classifier(), p, "int8", calibration(32), LABELS,
                                                   preprocessing="tf"), ()),
    ("style image model float16", lambda p: image_model_to_tflite(style_net(), p, 32), ()),
    pytest.param("SSD float32", lambda p: export.detector_to_tflite(tiny_ssd(), p), (POSTPROCESS_OP,),
                 marks=pytest.mark.slow),  # also written (and so checked) by test_detection_export's fixture
    ("SSD int8", lambda p: export.detector_to_tflite(tiny_ssd(), p, "int8", calibration(64)), (POSTPROCESS_OP,)),
    pytest.param("SSD float16", lambda p: export.detector_to_tflite(tiny_ssd(), p, "float16"), (POSTPROCESS_OP,),
                 marks=pytest.mark.slow),
    pytest.param("YOLOv1 int8", lambda p: export.detector_to_tflite(tiny_yolo(), p, "int8", calibration(64)),
                 (POSTPROCESS_OP,), marks=pytest.mark.slow),
    pytest.param("classifier QAT int8 (tfmot)", lambda p: tfmot_bridge.quantization_aware(
        tiny_classifier(), digits(), p, epochs=1, labels=LABELS, preprocessing="tf"), (), marks=pytest.mark.slow),
    pytest.param("classifier pruned float32 (tfmot)", lambda p: tfmot_bridge.prune(
        tiny_classifier(), digits(), p, epochs=1, labels=LABELS, preprocessing="tf"), (), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kind, write, custom", KINDS, ids=[k.values[0] if hasattr(k, "values") else k[0]
                                                             for k in KINDS])
def test_every_kind_of_file_has_builtin_operators_only(kind, write, custom, tmp_path):
    path = tmp_path / "model.tflite"
    write(path)
    ops = check_operators(path, allowed_custom=custom)
    assert sorted({o.name for o in ops if o.custom}) == sorted(custom), kind
    assert not [o for o in ops if o.name.startswith("Flex")]
    if custom:  # the check is strict: the same detector file is refused where no custom op is allowed
        with pytest.raises(ExportError, match=f"custom operators.*{POSTPROCESS_OP}"):
            check_operators(path)


# --- the writers run the check before writing ---------------------------------------------------------

def with_select_tf_ops(configure):
    def configured(converter, *args, **kwargs):
        import tensorflow as tf

        converter = configure(converter, *args, **kwargs)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        return converter
    return configured


def test_classifier_writer_refuses_a_flex_model_and_names_the_layer(monkeypatch, tmp_path):
    import export.tflite as tflite

    monkeypatch.setattr(tflite, "configure", with_select_tf_ops(tflite.configure))
    path = tmp_path / "flexnet.tflite"
    with pytest.raises(ExportError, match=r"flexnet.*FlexMatrixInverse.*channel_inverse"):
        export.to_tflite(flex_classifier(), path, labels=LABELS, preprocessing="none")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


def test_detector_and_tfmot_writers_refuse_flex_files(flex_bytes, monkeypatch, tmp_path):
    class FlexConverter:
        inference_output_type = None

        def convert(self):
            return flex_bytes

    import tensorflow as tf

    monkeypatch.setattr(det_export, "_write_archive", lambda *args, **kwargs: None)
    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", lambda *args, **kwargs: None)
    monkeypatch.setattr(det_export, "configure", lambda *args, **kwargs: FlexConverter())
    with pytest.raises(ExportError, match="FlexMatrixInverse"):
        export.detector_to_tflite(tiny_ssd(), tmp_path / "ssd.tflite")

    def worker(job_dir):
        (job_dir / "model.tflite").write_bytes(flex_bytes)
        return {}

    monkeypatch.setattr(tfmot_bridge, "run_worker", worker)
    with pytest.raises(ExportError, match="FlexMatrixInverse"):
        tfmot_bridge.quantization_aware(tiny_classifier(), digits(), tmp_path / "qat.tflite", labels=LABELS,
                                        preprocessing="tf")
    assert list(tmp_path.iterdir()) == []
