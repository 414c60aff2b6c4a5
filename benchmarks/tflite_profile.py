"""Per-operator profile of a `.tflite` file with the LiteRT interpreter (XNNPACK), on this CPU.

    python benchmarks/tflite_profile.py model.tflite [--threads 1] [--runs 50] [--stat min] [--image photo.jpg]
        [--json out.json]

LiteRT's Python interpreter has no op profiler and its `litert-benchmark` has no per-operator option, so
each operator is timed on its own: the file's operator, with its weights and the tensor values it sees
in a real run of the whole file (one run with all tensors kept), cut out into a one-operator model and
run `--runs` times with XNNPACK at `--threads`. Reported:

- the whole file's median latency with XNNPACK and with TFLite's own kernels (XNNPACK off);
- which operators XNNPACK takes in the whole file (its partitions) and which run on TFLite's kernels;
- a time table per operator type and the slowest operators, each marked XNNPACK or TFLite kernel;
- QUANTIZE / DEQUANTIZE operators, DEQUANTIZE->QUANTIZE round trips, and float operators of an integer file;
- the share of TFLite_Detection_PostProcess (detectors).

The one-operator times add up to about the whole file's time, not exactly: XNNPACK fuses operators and
keeps activations in cache inside a partition, and every call has a fixed cost. Operators whose inputs are
all constants (float16 weights' DEQUANTIZE) are evaluated once at load and are listed apart. The input is
`--image` (resized) or seeded random 0-255 pixels; a detector's post-process time depends on how many
anchors pass its score threshold, so give it a real image for a real answer.
"""

import argparse
import copy
import json
import os
import sys
from collections import defaultdict

import numpy as np

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
DELEGATE = "DELEGATE"


def load_schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:  # pragma: no cover
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def interpreter_class():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter, OpResolverType


