"""The report's corruption-benchmark section and headline columns: the field's study-level
metrics (one record each, analysis/study_metrics.py) per head variant, per family and severity,
and released vs generated corruptions side by side.

Every number comes from field.py's rows; every header of a normalised number says what it is
normalised by (the CE reference, the effective-robustness fit).
"""

from __future__ import annotations

from robeval.analysis.study_metrics import STUDY_METRICS, study_metrics
from robeval.render.document import Cell
from robeval.stages.report.field import FieldResults, group_order
from robeval.stages.report.format import acc_cell, diff_cell
from robeval.stages.report.inputs import ReportInputs
from robeval.stages.report.sources import GENERATED, RELEASED, Source, category_of

HEADLINE_SOURCES = (GENERATED, RELEASED)
SHORT = 48  # characters of a "–" cell's reason shown under it (all of it on hover)


def value_cell(row: dict | None, *, n: bool = True) -> Cell:
    """A study metric's cell: % (or signed pp) mean over seeds, under it the interval; "–" with
    the reason on hover where it could not be measured."""
    if not row or row.get("mean") is None:
        note = (row or {}).get("note") or ""
        short = note if len(note) <= SHORT else note[:SHORT].rsplit(" ", 1)[0] + " …"
        return Cell("–", short, note)
    return diff_cell(row, n=n) if row["unit"] == "pp" else acc_cell(row, n=n)


def header(metric_name: str, rows: list[dict], source: str = "") -> Cell:
    """A column header: the label, under it the unit and what it is normalised by (from the
    record), or why there is no value at all (no reference, no fit)."""
    m = STUDY_METRICS.get(metric_name)
    bits = [source] if source else []
    bits.append("pp" if m.unit == "pp" else "%")
    labelled = next((r["normalised_by"] for r in rows if r.get("normalised_by")), None)
    if labelled:
        bits.append(labelled)
    elif m.needs and not rows:
        bits.append(f"no {m.needs}")
    return Cell(m.label, ", ".join(bits), num=True)


def missing_reason(metric_name: str, ctx: dict | None) -> str:
    """Why a metric that needs a reference or a fit has no rows here."""
    needs = STUDY_METRICS.get(metric_name).needs
    return (ctx or {}).get({"reference": "reference_note", "fit": "fit_note"}.get(needs, ""), "") or ""


def _one(rows: list[dict], variant: str, part: str = "") -> dict | None:
    return next((r for r in rows if r["variant"] == variant and r["part"] == part), None)


def headline_columns(field: FieldResults, ds: str, arch: str) -> list[tuple[Cell, dict[str, Cell]]]:
    """(header, variant -> cell) of the headline's field columns: the mean corruption accuracy
    and the mCE of the generated and the released corruptions, where the study has them."""
    out = []
    for source in (s for s in HEADLINE_SOURCES if s in field.sources(ds, arch, "corruption")):
        ctx = field.context(ds, arch, source)
        for m in (m for m in study_metrics() if m.headline):
            rows = field.of(ds, arch, source, m.name)
            why = "" if rows else missing_reason(m.name, ctx)
            cells = {v: value_cell(_one(rows, v)) for v in {r["variant"] for r in rows}}
            out.append((header(m.name, rows, source), cells if rows else {"": Cell("–", "", why)}))
    return out


def _scalar_table(field: FieldResults, ds: str, arch: str, source: str, variants: list[str]) -> list[tuple]:
    ctx = field.context(ds, arch, source)
    metrics = [m for m in study_metrics() if not m.parts and ctx["kind"] in m.kinds
               and field.of(ds, arch, source, m.name)]
    if not metrics:
        return []
    cells = {m.name: field.of(ds, arch, source, m.name) for m in metrics}
    body = [[v, *(value_cell(_one(cells[m.name], v)) for m in metrics)] for v in variants
            if any(_one(cells[m.name], v) for m in metrics)]
    notes = list(dict.fromkeys(f"{m.label}: {r['note']}" for m in metrics for r in cells[m.name]
                               if r["mean"] is None and r.get("note")))
    b: list[tuple] = [("table", ["head variant", *(header(m.name, cells[m.name]) for m in metrics)],
                       body)]
    if notes:
        b.append(("note", "“–”: " + "; ".join(notes)))
    return b


