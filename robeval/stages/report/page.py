"""The report's pages: one function per section, each a ``Section`` record in SECTIONS, in page
order; ``build_report`` runs them and writes Markdown + self-contained HTML, CSV/JSON of every
number and plots.

A section takes the ``ReportInputs`` (records, rows, paired rows, geometry, claims, figures) and
returns document blocks (render/document.py). Adding a section is one function and one record.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from robeval.analysis.metrics import columns
from robeval.core.fileio import read_json, slug, write_json, write_text
from robeval.render.document import to_html, to_markdown
from robeval.runs.outputs import has_features
from robeval.stages.analyze import ANALYSIS_JSON, analyze_run, is_stale
from robeval.stages.report.aggregate import variant_order
from robeval.stages.report.claims import (
    build_claims,
    geometry_rows,
    geometry_summary,
    not_at_plateau,
)
from robeval.stages.report.format import (
    CSV_FIELDS,
    PAIRED_FIELDS,
    interval_text,
    pivot_table,
    to_csv,
)

RUN_PLOTS = (("class_cosines", "class-vector cosines"), ("spearman", "cos(w_i, w_j) vs confusions"),
             ("compactness", "compactness"), ("pca", "features (PCA) with class vectors"),
             ("confusion", "confusion matrix"), ("feature_norms", "feature norms"))


def geometry_table() -> list[tuple[str, str, str]]:
    """(key, header, format) of the report's geometry table: every metric column with a label."""
    return [(c.key, c.label, c.fmt) for _, c in columns() if c.label] + [("final_scale", "S (final)", ".3g")]


def ensure_analysis(records: list[dict], analyze: bool, plots: bool) -> list[str]:
    """Attach each run's analysis.json (re-analysing stale ones); returns notes for the report.

    Records come sorted by variant then seed; only each variant's first run draws its plots (the
    report shows those, variant_plots), which keeps matplotlib out of most re-analyses."""
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


def report_plots(records: list[dict], rows: list[dict], out: Path) -> list[tuple[str, str]]:
    """Accuracy bars and severity curves per (dataset, arch); each variant's run plots copied."""
    from robeval.render import plots  # matplotlib only when plots are asked for

    figs: list[tuple[str, str]] = []
    pdir = out / "plots"
    for ds, arch in dict.fromkeys((r["dataset"], r["arch"]) for r in rows):
        mine = [r for r in rows if r["dataset"] == ds and r["arch"] == arch]
        clean = [(r["variant"], r["mean"], r.get("ci_low"), r.get("ci_high"))
                 for r in mine if r["condition"] == "clean" and r["mean"] is not None]
        if clean:
            f = plots.accuracy_bars(clean, pdir / f"{slug(ds)}-{arch}-clean_accuracy.png",
                                    f"{ds} / {arch}: clean test accuracy")
            figs.append((str(f.relative_to(out)), f"{ds}/{arch}: clean accuracy per head variant"))
        series: dict = {}
        for r in mine:
            if r["kind"] == "corruption" and r["severity"] is not None and r["mean"] is not None:
                series.setdefault(r["family"] or r["condition"], {}).setdefault(r["variant"], []).append(
                    (r["severity"], r["mean"], r.get("ci_low"), r.get("ci_high")))
        for fam in series:  # severity 0 = clean, so each curve starts where the model starts
            for variant, pts in series[fam].items():
                c = next((r for r in mine if r["variant"] == variant and r["condition"] == "clean"), None)
                if c is not None:
                    pts.append((0, c["mean"], c.get("ci_low"), c.get("ci_high")))
        if series:
            f = plots.severity_curves(series, pdir / f"{slug(ds)}-{arch}-severity.png",
                                      f"{ds} / {arch}: accuracy vs corruption severity")
            figs.append((str(f.relative_to(out)), f"{ds}/{arch}: accuracy vs severity"))
    return figs


