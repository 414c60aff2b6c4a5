"""Registry-driven tests: every registered network, from its spec alone, builds, has the output
shapes, parameter and multiply-add counts its spec (the paper) states, works as a feature
extractor with pooling, and survives a `.keras` round trip. A new network is covered by its spec."""

import inspect
import math

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets.core import application, registry
from tests.conftest import max_abs_diff

SPECS = registry.specs()
NAMES = [spec.name for spec in SPECS]


def one_per_family(specs):
    """Every spec's name, the cheapest network of each family builder by default and the rest behind
    `-m slow`: variants of one builder share its blocks, so the smallest exercises them in a fraction of the time."""
    cheapest = {}
    for spec in specs:
        key = (spec.family, spec.family_builder.__name__)
        if key not in cheapest or spec.mult_adds < cheapest[key].mult_adds:
            cheapest[key] = spec
    chosen = {spec.name for spec in cheapest.values()}
    return [name if name in chosen else pytest.param(name, marks=pytest.mark.slow) for name in (s.name for s in specs)]


def default_shape(spec):
    return (spec.input_size, spec.input_size, spec.channels)


def matches_paper(measured, printed, tolerance):
    """The paper's figure at the precision it prints (4.2e6 has two significant digits), or within tolerance."""
    digits = len(f"{printed:e}".split("e")[0].rstrip("0").replace(".", "").lstrip("0"))
    rounded = float(f"{measured:.{max(digits, 1)}g}")
    return math.isclose(rounded, printed, rel_tol=1e-9) or abs(measured - printed) <= tolerance * printed


def test_every_spec_has_the_required_facts():
    assert len(SPECS) >= 37
    for spec in SPECS:
        assert spec.params and spec.mult_adds, f"{spec.name}: the spec lacks its parameter or multiply-add count"
        assert spec.builder is getattr(kerasnets, spec.builder_name), spec.name
        assert spec.builder.__name__ == spec.builder_name and spec.summary in spec.builder.__doc__
        assert spec.imagenet_weights == (spec.weights_source is not None)


@pytest.mark.parametrize("missing", ["paper", "year", "family", "summary"])
def test_a_spec_without_a_required_fact_is_refused(missing):
    facts = dict(name="tiny", builder_name="Tiny", family_builder=kerasnets.LeNet5, family="lenet", paper="p",
                 year=2000, summary="s")
    facts[missing] = "" if missing != "year" else 0
    with pytest.raises(ValueError, match=f"lacks {missing}"):
        registry.ModelSpec(**facts)


@pytest.mark.parametrize("name", NAMES)
def test_network_matches_its_spec(name, tmp_path):
    spec = kerasnets.model_info(name)
    model = spec.build(weights=None, input_shape=default_shape(spec))
    assert model.count_params() == spec.params
    classes = inspect.signature(spec.builder).parameters["classes"].default
    assert model.output_shape == (None, classes)
    counted = kerasnets.profile(model)
    assert counted.macs == spec.mult_adds
    if spec.paper_mult_adds:
        assert matches_paper(counted.macs, spec.paper_mult_adds, spec.tolerance), (counted.macs, spec.paper_mult_adds)
    if spec.paper_params:
        assert matches_paper(counted.trainable_params, spec.paper_params, spec.tolerance), counted.trainable_params
    for cell, paper in (spec.grid.cells.items() if spec.grid else ()):
        alpha, size = cell
        counted = kerasnets.profile(spec.build(weights=None, alpha=alpha, input_shape=(size, size, 3)))
        assert matches_paper(counted.macs, paper.mult_adds, spec.tolerance), (cell, counted.macs)
        if paper.params:
            assert matches_paper(counted.trainable_params, paper.params, spec.tolerance), (cell,
                counted.trainable_params)


@pytest.mark.parametrize("name", one_per_family(SPECS))
def test_feature_extractor_and_keras_round_trip(name, tmp_path):
    spec = kerasnets.model_info(name)
    pooling = "avg" if spec.convolutional else None
    model = spec.build(weights=None, include_top=False, pooling=pooling, input_shape=default_shape(spec))
    assert len(model.output_shape) == 2, model.output_shape
    if spec.convolutional:
        maxed = spec.build(weights=None, include_top=False, pooling="max", input_shape=default_shape(spec))
        assert maxed.output_shape == model.output_shape
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    x = np.random.default_rng(0).uniform(0, 255, (1, *default_shape(spec))).astype("float32")
    assert max_abs_diff(model.predict(x, verbose=0), restored.predict(x, verbose=0)) == 0.0


def test_builders_document_the_keras_arguments():
    for spec in SPECS:
        doc = spec.builder.__doc__
        assert all(f"    {argument}:" in doc for argument in application.ARGUMENTS), spec.name
        assert set(application.ARGUMENTS) <= set(inspect.signature(spec.builder).parameters), spec.name


def test_keras_signatures_are_keras_own():
    """Same parameter names, order and defaults as keras.applications, so positional calls work too."""
    for spec in SPECS:
        if spec.weights_source != "keras.applications":
            continue
        ours = inspect.signature(spec.builder).parameters
        theirs = inspect.signature(getattr(keras.applications, spec.builder_name)).parameters
        assert list(ours)[:len(theirs)] == list(theirs), spec.name
        assert all(ours[n].default == theirs[n].default for n in theirs), spec.name


def test_readme_model_table_is_the_specs():
    from kerasnets.cli.zoo import spec_table
    from tests.conftest import ROOT

    readme = open(f"{ROOT}/README.md", encoding="utf-8").read()
    start = readme.index("\n", readme.index("<!-- model table")) + 1
    assert readme[start:readme.index("<!-- end of model table -->")].strip() == spec_table().strip(), (
        "README's model table is out of date: replace it with the output of `python apps/model_zoo.py --specs`")