def _family_table(inputs: ReportInputs, ds: str, arch: str, source: str, variant: str) -> tuple:
    """Rows: families (category order) then the per-severity mean; columns: severities, the
    family mean and CE_f (normalised by the reference)."""
    field = inputs.field
    name = Source(source, "corruption").condition
    acc = {r["condition"]: r for r in inputs.rows_of(ds, arch) if r["variant"] == variant}
    fam = [r for r in field.of(ds, arch, source, "family_accuracy") if r["variant"] == variant]
    ce = {r["part"]: r for r in field.of(ds, arch, source, "ce") if r["variant"] == variant}
    sev = {r["part"]: r for r in field.of(ds, arch, source, "severity_accuracy") if r["variant"] == variant}
    severities = sorted({int(s) for s in sev})
    headers: list = ["category", "family", *(Cell(f"severity {s}", "%") for s in severities),
                     Cell("mean", "%")]
    if ce:
        headers.append(header("ce", list(ce.values())))
    body = []
    for r in sorted(fam, key=lambda r: group_order(r["part"])):
        f = r["part"]
        row = [category_of(f), f, *(acc_cell(acc.get(name((f, s))), n=False) for s in severities),
               acc_cell(r, n=False)]
        if ce:
            row.append(value_cell(ce.get(f), n=False))
        body.append(row)
    body.append(["", "mean over families", *(acc_cell(sev.get(str(s)), n=False) for s in severities),
                 value_cell(_one(field.of(ds, arch, source, "mean_corruption_accuracy"), variant), n=False),
                 *([value_cell(_one(field.of(ds, arch, source, "mce"), variant), n=False)] if ce else [])])
    return ("table", headers, body)


def _side_by_side(field: FieldResults, ds: str, arch: str) -> list[tuple]:
    rows = [r for r in field.released_vs_generated if (r["dataset"], r["arch"]) == (ds, arch)]
    if not rows:
        return []
    tables: list[tuple] = [("note", "The same runs on the corruptions robeval generates and on the "
                                    "released files, per family and severity; the difference is "
                                    "paired over seeds (same weights). What gap to expect and why: "
                                    "docs/corruptions.md.")]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        tables += [("p", f"**{variant}**"),
                   ("table", ["family", "severity", Cell("generated", "%"), Cell("released", "%"),
                              Cell("generated − released", "pp, paired over seeds")],
                    [[r["family"], r["severity"], acc_cell(r["generated"], n=False),
                      acc_cell(r["released"], n=False), diff_cell(r["difference"])] for r in mine])]
    return [("fold", f"Released vs generated corruptions, side by side: {len(rows)} rows", tables)]


def robustness_section(inputs: ReportInputs) -> list[tuple]:
    field = inputs.field
    if field is None or not field.contexts:
        return []
    corrupted = any(c["kind"] == "corruption" for c in field.contexts)
    title = "Corruption benchmark: the field's metrics" if corrupted else "Effective robustness"
    b: list[tuple] = [("h", 2, title),
                      ("p", (f"CE reference: {field.reference}. " if corrupted else "")
                       + "A normalised number says in its column header what it is normalised by; "
                         "each cell is the mean over seeds, under it the 95% t-interval.")]
    for ds, arch in inputs.groups():
        sources = field.sources(ds, arch)
        if not sources:
            continue
        if len(inputs.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        variants = list(dict.fromkeys(r["variant"] for r in inputs.rows_of(ds, arch)))
        corr = field.sources(ds, arch, "corruption")
        for source in corr:
            b.append(("p", f"**{source} corruptions**"))
            b += _scalar_table(field, ds, arch, source, variants)
            ctx = field.context(ds, arch, source)
            if ctx["fit_note"]:
                b.append(("note", f"Effective robustness ({source}): {ctx['fit_note']}."))
            b.append(("fold", f"Per family and severity ({source}): mean accuracy{', CE' if ctx['reference'] else ''}",
                      [t for v in variants if any(r["variant"] == v for r in field.of(ds, arch, source))
                       for t in (("p", f"**{v}**"), _family_table(inputs, ds, arch, source, v))]))
        gen = [s for s in sources if s not in corr]
        if gen:
            b.append(("p", "**generalisation sets**: effective robustness per set"))
            cols = [(s, field.of(ds, arch, s, "effective_robustness")) for s in gen]
            b.append(("table", ["head variant", *(header("effective_robustness", rows, s)
                                                  for s, rows in cols)],
                      [[v, *(value_cell(_one(rows, v)) for _, rows in cols)] for v in variants]))
            b += [("note", f"{s}: {field.context(ds, arch, s)['fit_note']}.") for s in gen]
        b += _side_by_side(field, ds, arch)
    b.append(("fold", "What each metric means", [("ul", [
        f"**{m.label}** (`{m.name}`, {'higher' if m.higher_is_better else 'lower'} is better): "
        f"{m.definition}. `{m.formula}`" for m in study_metrics()])]))
    return b
