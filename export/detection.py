"""Single-stage detectors (kerasnets.detection.SSD, YOLOv1) -> `.tflite` files that Android's ObjectDetector
(MediaPipe, TFLite Task Library) loads as they are.

The file holds the network (built-in ops only; float32, float16 weights, or full-integer int8 with uint8
image input) and TFLite's standard `TFLite_Detection_PostProcess` op (anchor decoding, score threshold,
NMS), with the four outputs of TF's hosted SSD models:

    0 location              [1, D, 4]  ymin, xmin, ymax, xmax, relative to the image (0 to 1)
    1 category              [1, D]     0-based label index (float)
    2 score                 [1, D]
    3 number of detections  [1]

How the op gets in: TensorFlow's converter replaces a `tf.function` carrying
`experimental_implements='name: "TFLite_Detection_PostProcess" attr {...}'` by the op (the route of the
TF Object Detection API's TF2 exporter). The function is an endpoint of a Keras `ExportArchive`; the
detector gives the op's inputs (`postprocess_inputs`: box encodings and class scores) and its anchors
(normalised yc, xc, h, w) and scales. Metadata: kerasnets' writer (`export.metadata`, detector layout).
Every file is written atomically; bad input raises ExportError before anything is written.
"""

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export import metadata as metadata_lib
from export.checks import is_detector
from export.converter import configure
from export.errors import ExportError
from export.verify import POSTPROCESS_OP, quantize_input
from kerasnets.utils import atomic_output, temporary_folder

QUANTIZATIONS = ("none", "float16", "int8")
#: Signature output keys; the converter orders outputs by key, which is the op's output order.
OUTPUT_KEYS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")


def check_detector(model, source="the model"):
    if not is_detector(model):
        kind = "an image classifier" if _looks_like_classifier(model) else f"a {type(model).__name__}"
        raise ExportError(f"{source} is {kind}, not a single-stage detector (SSD or YOLOv1); export classifiers "
                          "with export.to_tflite (python -m export MODEL.keras --labels ...), and detectors "
                          "trained with apps/train_detector.py --model ssd|yolov1.")


def _looks_like_classifier(model):
    shape = getattr(model, "output_shape", None)
    return isinstance(shape, tuple) and len(shape) == 2


def postprocess_signature(num_classes, max_detections, score_threshold, iou_threshold, scales, regular_nms=False,
                          max_classes_per_detection=1, detections_per_class=100):
    """The `experimental_implements` string the converter turns into the TFLite_Detection_PostProcess op."""
    y, x, h, w = (float(s) for s in scales)
    attrs = [("max_detections", "i", int(max_detections)),
             ("max_classes_per_detection", "i", int(max_classes_per_detection)),
             ("detections_per_class", "i", detections_per_class), ("num_classes", "i", int(num_classes)),
             ("nms_score_threshold", "f", float(score_threshold)),
             ("nms_iou_threshold", "f", float(iou_threshold)),
             ("y_scale", "f", y), ("x_scale", "f", x), ("h_scale", "f", h), ("w_scale", "f", w),
             ("use_regular_nms", "b", "true" if regular_nms else "false")]
    fields = [f'attr {{ key: "{k}" value {{ {t}: {v} }} }}' for k, t, v in attrs]
    return " ".join([f'name: "{POSTPROCESS_OP}"', *fields])


def _write_archive(model, path, max_detections, score_threshold, iou_threshold):
    import keras
    import tensorflow as tf

    # per-class NMS where the detector suppresses within each class (torchvision's SSDs), else TFLite's fast NMS
    regular = bool(getattr(model, "regular_nms", False))
    per_class = int(getattr(model, "config", {}).get("topk_candidates") or max_detections) if regular else 100
    signature = postprocess_signature(model.num_classes, max_detections, score_threshold, iou_threshold,
                                      model.box_scales, regular_nms=regular,
                                      detections_per_class=min(per_class, max_detections))

    @tf.function(experimental_implements=signature)
    def postprocess(box_encodings, class_predictions, anchors):
        # a stand-in: the converter replaces the whole function by the TFLite op
        del box_encodings, class_predictions, anchors
        return (tf.zeros([1, max_detections, 4]), tf.zeros([1, max_detections]), tf.zeros([1, max_detections]),
                tf.zeros([1]))

    anchors = tf.constant(np.asarray(model.anchors, np.float32))

    def serve(image):
        encodings, scores = model.postprocess_inputs(image)
        outputs = postprocess(tf.cast(encodings, tf.float32), tf.cast(scores, tf.float32), anchors)
        return dict(zip(OUTPUT_KEYS, outputs))

    height, width = model.image_size
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec((1, height, width, 3), tf.float32, name="image")])
    archive.write_out(str(path), verbose=False)


