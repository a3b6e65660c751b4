"""The report's sections after the first screen: tuning, accuracy by condition, paired
differences, geometry, the claims' evidence, training dynamics, runs and environment.

Each takes the ReportInputs and returns document blocks. Short tables stay open: conditions as
rows, head variants as columns. Long ones (per severity, every paired row, geometry, runs) are
folded under <details>, so the page fits a 1,400 px screen without sideways scrolling.
"""

from __future__ import annotations

import json

from robeval.analysis.condition_kinds import CONDITION_KINDS, condition_kind
from robeval.analysis.metrics import columns
from robeval.core.fileio import slug
from robeval.render.document import Cell
from robeval.stages.report.aggregate import plateau_rule
from robeval.stages.report.format import by_condition, diff_cell, plain_cell
from robeval.stages.report.inputs import ReportInputs
from robeval.stages.tuning import setting_label, tie_order


def geometry_table() -> list[tuple[str, str, str]]:
    """(key, header, format) of the report's geometry table: every metric column with a label."""
    return [(c.key, c.label, c.fmt) for _, c in columns() if c.label] + [("final_scale", "S (final)", ".3g")]


def _split_conditions(rows: list[dict]) -> tuple[list[str], list[str]]:
    """(open, folded) condition names in their kinds' ``rank`` order: clean, family means,
    corruption mean, generalisation sets and their mean stay open; each severity of a graded
    kind (corruption) is folded."""
    conds = list(dict.fromkeys(r["condition"] for r in rows))
    info = {r["condition"]: r for r in rows}
    folded = [c for c in conds
              if condition_kind(info[c]["kind"]).graded and info[c]["severity"] is not None]

    def order(c: str) -> tuple:
        r = info[c]
        if r["kind"] == "summary":  # a kind's mean right after its conditions; a family's at 1
            kind = CONDITION_KINDS.get(r["family"]) if r["family"] in CONDITION_KINDS else None
            return (kind.rank + 1 if kind and kind.summary == c else 1, conds.index(c))
        return (condition_kind(r["kind"]).rank, conds.index(c))

    return sorted((c for c in conds if c not in folded), key=order), folded


def _where(inputs: ReportInputs, ds: str, arch: str) -> str:
    return f" ({ds} / {arch})" if len(inputs.groups()) > 1 else ""


def _setting_header(lr: float | None, scale: float | None) -> str:
    label = setting_label(lr, scale)
    return f"val % at {label}" if label else "val % (preset LR)"


def _sweep_tables(sweep: list[dict]) -> list[tuple]:
    """One table per set of settings (heads with S, heads without): a column per setting (lr, S)
    with the validation mean, the chosen one marked ★, then the chosen LR and the chosen S."""
    families = list(dict.fromkeys((r["dataset"], r["arch"], r.get("family", r["variant"])) for r in sweep))
    cell = {(r["dataset"], r["arch"], r.get("family", r["variant"]), r["lr"], r.get("scale")): r
            for r in sweep}
    settings_of = {f: sorted({k[3:] for k in cell if k[:3] == f}, key=tie_order) for f in families}
    tables = list(dict.fromkeys(tuple(s) for s in settings_of.values()))
    out: list[tuple] = []
    for settings in tables:
        rows = []
        for f in (f for f in families if tuple(settings_of[f]) == settings):
            vals = [cell[(*f, *s)] for s in settings]
            best = next(r for r in vals if r["chosen"])
            rows.append([*f, *(Cell(f"{100 * r['val_mean']:.2f}", "chosen ★" if r["chosen"] else "")
                               for r in vals),
                         "preset" if best["lr"] is None else f"{best['lr']:g}",
                         "–" if best.get("scale") is None else f"{best['scale']:g}"])
        if len(tables) > 1:
            with_s = any(s[1] is not None for s in settings)
            out.append(("note", "Logits with a scale S (cosine):" if with_s else "Logits without S (dot):"))
        out.append(("table", ["dataset", "arch", "head", *(_setting_header(*s) for s in settings),
                              "chosen LR", "chosen S"], rows))
    return out


