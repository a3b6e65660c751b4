"""The report's calibration section: every per-condition metric record (NLL, ECE, Brier, AURC,
analysis/condition_metrics.py) per head variant, over seeds.

``robeval eval`` writes each record's value per condition into eval.json; aggregate.py averages
them over seeds with the accuracy's t-interval, also for the corruption and generalisation means.
Accuracy says how often a head is right; these say whether its confidence can be trusted when it
is not, which can differ between fixed and learned class vectors even at equal accuracy. Runs
evaluated before a record existed report "–". Columns, headers, formats and the section's
sentence come from the records.
"""

from __future__ import annotations

from robeval.analysis.condition_kinds import headline_kinds
from robeval.analysis.condition_metrics import condition_metrics
from robeval.render.document import Cell
from robeval.stages.report.format import plain_cell
from robeval.stages.report.inputs import ReportInputs


def shown() -> list[str]:
    """The conditions the table shows, in order: each headline kind's row (clean and the means
    of corruptions and generalisation sets; analysis/condition_kinds.py)."""
    return [k.headline_row for k in headline_kinds()]


def definition() -> str:
    """The section's sentence, from the records: their reading notes, which way is better, and
    each one's definition."""
    metrics = condition_metrics()
    notes = "; ".join(m.note for m in metrics if m.note)
    lower = [m.label for m in metrics if not m.higher_is_better]
    higher = [m.label for m in metrics if m.higher_is_better]
    way = " ".join(s for s in (f"Lower is better: {', '.join(lower)}." if lower else "",
                               f"Higher is better: {', '.join(higher)}." if higher else "") if s)
    defs = "; ".join(f"{m.label}: {m.definition}" for m in metrics)
    return (f"{notes + '. ' if notes else ''}{way} {defs}. Cells: mean over seeds, under it the 95% "
            "t-interval.")


def calibration_rows(rows: list[dict]) -> tuple[list, list[list]]:
    """Headers and body of one dataset/arch's table: a row per (condition, variant) for the
    shown() conditions the runs have, a column per metric."""
    cell = {(r["condition"], r["variant"]): r for r in rows}
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    metrics = condition_metrics()
    headers: list = ["condition", "head", *(Cell(m.label, "", num=True) for m in metrics)]
    body = []
    for cond in shown():
        for v in variants:
            r = cell.get((cond, v))
            if r is None:
                continue
            cal = r.get("calibration") or {}
            body.append([cond, v, *(plain_cell(cal.get(m.name), m.fmt) for m in metrics)])
    return headers, body


def calibration_section(inputs: ReportInputs) -> list[tuple]:
    """One table per dataset/arch, the definition sentence and the metric-vs-severity figures
    (one image per dataset/arch, metric and source, a panel per corruption category)."""
    if not inputs.rows:
        return []
    b: list[tuple] = [("h", 2, "Calibration"), ("p", definition())]
    for ds, arch in inputs.groups():
        headers, body = calibration_rows(inputs.rows_of(ds, arch))
        if not body:
            continue
        if len(inputs.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        b.append(("table", headers, body))
    if not any(r.get("calibration") for r in inputs.rows):
        b.append(("note", "These runs were evaluated before robeval recorded calibration; re-run "
                          "`robeval eval RUN` to fill the table."))
    if inputs.figs.get("calibration"):
        b.append(("figures", inputs.figs["calibration"]))
    return b