def convert_detector(model, quantize="none", representative_data=None, max_detections=None, score_threshold=None,
                     iou_threshold=None):
    """TFLite bytes (no metadata) of a detector with the postprocess op; see `detector_to_tflite`."""
    import tensorflow as tf

    from export.tflite import representative_images

    check_detector(model)
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"detectors export as {', '.join(QUANTIZATIONS)}; received quantize={quantize!r}.")
    if quantize == "int8" and representative_data is None:
        raise ExportError("int8 quantization needs representative data to calibrate with: a folder of typical images "
                          "(--representative DIR), a tf.data.Dataset or an iterable of arrays.")
    config = getattr(model, "config", {})
    max_detections = int(max_detections or config.get("detections_per_img", 100))
    if score_threshold is None:  # a detector whose own threshold is COCO evaluation's says what a file should use
        score_threshold = getattr(model, "export_score_threshold", None) or config.get("score_thresh", 0.05)
    score_threshold = float(score_threshold)
    if not 0.0 <= score_threshold <= 1.0 or max_detections < 1:
        raise ExportError(f"the score threshold must lie in [0, 1] and max_detections be at least 1; received "
                          f"{score_threshold:g} and {max_detections}.")
    iou_threshold = float(config.get("nms_thresh", 0.5) if iou_threshold is None else iou_threshold)
    calibration = representative_images(representative_data, tuple(model.image_size)) if quantize == "int8" else None
    with temporary_folder("kerasnets-detector-") as tmp:
        _write_archive(model, tmp, max_detections, score_threshold, iou_threshold)
        converter = configure(tf.lite.TFLiteConverter.from_saved_model(tmp), quantize, calibration)
        converter.inference_output_type = tf.float32  # the postprocess op's outputs are float
        try:
            data = converter.convert()
        except Exception as e:  # the converter's own errors are long MLIR dumps
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ExportError(f"TFLite conversion of {model.name} failed: {first}") from e
    return _outputs_in_op_order(_check_converted(data, model.name))


def _check_converted(data, name):
    """The converted detector has the postprocess op, no Flex op and no other custom op (export.verify)."""
    from export.verify import check_operators

    ops = [o.name for o in check_operators(data, allowed_custom=(POSTPROCESS_OP,),
                                            what=f"the TFLite file of {name}")]
    if POSTPROCESS_OP not in ops:
        raise ExportError(f"TFLite conversion of {name} did not insert {POSTPROCESS_OP} (ops: {sorted(set(ops))}).")
    return data


def _outputs_in_op_order(data):
    """The model with its outputs in the postprocess op's order (location, category, score, number), the
    order Android readers assume; the converter lists a signature's outputs in its own order."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    graph = model.subgraphs[0]
    custom = {i for i, c in enumerate(model.operatorCodes) if c.customCode and c.customCode.decode() == POSTPROCESS_OP}
    op = next(o for o in graph.operators if o.opcodeIndex in custom)
    if list(graph.outputs) == list(op.outputs):
        return data
    if sorted(graph.outputs) != sorted(op.outputs):
        raise ExportError(f"the converted model's outputs are not those of {POSTPROCESS_OP}.")
    graph.outputs = list(op.outputs)
    for name, index in zip(metadata_lib.DETECTOR_OUTPUTS, op.outputs):
        graph.tensors[index].name = name.replace(" ", "_")
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=metadata_lib.MODEL_FILE_IDENTIFIER)
    return bytes(builder.Output())


def op_names(model_bytes):
    """The operator names of a `.tflite` model (custom ops by their custom code)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_bytes, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if code.CustomCode():
            codes.append(code.CustomCode().decode())
        else:
            codes.append(next(k for k, v in vars(schema.BuiltinOperator).items() if v == builtin))
    graph = model.Subgraphs(0)
    return [codes[graph.Operators(i).OpcodeIndex()] for i in range(graph.OperatorsLength())]


def load_labels(labels, model):
    """Label list: the model's class names (None), a file with one label per line, or a list; must match
    the number of classes."""
    if labels is None:
        labels = list(getattr(model, "class_names", None) or [str(i) for i in range(model.num_classes)])
    elif isinstance(labels, (str, os.PathLike)):
        from export.checks import read_label_file

        labels = read_label_file(labels)  # UTF-8 with or without a byte-order mark, as for classifiers
    labels = [str(x) for x in labels]
    if len(labels) != model.num_classes:
        raise ExportError(f"{len(labels)} labels for a detector of {model.num_classes} classes "
                          f"({', '.join(getattr(model, 'class_names', [])[:10])}).")
    return labels


