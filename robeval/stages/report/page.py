"""The report's page: SECTIONS lists one ``Section`` record per section in page order, and
``build_report`` runs them and writes Markdown + self-contained HTML, CSV/JSON of every number
and plots.

The first screen answers (front.py: headline and claims tables); the details follow
(sections.py), with figures drawn by figures.py in one colour per head variant. A section takes
the ``ReportInputs`` and returns document blocks (render/document.py). Adding a section is one
function and one record.
"""

from __future__ import annotations

from pathlib import Path

from robeval.core.fileio import read_json, staged_folder, write_json, write_text
from robeval.core.registry import Registry
from robeval.render.document import to_html, to_markdown
from robeval.runs.destinations import mark
from robeval.runs.outputs import has_features
from robeval.stages.analyze import ANALYSIS_JSON, analyze_run, is_stale
from robeval.stages.report import calibration, front, robustness, sections
from robeval.stages.report.aggregate import variant_order
from robeval.stages.report.claims import build_claims, geometry_rows, geometry_summary
from robeval.stages.report.field import FieldResults
from robeval.stages.report.format import (
    PAIRED_FIELDS,
    field_csv_rows,
    flat_calibration,
    to_csv,
)
from robeval.stages.report.inputs import ReportInputs, Section
from robeval.stages.report.sections import geometry_table

__all__ = ["SECTIONS", "ReportInputs", "Section", "build_report", "geometry_table"]


def ensure_analysis(records: list[dict], analyze: bool, plots: bool) -> list[str]:
    """Attach each run's analysis.json (re-analysing stale ones); returns notes for the report.

    Records come sorted by variant then seed; only each variant's first run draws its plots (the
    report shows those), which keeps matplotlib out of most re-analyses."""
    notes = []
    plotted: set[str] = set()
    for r in records:
        run = Path(r["run"])
        key = f"{r['config']['dataset']}/{r['config']['arch']}/{r['variant']}"
        if analyze and has_features(run) and is_stale(run):
            analyze_run(run, plots=plots and key not in plotted)
        plotted.add(key)
        if (run / ANALYSIS_JSON).exists() and not is_stale(run):
            r["analysis"] = read_json(run / ANALYSIS_JSON)
        else:
            r["analysis"] = None
            notes.append(f"{run}: no current analysis.json (evaluated without features, or run "
                         f"`robeval analyze {run}`): geometry left out")
    return notes


SECTIONS: Registry[Section] = Registry("report section")
SECTIONS.add(Section("intro", front.intro))
SECTIONS.add(Section("headline", front.headline))
SECTIONS.add(Section("claims", front.claims_table))
SECTIONS.add(Section("caveats", front.caveats))
SECTIONS.add(Section("tuning", sections.tuning_section))
SECTIONS.add(Section("accuracy", sections.accuracy_section))
SECTIONS.add(Section("robustness", robustness.robustness_section))
SECTIONS.add(Section("paired", sections.paired_section))
SECTIONS.add(Section("calibration", calibration.calibration_section))
SECTIONS.add(Section("geometry", sections.geometry_section))
SECTIONS.add(Section("claims-detail", sections.claims_detail))
SECTIONS.add(Section("training", sections.dynamics_section))
SECTIONS.add(Section("runs", sections.runs_section))
SECTIONS.add(Section("environment", sections.environment_section))


def _draw(records: list[dict], rows: list[dict], out: Path) -> dict[str, list[tuple[str, str]]]:
    """Every figure, one colour per head variant (in the rows' order); stale PNGs removed first."""
    from robeval.render.figures import palette  # matplotlib only when plots are asked for
    from robeval.stages.report.figures import draw_figures

    for old in (out / "plots").glob("*.png"):
        old.unlink()
    colours = palette(list(dict.fromkeys(r["variant"] for r in rows)))
    return draw_figures(records, rows, out, colours)


def build_report(records: list[dict], rows: list[dict], paired: list[dict], out: Path, env: dict,
                 *, analyze: bool = True, plots: bool = True, sweep: list[dict] | None = None,
                 incomplete: dict[str, str] | None = None, field: FieldResults | None = None) -> dict:
    """Every report file is written into a staging folder and moved into ``out`` at the end: a
    report that fails (a damaged run, Ctrl-C) leaves ``out`` as it was."""
    with staged_folder(out) as staging:
        mark(staging, "report")
        return _build(records, rows, paired, staging, env, analyze=analyze, plots=plots, sweep=sweep,
                      incomplete=incomplete, field=field)


def _build(records: list[dict], rows: list[dict], paired: list[dict], out: Path, env: dict,
           *, analyze: bool, plots: bool, sweep: list[dict] | None,
           incomplete: dict[str, str] | None, field: FieldResults | None) -> dict:
    records = sorted(records, key=lambda r: (variant_order(r["config"]), r["seed"]))
    notes = ensure_analysis(records, analyze, plots)
    geo = geometry_rows(records)
    geo_sum = geometry_summary(geo, records)
    x = ReportInputs(records, rows, paired, env, notes, geo, geo_sum,
                     build_claims(records, paired, geo_sum), sweep=sweep,
                     incomplete=incomplete or {}, field=field)
    if plots:
        x.figs = _draw(records, rows, out)
    blocks = [b for section in SECTIONS.records() for b in section.blocks(x)]

    write_text(out / "report.md", to_markdown(blocks))
    write_text(out / "report.html", to_html(blocks, out, "robeval report"))
    write_text(out / "results.csv", to_csv([flat_calibration(r) for r in rows]
                                           + field_csv_rows(field.rows if field else [])))
    write_text(out / "paired.csv", to_csv(paired, PAIRED_FIELDS))
    if geo:
        write_text(out / "geometry.csv", to_csv(geo, tuple(geo[0])))
    runs_json = [{k: v for k, v in r.items() if k != "analysis"}
                 | {"analysis_file": str(Path(r["run"]) / ANALYSIS_JSON) if r.get("analysis") else None}
                 for r in records]
    write_json(out / "results.json", {"rows": rows, "paired": paired, "geometry": geo,
                                      "geometry_summary": geo_sum, "claims": x.claims, "runs": runs_json,
                                      "field": field.to_json() if field else None,
                                      "notes": notes, "sweep": sweep, "incomplete": incomplete or {},
                                      "environment": env})
    return {"claims": x.claims, "geometry": geo_sum}
