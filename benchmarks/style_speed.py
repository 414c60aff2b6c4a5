"""Style-transfer speed on this machine: seconds per Gatys iteration (VGG19, L-BFGS) at 256 and
512 px, and fast-style (TransformNet) inference per 256x256 image in Keras and in LiteRT.
VGG weights do not change the speed, so the benchmark runs offline with random weights.

    python benchmarks/style_speed.py [--sizes 256 512] [--iterations 10]
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    import numpy as np

    from kerasnets.utils import import_keras_quietly

    import_keras_quietly()
    from export.tflite import image_model_to_tflite
    from export.verify import interpreter
    from kerasnets import style

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    content, painting = (os.path.join(root, "images", n) for n in ("chelsea_cat.jpg", "coffee_cup.jpg"))
    print("| measurement | value |\n|---|---:|")
    for size in args.sizes:
        style.gatys_transfer(content, painting, size=size, iterations=2, weights=None, progress=False)  # compile
        start = time.perf_counter()
        _, history = style.gatys_transfer(content, painting, size=size, iterations=args.iterations, weights=None,
            progress=False)
        print(f"| Gatys, VGG19, L-BFGS, {size} px (long side): s / iteration | "
            f"{(time.perf_counter() - start) / len(history):.3f} |")
    net = style.TransformNet((256, 256, 3))
    x = np.random.default_rng(0).uniform(0, 255, (1, 256, 256, 3)).astype("float32")
    import tensorflow as tf

    serve = tf.function(lambda t: net(t, training=False), jit_compile=False)
    print("| TransformNet 256x256, Keras model.predict: s / image | "
        f"{style.time_it(lambda: net.predict(x, verbose=0), 10):.4f} |")
    print(f"| TransformNet 256x256, Keras tf.function call: s / image | {style.time_it(lambda: serve(x), 10):.4f} |")
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in ("none", "float16"):
            path = image_model_to_tflite(net, os.path.join(tmp, f"{quantize}.tflite"), 256, quantize=quantize)
            runner = interpreter(path)
            runner.set_tensor(runner.get_input_details()[0]["index"], x)
            label = "float32" if quantize == "none" else quantize
            print(f"| TransformNet 256x256, LiteRT {label} ({os.path.getsize(path) / 1e6:.1f} MB): s / image | "
                  f"{style.time_it(runner.invoke, 10):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
