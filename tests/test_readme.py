"""Every shell and Python example of README.md, extracted from the README itself (a new example is
covered by being written), on an empty KERAS_HOME with downloads refused (KERASNETS_WEIGHTS_URL
points at a closed loopback port).

A code block may be marked by an HTML comment on the line before it:

    <!-- example: needs-internet (why) -->   fails offline, with the offline message; the next block
                                              must be its `offline` variant, which succeeds
    <!-- example: offline -->                the offline variant of the block before it
    <!-- example: long (how long) -->        runs for minutes or hours: not run here; the next block
                                              must be its `short` variant, which is run
    <!-- example: short -->                  the short variant of the long block before it
    <!-- example: setup (why) -->            the install and the test suite: only its `python apps/...`
                                              commands run

Unmarked blocks must succeed as they are. The default suite checks the markers, that every command
line parses with its program's own argument parser (options, values; no TensorFlow), that the README
names every console script, and runs the quickest examples for real; `-m slow` runs all of them in
order in one folder (later examples use what earlier ones wrote), as a reader would.
"""

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

README = os.path.join(ROOT, "README.md")
RUNNABLE = ("bash", "console", "sh", "python")
MARKER = re.compile(r"<!--\s*example:\s*([a-z-]+)\s*(?:\((.*?)\))?\s*-->")
#: One line on stderr and exit 1 naming what works offline: what an example that needs the internet prints.
OFFLINE_MESSAGE = "Works offline"


class Block:
    def __init__(self, index, line, language, text, kind, why):
        self.index, self.line, self.language, self.text, self.kind, self.why = index, line, language, text, kind, why

    def __repr__(self):
        return f"README.md:{self.line} ({self.language}, {self.kind})"

    def commands(self):
        """The shell commands of a bash/console block: continuation lines joined, `$ ` prompts and output
        lines of console blocks and `#` comments dropped, `pip install` and `python -m pytest` left out
        (they are the environment, not examples), `a && b` split."""
        if self.language == "python":
            return []
        lines, joined = self.text.splitlines(), []
        current = ""
        for raw in lines:
            if self.language == "console":
                if not raw.startswith("$ ") and not current:
                    continue  # program output
                raw = raw[2:] if raw.startswith("$ ") else raw
            current += raw.rstrip("\\").rstrip() + " " if raw.rstrip().endswith("\\") else raw
            if not raw.rstrip().endswith("\\"):
                joined.append(current.strip())
                current = ""
        commands = []
        for line in joined:
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if not line or line.startswith("#"):
                continue
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith(("pip ", "python3 -m venv", ". ")) or "-m pytest" in part:
                    continue
                commands.append(part)
        return commands


def readme_blocks(path=README):
    text = open(path, encoding="utf-8").read().splitlines()
    blocks, i, marker = [], 0, None
    while i < len(text):
        line = text[i]
        found = MARKER.fullmatch(line.strip())
        if found:
            marker = (found.group(1), found.group(2))
        elif line.startswith("```"):
            language = line[3:].strip()
            start, i = i + 1, i + 1
            while not text[i].startswith("```"):
                i += 1
            kind, why = marker if marker else ("run", None)
            blocks.append(Block(len(blocks), start, language, "\n".join(text[start:i]), kind, why))
            marker = None
        i += 1
    runnable = [b for b in blocks if b.language in RUNNABLE]
    for index, block in enumerate(runnable):
        block.index = index
    return runnable


BLOCKS = readme_blocks()


def test_readme_has_examples_and_every_marker_is_known():
    assert len(BLOCKS) >= 15 and any(b.language == "python" for b in BLOCKS)
    kinds = {"run", "needs-internet", "offline", "long", "short", "setup"}
    assert {b.kind for b in BLOCKS} <= kinds, {b.kind for b in BLOCKS} - kinds


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind in ("needs-internet", "long")], ids=repr)
def test_each_online_or_long_example_has_its_variant_next(block):
    following = BLOCKS[block.index + 1] if block.index + 1 < len(BLOCKS) else None
    wanted = {"needs-internet": "offline", "long": "short"}[block.kind]
    assert following is not None and following.kind == wanted, f"{block} must be followed by a `{wanted}` block"
    assert following.language == block.language or {following.language, block.language} <= {"bash", "console"}
    assert block.why, f"{block}: say why (what it downloads, or how long it runs)"


def _program(command):
    """(module with parse_args or a parser, argv) for `python apps/x.py ...` / `python -m export ...`."""
    words = shlex.split(command)
    if words[:1] != ["python"]:
        return None, words
    if words[1] == "-m" and words[2] == "export":
        return "export", words[3:]
    if words[1] == "-c":
        return None, words
    apps = app_modules()
    script = os.path.basename(words[1])
    assert words[1].startswith("apps/") and script in apps, f"unknown program in {command!r}"
    return apps[script], words[2:]