def detector_to_tflite(model, path, quantize="none", representative_data=None, labels=None, max_detections=None,
                       score_threshold=None, iou_threshold=None, description=None):
    """Export a single-stage detector as a `.tflite` that MediaPipe's ObjectDetector loads.

    quantize: 'none' (float32), 'float16' (weights) or 'int8' (full integer, calibrated on
    `representative_data`, uint8 image input; the outputs stay float). labels: None (the model's
    class names), a label file or a list. The thresholds default to the model's own. Written atomically.
    """
    check_detector(model)
    label_list = load_labels(labels, model)
    folder = Path(path).resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ExportError(f"{path}: the folder {folder} does not exist or is not writable.")
    data = convert_detector(model, quantize, representative_data, max_detections, score_threshold, iou_threshold)
    kind = "float32" if quantize == "none" else quantize
    summary = description or (
        f"{model.name} object detector ({type(model).__name__}, {kind}) exported by kerasnets: RGB pixels 0-255 "
        f"in, {POSTPROCESS_OP} (anchor decoding and non-maximum suppression) built in.")
    meta = metadata_lib.build_metadata(name=model.name, description=summary, detector=True)
    with atomic_output(path) as tmp:
        tmp.write_bytes(metadata_lib.attach(data, meta, label_list))
    return Path(path)


# --- running and verifying exported detectors ---------------------------------------------------------

def run_detector(runner, images, image_size=None):
    """Detections of a LiteRT interpreter for float 0-255 images `[N, H, W, 3]`: per image a dict with
    `boxes` (xyxy pixels of `image_size`, default the model's input; clipped to the image), `scores`, `classes`."""
    inp = runner.get_input_details()[0]
    outs = runner.get_output_details()
    height, width = inp["shape"][1:3]
    out_h, out_w = image_size or (height, width)
    results = []
    for image in np.asarray(images, np.float32):
        runner.set_tensor(inp["index"], quantize_input(image[None], inp))
        runner.invoke()
        boxes, classes, scores, count = (runner.get_tensor(o["index"]) for o in outs[:4])
        n = int(count.reshape(-1)[0])
        yxyx = np.clip(boxes[0, :n], 0.0, 1.0)
        results.append({"boxes": (yxyx[:, [1, 0, 3, 2]] * [out_w, out_h, out_w, out_h]).astype(np.float32),
                        "scores": scores[0, :n].astype(np.float32), "classes": classes[0, :n].astype(np.int32)})
    return results


@dataclass
class DetectorVerification:
    """A `.tflite` detector against its Keras model on the same images."""

    path: str
    size_bytes: int
    input_dtype: str
    output_names: list
    ops: list
    matched: int
    keras_detections: int
    mean_iou: float
    min_iou: float
    same_class: float
    max_score_diff: float
    latency_ms: float
    samples: int
    coco: dict = field(default_factory=dict)
    score_threshold: float = 0.3
    lite_detections: int | None = None

    def __str__(self):
        head = (f"{os.path.basename(self.path)}: {self.size_bytes / 1e6:.2f} MB, {self.input_dtype} input, "
                f"outputs {self.output_names}; ")
        if not self.keras_detections:
            lite = "" if self.lite_detections is None else f" (the .tflite gave {self.lite_detections})"
            return (head + f"nothing to compare: the Keras model made no detection at score >= "
                    f"{self.score_threshold:g} on the {self.samples} images{lite}, as an untrained detector does; "
                    f"{self.latency_ms:.1f} ms/image (LiteRT, CPU)")
        text = (head + f"{self.matched}/{self.keras_detections} Keras detections matched "
                f"(IoU mean {self.mean_iou:.3f}, min {self.min_iou:.3f}; same class {self.same_class:.1%}; "
                f"max |score diff| {self.max_score_diff:.3f}) on {self.samples} images; "
                f"{self.latency_ms:.1f} ms/image (LiteRT, CPU)")
        if self.coco:
            text += f"; mAP@.5 {self.coco['mAP50']:.3f}, mAP@[.5:.95] {self.coco['mAP']:.3f}"
        return text


