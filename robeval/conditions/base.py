"""Evaluation conditions: named ways to get a labelled test set for a dataset.

A condition is e.g. ``clean``, ``genset:shapes-shift`` (a generalisation set) or
``defocus_blur/3``. Each condition source is one ``ConditionSource`` record in SOURCES: the
conditions it lists for a dataset, and optionally a parser for dynamic names (``albu:...``,
``genset:NAME``, a family name) and its subgroups (``corrupt:noise``). The ``--conditions``
grammar that reads these records is ``robeval.conditions.grammar`` (``parse_conditions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from robeval.core.registry import Registry
from robeval.corruptions import Corruption
from robeval.data import ImageSet, load_split


@dataclass
class ConditionContext:
    """What a condition may need to build its images; the clean test set is loaded once."""

    dataset: str
    data_dir: str | Path | None = None
    seed: int = 0
    options: dict = field(default_factory=dict)

    @cached_property
    def clean_sha256(self) -> str:
        """The clean test set's hash, the source every cached corrupted set is checked against:
        computed once per evaluation, not once per condition."""
        from robeval.core.fileio import array_sha256

        return array_sha256(self.clean_test.images, self.clean_test.labels)

    @cached_property
    def clean_test(self) -> ImageSet:
        return load_split(self.dataset, "test", self.data_dir)


@dataclass(frozen=True)
class Condition:
    name: str
    kind: str  # a ConditionKind name (analysis/condition_kinds.py): clean, corruption, ...
    build: Callable[[ConditionContext], ImageSet]
    family: str = ""  # e.g. "defocus_blur"; plots draw one line per family
    severity: int | None = None
    params: dict = field(default_factory=dict, hash=False, compare=False)
    # the corruption (or albu:) a ``corrupt`` condition applies: what ``robeval corrupt`` builds
    # into the cache; None for conditions that read files (clean, genset:, released:)
    corruption: Corruption | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class ConditionSource:
    """One group of conditions: ``available(dataset)`` lists them (``GROUP:all``); ``parse(name,
    dataset)`` turns a dynamic name into a condition (or a list: a family name is that family at
    every severity), or None when the name is not its kind."""

    group: str
    available: Callable[[str], list[Condition]]
    parse: Callable[[str, str], Condition | list[Condition] | None] | None = None
    description: str = ""
    # (subgroup, dataset) -> the conditions of ``GROUP:SUBGROUP`` (e.g. corrupt:noise), None when
    # the word is not one of its subgroups; ``GROUP:all`` goes here too when the source has it
    subgroups: Callable[[str, str], list[Condition] | None] | None = None
    # True: what is available depends on files under the data root (released benchmarks, built
    # sets), so ``available`` is called as available(dataset, data_dir) with the eval's --data-dir
    reads_data_root: bool = False

    @property
    def name(self) -> str:
        """Registered under its group word (``corrupt`` in ``corrupt:noise``)."""
        return self.group

    def listed(self, dataset: str, data_dir: str | Path | None = None) -> list[Condition]:
        return self.available(dataset, data_dir) if self.reads_data_root else self.available(dataset)


SOURCES: Registry[ConditionSource] = Registry("condition group")


def register_source(source: ConditionSource) -> ConditionSource:
    SOURCES.add(source)
    return source


def split_names(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    names, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            names.append(current.strip())
            current = ""
        else:
            current += ch
    names.append(current.strip())
    return [n for n in names if n]


def available(dataset: str, group: str | None = None,
              data_dir: str | Path | None = None) -> list[Condition]:
    """Every condition of ``group`` (or of all groups) for ``dataset``; sources that read the data
    root (released:, built gensets) look under ``data_dir`` (else $ROBEVAL_DATA, datasets/)."""
    groups = [group] if group else SOURCES.names()
    return [c for g in groups for c in SOURCES.get(g).listed(dataset, data_dir)]
