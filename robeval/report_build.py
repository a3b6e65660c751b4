"""The report's files: Markdown + self-contained HTML, CSV/JSON of every number, plots, claims.

Called by ``report.write_report`` after aggregation; kept apart so report.py stays small.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from robeval.analyze import ANALYSIS_JSON, analyze_run, has_features, is_stale
from robeval.claims import build_claims, geometry_rows, geometry_summary
from robeval.document import to_html, to_markdown
from robeval.fileio import read_json, write_json, write_text

GEO_TABLE = (("spearman_rho", "Spearman ρ", ".2f"), ("compactness_pred", "cos(h, w_pred)", ".3f"),
             ("ceiling_pred", "ReLU ceiling", ".3f"), ("compactness_true", "cos(h, w_true)", ".3f"),
             ("class_vector_max_cos", "max cos(w_i, w_j)", ".3f"),
             ("centred_class_mean_max_cos", "max cos(μ_i, μ_j) centred", ".3f"),
             ("margin_cosine", "cosine margin", ".3f"), ("nc1", "NC1", ".3g"),
             ("nc2_etf_means", "NC2 ETF dist. M", ".3f"), ("nc2_etf_weights", "NC2 ETF dist. W", ".3f"),
             ("nc3", "NC3", ".3f"), ("nc4", "NC4", ".3f"), ("angle_centred_deg", "∠(w_c, μ_c−μ_G)°", ".1f"),
             ("sum_ratio", "‖Σw‖/Σ‖w‖", ".3f"), ("coplanarity", "coplanarity", ".3f"),
             ("final_scale", "S (final)", ".3g"))
RUN_PLOTS = (("class_cosines", "class-vector cosines"), ("spearman", "cos(w_i, w_j) vs confusions"),
             ("compactness", "compactness"), ("pca", "features (PCA) with class vectors"),
             ("confusion", "confusion matrix"), ("feature_norms", "feature norms"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def ci_text(ci: dict, spec: str = ".3f", scale: float = 1.0) -> str:
    """'0.812 [0.700, 0.924]' or '0.812 (n = 1: no interval)' or '–'."""
    if not ci or ci.get("mean") is None:
        return "–"
    s = format(scale * ci["mean"], spec)
    if ci.get("ci_low") is None:
        return s + (" (n = 1)" if ci.get("n") == 1 else "")
    return f"{s} [{format(scale * ci['ci_low'], spec)}, {format(scale * ci['ci_high'], spec)}]"


def ensure_analysis(records: list[dict], analyze: bool, plots: bool) -> list[str]:
    """Attach each run's analysis.json (re-analysing stale ones); returns notes for the report."""
    notes = []
    for r in records:
        run = Path(r["run"])
        if analyze and has_features(run) and is_stale(run):
            analyze_run(run, plots=plots)
        if (run / ANALYSIS_JSON).exists() and not is_stale(run):
            r["analysis"] = read_json(run / ANALYSIS_JSON)
        else:
            r["analysis"] = None
            notes.append(f"{run}: no current analysis.json (evaluated without features, or run "
                         f"`robeval analyze {run}`): geometry left out")
    return notes


