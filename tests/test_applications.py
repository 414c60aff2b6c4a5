"""kerasnets.applications against keras.applications, module by module: swap the import, same results."""

import importlib
import inspect
import io
import json
import os
import re
import subprocess
import sys
import types
import unittest
import warnings
from importlib import resources

import keras
import numpy as np
import pytest
from keras.src.applications import imagenet_utils as keras_imagenet_utils

import kerasnets
from kerasnets.applications._module import MODULES
from tests.conftest import ROOT

KERAS_TEST = os.path.join(os.path.dirname(keras_imagenet_utils.__file__), "imagenet_utils_test.py")


def keras_builders(module_name):
    """The builders keras.applications offers for a module (its own, else, for mobilenet_v3, the top level)."""
    module = importlib.import_module(f"keras.applications.{module_name}")
    names = [n for n in dir(module) if n[:1].isupper() and callable(getattr(module, n))]
    if not names and module_name == "mobilenet_v3":
        names = ["MobileNetV3Large", "MobileNetV3Small"]
    return names


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_module_preprocess_input_is_keras_own(module_name):
    ours = importlib.import_module(f"kerasnets.applications.{module_name}")
    theirs = importlib.import_module(f"keras.applications.{module_name}")
    rng = np.random.default_rng(0)
    for shape, data_format in (((2, 5, 6, 3), "channels_last"), ((2, 3, 5, 6), "channels_first"),
                               ((5, 6, 3), "channels_last"), ((3, 5, 6), "channels_first")):
        x = rng.uniform(0, 255, shape).astype("float32")
        a, b = x.copy(), x.copy()
        np.testing.assert_array_equal(ours.preprocess_input(a, data_format), theirs.preprocess_input(b, data_format))
        np.testing.assert_array_equal(a, b)  # the argument ends up as keras leaves it (in place, or untouched)
    integers = rng.integers(0, 255, (1, 4, 4, 3)).astype("int32")
    np.testing.assert_array_equal(ours.preprocess_input(integers.copy()), theirs.preprocess_input(integers.copy()))


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_module_decode_predictions_and_builders(module_name, monkeypatch):
    ours = importlib.import_module(f"kerasnets.applications.{module_name}")
    theirs = importlib.import_module(f"keras.applications.{module_name}")
    official = json.loads(resources.files("kerasnets").joinpath("data/imagenet_class_index.json").read_text())
    monkeypatch.setattr(keras_imagenet_utils, "CLASS_INDEX", official)  # keras would download the same file
    preds = np.random.default_rng(1).random((2, 1000)).astype("float32")
    assert ours.decode_predictions(preds, top=4) == theirs.decode_predictions(preds, top=4)
    for name in keras_builders(module_name):
        builder = getattr(ours, name)
        assert builder is getattr(kerasnets, name) and builder is getattr(kerasnets.applications, name)
        keras_parameters = list(inspect.signature(getattr(keras.applications, name)).parameters)
        our_parameters = list(inspect.signature(builder).parameters)
        assert our_parameters[: len(keras_parameters)] == keras_parameters, name  # family options come after
    assert set(keras_builders(module_name)) <= set(ours.__all__)


def test_resnet_v2_and_mobilenet_v3_preprocessing_differ_from_the_family_default():
    """The two cases the family-level functions got wrong: ResNet V2 scales to [-1, 1] ('tf'), and
    MobileNetV3's function is a pass-through (the network rescales)."""
    from kerasnets.applications import mobilenet_v3, resnet, resnet_v2

    x = np.full((1, 2, 2, 3), 255.0, "float32")
    np.testing.assert_allclose(resnet_v2.preprocess_input(x.copy()), 1.0)
    assert resnet.preprocess_input(x.copy())[0, 0, 0, 0] == pytest.approx(255 - 103.939)
    assert mobilenet_v3.preprocess_input(x) is x


def test_importing_the_modules_starts_no_keras():
    code = ("import sys; from kerasnets.applications.resnet_v2 import preprocess_input, decode_predictions; "
            "import kerasnets.applications.mobilenet_v3, kerasnets.applications.imagenet_utils; "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr


def run_keras_test(swapped):
    """keras' own imagenet_utils_test.py (as installed), optionally with its one import swapped to
    kerasnets.applications.imagenet_utils; returns the unittest result."""
    source = open(KERAS_TEST).read()
    line = "from keras.src.applications import imagenet_utils as utils"
    assert line in source
    if swapped:
        source = source.replace(line, "from kerasnets.applications import imagenet_utils as utils")
    module = types.ModuleType("imagenet_utils_test_swapped" if swapped else "imagenet_utils_test_keras")
    module.__file__ = KERAS_TEST
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # keras' own warnings (unknown pytest marks, 5 input channels)
        exec(compile(source, KERAS_TEST, "exec"), module.__dict__)
        suite = unittest.TestLoader().loadTestsFromModule(module)
        return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)


def test_keras_own_imagenet_utils_tests_pass_for_kerasnets():
    """keras 3's imagenet_utils_test.py with only its import swapped: every test keras passes, kerasnets passes."""
    theirs, ours = run_keras_test(swapped=False), run_keras_test(swapped=True)
    assert theirs.testsRun == ours.testsRun >= 9
    assert not theirs.failures and not theirs.errors
    problems = [re.sub(r"\s+", " ", text)[-300:] for _, text in ours.failures + ours.errors]
    assert not problems, problems
    assert len(ours.skipped) == len(theirs.skipped)
