"""Evaluation conditions: named ways to get a labelled test set for a dataset.

A condition is e.g. ``clean``, ``genset:shapes-shift`` (a generalisation set) or
``defocus_blur/3``. Each condition source is one ``ConditionSource`` record in SOURCES: the
conditions it lists for a dataset, and optionally a parser for dynamic names (``albu:...``,
``genset:NAME``). ``resolve`` turns a ``--conditions`` string into a list:

    all                 every condition available for the dataset (corruptions: corrupt:study)
    GROUP:all           every condition of one source (e.g. corrupt:all, genset:all)
    GROUP:SUBGROUP      a named part of one source (e.g. corrupt:noise, corrupt:standard)
    NAME[,NAME...]      exact names (commas inside parentheses do not split)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry
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


@dataclass(frozen=True)
class ConditionSource:
    """One group of conditions: ``available(dataset)`` lists them (``GROUP:all``); ``parse(name,
    dataset)`` turns a dynamic name into a condition, or None when the name is not its kind."""

    group: str
    available: Callable[[str], list[Condition]]
    parse: Callable[[str, str], Condition | None] | None = None
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


def split_names(spec: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    names, depth, current = [], 0, ""
    for ch in spec:
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


def _parse(name: str, dataset: str) -> Condition | None:
    for source in map(SOURCES.get, SOURCES.names()):
        if source.parse is not None and (c := source.parse(name, dataset)) is not None:
            return c
    return None


def _subgroup(group: str, sub: str, dataset: str) -> list[Condition] | None:
    source = SOURCES.get(group) if group in SOURCES else None
    if source is None or source.subgroups is None:
        return None
    return source.subgroups(sub, dataset)


def resolve(spec: str, dataset: str, data_dir: str | Path | None = None) -> list[Condition]:
    """The conditions a ``--conditions`` string names, in order, without duplicates (``all`` and
    ``GROUP:all`` list what is under ``data_dir``, the same root the conditions are built from)."""
    if spec is not None and not split_names(spec):
        raise RobevalError("--conditions is empty; give all, GROUP:all or names separated by commas")
    known = {c.name: c for c in available(dataset, data_dir=data_dir)}
    chosen: dict[str, Condition] = {}
    for name in split_names(spec or "all"):
        group, colon, sub = name.partition(":")
        named = _subgroup(group, sub, dataset) if colon else None
        if name == "all":
            chosen.update(known)
        elif named is not None:
            chosen.update({c.name: c for c in named})
        elif name.endswith(":all"):
            source = name[: -len(":all")]
            group = available(dataset, source, data_dir)
            if not group and source in SOURCES:
                raise RobevalError(f"{name}: dataset {dataset!r} has no conditions of this group here "
                                   "(see robeval eval RUN --list-conditions); leave it out")
            chosen.update({c.name: c for c in group})
        elif name in known:
            chosen[name] = known[name]
        else:
            parsed = _parse(name, dataset)
            if parsed is None:
                raise RobevalError(
                    f"unknown condition {name!r} for dataset {dataset!r}; available: "
                    f"{', '.join(known) or 'none'} (groups: {', '.join(g + ':all' for g in SOURCES)})"
                )
            chosen[parsed.name] = parsed
    return list(chosen.values())