def report_plots(records: list[dict], rows: list[dict], out: Path) -> list[tuple[str, str]]:
    """Accuracy bars and severity curves per (dataset, arch); each variant's run plots copied."""
    from robeval import plots

    figs: list[tuple[str, str]] = []
    pdir = out / "plots"
    for ds, arch in dict.fromkeys((r["dataset"], r["arch"]) for r in rows):
        mine = [r for r in rows if r["dataset"] == ds and r["arch"] == arch]
        clean = [(r["variant"], r["mean"], r.get("ci_low"), r.get("ci_high"))
                 for r in mine if r["condition"] == "clean" and r["mean"] is not None]
        if clean:
            f = plots.accuracy_bars(clean, pdir / f"{_slug(ds)}-{arch}-clean_accuracy.png",
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
            f = plots.severity_curves(series, pdir / f"{_slug(ds)}-{arch}-severity.png",
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
                dst = out / "plots" / f"{_slug(key)}-seed{r['seed']}-{name}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                shown[key].append((str(dst.relative_to(out)), f"{key} seed {r['seed']}: {caption}"))
    return shown


def build_report(records: list[dict], rows: list[dict], paired: list[dict], out: Path, env: dict,
                 *, analyze: bool = True, plots: bool = True) -> dict:
    from robeval.report import CSV_FIELDS, PAIRED_FIELDS, pivot_table, to_csv, variant_order

    out.mkdir(parents=True, exist_ok=True)
    records = sorted(records, key=lambda r: (variant_order(r["config"]), r["seed"]))
    notes = ensure_analysis(records, analyze, plots)
    geo = geometry_rows(records)
    geo_sum = geometry_summary(geo)
    claims = build_claims(records, paired, geo_sum)
    figs = report_plots(records, rows, out) if plots else []
    vplots = variant_plots(records, out) if plots else {}
    single = [r for r in rows if r["n"] == 1]

    b: list[tuple] = [("h", 1, "robeval report")]
    b.append(("p", f"{len(records)} runs, {len({r['variant'] for r in records})} head variants, "
                   f"datasets: {', '.join(sorted({r['config']['dataset'] for r in records}))}. "
                   "Accuracy cells: test accuracy in %, mean ± sample std over seeds, [95% t-interval], "
                   "(n = seeds). Checkpoints were chosen on a validation split carved from the training "
                   "data; the test sets were only evaluated."))
    if single:
        b.append(("p", f"{len(single)} of {len(rows)} cells rest on one seed: they have no std and no "
                       "interval (n = 1), and no claim is judged on them."))
    b.append(("h", 2, "Claims"))
    for i, c in enumerate(claims, 1):
        b.append(("p", f"**Claim {i}: {c['claim']}.** Paper: {c['paper']}. **These runs: {c['verdict']}.**"))
        b.append(("ul", c["evidence"] or ["no runs measure this"]))
    b.append(("h", 2, "Accuracy"))
    headers, body = pivot_table(rows)
    b.append(("table", headers, body))
    b += [("img", f, cap) for f, cap in figs]
    if paired:
        b.append(("h", 2, "Fixed − learned, paired over seeds"))
        b.append(("p", "Each fixed variant against the learned one with the same logits and S; a "
                       "difference per seed (same seed = same encoder init and data order), then "
                       "mean and 95% t-interval in percentage points."))
        b.append(("table", ["dataset", "arch", "fixed", "learned", "condition", "difference pp [95% CI]",
                            "n", "seeds"],
                  [[p["dataset"], p["arch"], p["fixed"], p["learned"], p["condition"],
                    ci_text(p, "+.2f", 100) if p["mean"] is not None else (p["note"] or "–"),
                    p["n"], " ".join(map(str, p["seeds"]))] for p in paired]))
    if geo_sum:
        b.append(("h", 2, "Geometry of the classification layer"))
        b.append(("p", "Per head variant on the primary condition (clean test set): mean [95% t-interval] "
                       "over seeds. Class means come from the same test features."))
        b.append(("table", ["dataset", "arch", "variant", "n", *(t[1] for t in GEO_TABLE)],
                  [[g["dataset"], g["arch"], g["variant"], g["n"],
                    *(ci_text(g[k], spec) for k, _, spec in GEO_TABLE)] for g in geo_sum]))
        defs = next(r["analysis"]["definitions"] for r in records if r.get("analysis"))
        b.append(("ul", [f"**{k}**: {v}" for k, v in defs.items()]))
        for key, items in vplots.items():
            b.append(("h", 3, key))
            b += [("img", f, cap) for f, cap in items]
    b.append(("h", 2, "Runs"))
    b.append(("table", ["run", "head", "seed", "best val acc", "preset", "epochs", "batch", "lr", "max train"],
              [[r["run"], r["variant"], r["seed"],
                "–" if r["best_val_acc"] is None else f"{100 * r['best_val_acc']:.2f}",
                r["train_config"].get("preset"), r["train_config"].get("epochs"),
                r["train_config"].get("batch_size"), r["train_config"].get("lr"),
                r["train_config"].get("max_train")] for r in records]))
    b.append(("details", "every run's configuration (JSON)",
              json.dumps({r["run"]: r["train_config"] for r in records}, indent=1)))
    if notes:
        b.append(("ul", notes))
    b.append(("h", 2, "Environment"))
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
    b.append(("p", f"git {env['git_sha']}; python {env['python']}; {env['platform']}; {libs}; "
                   f"written {env['time_utc']}."))
    b.append(("p", "Files: results.csv (accuracy), paired.csv (fixed − learned), geometry.csv (per run), "
                   "results.json (everything, with per-seed values and claims), plots/."))

    write_text(out / "report.md", to_markdown(b))
    write_text(out / "report.html", to_html(b, out, "robeval report"))
    write_text(out / "results.csv", to_csv(rows, CSV_FIELDS))
    write_text(out / "paired.csv", to_csv(paired, PAIRED_FIELDS))
    if geo:
        write_text(out / "geometry.csv", to_csv(geo, tuple(geo[0])))
    runs_json = [{k: v for k, v in r.items() if k != "analysis"} | {"analysis_file": str(Path(r["run"]) / ANALYSIS_JSON) if r.get("analysis") else None}
                 for r in records]
    write_json(out / "results.json", {"rows": rows, "paired": paired, "geometry": geo,
                                      "geometry_summary": geo_sum, "claims": claims, "runs": runs_json,
                                      "notes": notes, "environment": env})
    return {"claims": claims, "geometry": geo_sum}
