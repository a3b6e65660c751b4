"""Condition kinds: one ``ConditionKind`` record each in CONDITION_KINDS.

A condition's ``kind`` (robeval/conditions/base.py: ``Condition.kind``) is the record's name,
and eval.json stores that string per condition. Everything that treats kinds differently reads
the record: the per-run summary rows (report/aggregate.py), the order of the accuracy table and
which rows fold (report/sections.py), the first screen's columns (report/front.py), the
calibration table (report/calibration.py), the headline and severity figures
(report/figures.py), browse's sample fields (stages/browse/build.py) and which image set a
condition's rows index (runs/outputs.py).

It lives here, beside the per-condition metrics, and not in ``robeval.conditions``: runs/outputs.py
reads ``split``, and ``runs`` and ``conditions`` are one layer that may not import each other;
both may import ``analysis``. Adding a kind is one record here (docs/extending.md). A kind on disk
that no record names (a run evaluated with a kind since removed) reads as ``custom``.
"""

from __future__ import annotations

from dataclasses import dataclass

from robeval.core.registry import Registry


@dataclass(frozen=True)
class ConditionKind:
    """``label``: the kind in words (a headline column, a figure's group); ``summary``: the name of
    the per-run mean over the kind's conditions, None for no mean row; ``rank``: its place in the
    accuracy table (its mean one below it); ``headline``: a column of the first screen, the
    headline figure and the calibration table; ``split``: the image set its rows index, "test"
    (the clean test set, as it is or corrupted) or None (a set of its own, named by the
    condition); ``graded``: its conditions are families at severities (per-family means, folded
    severity rows, accuracy-vs-severity figures, browse's ``corruption`` field); ``baseline``:
    the reference the graded kinds start from (severity 0)."""

    name: str
    label: str
    summary: str | None = None
    rank: int = 6
    headline: bool = False
    members: str = "conditions"  # what a mean is over, in the headline: "mean of 3 conditions"
    name_single: bool = False  # a mean over one condition names it instead (a generalisation set)
    note: str = ""  # the headline column's sub-label when the kind has no mean (clean: "test set")
    split: str | None = "test"
    graded: bool = False
    baseline: bool = False

    @property
    def headline_row(self) -> str | None:
        """The condition row its headline column shows: the kind's mean, or for a kind without
        one the condition named like the kind (``clean``); None when it has no column."""
        if not self.headline:
            return None
        return self.summary or self.name


CONDITION_KINDS: Registry[ConditionKind] = Registry("condition kind")
for _kind in (
    ConditionKind("clean", "clean", rank=0, headline=True, note="test set", baseline=True),
    ConditionKind("corruption", "corruptions", "corruptions (mean)", rank=2, headline=True,
                  graded=True),
    ConditionKind("generalisation", "generalisation", "generalisation (mean)", rank=4,
                  headline=True, members="sets", name_single=True, split=None),
    ConditionKind("custom", "custom", rank=6),
):
    CONDITION_KINDS.add(_kind)

FALLBACK = "custom"


def condition_kind(name: str | None) -> ConditionKind:
    """The record of a kind string as eval.json stores it; one no record names reads as custom."""
    return CONDITION_KINDS.get(name if name in CONDITION_KINDS else FALLBACK)


def summary_kinds() -> list[ConditionKind]:
    """The kinds with a per-run mean row, in table order (read at call time: a kind added later
    is included)."""
    return sorted((k for k in map(CONDITION_KINDS.get, CONDITION_KINDS) if k.summary),
                  key=lambda k: k.rank)


def headline_kinds() -> list[ConditionKind]:
    """The kinds with a headline column, in table order."""
    return sorted((k for k in map(CONDITION_KINDS.get, CONDITION_KINDS) if k.headline),
                  key=lambda k: k.rank)