def match_detections(reference, candidate, score_threshold=0.3):
    """Pair each reference detection at or above `score_threshold` with the candidate box of highest IoU
    (one candidate per reference, greedily by reference score): (IoUs, same-class flags, score diffs)."""
    from kerasnets.detection.boxes import box_iou

    ious, same, diffs = [], [], []
    for ref, cand in zip(reference, candidate):
        keep = ref["scores"] >= score_threshold
        r_boxes, r_scores, r_classes = ref["boxes"][keep], ref["scores"][keep], ref["classes"][keep]
        if not len(r_boxes):
            continue
        if not len(cand["boxes"]):
            ious += [0.0] * len(r_boxes)
            same += [False] * len(r_boxes)
            diffs += list(r_scores)
            continue
        iou = np.asarray(box_iou(np.asarray(r_boxes, np.float32), np.asarray(cand["boxes"], np.float32)))
        taken = set()
        for i in np.argsort(-r_scores):
            order = [j for j in np.argsort(-iou[i]) if j not in taken]
            j = order[0] if order else None
            if j is None or iou[i, j] <= 0:
                ious.append(0.0), same.append(False), diffs.append(float(r_scores[i]))
                continue
            taken.add(j)
            ious.append(float(iou[i, j]))
            same.append(bool(r_classes[i] == cand["classes"][j]))
            diffs.append(abs(float(r_scores[i]) - float(cand["scores"][j])))
    return np.asarray(ious), np.asarray(same), np.asarray(diffs)


def verify_detector(path, model, images, dataset=None, score_threshold=0.3, repeats=20):
    """Compare the `.tflite` detector at `path` with the Keras `model` on `images` (uint8 or float 0-255
    `[N, H, W, 3]` at the model's size): matched-box IoU, same class, score differences, LiteRT latency,
    and with a DetectionSet `dataset` (of these images) the COCO mAP of the file."""
    from export.verify import check_operators, interpreter

    data = Path(path).read_bytes()
    check_operators(data, allowed_custom=(POSTPROCESS_OP,), what=str(path))
    runner = interpreter(data)
    images = np.asarray(images)
    lite = run_detector(runner, images.astype(np.float32))
    reference = model.detect(images.astype(np.float32))
    ious, same, diffs = match_detections(reference, lite, score_threshold)
    start = time.perf_counter()
    for _ in range(repeats):
        runner.invoke()
    latency = (time.perf_counter() - start) / repeats * 1000
    coco = {}
    if dataset is not None:
        from kerasnets.detection.metrics import coco_evaluate

        coco = coco_evaluate(dataset, lite)["bbox"]
    summary = metadata_lib.read(data)
    return DetectorVerification(
        path=str(path), size_bytes=len(data), input_dtype=np.dtype(runner.get_input_details()[0]["dtype"]).name,
        output_names=summary.output_names, ops=sorted(set(op_names(data))), matched=int(np.sum(ious > 0)),
        keras_detections=len(ious), mean_iou=float(ious.mean()) if len(ious) else float("nan"),
        min_iou=float(ious.min()) if len(ious) else float("nan"), same_class=float(same.mean()) if len(same) else 1.0,
        max_score_diff=float(diffs.max()) if len(diffs) else 0.0, latency_ms=latency, samples=len(images), coco=coco,
        score_threshold=score_threshold,
        lite_detections=int(sum(int(np.sum(np.asarray(d["scores"]) >= score_threshold)) for d in lite)))


# --- python -m export DETECTOR.keras ------------------------------------------------------------------

def export_from_cli(args, model, step):
    """The `python -m export` path for a detector `.keras`: export, then verify against Keras on
    --verify-images (or --representative) images, resized to the model's input."""
    if args.quantize not in QUANTIZATIONS:
        raise ExportError(f"detectors export as {', '.join(QUANTIZATIONS)}; --quantize {args.quantize} is for "
                          "classifiers.")
    for flag, value in (("--qat-data", args.qat_data), ("--prune", args.prune), ("--saved-model", args.saved_model),
                        ("--int8-io", args.int8_io), ("--size", args.size), ("--alpha", args.alpha),
                        ("--preprocessing", args.preprocessing)):
        if value:
            raise ExportError(f"{flag} is not supported for detectors; the .keras file fixes the model, its size and "
                              "its input normalisation (RGB pixels 0-255).")
    what = "float32" if args.quantize == "none" else args.quantize
    step(f"converting {type(model).__name__} with {POSTPROCESS_OP} to TFLite ({what}"
         + (f", calibrating on {args.representative}" if args.quantize == "int8" else "") + ")")
    detector_to_tflite(model, args.output, quantize=args.quantize, representative_data=args.representative,
                       labels=args.labels, max_detections=args.max_detections, score_threshold=args.score_threshold)
    step(f"wrote {args.output} with metadata (labels, RGB input, location/category/score/number of detections)")
    folder = args.verify_images or args.representative
    if args.verify and folder:
        from export.tflite import representative_images

        step(f"verifying with the LiteRT interpreter on {folder}")
        images = np.concatenate(representative_images(folder, tuple(model.image_size), limit=32, calibration=False))
        print(verify_detector(args.output, model, images))
    else:
        step("verification skipped (" + ("--no-verify" if not args.verify else "no --verify-images") + ")")
    return 0
