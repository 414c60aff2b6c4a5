"""Run an exported `.tflite` with the LiteRT interpreter and compare it with the Keras model, and check
that a file holds only operators Android's LiteRT runtime has (`check_operators`)."""

import os
import time
from dataclasses import dataclass, field

import numpy as np

from export.errors import ExportError


@dataclass
class Verification:
    path: str
    size_bytes: int
    input_dtype: str
    input_shape: tuple
    output_dtype: str
    output_shape: tuple
    max_abs_diff: float
    top1_agreement: float
    latency_ms: float
    samples: int

    def __str__(self):
        return (
            f"{os.path.basename(self.path)}: {self.size_bytes / 1e6:.2f} MB, input "
            f"{self.input_dtype}{list(self.input_shape)}, "
            f"output {self.output_dtype}{list(self.output_shape)}, max |TFLite - Keras| = {self.max_abs_diff:.2e}, "
            f"top-1 agreement {self.top1_agreement:.1%} on {self.samples} images, {self.latency_ms:.1f} ms/image "
            "(LiteRT, CPU)"
        )


#: The custom operator a detector file carries (anchor decoding + NMS); a classifier carries none.
POSTPROCESS_OP = "TFLite_Detection_PostProcess"
#: Custom-code prefix of TensorFlow (Select TF, "Flex") operators, which need the Flex delegate.
FLEX_PREFIX = "Flex"


@dataclass
class Operator:
    """One operator of a `.tflite` graph: its name (builtin, or custom code), where it sits, the names of the
    tensors it reads and writes (the converter names tensors after the layer / TF op that produced them)."""

    name: str
    custom: bool
    subgraph: int
    index: int
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def where(self):
        produced = ", ".join(self.outputs[:2]) + (", ..." if len(self.outputs) > 2 else "")
        return f"{self.name} (operator {self.index} of subgraph {self.subgraph}, producing {produced or 'nothing'})"


def tflite_schema():
    """TFLite's flatbuffer schema as generated Python: LiteRT's copy (light), else TensorFlow's."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:  # pragma: no cover - the export extra installs ai-edge-litert
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def builtin_names():
    """Builtin operator code -> name (ADD, CONV_2D, ...)."""
    schema = tflite_schema()
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def read_model_bytes(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    try:
        with open(model, "rb") as f:
            return f.read()
    except OSError as e:
        raise ExportError(f"{model}: cannot read the .tflite file ({e.strerror}).") from None


def operators(model):
    """Every operator of a `.tflite` (path or bytes), all subgraphs, in graph order."""
    schema = tflite_schema()
    data = read_model_bytes(model)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ExportError("not a TFLite flatbuffer (no TFL3 file identifier): truncated, or another format.")
    root = schema.Model.GetRootAs(data, 0)
    names = builtin_names()
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        if custom is not None or builtin == schema.BuiltinOperator.CUSTOM:
            codes.append(((custom or b"<custom op without a name>").decode("utf-8", "replace"), True))
        else:
            codes.append((names.get(builtin, f"BUILTIN_{builtin}"), False))
    ops = []
    for s in range(root.SubgraphsLength()):
        graph = root.Subgraphs(s)

        def tensor_names(indices, graph=graph):
            return [graph.Tensors(int(t)).Name().decode("utf-8", "replace") for t in indices if t >= 0]

        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            name, custom = codes[op.OpcodeIndex()]
            ops.append(Operator(name, custom, s, i, tensor_names(op.InputsAsNumpy() if op.InputsLength() else []),
                                tensor_names(op.OutputsAsNumpy() if op.OutputsLength() else [])))
    return ops


def check_operators(model, allowed_custom=(), what="the .tflite file"):
    """Raise ExportError unless every operator of `model` (a `.tflite` path or bytes) is one Android's LiteRT
    runtime runs as it is: no TensorFlow (Flex / Select TF) operator, and no custom operator other than
    `allowed_custom` (POSTPROCESS_OP for detectors, none for classifiers). The message names each offending
    operator and the tensors it produces (named after the layer that produced them). Returns the operators."""
    ops = operators(model)
    flex = [o for o in ops if o.name.startswith(FLEX_PREFIX)]
    if flex:
        raise ExportError(
            f"{what} needs TensorFlow (Flex / Select TF) operators, which Android's LiteRT runtime does not run: "
            + "; ".join(o.where() for o in flex[:5]) + (f"; and {len(flex) - 5} more" if len(flex) > 5 else "")
            + ". Write that layer with operations TFLite has built in (keras.ops), or leave it out of the model.")
    custom = [o for o in ops if o.custom and o.name not in allowed_custom]
    if custom:
        expected = ", ".join(allowed_custom) if allowed_custom else "none"
        raise ExportError(
            f"{what} has custom operators it should not have (expected: {expected}): "
            + "; ".join(o.where() for o in custom[:5]) + (f"; and {len(custom) - 5} more" if len(custom) > 5 else "")
            + ". A runtime without those kernels cannot load it.")
    return ops


def quantize_input(x, detail):
    """`x` (float pixels) as the LiteRT input `detail` takes it: unchanged for float32, else quantized
    with the tensor's scale and zero point and clipped to its integer type."""
    if detail["dtype"] == np.float32:
        return np.asarray(x, np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(np.asarray(x) / scale + zero), info.min, info.max).astype(detail["dtype"])


def interpreter(model, num_threads=None):
    """A ready LiteRT interpreter (XNNPACK) for a `.tflite` path or the model's bytes."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the export extra installs it
        raise ExportError(
            "running .tflite files needs the LiteRT interpreter: pip install 'kerasnets[export]'"
        ) from None
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    runner = Interpreter(**source, num_threads=num_threads)
    runner.allocate_tensors()
    return runner


def run(runner, images):
    """Probabilities (float) for `images` (float 0-255, `[N, H, W, 3]`), one image at a time."""
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    results = []
    for image in images:
        runner.set_tensor(inp["index"], quantize_input(image[None], inp))
        runner.invoke()
        y = runner.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y)
    return np.stack(results)


def verify(model_path, keras_model, images, preprocessing=None, repeats=20):
    """Compare the `.tflite` at `model_path` with `keras_model` (taking preprocessed input, as built)
    on `images` (float 0-255 RGB `[N, H, W, 3]`), and time LiteRT's batch-1 latency."""
    from export.saved_model import with_preprocessing

    check_operators(model_path, what=str(model_path))
    runner = interpreter(model_path)
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    images = np.asarray(images, dtype="float32")
    reference = np.asarray(with_preprocessing(keras_model, preprocessing, size=inp["shape"][1]).predict(images,
        verbose=0))
    got = run(runner, images)
    start = time.perf_counter()
    for _ in range(repeats):
        runner.invoke()
    latency = (time.perf_counter() - start) / repeats * 1000
    return Verification(
        path=str(model_path), size_bytes=os.path.getsize(model_path), input_dtype=np.dtype(inp["dtype"]).name,
        input_shape=tuple(int(d) for d in inp["shape"]), output_dtype=np.dtype(out["dtype"]).name,
        output_shape=tuple(int(d) for d in out["shape"]),
        max_abs_diff=float(np.max(np.abs(got - reference))),
        top1_agreement=float(np.mean(np.argmax(got, axis=1) == np.argmax(reference, axis=1))),
        latency_ms=latency, samples=len(images),
    )
