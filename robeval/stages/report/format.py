"""How the report writes numbers: the one interval formatter, the accuracy tables and CSV.

An interval is the dict ``analysis.stats.t_interval`` returns (n, mean, std, ci_low, ci_high,
note); ``interval_text`` is the only code that turns one into text, in the terminal, the
Markdown/HTML tables and the claims alike.
"""

from __future__ import annotations

import csv
import io

from robeval.analysis.study_metrics import STUDY_METRICS
from robeval.render.document import Cell
from robeval.stages.report.aggregate import GROUP_KEYS, per_condition_names


def interval_text(d: dict | None, *, scale: float = 100.0, number_format: str = ".2f", unit: str = "",
                  signed: bool = False, std: bool = False, n: bool = True) -> str:
    """'+1.20 pp [+0.40, +2.00], n = 3'; '85.20 ± 1.10 [83.47, 86.93], n = 3' (std=True);
    '+1.20 pp (n = 1: no interval)'; the note (or '–') when there is no mean."""
    if not d or d.get("mean") is None:
        return (d or {}).get("note") or "–"
    sign = "+" if signed else ""

    def num(x: float) -> str:
        return format(scale * x, sign + number_format)

    s = num(d["mean"]) + (f" {unit}" if unit else "")
    if std and d.get("std") is not None:
        s += f" ± {format(scale * d['std'], number_format)}"
    if d.get("ci_low") is None:
        return s + (f" (n = {d['n']}: no interval)" if n else "")
    s += f" [{num(d['ci_low'])}, {num(d['ci_high'])}]"
    return s + (f", n = {d['n']}" if n else "")


def _band(d: dict, scale: float, number_format: str, n: bool) -> str:
    if d.get("ci_low") is None:
        return f"n = {d['n']}: no interval" if n else "no interval"
    low, high = (format(scale * d[k], number_format) for k in ("ci_low", "ci_high"))
    s = f"[{low}, {high}]"
    return s + (f", n = {d['n']}" if n else "")


def acc_cell(d: dict | None, *, n: bool = True) -> Cell:
    """An accuracy % cell: the mean over seeds, under it the 95% t-interval (and n); the full
    text with the std on hover."""
    if not d or d.get("mean") is None:
        return Cell("–", (d or {}).get("note") or "")
    return Cell(f"{100 * d['mean']:.2f}", _band(d, 100.0, ".2f", n), interval_text(d, std=True))


def diff_cell(d: dict | None, *, n: bool = True) -> Cell:
    """A paired difference in pp: signed mean, under it the interval (and n)."""
    if not d or d.get("mean") is None:
        return Cell("–", (d or {}).get("note") or "")
    return Cell(f"{100 * d['mean']:+.2f}", _band(d, 100.0, "+.2f", n),
                interval_text(d, unit="pp", signed=True))


def plain_cell(d: dict | None, number_format: str) -> Cell:
    """A geometry number (no scaling) with its interval on a second line."""
    if not d or d.get("mean") is None:
        return Cell("–", (d or {}).get("note") or "")
    return Cell(format(d["mean"], number_format), _band(d, 1.0, number_format, False),
                interval_text(d, scale=1.0, number_format=number_format))


def common_n(cells: list[dict]) -> int | None:
    """The seed count every cell shares (said once in a header), else None."""
    ns = {c["n"] for c in cells if c}
    return ns.pop() if len(ns) == 1 else None


def by_condition(rows: list[dict], conditions: list[str]) -> tuple[list, list[list]]:
    """Conditions as rows, head variants as columns (one dataset/arch): headers and rows of cells;
    n goes into a column's header when all its cells share it."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    cell = {(r["variant"], r["condition"]): r for r in rows}
    headers: list = ["condition"]
    for v in variants:
        n = common_n([cell.get((v, c)) for c in conditions])
        headers.append(Cell(v, f"n = {n}" if n else "", num=True))
    body = []
    for c in conditions:
        body.append([c, *(acc_cell(cell.get((v, c)), n=common_n(
            [cell.get((v, k)) for k in conditions]) is None) for v in variants)])
    return headers, body


def terminal_table(rows: list[dict]) -> str:
    out = [f"{'condition':<26} {'head':<30} {'accuracy % (mean ± std) [95% t-interval], n':>50}"]
    for cond in dict.fromkeys(r["condition"] for r in rows):
        for r in (r for r in rows if r["condition"] == cond):
            out.append(f"{cond:<26} {r['variant']:<30} {interval_text(r, std=True):>50}")
    return "\n".join(out)


CALIBRATION_STATS = ("mean", "ci_low", "ci_high", "std", "n")
#: the study-level metric rows (field.py) add: which metric and part, the source of conditions,
#: what the number is normalised by and why it is missing
FIELD_COLUMNS = ("metric", "part", "source", "unit", "normalised_by", "note")


def csv_fields() -> tuple[str, ...]:
    """results.csv's columns: the row's keys, each per-condition metric's ``<name>_<stat>``
    (from the registry) and the study-level metric columns."""
    per_condition = tuple(f"{m}_{s}" for m in per_condition_names() for s in CALIBRATION_STATS)
    return (*GROUP_KEYS, "variant", "condition", "kind", "family", "severity", "n", "mean", "std",
            "ci_low", "ci_high", "seeds", *per_condition, *FIELD_COLUMNS)


CSV_FIELDS = csv_fields()  # at import; page.py asks csv_fields() when it writes
PAIRED_FIELDS = ("dataset", "arch", "fixed", "learned", "condition", "kind", "family", "severity",
                 "n", "mean", "std", "ci_low", "ci_high", "seeds", "note")


def flat_calibration(row: dict) -> dict:
    """A results row with its calibration entry as ece_mean, ece_ci_low, ... columns (empty
    where the runs have no calibration fields)."""
    cal = row.get("calibration") or {}
    return {**row, **{f"{m}_{s}": cal[m].get(s) for m in per_condition_names() if m in cal
                      for s in CALIBRATION_STATS}}


def field_csv_rows(rows: list[dict]) -> list[dict]:
    """The study-level metric rows as results.csv rows: condition ``METRIC:SOURCE[:PART]``
    (e.g. ``mce:generated``, ``family_accuracy:released:fog``), kind ``field``; accuracy rows
    have an empty ``metric``."""
    out = []
    for r in rows:
        parts = STUDY_METRICS.get(r["metric"]).parts  # what a row's part is: a family, a severity
        out.append({**r, "condition": ":".join(p for p in (r["metric"], r["source"], r["part"]) if p),
                    "kind": "field", "family": r["part"] if parts == "family" else None,
                    "severity": r["part"] if parts == "severity" else None})
    return out


def to_csv(rows: list[dict], fields: tuple[str, ...] | None = None) -> str:
    fields = csv_fields() if fields is None else fields
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        row = {k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()}
        writer.writerow(row)
    return buf.getvalue()
