"""One-command GPU benchmark: inference and training throughput of kerasnets' ResNet-50, MobileNetV2 and
EfficientNet-Lite0 with Keras on JAX in bfloat16 (mixed precision), against torchvision's same models on
the same device when torch is importable.

    python benchmarks/gpu.py                         # on the accelerator machine, a few minutes
    python benchmarks/gpu.py --smoke                 # tiny sizes, any machine (CPU included): proves it runs
    python benchmarks/gpu.py --batch 128 --steps 30 --output runs/gpu.md

Inference: a jitted forward pass (`model(x, training=False)` under `jax.jit`) on `--batch` random images;
training: jitted steps of `model.compile(optimizer=SGD(momentum=0.9), loss=sparse categorical
cross-entropy, jit_compile=True)` via `train_on_batch`. Each measurement is the median of `--repeats`
timed blocks of `--steps` calls after `--warmup` compiled calls; images/s = batch x steps / block time.
torchvision runs under `torch.autocast(bfloat16)`, channels-last, inference in `torch.inference_mode`,
training with SGD(momentum 0.9); its EfficientNet-Lite0 has no torchvision counterpart (its
EfficientNet-B0, with squeeze-excitation and SiLU, is a different network) and is left out of the ratios.
Weights are random: speed does not depend on them. Ratios are kerasnets / torchvision images/s (> 1:
kerasnets faster).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = {  # name -> (kerasnets builder, torchvision builder or None)
    "ResNet50": ("ResNet50", "resnet50"),
    "MobileNetV2": ("MobileNetV2", "mobilenet_v2"),
    "EfficientNetLite0": ("EfficientNetLite0", None),
}


def timed(step, steps, repeats, warmup, sync):
    """Median seconds of `repeats` blocks of `steps` calls of `step`, after `warmup` calls."""
    for _ in range(warmup):
        sync(step())
    blocks = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = None
        for _ in range(steps):
            out = step()
        sync(out)
        blocks.append(time.perf_counter() - start)
    return statistics.median(blocks)


def keras_throughput(name, batch, size, steps, repeats, warmup, classes):
    import jax
    import keras
    import numpy as np

    import kerasnets

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    model = getattr(kerasnets, MODELS[name][0])(weights=None, input_shape=(size, size, 3), classes=classes)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, classes, batch)
    device_x = jax.device_put(x)

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def forward(trainable, non_trainable, x):
        out, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return out

    def sync(out):
        jax.block_until_ready(out)

    infer = timed(lambda: forward(trainable, non_trainable, device_x), steps, repeats, warmup, sync)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                  jit_compile=True)
    train = timed(lambda: model.train_on_batch(x, y, return_dict=False), steps, repeats, warmup, lambda out: out)
    keras.mixed_precision.set_global_policy("float32")
    return {"inference": batch * steps / infer, "training": batch * steps / train,
            "device": str(jax.devices()[0].platform), "params": model.count_params()}


def torch_throughput(name, batch, size, steps, repeats, warmup, classes):
    import torch
    import torchvision

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = getattr(torchvision.models, MODELS[name][1])(weights=None, num_classes=classes)
    model = model.to(device, memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)

    def sync(_):
        if device == "cuda":
            torch.cuda.synchronize()

    model.eval()

    def infer_step():
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16):
            return model(x)

    infer = timed(infer_step, steps, repeats, warmup, sync)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    train = timed(train_step, steps, repeats, warmup, sync)
    return {"inference": batch * steps / infer, "training": batch * steps / train, "device": device,
            "params": sum(p.numel() for p in model.parameters())}


def have_torch():
    import importlib.util

    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None


def markdown(rows, args, device):
    lines = [f"Throughput in images/s on {device}, batch {args.batch}, {args.size} px, bfloat16 (Keras on JAX: "
             f"mixed_bfloat16; torchvision: autocast), median of {args.repeats} blocks of {args.steps} steps; "
             "ratio = kerasnets / torchvision (> 1: kerasnets faster).", "",
             "| model | kerasnets inference | torchvision inference | ratio | kerasnets training | "
             "torchvision training | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]

    def cell(value, fmt="{:.1f}"):
        return "–" if value is None else fmt.format(value)

    for r in rows:
        k, t = r["keras"], r.get("torch")
        lines.append(f"| {r['model']} | {cell(k['inference'])} | {cell(t and t['inference'])} | "
                     f"{cell(t and k['inference'] / t['inference'], '{:.2f}')} | {cell(k['training'])} | "
                     f"{cell(t and t['training'])} | {cell(t and k['training'] / t['training'], '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS),
                        help="default: all three (with --smoke: MobileNetV2, since XLA compiles on a CPU take minutes)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20, help="calls per timed block (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks; the median is reported (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first, compilation included")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--no-torch", action="store_true", help="skip torchvision even if it is installed")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run to prove the script works anywhere: batch 2, 64 px, 2 steps, 1 repeat")
    parser.add_argument("--output", help="also write the table here (.md)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.size, args.steps, args.repeats, args.warmup, args.classes = 2, 64, 2, 1, 1, 10
        args.models = args.models or ["MobileNetV2"]
    args.models = args.models or list(MODELS)
    for flag in ("batch", "steps", "repeats", "classes"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1; received {getattr(args, flag)}.")
    if args.size < 32 or args.size % 32:
        parser.error(f"--size must be a multiple of 32 (at least 32); received {args.size}.")
    if args.output:
        from kerasnets.utils import OutputError, check_output

        try:
            check_output(args.output, what="--output", suffixes=(".md",))
        except OutputError as e:
            parser.exit(2, f"{e}\n")
    import keras

    if keras.backend.backend() != "jax":
        parser.exit(2, f"Keras is set to the {keras.backend.backend()} backend; run with KERAS_BACKEND=jax.\n")
    import jax

    device = f"{jax.devices()[0].device_kind} ({jax.devices()[0].platform})"
    use_torch = have_torch() and not args.no_torch
    print(f"device: {device}; torchvision: {'yes' if use_torch else 'not installed' if not have_torch() else 'off'}",
          flush=True)
    rows = []
    for name in args.models:
        common = (name, args.batch, args.size, args.steps, args.repeats, args.warmup, args.classes)
        row = {"model": name, "keras": keras_throughput(*common)}
        print(f"{name}: kerasnets {row['keras']['inference']:.1f} img/s inference, "
              f"{row['keras']['training']:.1f} img/s training", flush=True)
        if use_torch and MODELS[name][1]:
            row["torch"] = torch_throughput(*common)
            print(f"{name}: torchvision {row['torch']['inference']:.1f} img/s inference, "
                  f"{row['torch']['training']:.1f} img/s training", flush=True)
        rows.append(row)
    table = markdown(rows, args, device)
    print(table, end="")
    if args.output:
        from kerasnets.utils import atomic_output

        with atomic_output(args.output) as tmp:
            tmp.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
