"""Corruption vocabulary (issue 26, item 8): an unknown family, group, table or severity is one
line that lists the choices, on every verb that takes conditions; nothing is written.

    PYTHONPATH=. pytest -q tests/bad_input/test_corruption_names.py
"""

from __future__ import annotations

import dataclasses

import pytest

from robeval.core.errors import RobevalError
from robeval.corruptions import corrupt
from robeval.corruptions.families import FAMILIES, GROUPS, group_families
from tests.bad_input.harness import assert_refused

# (conditions, a word the one-line error must contain: the list of choices)
BAD = [
    ("corrupt:nosuch", "corrupt:standard"),      # unknown group: the groups are listed
    ("corrupt:Noise", "corrupt:noise"),
    ("corrupt:", "corrupt:study"),
    ("nosuch_blur/3", "defocus_blur"),            # unknown family: the families are listed
    ("defocus_blur/6", "1-5"),                    # severity
    ("defocus_blur/three", "1-5"),
    ("defocus_blur/3@mnist", "tinyimagenet"),     # unknown table: the tables are listed
]


@pytest.mark.parametrize("conditions,needle", BAD)
@pytest.mark.parametrize("verb", ["corrupt", "reproduce"])
def test_bad_corruption_names_are_one_line_listing_choices(verb, conditions, needle, tmp_path,
                                                           shared_data):
    args = ["corrupt", "--dataset", "shapes", "--conditions", conditions] if verb == "corrupt" else \
        ["reproduce", "--conditions", conditions, "--out", tmp_path / "out"]
    assert_refused(args, tmp_path, shared_data, needle=needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("table", ["nosuch", "cifar10"])
def test_bad_table_option_lists_the_tables(table, tmp_path, shared_data):
    assert_refused(["corrupt", "--dataset", "shapes", "--table", table], tmp_path, shared_data,
                   needle="imagenet")


def test_a_family_without_the_chosen_table_names_the_tables_it_has(monkeypatch):
    record = FAMILIES.get("defocus_blur")
    partial = dataclasses.replace(record, tables={"cifar": record.tables["cifar"]})
    monkeypatch.setitem(FAMILIES._items, "defocus_blur", partial)
    import numpy as np

    x = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(RobevalError, match=r"no values for table 'tinyimagenet' \(it has cifar\)"):
        corrupt(x, "defocus_blur/2")


def test_every_group_word_resolves():
    from robeval.conditions import parse_conditions

    for group in GROUPS:
        names = [c.name for c in parse_conditions(f"corrupt:{group}", "shapes")]
        assert names == [f"{f}/{s}" for f in group_families(group) for s in range(1, 6)], group
