"""The first screen: what was run in one line, the headline table (head variant x clean /
corruptions / generalisation) and the claims as a compact table, before any long text.
The plateau and one-seed caveats follow them, in small print."""

from __future__ import annotations

from robeval.render.document import Cell
from robeval.stages.report.aggregate import SUMMARY_KINDS
from robeval.stages.report.claims import not_at_plateau
from robeval.stages.report.format import acc_cell
from robeval.stages.report.inputs import ReportInputs
from robeval.stages.report.robustness import headline_columns

GOOD = ("supported", "consistent")
BAD = ("contradicted", "not supported")


def _seeds(x: ReportInputs) -> str:
    per = {}
    for r in x.records:
        per.setdefault(r["variant"], set()).add(r["seed"])
    counts = sorted({len(s) for s in per.values()})
    return (f"{counts[0]} seeds each" if len(counts) == 1 else
            f"{counts[0]}-{counts[-1]} seeds per variant") if counts else "no runs"


def intro(x: ReportInputs) -> list[tuple]:
    where = ", ".join(f"{ds} / {arch}" for ds, arch in x.groups()) or "no runs"
    return [("h", 1, "robeval report"),
            ("p", f"**{where}**: {len(x.records)} runs, {len({r['variant'] for r in x.records})} head "
                  f"variants, {_seeds(x)}. Test accuracy %: mean over seeds, under it the 95% "
                  "t-interval and n (hover: std). Checkpoints chosen on validation.")]


def _n_conditions(x: ReportInputs, name: str) -> int:
    return max((r["conditions"].get(name, {}).get("n_conditions", 0) for r in x.records), default=0)


def _headline_columns(x: ReportInputs, rows: list[dict]) -> list[tuple[str, Cell]]:
    present = {r["condition"] for r in rows}
    cols = [("clean", Cell("clean", "test set"))] if "clean" in present else []
    corr, gen = SUMMARY_KINDS["corruption"], SUMMARY_KINDS["generalisation"]
    if corr in present:
        cols.append((corr, Cell("corruptions", f"mean of {_n_conditions(x, corr)} conditions")))
    if gen in present:
        sets = [r["condition"] for r in rows if r["kind"] == "generalisation"]
        k = _n_conditions(x, gen)
        sub = sets[0].removeprefix("genset:") if k == 1 and sets else f"mean of {k} sets"
        cols.append((gen, Cell("generalisation", sub)))
    return cols


def headline(x: ReportInputs) -> list[tuple]:
    b: list[tuple] = []
    for ds, arch in x.groups():
        rows = x.rows_of(ds, arch)
        cols = _headline_columns(x, rows)
        if not cols:
            continue
        cell = {(r["variant"], r["condition"]): r for r in rows}
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        extra = headline_columns(x.field, ds, arch) if x.field else []
        if len(x.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        b.append(("table", ["head variant", *(c for _, c in cols), *(h for h, _ in extra)],
                  [[v, *(acc_cell(cell.get((v, name))) for name, _ in cols),
                    *(cells.get(v, cells.get("", Cell("–"))) for _, cells in extra)] for v in variants]))
    return b


def _verdict_kind(verdict: str) -> str:
    if verdict.startswith(BAD):
        return "v-bad"
    return "v-good" if verdict.startswith(GOOD) else ""


def claims_table(x: ReportInputs) -> list[tuple]:
    if not x.claims:
        return []
    caveats = {c.get("caveat", "") for c in x.claims if c["evidence"]}
    common = caveats.pop() if len(caveats) == 1 else ""  # said once, in the header
    rows = [[str(i), c.get("title") or c["claim"], c["paper"], c.get("shows") or ["–"],
             Cell(c.get("verdict_only", c["verdict"]), "" if common else c.get("caveat", ""), num=False,
                  kind=_verdict_kind(c.get("verdict_only", c["verdict"])))]
            for i, c in enumerate(x.claims, 1)]
    return [("h", 2, "The paper's claims on these runs"),
            ("table", ["#", "claim", "the paper says", Cell("these runs show", "mean [95% t-interval]", num=False),
                       Cell("verdict", f"all rest on {common}" if common else "", num=False)], rows)]


def caveats(x: ReportInputs) -> list[tuple]:
    b: list[tuple] = []
    if x.incomplete:
        b.append(("note", f"**Incomplete: {len(x.incomplete)} grid cell(s) failed twice and are missing "
                          "from every table**: " + "; ".join(f"{run} (log: {log})" for run, log in
                                                               sorted(x.incomplete.items()))
                  + ". Fix the cause and re-run the same command with --retry-failed."))
    imported = [r for r in x.records if r.get("origin")]
    if imported:
        b.append(("note", f"**{len(imported)} of {len(x.records)} runs were imported, not trained by "
                          "robeval** (no validation split, no training record; the checkpoint is the "
                          "one given): " + "; ".join(f"{r['run']} ({r['origin']})" for r in imported)
                  + "."))
    unsettled = not_at_plateau(x.records)
    if unsettled:
        b.append(("note", f"**{len(unsettled)} of {len(x.records)} runs had not reached their plateau** "
                          "(validation accuracy still moved by more than 1 pp over the last two epochs): "
                          f"{', '.join(unsettled)}. Verdicts that rest on them say so."))
    single = [r for r in x.rows if r["n"] == 1]
    if single:
        b.append(("note", f"{len(single)} of {len(x.rows)} cells rest on one seed: they have no std and "
                          "no interval (n = 1: no interval), and no claim is judged on them."))
    if x.claims:
        b.append(("note", "Exploratory: several claims are judged on the same runs, with no correction "
                          "for multiple comparisons; verdicts need at least 3 seeds (docs/analysis.md). "
                          "Each claim's evidence is under “Claims in detail” below."))
    return b
