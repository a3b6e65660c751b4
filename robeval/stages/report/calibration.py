"""The report's calibration section: NLL, ECE, Brier and AURC per head variant, over seeds.

``robeval eval`` writes the four metrics per condition into eval.json
(robeval/analysis/calibration.py); aggregate.py averages them over seeds with the accuracy's
t-interval, also for the corruption and generalisation means. Accuracy says how often a head is
right; these say whether its confidence can be trusted when it is not, which can differ between
fixed and learned class vectors even at equal accuracy. Runs evaluated before the fields existed
report "–".
"""

from __future__ import annotations

from robeval.render.document import Cell
from robeval.stages.report.aggregate import SUMMARY_KINDS
from robeval.stages.report.format import plain_cell
from robeval.stages.report.inputs import ReportInputs

#: (metric key in a row's calibration entry, column header, number format)
CALIBRATION_COLUMNS = (("nll", "NLL", ".3f"), ("ece", "ECE", ".3f"), ("brier", "Brier", ".3f"),
                       ("aurc", "AURC", ".3f"))
#: the conditions the table shows, in order: clean and the two means
SHOWN = ("clean", SUMMARY_KINDS["corruption"], SUMMARY_KINDS["generalisation"])
DEFINITION = ("ECE is top-label, 15 equal-width confidence bins; AURC ranks by max-softmax "
              "confidence. All four are lower-is-better: NLL is the mean −log p(true class), Brier "
              "the squared error of the probability vector (0 to 2), AURC the mean error rate of "
              "the k most confident images over k. Cells: mean over seeds, under it the 95% "
              "t-interval.")


def calibration_rows(rows: list[dict]) -> tuple[list, list[list]]:
    """Headers and body of one dataset/arch's table: a row per (condition, variant) for the
    SHOWN conditions the runs have, a column per metric."""
    cell = {(r["condition"], r["variant"]): r for r in rows}
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    headers: list = ["condition", "head", *(Cell(h, "", num=True) for _, h, _ in CALIBRATION_COLUMNS)]
    body = []
    for cond in SHOWN:
        for v in variants:
            r = cell.get((cond, v))
            if r is None:
                continue
            cal = r.get("calibration") or {}
            body.append([cond, v, *(plain_cell(cal.get(k), spec) for k, _, spec in CALIBRATION_COLUMNS)])
    return headers, body


def calibration_section(x: ReportInputs) -> list[tuple]:
    """One table per dataset/arch, the definition sentence and the ECE-vs-severity figures."""
    if not x.rows:
        return []
    b: list[tuple] = [("h", 2, "Calibration"), ("p", DEFINITION)]
    for ds, arch in x.groups():
        headers, body = calibration_rows(x.rows_of(ds, arch))
        if not body:
            continue
        if len(x.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        b.append(("table", headers, body))
    if not any(r.get("calibration") for r in x.rows):
        b.append(("note", "These runs were evaluated before robeval recorded calibration; re-run "
                          "`robeval eval RUN` to fill the table."))
    if x.figs.get("calibration"):
        b.append(("figures", x.figs["calibration"]))
    return b
