"""The first screen: what was run in one line, the headline table (head variant x clean /
corruptions / generalisation) and the claims as a compact table, before any long text.
The plateau and one-seed caveats follow them, in small print."""

from __future__ import annotations

from robeval.analysis.condition_kinds import headline_kinds
from robeval.render.document import Cell
from robeval.stages.report.aggregate import plateau_rule
from robeval.stages.report.claims import not_at_plateau
from robeval.stages.report.format import acc_cell
from robeval.stages.report.inputs import ReportInputs
from robeval.stages.report.robustness import headline_columns

GOOD = ("supported", "consistent")
BAD = ("contradicted", "not supported")


def _seeds(inputs: ReportInputs) -> str:
    per = {}
    for r in inputs.records:
        per.setdefault(r["variant"], set()).add(r["seed"])
    counts = sorted({len(s) for s in per.values()})
    return (f"{counts[0]} seeds each" if len(counts) == 1 else
            f"{counts[0]}-{counts[-1]} seeds per variant") if counts else "no runs"


def intro(inputs: ReportInputs) -> list[tuple]:
    where = ", ".join(f"{ds} / {arch}" for ds, arch in inputs.groups()) or "no runs"
    return [("h", 1, "robeval report"),
            ("p", f"**{where}**: {len(inputs.records)} runs, {len({r['variant'] for r in inputs.records})} head "
                  f"variants, {_seeds(inputs)}. Test accuracy %: mean over seeds, under it the 95% "
                  "t-interval and n (hover: std). Checkpoints chosen on validation.")]


def _n_conditions(inputs: ReportInputs, name: str) -> int:
    return max((r["conditions"].get(name, {}).get("n_conditions", 0) for r in inputs.records), default=0)


def _headline_columns(inputs: ReportInputs, rows: list[dict]) -> list[tuple[str, Cell]]:
    """(row name, header) per headline kind the runs have: clean, then each kind's mean; the
    header is the kind's label, under it what the mean is over (analysis/condition_kinds.py)."""
    present = {r["condition"] for r in rows}
    cols = []
    for kind in headline_kinds():
        name = kind.headline_row
        if name not in present:
            continue
        sub = kind.note
        if kind.summary:
            k = _n_conditions(inputs, name)
            members = [r["condition"] for r in rows if r["kind"] == kind.name]
            one = kind.name_single and k == 1 and members  # a set named without its group prefix
            sub = (members[0].partition(":")[2] or members[0]) if one else f"mean of {k} {kind.members}"
        cols.append((name, Cell(kind.label, sub)))
    return cols


def headline(inputs: ReportInputs) -> list[tuple]:
    b: list[tuple] = []
    for ds, arch in inputs.groups():
        rows = inputs.rows_of(ds, arch)
        cols = _headline_columns(inputs, rows)
        if not cols:
            continue
        cell = {(r["variant"], r["condition"]): r for r in rows}
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        extra = headline_columns(inputs.field, ds, arch) if inputs.field else []
        if len(inputs.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        b.append(("table", ["head variant", *(c for _, c in cols), *(h for h, _ in extra)],
                  [[v, *(acc_cell(cell.get((v, name))) for name, _ in cols),
                    *(cells.get(v, cells.get("", Cell("–"))) for _, cells in extra)] for v in variants]))
    return b


def _verdict_kind(verdict: str) -> str:
    if verdict.startswith(BAD):
        return "v-bad"
    return "v-good" if verdict.startswith(GOOD) else ""


def claims_table(inputs: ReportInputs) -> list[tuple]:
    if not inputs.claims:
        return []
    caveats = {c.get("caveat", "") for c in inputs.claims if c["evidence"]}
    common = caveats.pop() if len(caveats) == 1 else ""  # said once, in the header
    rows = [[str(i), c.get("title") or c["claim"], c["paper"], c.get("shows") or ["–"],
             Cell(c.get("verdict_only", c["verdict"]), "" if common else c.get("caveat", ""), num=False,
                  kind=_verdict_kind(c.get("verdict_only", c["verdict"])))]
            for i, c in enumerate(inputs.claims, 1)]
    return [("h", 2, "The paper's claims on these runs"),
            ("table", ["#", "claim", "the paper says", Cell("these runs show", "mean [95% t-interval]", num=False),
                       Cell("verdict", f"all rest on {common}" if common else "", num=False)], rows)]


def caveats(inputs: ReportInputs) -> list[tuple]:
    b: list[tuple] = []
    if inputs.incomplete:
        b.append(("note", f"**Incomplete: {len(inputs.incomplete)} grid cell(s) failed twice and are missing "
                          "from every table**: " + "; ".join(f"{run} (log: {log})" for run, log in
                                                               sorted(inputs.incomplete.items()))
                  + ". Fix the cause and re-run the same command with --retry-failed."))
    imported = [r for r in inputs.records if r.get("origin")]
    if imported:
        b.append(("note", f"**{len(imported)} of {len(inputs.records)} runs were imported, not trained by "
                          "robeval** (no validation split, no training record; the checkpoint is the "
                          "one given): " + "; ".join(f"{r['run']} ({r['origin']})" for r in imported)
                  + "."))
    unsettled = not_at_plateau(inputs.records)
    if unsettled:
        b.append(("note", f"**{len(unsettled)} of {len(inputs.records)} runs had not reached their plateau** "
                          f"(validation accuracy still moved by more than {plateau_rule(inputs.records, unsettled_only=True)} "
                          "over the last two epochs): "
                          f"{', '.join(unsettled)}. Verdicts that rest on them say so."))
    single = [r for r in inputs.rows if r["n"] == 1]
    if single:
        b.append(("note", f"{len(single)} of {len(inputs.rows)} cells rest on one seed: they have no std and "
                          "no interval (n = 1: no interval), and no claim is judged on them."))
    if inputs.claims:
        b.append(("note", "Exploratory: several claims are judged on the same runs, with no correction "
                          "for multiple comparisons; verdicts need at least 3 seeds (docs/analysis.md). "
                          "Each claim's evidence is under “Claims in detail” below."))
    return b