class Graph:
    """The first subgraph of a model as plain Python: operators (name, inputs, outputs), tensors, constants."""

    def __init__(self, data):
        schema = load_schema()
        self.schema = schema
        self.model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        self.codes = []
        for code in self.model.operatorCodes:
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            self.codes.append(code.customCode.decode() if code.customCode else names.get(builtin, str(builtin)))
        self.graph = self.model.subgraphs[0]
        self.ops = [self.codes[op.opcodeIndex] for op in self.graph.operators]
        self.dtypes = [types.get(t.type, str(t.type)) for t in self.graph.tensors]
        self.names = [(t.name or b"").decode("utf-8", "replace") for t in self.graph.tensors]
        buffers = self.model.buffers
        self.constant = [t.buffer > 0 and t.buffer < len(buffers) and buffers[t.buffer].data is not None
                         and len(buffers[t.buffer].data) > 0 for t in self.graph.tensors]
        self.producer = {}
        self.consumers = defaultdict(list)
        for i, op in enumerate(self.graph.operators):
            for t in op.outputs:
                self.producer[int(t)] = i
            for t in op.inputs:
                if t >= 0:
                    self.consumers[int(t)].append(i)

    def inputs(self, i):
        return [int(t) for t in self.graph.operators[i].inputs if t >= 0]

    def outputs(self, i):
        return [int(t) for t in self.graph.operators[i].outputs]

    def variable_inputs(self, i):
        return [t for t in self.inputs(i) if not self.constant[t]]

    def single_op_model(self, i):
        """A model holding operator `i` only: its constant inputs keep their data, the others are graph inputs."""
        schema = self.schema
        op = self.graph.operators[i]
        used = list(dict.fromkeys(t for t in [*self.inputs(i), *self.outputs(i),
                                              *[int(t) for t in (op.intermediates if op.intermediates is not None
                                                                 else [])]]))
        remap = {t: n for n, t in enumerate(used)}
        empty = schema.BufferT()
        buffers, tensors = [empty], []
        for t in used:
            tensor = copy.copy(self.graph.tensors[t])
            if self.constant[t]:
                buffers.append(self.model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
            else:
                tensor.buffer = 0
            tensors.append(tensor)
        new_op = copy.copy(op)
        new_op.opcodeIndex = 0
        new_op.inputs = [remap[int(t)] if t >= 0 else -1 for t in op.inputs]
        new_op.outputs = [remap[int(t)] for t in op.outputs]
        if op.intermediates is not None and len(op.intermediates):
            new_op.intermediates = [remap[int(t)] for t in op.intermediates]
        graph = schema.SubGraphT()
        graph.tensors = tensors
        graph.operators = [new_op]
        graph.inputs = [remap[t] for t in self.variable_inputs(i)]
        graph.outputs = [remap[t] for t in self.outputs(i)]
        graph.name = b"op"
        model = schema.ModelT()
        model.version = self.model.version
        model.operatorCodes = [self.model.operatorCodes[op.opcodeIndex]]
        model.subgraphs = [graph]
        model.buffers = buffers
        model.description = b"one operator"
        import flatbuffers

        size = sum(len(b.data) for b in buffers if b.data is not None)
        builder = flatbuffers.Builder(size + 4096)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def make_input(detail, image=None, seed=0):
    """The file's input: `image` (a path, resized) or seeded random pixels 0-255, in the input's dtype."""
    shape = tuple(int(d) for d in detail["shape"])
    if image is not None:
        from kerasnets.images import load_image, resize

        pixels = resize(load_image(image), shape[1:3]).astype(np.float32)[None]
    else:
        pixels = np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
    dtype = detail["dtype"]
    if dtype == np.float32:
        return pixels
    scale, zero = detail["quantization"]
    scale = scale or 1.0
    info = np.iinfo(dtype)
    return np.clip(np.round(pixels / scale + zero), info.min, info.max).astype(dtype)


def median_ms(runner, runs, warmup, stat="median"):
    """The median (or with stat='min', the fastest) of `runs` timed invocations, after `warmup` untimed ones."""
    from export.grid import invoke_ms

    return invoke_ms(runner, runs, warmup, best=stat == "min")


def delegated_ops(runner, graph):
    """Operator index -> partition number for the operators XNNPACK took in the whole file (the others run on
    TFLite's kernels): each delegate node covers the operators between its inputs and outputs."""
    wrapper = runner._interpreter
    taken = {}
    partition = 0
    for node in range(len(graph.ops), wrapper.NumNodes()):
        if wrapper.NodeName(node) != DELEGATE:
            continue
        boundary = {int(t) for t in wrapper.NodeInputs(node)}
        stack = [int(t) for t in wrapper.NodeOutputs(node)]
        seen = set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in graph.producer:
                continue
            seen.add(t)
            op = graph.producer[t]
            if op not in taken:
                taken[op] = partition
                stack.extend(graph.inputs(op))
        partition += 1
    return taken, partition


def all_tensor_values(data, feed):
    """Every tensor's value in one run of the whole file (TFLite's kernels, all tensors kept)."""
    Interpreter, OpResolverType = interpreter_class()
    runner = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    runner.allocate_tensors()
    runner.set_tensor(runner.get_input_details()[0]["index"], feed)
    runner.invoke()
    values = {}
    for t in range(runner._interpreter.NumTensors(0)):
        try:
            values[t] = runner.get_tensor(t)
        except ValueError:  # a tensor without data (an optional input, a scratch buffer)
            pass
    return values


def time_operator(graph, i, values, threads, runs, warmup, stat="median"):
    """(milliseconds, taken by XNNPACK) for operator `i` alone, fed the values it sees in the whole file."""
    Interpreter, _ = interpreter_class()
    runner = Interpreter(model_content=graph.single_op_model(i), num_threads=threads)
    runner.allocate_tensors()
    for detail, t in zip(runner.get_input_details(), graph.variable_inputs(i)):
        value = values.get(t)
        if value is None or tuple(value.shape) != tuple(detail["shape"]):
            value = np.zeros(detail["shape"], detail["dtype"])
        runner.set_tensor(detail["index"], value.astype(detail["dtype"], copy=False))
    wrapper = runner._interpreter
    xnnpack = any(wrapper.NodeName(n) == DELEGATE for n in range(wrapper.NumNodes()))
    del wrapper  # LiteRT refuses to invoke while a reference to its internals is held
    return median_ms(runner, runs, warmup, stat), xnnpack


def quantization_report(graph):
    """QUANTIZE / DEQUANTIZE operators that run (constant inputs excluded), DEQUANTIZE->QUANTIZE round trips,
    requantizations (QUANTIZE of an integer tensor), and float operators of an integer file."""
    dq = [i for i, n in enumerate(graph.ops) if n == "DEQUANTIZE" and graph.variable_inputs(i)]
    q = [i for i, n in enumerate(graph.ops) if n == "QUANTIZE"]
    requantize = [i for i in q if graph.dtypes[graph.inputs(i)[0]] in ("INT8", "UINT8", "INT16")]
    pairs = []
    for i in dq:
        for c in graph.consumers[graph.outputs(i)[0]]:
            if graph.ops[c] == "QUANTIZE":
                pairs.append((i, c))
    for i in q:
        for c in graph.consumers[graph.outputs(i)[0]]:
            if graph.ops[c] == "DEQUANTIZE":
                pairs.append((i, c))
    integer = any(graph.dtypes[t] in ("INT8", "UINT8") for i in range(len(graph.ops)) for t in graph.variable_inputs(i)
                  if graph.ops[i] not in ("QUANTIZE", "DEQUANTIZE"))
    floats = []
    if integer:
        floats = [i for i, n in enumerate(graph.ops) if n not in ("QUANTIZE", "DEQUANTIZE")
                  and any(graph.dtypes[t] == "FLOAT32" for t in graph.variable_inputs(i))]
    return {"dequantize": dq, "quantize": [i for i in q if i not in requantize], "requantize": requantize,
            "pairs": pairs, "integer": integer, "float_ops": floats}


def profile(path, threads=1, runs=50, warmup=5, image=None, progress=None, stat="median"):
    """The profile of the `.tflite` at `path` as a dict (see the module docstring)."""
    Interpreter, OpResolverType = interpreter_class()
    with open(path, "rb") as f:
        data = f.read()
    graph = Graph(data)
    whole = Interpreter(model_content=data, num_threads=threads)
    whole.allocate_tensors()
    detail = whole.get_input_details()[0]
    feed = make_input(detail, image)
    whole.set_tensor(detail["index"], feed)
    taken, partitions = delegated_ops(whole, graph)
    total_xnnpack = median_ms(whole, runs, warmup, stat)
    plain = Interpreter(model_content=data, num_threads=threads,
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    plain.set_tensor(plain.get_input_details()[0]["index"], feed)
    total_plain = median_ms(plain, runs, warmup, stat)
    values = all_tensor_values(data, feed)
    ops = []
    for i, name in enumerate(graph.ops):
        out = graph.outputs(i)
        row = {"index": i, "op": name, "output": graph.names[out[0]] if out else "",
               "dtype": graph.dtypes[graph.variable_inputs(i)[0]] if graph.variable_inputs(i) else "constant",
               "in_whole_file": "XNNPACK" if i in taken else "TFLite kernel", "partition": taken.get(i)}
        if not graph.variable_inputs(i):
            row.update(ms=0.0, alone="constant (evaluated at load)")
        else:
            ms, xnnpack = time_operator(graph, i, values, threads, runs, warmup, stat)
            row.update(ms=ms, alone="XNNPACK" if xnnpack else "TFLite kernel")
        ops.append(row)
        if progress and (i + 1) % 50 == 0:
            progress(f"  timed {i + 1}/{len(graph.ops)} operators")
    by_type = defaultdict(lambda: {"count": 0, "xnnpack": 0, "ms": 0.0})
    for row in ops:
        entry = by_type[row["op"]]
        entry["count"] += 1
        entry["xnnpack"] += row["in_whole_file"] == "XNNPACK"
        entry["ms"] += row["ms"]
    summed = sum(row["ms"] for row in ops)
    quant = quantization_report(graph)
    post = [row for row in ops if row["op"] == POSTPROCESS_OP]
    return {
        "file": os.fspath(path), "bytes": len(data), "threads": threads, "runs": runs, "stat": stat,
        "input": f"{np.dtype(detail['dtype']).name}{[int(d) for d in detail['shape']]}",
        "image": image or "random 0-255 pixels (seed 0)",
        "whole_ms_xnnpack": total_xnnpack, "whole_ms_tflite_kernels": total_plain, "sum_of_ops_ms": summed,
        "operators": len(ops), "xnnpack_operators": len(taken), "xnnpack_partitions": partitions,
        "not_delegated": [row for row in ops if row["in_whole_file"] != "XNNPACK"],
        "by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1]["ms"])), "ops": ops,
        "quantization": {k: (len(v) if isinstance(v, list) else v) for k, v in quant.items()},
        "quantization_ms": {k: sum(ops[i]["ms"] for i in v) for k, v in quant.items()
                            if k in ("dequantize", "quantize", "requantize", "float_ops")},
        "float_ops": [ops[i] for i in quant["float_ops"]],
        "roundtrips": [(ops[a]["output"], ops[b]["output"]) for a, b in quant["pairs"]],
        "postprocess_ms": sum(row["ms"] for row in post) if post else None,
    }


def report(result, top=15):
    r = result
    lines = [f"{r['file']}: {r['bytes'] / 1e6:.2f} MB, input {r['input']}, {r['operators']} operators; "
             f"{r['threads']} thread(s), {r['stat']} of {r['runs']} runs, input {r['image']}",
             f"whole file: {r['whole_ms_xnnpack']:.2f} ms with XNNPACK, {r['whole_ms_tflite_kernels']:.2f} ms on "
             f"TFLite's kernels (XNNPACK off); operators one by one add up to {r['sum_of_ops_ms']:.2f} ms",
             f"XNNPACK takes {r['xnnpack_operators']}/{r['operators']} operators in {r['xnnpack_partitions']} "
             f"partition(s); on TFLite's kernels: "
             + (", ".join(f"{x['op']} #{x['index']} ({x['ms']:.2f} ms)" for x in r["not_delegated"][:12])
                + (" ..." if len(r["not_delegated"]) > 12 else "") if r["not_delegated"] else "none"), ""]
    summed = r["sum_of_ops_ms"] or 1.0
    lines += ["| operator | count | in XNNPACK | ms (one by one) | share |", "|---|---:|---:|---:|---:|"]
    for name, e in r["by_type"].items():
        lines.append(f"| {name} | {e['count']} | {e['xnnpack']} | {e['ms']:.3f} | {e['ms'] / summed:.1%} |")
    q, qms = r["quantization"], r["quantization_ms"]
    lines += ["", f"QUANTIZE {q['quantize']} ({qms['quantize']:.3f} ms), DEQUANTIZE {q['dequantize']} "
              f"({qms['dequantize']:.3f} ms), requantize {q['requantize']} ({qms['requantize']:.3f} ms); "
              f"DEQUANTIZE->QUANTIZE round trips: {len(r['roundtrips'])}"
              + (f" ({', '.join(a + ' -> ' + b for a, b in r['roundtrips'][:4])})" if r["roundtrips"] else "")]
    if q["integer"]:
        lines.append(f"float operators in this integer file: {q['float_ops']} ({qms['float_ops']:.3f} ms)"
                     + (": " + ", ".join(f"{x['op']} #{x['index']}" for x in r["float_ops"][:10])
                        if r["float_ops"] else ""))
    if r["postprocess_ms"] is not None:
        lines.append(f"{POSTPROCESS_OP}: {r['postprocess_ms']:.3f} ms, {r['postprocess_ms'] / summed:.1%} of the "
                     "operators' time")
    lines += ["", f"slowest {top} operators:", "| # | operator | dtype | output tensor | whole file | ms |",
              "|---:|---|---|---|---|---:|"]
    for row in sorted(r["ops"], key=lambda x: -x["ms"])[:top]:
        lines.append(f"| {row['index']} | {row['op']} | {row['dtype']} | {row['output'][-60:]} | "
                     f"{row['in_whole_file']} | {row['ms']:.3f} |")
    lines.append("(output tensors: the last 60 characters of their names, which end with the layer's)")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="the .tflite file")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads (default 1)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--image", help="an image to run on (default: seeded random pixels)")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="per measurement: the median of the runs (default) or the fastest (min: steadier on a "
                             "machine other work shares)")
    parser.add_argument("--top", type=int, default=15, help="how many of the slowest operators to list")
    parser.add_argument("--json", help="also write the whole profile here as JSON")
    args = parser.parse_args(argv)
    for flag, value in (("--threads", args.threads), ("--runs", args.runs), ("--top", args.top)):
        if value < 1:
            parser.error(f"{flag} must be at least 1; received {value}.")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more; received {args.warmup}.")
    try:
        with open(args.file, "rb") as f:
            head = f.read(8)
    except OSError as e:
        print(f"{args.file}: cannot read the file ({e.strerror}).", file=sys.stderr)
        return 1
    if head[4:8] != b"TFL3":
        print(f"{args.file}: not a .tflite file (no TFL3 identifier).", file=sys.stderr)
        return 1
    if args.image:
        from kerasnets.images import ImageError, load_image

        try:
            load_image(args.image)
        except (ImageError, OSError) as e:
            print(f"--image {e}", file=sys.stderr)
            return 1
    if args.json:
        from kerasnets.utils import OutputError, check_output

        try:
            check_output(args.json, what="--json file", suffixes=(".json",), inputs=[args.file])
        except OutputError as e:
            print(str(e), file=sys.stderr)
            return 2
    result = profile(args.file, args.threads, args.runs, args.warmup, args.image,
                     progress=lambda t: print(t, file=sys.stderr, flush=True), stat=args.stat)
    print(report(result, args.top), end="")
    if args.json:
        from kerasnets.utils import atomic_output

        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
