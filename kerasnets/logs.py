"""Native log lines on stderr: what TensorFlow, XLA and LiteRT print while a run works, filtered out
of the apps' stderr (kerasnets.errors.run_app) so that what is left is the app's own lines and real
errors. Imports only the standard library."""

import contextlib
import os
import threading

#: Lines that TensorFlow, XLA and LiteRT print on stderr of a run that works: start-up notices, device
#: probes and converter chatter (E-level lines among them: "failed call to cuInit", oneDNN's int64 note).
NOISE_PATTERNS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*",  # absl INFO / WARNING lines
    r"E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] (?:failed call to cuInit|.*oneDNN|Unable to register cu|"
    r".*computation placer already registered|.*TF-TRT|.*cuda|.*CUDA).*",
    r"To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.",
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
    r"INFO: Initialized TensorFlow Lite runtime\.",
    r"fully_quantize: \d, inference_type: \d+, input_inference_type: .*",
    r"Summary on the non-converted ops:|-{5,}|\s*\* Accepted dialects: .*|\s*\* Non-Converted Ops: .*|"
    r"\s*\* \d+ ARITH ops.*|\s*- arith\.\S+: .*",
    r"WARNING:absl:.*(?:Compiled the loaded model|No training configuration found|Please consider providing the "
    r"trackable_obj).*",
)
QUIET_ENV = "KERASNETS_NATIVE_LOGS"


@contextlib.contextmanager
def filtered_stderr(patterns=NOISE_PATTERNS):
    """While inside: what anything in the process (C++ libraries included) writes on file descriptor 2
    passes through a filter that drops the lines matching `patterns` (whole lines) and forwards every
    other line at once, so real errors and warnings still show. `KERASNETS_NATIVE_LOGS=1` turns the
    filter off."""
    import re
    import sys

    if os.environ.get(QUIET_ENV) == "1":
        yield
        return
    try:
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        yield
        return
    noise = re.compile("|".join(f"(?:{p})" for p in patterns))

    def forward():
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            parts = re.split(rb"(\r\n|\n|\r)", pending)  # text, end, text, end, ..., the unfinished rest
            pending = parts.pop()
            kept = b"".join(text + end for text, end in zip(parts[::2], parts[1::2])
                            if not noise.fullmatch(text.decode("utf-8", "replace")))
            if kept:
                with contextlib.suppress(OSError):
                    os.write(saved, kept)
        if pending and not noise.fullmatch(pending.decode("utf-8", "replace")):
            with contextlib.suppress(OSError):
                os.write(saved, pending)

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=forward, name="kerasnets-stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end (children that still hold it aside)
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)