def variant_plots(records: list[dict], out: Path) -> dict[str, list[tuple[str, str]]]:
    """The geometry plots of each variant's lowest-seed run, copied into the report folder."""
    shown: dict[str, list[tuple[str, str]]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        a = r.get("analysis")
        key = f"{r['config']['dataset']}/{r['config']['arch']}/{r['variant']}"
        if not a or key in shown:
            continue
        shown[key] = []
        for name, caption in RUN_PLOTS:
            src = Path(r["run"]) / a.get("plots", {}).get(name, "-")
            if src.is_file():
                dst = out / "plots" / f"{slug(key)}-seed{r['seed']}-{name}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                shown[key].append((str(dst.relative_to(out)), f"{key} seed {r['seed']}: {caption}"))
    return shown


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
    figs: list[tuple[str, str]] = field(default_factory=list)
    vplots: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sweep: list[dict] | None = None  # stages/tuning.py rows: validation accuracy per variant and LR


@dataclass(frozen=True)
class Section:
    name: str
    blocks: Callable[[ReportInputs], list[tuple]]


def intro(x: ReportInputs) -> list[tuple]:
    b: list[tuple] = [("h", 1, "robeval report")]
    b.append(("p", f"{len(x.records)} runs, {len({r['variant'] for r in x.records})} head variants, "
                   f"datasets: {', '.join(sorted({r['config']['dataset'] for r in x.records}))}. "
                   "Accuracy cells: test accuracy in %, mean ± sample std over seeds, [95% t-interval], "
                   "n = seeds. Checkpoints were chosen on a validation split carved from the training "
                   "data; the test sets were only evaluated."))
    unsettled = not_at_plateau(x.records)
    if unsettled:
        b.append(("p", f"**{len(unsettled)} of {len(x.records)} runs had not reached their plateau** "
                       "(validation accuracy still changed by more than 1 pp over the last two epochs): "
                       f"{', '.join(unsettled)}. Claims that rest on them are marked."))
    single = [r for r in x.rows if r["n"] == 1]
    if single:
        b.append(("p", f"{len(single)} of {len(x.rows)} cells rest on one seed: they have no std and no "
                       "interval (n = 1), and no claim is judged on them."))
    return b


def claims_section(x: ReportInputs) -> list[tuple]:
    b: list[tuple] = [("h", 2, "Claims")]
    b.append(("p", "Exploratory: several claims are judged on the same runs, with no correction for "
                   "multiple comparisons. Verdicts need at least 3 seeds (docs/analysis.md)."))
    for i, c in enumerate(x.claims, 1):
        b.append(("p", f"**Claim {i}: {c['claim']}.** Paper: {c['paper']}. **These runs: {c['verdict']}.**"))
        b.append(("ul", c["evidence"] or ["no runs measure this"]))
    return b


def tuning_section(x: ReportInputs) -> list[tuple]:
    """The LR sweep: validation accuracy per variant and value, and which value was chosen."""
    b: list[tuple] = []
    if x.sweep:
        lrs = sorted({r["lr"] for r in x.sweep})
        variants = list(dict.fromkeys((r["dataset"], r["arch"], r["variant"]) for r in x.sweep))
        cell = {(r["dataset"], r["arch"], r["variant"], r["lr"]): r for r in x.sweep}
        rows = []
        for v in variants:
            vals = [cell.get((*v, lr)) for lr in lrs]
            rows.append([*v, *(("–" if r is None else f"{100 * r['val_mean']:.2f}" + (" ★" if r["chosen"] else ""))
                               for r in vals),
                         next(f"{r['lr']:g}" for r in vals if r and r["chosen"])])
        b += [("h", 2, "Tuning: learning rate per head variant, chosen on validation"),
              ("p", "Every head variant was trained at every learning rate; the value with the best "
                    "mean validation accuracy over its seeds (★; a tie goes to the smaller LR) was kept. "
                    "Test accuracy and every other condition were evaluated for the chosen value only, "
                    "so no number in this report was used to choose."),
              ("table", ["dataset", "arch", "head", *(f"val % at LR {lr:g}" for lr in lrs), "chosen LR"],
               rows)]
    presets = {r["train_config"].get("preset") for r in x.records}
    if "authors" in presets:
        b.append(("p", "**Unequal tuning (preset authors):** the authors' protocol trains learned-dot "
                       "heads at LR 0.001 and every other head at 0.1, as their code does; the heads "
                       "were not tuned alike (robeval reproduce --lrs ... tunes each on validation)."))
    return b


def accuracy_section(x: ReportInputs) -> list[tuple]:
    headers, body = pivot_table(x.rows)
    return [("h", 2, "Accuracy"), ("table", headers, body), *(("img", f, cap) for f, cap in x.figs)]


def paired_section(x: ReportInputs) -> list[tuple]:
    if not x.paired:
        return []
    return [
        ("h", 2, "Fixed − learned, paired over seeds"),
        ("p", "Each fixed variant against the learned one with the same logits and S; a "
              "difference per seed (same seed = same encoder init and data order), then "
              "mean and 95% t-interval in percentage points."),
        ("table", ["dataset", "arch", "fixed", "learned", "condition", "difference pp [95% CI]",
                   "n", "seeds"],
         [[p["dataset"], p["arch"], p["fixed"], p["learned"], p["condition"],
           interval_text(p, signed=True, n=False), p["n"], " ".join(map(str, p["seeds"]))]
          for p in x.paired]),
    ]


def geometry_section(x: ReportInputs) -> list[tuple]:
    if not x.geo_sum:
        return []
    table = geometry_table()
    b: list[tuple] = [("h", 2, "Geometry of the classification layer")]
    b.append(("p", "Per head variant on the primary condition (clean test set): mean [95% t-interval] "
                   "over seeds. Class means come from the same test features."))
    b.append(("table", ["dataset", "arch", "variant", "n", *(t[1] for t in table)],
              [[g["dataset"], g["arch"], g["variant"], g["n"],
                *(interval_text(g[k], scale=1.0, spec=spec, n=False) for k, _, spec in table)]
               for g in x.geo_sum]))
    defs = next(r["analysis"]["definitions"] for r in x.records if r.get("analysis"))
    b.append(("ul", [f"**{k}**: {v}" for k, v in defs.items()]))
    for key, items in x.vplots.items():
        b.append(("h", 3, key))
        b += [("img", f, cap) for f, cap in items]
    return b


def _run_accuracy(r: dict) -> str:
    """One run's clean test accuracy with its Clopper-Pearson interval (test sampling only)."""
    clean = r["conditions"].get("clean", {})
    ci = clean.get("accuracy_ci95")
    if clean.get("accuracy") is None:
        return "–"
    text = f"{100 * clean['accuracy']:.2f}"
    return text + (f" [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci and ci[0] is not None else "")


def runs_section(x: ReportInputs) -> list[tuple]:
    b: list[tuple] = [("h", 2, "Runs")]
    b.append(("table", ["run", "head", "seed", "best val acc", "clean test acc [95% binomial]", "plateau",
                        "preset", "epochs", "batch", "lr", "max train"],
              [[r["run"], r["variant"], r["seed"],
                "–" if r["best_val_acc"] is None else f"{100 * r['best_val_acc']:.2f}",
                _run_accuracy(r),
                {True: "yes", False: "NO", None: "–"}[r.get("at_plateau")],
                r["train_config"].get("preset"), r["train_config"].get("epochs"),
                r["train_config"].get("batch_size"), r["train_config"].get("lr"),
                r["train_config"].get("max_train")] for r in x.records]))
    b.append(("details", "every run's configuration (JSON)",
              json.dumps({r["run"]: r["train_config"] for r in x.records}, indent=1)))
    if x.notes:
        b.append(("ul", x.notes))
    return b


def environment_section(x: ReportInputs) -> list[tuple]:
    env = x.env
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
    return [
        ("h", 2, "Environment"),
        ("p", f"git {env['git_sha']}; python {env['python']}; {env['platform']}; {libs}; "
              f"written {env['time_utc']}."),
        ("p", "Files: results.csv (accuracy), paired.csv (fixed − learned), geometry.csv (per run), "
              "results.json (everything, with per-seed values and claims), plots/."),
    ]


SECTIONS: list[Section] = [
    Section("intro", intro),
    Section("claims", claims_section),
    Section("tuning", tuning_section),
    Section("accuracy", accuracy_section),
    Section("paired", paired_section),
    Section("geometry", geometry_section),
    Section("runs", runs_section),
    Section("environment", environment_section),
]


def build_report(records: list[dict], rows: list[dict], paired: list[dict], out: Path, env: dict,
                 *, analyze: bool = True, plots: bool = True, sweep: list[dict] | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    records = sorted(records, key=lambda r: (variant_order(r["config"]), r["seed"]))
    notes = ensure_analysis(records, analyze, plots)
    geo = geometry_rows(records)
    geo_sum = geometry_summary(geo, records)
    x = ReportInputs(records, rows, paired, env, notes, geo, geo_sum,
                     build_claims(records, paired, geo_sum), sweep=sweep)
    if plots:
        x.figs, x.vplots = report_plots(records, rows, out), variant_plots(records, out)
    blocks = [b for section in SECTIONS for b in section.blocks(x)]

    write_text(out / "report.md", to_markdown(blocks))
    write_text(out / "report.html", to_html(blocks, out, "robeval report"))
    write_text(out / "results.csv", to_csv(rows, CSV_FIELDS))
    write_text(out / "paired.csv", to_csv(paired, PAIRED_FIELDS))
    if geo:
        write_text(out / "geometry.csv", to_csv(geo, tuple(geo[0])))
    runs_json = [{k: v for k, v in r.items() if k != "analysis"}
                 | {"analysis_file": str(Path(r["run"]) / ANALYSIS_JSON) if r.get("analysis") else None}
                 for r in records]
    write_json(out / "results.json", {"rows": rows, "paired": paired, "geometry": geo,
                                      "geometry_summary": geo_sum, "claims": x.claims, "runs": runs_json,
                                      "notes": notes, "sweep": sweep, "environment": env})
    return {"claims": x.claims, "geometry": geo_sum}