def tuning_section(inputs: ReportInputs) -> list[tuple]:
    """The sweep: validation accuracy per variant and setting (lr, S), and which was chosen."""
    b: list[tuple] = []
    if inputs.sweep:
        swept = [name for name, key in (("learning rate", "lr"), ("S", "scale"))
                 if len({r.get(key) for r in inputs.sweep if r.get(key) is not None}) > 1]
        b += [("h", 2, f"Tuning: {' and '.join(swept) or 'setting'} per head variant, chosen on validation"),
              ("p", "Every head variant was trained at every setting: each learning rate and, for "
                    "logits with a scale, each S (a learned S starts from it). Per variant, the "
                    "setting with the best mean validation accuracy over its seeds (★) was kept; "
                    "only validation accuracy was read to choose, and a tie goes to the smaller LR, "
                    "then the smaller S. Test accuracy and every other condition were evaluated for "
                    "the chosen setting only, so no number in this report was used to choose."),
              *_sweep_tables(inputs.sweep)]
    presets = {r["train_config"].get("preset") for r in inputs.records}
    if "authors" in presets:
        b.append(("p", "**Unequal tuning (preset authors):** the authors' protocol trains learned-dot "
                       "heads at LR 0.001 and every other head at 0.1, as their code does; the heads "
                       "were not tuned alike (robeval reproduce --lrs ... tunes each on validation)."))
    return b


