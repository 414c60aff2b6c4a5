"""The package's shape: imports flow one way (cli -> export -> workflows -> models -> core), no
import cycle, and every documented module path works in a fresh interpreter."""

import ast
import pathlib
import subprocess
import sys

import pytest

import kerasnets
from tests.conftest import ROOT

#: Layer of each top-level part; a module may import only from its own layer or lower ones.
LAYERS = {
    "kerasnets.core": 0, "kerasnets.imagenet": 0, "kerasnets.images": 0, "kerasnets.utils": 0,
    "kerasnets.errors": 0, "kerasnets.logs": 0,
    "kerasnets.models": 1,
    "kerasnets.train": 2, "kerasnets.style": 2, "kerasnets.detection": 2, "kerasnets.classic": 2,
    "kerasnets.applications": 2, "kerasnets.inspect": 2,
    "export": 3,
    "kerasnets.cli": 4,
}


def layer_of(module):
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return LAYERS[".".join(parts[:n])]
    return None


def package_modules():
    root = pathlib.Path(ROOT)
    for path in sorted([*root.glob("kerasnets/**/*.py"), *root.glob("export/**/*.py")]):
        if "schema" in path.parts:
            continue
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        yield module.removesuffix(".__init__"), path


def imported_modules(module, path):
    """The kerasnets/export modules `module` imports (anywhere in it, function bodies included)."""
    known = {name for name, _ in package_modules()}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else module.rsplit(".", node.level)[0] + "." + node.module
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            name = kerasnets.MODULE_ALIASES.get(name, name)
            if name in known and name != module:
                found.add(name)
    return found


GRAPH = {module: imported_modules(module, path) for module, path in package_modules()}


def test_imports_flow_one_way():
    wrong = [f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
             for module, targets in GRAPH.items() for target in targets
             if module != "kerasnets" and layer_of(target) is not None and layer_of(module) is not None
             and layer_of(target) > layer_of(module)]
    assert not wrong, "\n".join(wrong)


def find_cycle(graph):
    """A list of modules forming an import cycle, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    # a package imports its own submodules to re-export them; only imports between modules count
    graph = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in GRAPH.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


DOCUMENTED = {  # the README's paths, each in a fresh interpreter
    "resnet": "import kerasnets, numpy as np; assert kerasnets.resnet.preprocess_input(np.zeros((1, 4, 4, 3))).shape",
    "imagenet": "from kerasnets.imagenet import decode_predictions, preprocess_input, class_names; "
                "assert len(class_names()) == 1000",
    "losses": "import kerasnets; import numpy as np; assert kerasnets.losses.gram_matrix(np.ones((1, 2, 2, 3))).shape",
    "datasets": "import kerasnets.datasets as d; assert d.split_image_folder",
    "transfer": "from kerasnets.transfer import build_classifier, fine_tune, PreciseBatchNorm",
    "weights": "from kerasnets.weights import WeightsError, cache_dir",
    "all": "import kerasnets; missing = [n for n in kerasnets.__all__ if getattr(kerasnets, n, None) is None]; "
           "assert not missing, missing",
    "submodules": "import kerasnets.vgg, kerasnets.mobilenet, kerasnets.layers, kerasnets.blocks, kerasnets.registry; "
                  "assert kerasnets.vgg.VGG16 is kerasnets.models.vgg.VGG16",
}


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
def test_documented_paths_in_a_fresh_interpreter(path):
    result = subprocess.run([sys.executable, "-c", DOCUMENTED[path]], capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_app_runs_through_the_one_wrapper():
    """Each program of apps/ (the list the README test reads from the scripts) has a `main` that hands its work
    to kerasnets.errors.run_app: one line and exit status 1 / 2 for bad input, log lines filtered."""
    import importlib
    import inspect

    from tests.test_readme import app_modules

    modules = app_modules()
    assert len(modules) >= 8
    for script, module in modules.items():
        source = inspect.getsource(importlib.import_module(module).main)
        assert "run_app(" in source, f"apps/{script}: {module}.main does not use kerasnets.errors.run_app"
