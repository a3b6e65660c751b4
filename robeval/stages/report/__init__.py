"""``robeval report``: aggregate runs over seeds and write the report.

    robeval report runs/* --out report/

``aggregate`` groups runs and computes intervals (accuracy and the per-condition metrics) and
paired differences; ``field`` the field's study-level metrics (mean corruption accuracy, mCE
against a named reference, effective robustness; ``sources`` splits the runs' conditions and
finds the reference and the fit, ``robustness`` is their section); ``claims`` judges the
paper's claims (one record each); ``calibration`` is the calibration section; ``format`` is the
one interval formatter and the tables; ``page`` lays out the sections (one record each) and writes ``report.md``, ``report.html``
(self-contained), ``results.csv`` (configuration x condition), ``paired.csv`` (fixed - learned),
``geometry.csv`` (per run), ``results.json`` (every number, per-seed values, claims, run configs,
versions) and ``plots/``.
"""

from __future__ import annotations

from pathlib import Path

from robeval.core.environment import environment
from robeval.core.errors import RobevalError
from robeval.runs.destinations import check_folder
from robeval.stages.report.aggregate import aggregate, collect, paired_rows, rejudge_plateaus
from robeval.stages.report.field import field_results
from robeval.stages.report.format import terminal_table

__all__ = ["aggregate", "collect", "paired_rows", "terminal_table", "write_report"]


def write_report(run_dirs: list[str | Path], out_dir: str | Path, *, analyze: bool = True,
                 plots: bool = True, sweep: list[dict] | None = None,
                 incomplete: dict[str, str] | None = None, ce_reference: str | None = None,
                 er_fit: str | None = None, plateau_tolerance: float | None = None) -> list[dict]:
    """Aggregate ``run_dirs`` and write the report files into ``out_dir``; returns the rows.

    With ``analyze``, runs evaluated with features whose analysis.json is missing or older than
    eval.json are analysed first (robeval analyze), so geometry and claims are never stale.
    ``incomplete`` (run name -> log path) names grid cells that failed and are missing: the report
    is then marked incomplete on its first screen and in results.json. ``plateau_tolerance``
    (a fraction, 0.005 = 0.5 pp) judges every run's plateau by that rule instead of the one it
    was trained under (robeval's 1 pp), from the change it recorded over its last two epochs.
    """
    from robeval.stages.report.page import build_report  # matplotlib, analysis: only when writing

    if not run_dirs:
        raise RobevalError("no runs given; pass run folders, e.g. robeval report runs/*")
    check_folder(out_dir, "report")  # new, empty or a report: never a run's or your own folder
    records = collect(run_dirs)
    if plateau_tolerance is not None:
        rejudge_plateaus(records, plateau_tolerance)
    rows = aggregate(records)
    field = field_results(records, ce_reference, er_fit)
    build_report(records, rows, paired_rows(records), Path(out_dir), environment(),
                 analyze=analyze, plots=plots, sweep=sweep, incomplete=incomplete, field=field)
    return rows