def accuracy_section(inputs: ReportInputs) -> list[tuple]:
    if not inputs.rows:
        return []
    b: list[tuple] = [("h", 2, "Accuracy by condition")]
    headline = {path: cap for path, cap in inputs.figs.get("headline", [])}
    for ds, arch in inputs.groups():
        rows = inputs.rows_of(ds, arch)
        shown, folded = _split_conditions(rows)
        if len(inputs.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        fig = next(((p, c) for p, c in headline.items() if f"{slug(ds)}-{slug(arch)}-" in p), None)
        table = ("table", *by_condition(rows, shown))
        b.append(("row", [table, ("figures", [fig])]) if fig else table)
        if folded:
            b.append(("fold", f"Per corruption and severity: {len(folded)} conditions{_where(inputs, ds, arch)}",
                      [("table", *by_condition(rows, folded))]))
    if inputs.figs.get("severity"):
        b.append(("figures", inputs.figs["severity"]))
    return b


def paired_section(inputs: ReportInputs) -> list[tuple]:
    if not inputs.paired:
        return []
    b: list[tuple] = [
        ("h", 2, "Fixed − learned, paired over seeds"),
        ("p", "Each fixed variant against the learned one with the same logits and S (when S was "
              "chosen per variant on validation, the learned one at its own chosen S): a difference "
              "per seed (same seed = same encoder init and data order), then the mean and its 95% "
              "t-interval, in percentage points. An interval that excludes 0 is a difference."),
    ]
    for ds, arch in inputs.groups():
        mine = [p for p in inputs.paired if p["dataset"] == ds and p["arch"] == arch]
        if not mine:
            continue
        shown, folded = _split_conditions(mine)
        pairs = list(dict.fromkeys((p["fixed"], p["learned"]) for p in mine))
        cell = {(p["fixed"], p["learned"], p["condition"]): p for p in mine}
        if len(inputs.groups()) > 1:
            b.append(("h", 3, f"{ds} / {arch}"))
        b.append(("table", ["condition", *(Cell(f, f"− {lrn}, pp") for f, lrn in pairs)],
                  [[c, *(diff_cell(cell.get((f, lrn, c))) for f, lrn in pairs)] for c in shown]))
        if folded:
            b.append(("fold", f"Per corruption and severity: {len(folded)} conditions{_where(inputs, ds, arch)}",
                      [("table", ["condition", *(Cell(f, f"− {lrn}, pp") for f, lrn in pairs)],
                        [[c, *(diff_cell(cell.get((f, lrn, c))) for f, lrn in pairs)] for c in folded])]))
    return b


def geometry_section(inputs: ReportInputs) -> list[tuple]:
    if not inputs.geo_sum:
        return []
    table = geometry_table()
    b: list[tuple] = [("h", 2, "Geometry of the classification layer")]
    figs = [f for k in ("cosines", "spearman", "compactness") for f in inputs.figs.get(k, [])]
    if figs:
        b.append(("figures", figs))
    for ds, arch in inputs.groups():
        mine = [g for g in inputs.geo_sum if g["dataset"] == ds and g["arch"] == arch]
        if mine:
            b.append(("fold", f"Geometry per head variant: {len(table)} measures{_where(inputs, ds, arch)}", [
                ("note", "On the primary condition (clean test set): mean over seeds, under it the 95% "
                         "t-interval. Class means come from the same test features."),
                ("table", ["measure", *(Cell(g["variant"], f"n = {g['n']}") for g in mine)],
                 [[label, *(plain_cell(g[k], number_format) for g in mine)]
                  for k, label, number_format in table])]))
    defs = next((r["analysis"]["definitions"] for r in inputs.records if r.get("analysis")), None)
    if defs:
        b.append(("fold", "What each measure means", [("ul", [f"**{k}**: {v}" for k, v in defs.items()])]))
    if inputs.figs.get("diagnostics"):
        b.append(("fold", "Per-variant diagnostic plots (lowest seed): confusions, PCA, feature norms",
                  [("figures", inputs.figs["diagnostics"])]))
    return b


def claims_detail(inputs: ReportInputs) -> list[tuple]:
    if not inputs.claims:
        return []
    b: list[tuple] = [("h", 2, "Claims in detail")]
    for i, c in enumerate(inputs.claims, 1):
        b.append(("fold", f"Claim {i}: {c['claim']}. These runs: {c['verdict']}.",
                  [("p", f"Paper: {c['paper']}."), ("ul", c["evidence"] or ["no runs measure this"])]))
    return b


def dynamics_section(inputs: ReportInputs) -> list[tuple]:
    figs = inputs.figs.get("dynamics", []) + inputs.figs.get("tracking", [])
    if not figs:
        return []
    return [("h", 2, "Training"), ("figures", figs)]


def _run_accuracy(r: dict) -> Cell:
    """One run's clean test accuracy with its Clopper-Pearson interval (test sampling only)."""
    clean = r["conditions"].get("clean", {})
    ci = clean.get("accuracy_ci95")
    if clean.get("accuracy") is None:
        return Cell("–")
    sub = f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci and ci[0] is not None else ""
    return Cell(f"{100 * clean['accuracy']:.2f}", sub)


def _plateau_cell(r: dict) -> Cell:
    """yes / NO by robeval's rule, with the last two epochs' change of validation accuracy."""
    change = r.get("plateau_change")
    sub = f"{100 * change:.2f} pp" if change is not None else ""
    return Cell({True: "yes", False: "NO", None: "–"}[r.get("at_plateau")], sub)


def runs_section(inputs: ReportInputs) -> list[tuple]:
    rows = [[r["run"], r["variant"], r["seed"],
             "–" if r["best_val_acc"] is None else f"{100 * r['best_val_acc']:.2f}",
             _run_accuracy(r), _plateau_cell(r),
             r["train_config"].get("preset"), r["train_config"].get("epochs"),
             r["train_config"].get("batch_size"), r["train_config"].get("lr"),
             r["train_config"].get("max_train")] for r in inputs.records]
    b: list[tuple] = [("h", 2, "Runs")]
    if rows:
        b.append(("fold", f"{len(rows)} runs: seed, validation and clean test accuracy, plateau, settings",
                  [("table", ["run", "head", "seed", "best val %", Cell("clean test %", "95% binomial"),
                              Cell("plateau", f"last change (rule: {plateau_rule(inputs.records)})"), "preset", "epochs", "batch", "lr",
                              "max train"], rows)]))
        b.append(("details", "every run's configuration (JSON)",
                  json.dumps({r["run"]: r["train_config"] for r in inputs.records}, indent=1)))
    if inputs.notes:
        b.append(("ul", inputs.notes))
    return b


def environment_section(inputs: ReportInputs) -> list[tuple]:
    env = inputs.env
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
    return [
        ("h", 2, "Environment"),
        ("p", f"git {env['git_sha']}; python {env['python']}; {env['platform']}; {libs}; "
              f"written {env['time_utc']}."),
        ("p", "Files: results.csv (accuracy and calibration), paired.csv (fixed − learned), geometry.csv (per run), "
              "results.json (everything, with per-seed values and claims), plots/."),
    ]
