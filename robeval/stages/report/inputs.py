"""What every report section reads (``ReportInputs``) and the ``Section`` record.

Kept apart from page.py so the section modules and the page that lists them import it without
importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ReportInputs:
    records: list[dict]
    rows: list[dict]
    paired: list[dict]
    env: dict
    notes: list[str]
    geo: list[dict]
    geo_sum: list[dict]
    claims: list[dict]
    figs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # figures.FIGURES' output
    sweep: list[dict] | None = None  # stages/tuning.py rows: validation accuracy per variant and (lr, S)
    incomplete: dict[str, str] = field(default_factory=dict)  # failed cells: run name -> log path
    field: Any = None  # field.FieldResults: the study-level metrics (None: not computed)

    def groups(self) -> list[tuple[str, str]]:
        """The (dataset, arch) pairs, in the rows' order."""
        return list(dict.fromkeys((r["dataset"], r["arch"]) for r in self.rows))

    def rows_of(self, ds: str, arch: str) -> list[dict]:
        return [r for r in self.rows if r["dataset"] == ds and r["arch"] == arch]


@dataclass(frozen=True)
class Section:
    name: str
    blocks: Callable[[ReportInputs], list[tuple]]
