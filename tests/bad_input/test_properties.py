"""Property tests (Hypothesis): for any input, robeval's parsers either return a value that obeys
their contract or raise the one user-facing error type; never another exception.

    PYTHONPATH=. pytest -q tests/bad_input/test_properties.py
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from robeval.cli.options import MAX_SEEDS, parse_seeds
from robeval.cli.values import FRACTION, POSITIVE, NumberList
from robeval.conditions import parse_conditions
from robeval.core.errors import RobevalError
from robeval.corruptions import parse_severities
from robeval.data.gensets.manifest import Manifest, validate
from robeval.stages.corrupt import corruptions_to_build

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REPO = Path(__file__).resolve().parents[2]
SEED_TEXT = st.text(alphabet="0123456789-, x", max_size=12)


@SETTINGS
@given(SEED_TEXT)
@example("99999999999999999999")
@example("0-99999999999")
def test_seed_strings_parse_to_distinct_seeds_or_one_error(text):
    try:
        seeds = parse_seeds(text)
    except click.BadParameter:
        return
    assert seeds and len(seeds) == len(set(seeds)) <= MAX_SEEDS
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)


@SETTINGS
@given(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8, unique=True))
def test_a_seed_list_round_trips(seeds):
    if len(seeds) == 1:  # a lone number is a count, not a seed
        seeds = seeds + [seeds[0] + 1 if seeds[0] < 2**31 - 1 else 0]
    assert parse_seeds(",".join(map(str, seeds))) == seeds


NUMBER_TEXT = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.text(alphabet="0123456789.e-+infa ", max_size=8))


@SETTINGS
@given(NUMBER_TEXT)
def test_number_options_are_finite_and_in_range_or_refused(text):
    for kind, ok in ((POSITIVE, lambda x: x > 0), (FRACTION, lambda x: 0 < x < 1)):
        value = kind.check(text)
        if isinstance(value, float):
            assert math.isfinite(value) and ok(value), (text, value)
        else:
            assert isinstance(value, str) and repr(text) in value


@SETTINGS
@given(st.lists(NUMBER_TEXT, min_size=0, max_size=4).map(",".join))
def test_number_lists_are_distinct_finite_positive_or_refused(text):
    try:
        values = NumberList(POSITIVE).convert(text, None, None)
    except click.BadParameter:
        return
    assert values and len(values) == len(set(values))
    assert all(math.isfinite(v) and v > 0 for v in values)


@SETTINGS
@given(st.text(alphabet="0123456789-, ", max_size=10))
def test_severity_strings_give_levels_1_to_5_or_one_error(text):
    try:
        levels = parse_severities(text)
    except RobevalError:
        return
    assert levels and all(isinstance(s, int) and 1 <= s <= 5 for s in levels)


CONDITION_TEXT = st.one_of(
    st.text(alphabet="abcdefgijlmnoprstuz_/:,@()=0123456789. ", max_size=24),
    st.lists(st.sampled_from(["clean", "all", "corrupt:all", "defocus_blur/3", "impulse_noise/6",
                              "jpeg_compression", "genset:all", "genset:nosuch", "albu:Blur(blur_limit=3)",
                              "albu:Blur(", "defocus_blur/3@cifar", "defocus_blur/3@nope", "released:all",
                              ",", "", " "]), max_size=4).map(",".join))


@SETTINGS
@given(CONDITION_TEXT)
def test_condition_strings_resolve_or_give_one_error(text):
    try:
        chosen = parse_conditions(text, "shapes")
    except RobevalError:
        return
    names = [c.name for c in chosen]
    assert names and len(names) == len(set(names))


@SETTINGS
@given(CONDITION_TEXT, st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True))
def test_corruption_strings_expand_or_give_one_error(text, severities):
    try:
        corruptions = corruptions_to_build(text, "shapes", severities)
    except RobevalError:
        return
    assert corruptions and len({s.name for s in corruptions}) == len(corruptions)


def _manifest() -> dict:
    return json.loads((REPO / "manifests" / "gensets" / "tinyimagenet-val-as-cifar10.json").read_text())


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 2000), st.floats(allow_nan=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)


def _paths(obj, prefix=()):
    """Every (path, value) inside a JSON object, items limited to the first two."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):
            yield from _paths(v, prefix + (i,))


MANIFEST = _manifest()
MANIFEST_PATHS = list(_paths(MANIFEST))


@pytest.fixture(scope="module")
def valid_manifest():
    assert isinstance(validate(copy.deepcopy(MANIFEST)), Manifest)  # the base is valid


@SETTINGS
@given(st.sampled_from(MANIFEST_PATHS[1:]), JSON_VALUES, st.booleans())
def test_a_mutated_manifest_validates_or_gives_one_error(valid_manifest, path, value, delete):
    data = copy.deepcopy(MANIFEST)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    try:
        m = validate(data, "m.json")
    except RobevalError as exc:
        assert str(exc).startswith("m.json")  # the message names the file
        return
    assert m.name and m.classes and 8 <= m.image_size <= 1024


@SETTINGS
@given(JSON_VALUES)
def test_any_json_is_a_manifest_or_one_error(value):
    try:
        validate(value, "m.json")
    except RobevalError:
        pass