def app_modules():
    """apps/X.py -> the kerasnets.cli module it runs (read from the thin script itself)."""
    import re

    found = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "apps"))):
        if name.endswith(".py"):
            text = open(os.path.join(ROOT, "apps", name), encoding="utf-8").read()
            match = re.search(r"from (kerasnets\.cli\.\w+) import main", text)
            assert match, f"apps/{name} runs no kerasnets.cli module"
            found[name] = match.group(1)
    return found


SHELL_COMMANDS = [(b, c) for b in BLOCKS for c in b.commands()]


@pytest.mark.parametrize("block, command", SHELL_COMMANDS, ids=[f"{b!r} {c[:60]}" for b, c in SHELL_COMMANDS])
def test_every_command_line_parses(block, command):
    """Options and values are checked by the program's own parser (nothing runs, TensorFlow stays out)."""
    import importlib

    module, argv = _program(command)
    if module is None:
        return
    if module == "export":
        from export.cli import export_parser

        if argv[:1] != ["grid"]:
            export_parser().parse_args(argv)
        return
    cli = importlib.import_module(module)
    assert hasattr(cli, "parse_args"), module
    cli.parse_args(argv)  # SystemExit(2) on an unknown option or a bad value


def test_readme_lists_every_console_script():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    scripts = [line.split("=")[0].strip() for line in config["options.entry_points"]["console_scripts"].splitlines()
               if line.strip()]
    text = open(README, encoding="utf-8").read()
    assert len(scripts) == 11 and [s for s in scripts if f"`{s}`" not in text] == []


# -- running them -----------------------------------------------------------------------------------


def offline_env(home):
    env = {**os.environ, "PYTHONPATH": ROOT, "KERAS_HOME": str(home), "KERASNETS_WEIGHTS_URL": "http://127.0.0.1:9",
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    env.pop("KERAS_BACKEND", None)
    return env


def workspace(tmp_path):
    """A folder as a fresh clone looks to a reader: the sample images and apps, nothing downloaded."""
    folder = tmp_path / "clone"
    folder.mkdir()
    for name in ("apps", "images"):
        os.symlink(os.path.join(ROOT, name), folder / name)
    home = tmp_path / "keras_home"
    home.mkdir()
    return folder, home


def run_command(command, folder, env, timeout=1200):
    if command.startswith("python "):
        command = f"{shlex.quote(sys.executable)} {command[len('python '):]}"
    start = time.perf_counter()
    result = subprocess.run(command, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout,
                            check=False)
    return result, time.perf_counter() - start


def run_python(block, folder, env, timeout=1800):
    script = folder / f"readme_example_{block.line}.py"
    script.write_text(block.text)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    return result, time.perf_counter() - start


def assert_offline_failure(result, what):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, f"{what} succeeded offline; it is marked as needing the internet"
    assert any(OFFLINE_MESSAGE in line or "weights=None" in line or "--weights none" in line for line in lines), \
        f"{what}: the offline failure does not say what works offline:\n{result.stderr[-1500:]}"


def run_block(block, folder, env, timings):
    """Run one block as the README means it; a needs-internet block must fail with the offline message."""
    if block.kind == "long":
        return
    if block.language == "python":
        result, seconds = run_python(block, folder, env)
        timings.append((repr(block), "python", seconds, result.returncode))
        if block.kind == "needs-internet":
            assert_offline_failure(result, repr(block))
        else:
            assert result.returncode == 0, f"{block} failed:\n{result.stderr[-3000:]}"
        return
    for command in block.commands():
        if block.kind == "setup" and not command.startswith("python apps/"):
            continue
        result, seconds = run_command(command, folder, env)
        timings.append((repr(block), command, seconds, result.returncode))
        if block.kind == "needs-internet":
            assert_offline_failure(result, command)
            return  # the rest of the block builds on what this one would have made
        assert result.returncode == 0, f"{block}: {command!r} failed:\n{result.stderr[-3000:]}"


QUICK = [b for b in BLOCKS if b.kind == "setup"]


def test_quick_examples_offline(tmp_path):
    """The first command of the README (the offline classification) and `--list`, for real, in the default suite."""
    folder, home = workspace(tmp_path)
    env, timings = offline_env(home), []
    for block in QUICK:
        run_block(block, folder, env, timings)
    result, _ = run_command("python apps/test_imagenet.py --list", folder, env)
    assert result.returncode == 0 and "efficientnet_lite0" in result.stdout and result.stderr.strip() == "", \
        result.stderr[-2000:]
    assert timings and all(status == 0 for *_, status in timings), timings


@pytest.mark.slow
def test_every_example_offline(tmp_path):
    """Every block in README order in one folder: the runnable ones succeed, the ones marked as needing
    the internet fail with the offline message (and their offline variant, the next block, succeeds)."""
    folder, home = workspace(tmp_path)
    env, timings = offline_env(home), []
    try:
        for block in BLOCKS:
            run_block(block, folder, env, timings)
    finally:
        report = "\n".join(f"{seconds:7.1f} s  rc {status}  {where}  {command[:100]}"
                           for where, command, seconds, status in timings)
        print(report)
        shutil.rmtree(home, ignore_errors=True)
