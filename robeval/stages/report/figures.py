"""The report's figures: what each draws from the runs, its file name and the caption that says
what to read from it. One record per figure kind in FIGURES; each returns (path, caption) pairs
that the sections place. Every figure colours a head variant the same way (``colours``).

The geometry figures use each variant's lowest-seed run: its analysis.json (class-vector cosines,
confusions) and, for compactness, its primary condition's features from eval/*.npz.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis.condition_kinds import condition_kind, headline_kinds
from robeval.analysis.condition_metrics import condition_metrics
from robeval.analysis.geometry import sample_cosines
from robeval.core.fileio import slug
from robeval.core.registry import Registry
from robeval.corruptions.families import CATEGORIES
from robeval.models.kinds import logits_label
from robeval.runs.outputs import load_condition, load_head
from robeval.stages.report.sources import CATEGORY_OTHER, category_of

Fig = tuple[str, str]  # (path relative to the report folder, caption)
DIAGNOSTIC_PLOTS = (("confusion", "confusion matrix (row: true class)"),
                    ("pca", "features in 2-D (PCA), class vectors as stars"),
                    ("feature_norms", "feature norms of right and wrong predictions"))


@dataclass
class FigureContext:
    records: list[dict]  # sorted by variant order, then seed
    rows: list[dict]
    out: Path
    colours: dict

    def groups(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((r["config"]["dataset"], r["config"]["arch"]) for r in self.records))

    def measured_rows(self, ds: str, arch: str) -> list[dict]:
        """The aggregated rows of one dataset/arch that have a mean."""
        return [r for r in self.rows if r["dataset"] == ds and r["arch"] == arch and r["mean"] is not None]

    def where(self, ds: str, arch: str) -> str:
        """A caption's dataset/arch, said only when the report spans several."""
        return f"{ds}/{arch}: " if len(self.groups()) > 1 else ""

    def path(self, ds: str, arch: str, name: str) -> Path:
        return self.out / "plots" / f"{slug(ds)}-{slug(arch)}-{slug(name)}.png"

    def rel(self, p: Path) -> str:
        return str(p.relative_to(self.out))

    def first_runs(self, ds: str, arch: str) -> list[dict]:
        """Each variant's lowest-seed analysed run, in variant order."""
        seen: dict[str, dict] = {}
        for r in sorted(self.records, key=lambda r: r["seed"]):
            c = r["config"]
            if c["dataset"] == ds and c["arch"] == arch and r.get("analysis") and r["variant"] not in seen:
                seen[r["variant"]] = r
        order = list(dict.fromkeys(r["variant"] for r in self.records))
        return sorted(seen.values(), key=lambda r: order.index(r["variant"]))


def _band(row: dict) -> tuple[float | None, float | None]:
    """The seed band: lowest and highest seed (none with one seed)."""
    vals = row.get("values") or []
    return (min(vals), max(vals)) if len(vals) > 1 else (None, None)


def _point(x, row: dict) -> tuple:
    return (x, row["mean"], *_band(row))


def headline_figure(context: FigureContext) -> list[Fig]:
    from robeval.render import figures

    out = []
    names = {k.headline_row: k.label for k in headline_kinds()}  # row -> its group's label
    for ds, arch in context.groups():
        mine = context.measured_rows(ds, arch)
        groups = [(label, [(r["variant"], r["mean"], r.get("ci_low"), r.get("ci_high"))
                           for r in mine if r["condition"] == cond]) for cond, label in names.items()]
        groups = [g for g in groups if g[1]]
        if groups:
            f = figures.accuracy_dots(groups, context.colours, context.path(ds, arch, "headline"))
            out.append((context.rel(f), f"{context.where(ds, arch)}Test accuracy per head variant: dots at the mean over "
                                  "seeds, whiskers at the 95% t-interval. Read: a variant is ahead only "
                                  "where its whisker clears the other's."))
    return out


def _line_name(row: dict) -> str:
    """A line's family label: the family, with its table when the condition named one."""
    family = (row["family"] or row["condition"]).removeprefix("released:")
    table = row["condition"].partition("@")[2]
    return f"{family} @{table}" if table else family


def _category_series(context: FigureContext, ds: str, arch: str, stat: Callable[[dict], dict | None],
                     released: bool) -> dict[str, dict[tuple[str, str], list]]:
    """category -> (variant, family) -> [(severity, mean, band low, band high)] of ``stat(row)``
    (a dict with mean and values) over the generated (or, with ``released``, the released)
    corruption conditions, the clean value at severity 0; categories in Hendrycks' order."""
    mine = [r for r in context.measured_rows(ds, arch) if (stat(r) or {}).get("mean") is not None]
    clean = {r["variant"]: stat(r) for r in mine if condition_kind(r["kind"]).baseline}
    series: dict[str, dict[tuple[str, str], list]] = {}
    for r in mine:
        if not condition_kind(r["kind"]).graded or r["severity"] is None:
            continue
        if str(r["family"] or "").startswith("released:") != released:
            continue
        line = series.setdefault(category_of(r["family"] or ""), {}).setdefault(
            (r["variant"], _line_name(r)), [])
        line.append(_point(r["severity"], stat(r)))
    for by_line in series.values():
        for (variant, _), pts in by_line.items():
            if variant in clean:
                pts.append(_point(0, clean[variant]))
    order = [*CATEGORIES, CATEGORY_OTHER]
    return {k: series[k] for k in sorted(series, key=order.index)}


SOURCES = ((False, "generated corruptions", ""), (True, "released corruption files", "-released"))


def severity_figures(context: FigureContext) -> list[Fig]:
    """Accuracy vs severity: one image per dataset/arch and source (generated, released), one
    panel per corruption category, one line per family and head variant."""
    from robeval.render import figures

    out = []
    for ds, arch in context.groups():
        for released, what, suffix in SOURCES:
            series = _category_series(context, ds, arch, lambda r: r, released)
            if not series:
                continue
            f = figures.category_panels(series, context.colours, context.path(ds, arch, f"severity{suffix}"),
                                        f"{context.where(ds, arch)}{what}: accuracy vs severity")
            out.append((context.rel(f), f"{context.where(ds, arch)}**{what}**: accuracy vs severity (0 = clean), a "
                                  "panel per category, colour = head variant, line style = family; mean "
                                  "over seeds, bands from lowest to highest seed. Read: the vertical gap "
                                  "is the difference between variants at that severity; a flatter line "
                                  "loses less."))
    return out


def calibration_figures(context: FigureContext) -> list[Fig]:
    """Every per-condition metric with a figure label (ECE) vs severity, like severity_figures."""
    from robeval.render import figures

    out = []
    for metric in (m for m in condition_metrics() if m.figure):
        for ds, arch in context.groups():
            for released, what, suffix in SOURCES:
                series = _category_series(
                    context, ds, arch, lambda r, k=metric.name: (r.get("calibration") or {}).get(k), released)
                if not series:
                    continue
                f = figures.category_panels(series, context.colours, context.path(ds, arch, f"{metric.name}{suffix}"),
                                            f"{context.where(ds, arch)}{what}: {metric.label}",
                                            ylabel=metric.figure)
                better = "higher" if metric.higher_is_better else "lower"
                out.append((context.rel(f), f"{context.where(ds, arch)}**{what}**: {metric.label} vs severity (0 = "
                                      "clean), a panel per category, colour = head variant, line style = "
                                      f"family; mean over seeds, band from lowest to highest seed. Read: "
                                      f"{better} is better; {metric.definition}."))
    return out


def _kind(r: dict) -> tuple[str, str]:
    cfg = r["config"]
    label = logits_label(cfg["logits"], cfg["scale"])  # the logits kind's record (models/kinds.py)
    return label, slug(label.replace(" = ", ""))


def cosine_figures(context: FigureContext) -> list[Fig]:
    """cos(w_i, w_j) learned vs fixed side by side, one image per logits kind (and S)."""
    from robeval.render import figures

    out = []
    for ds, arch in context.groups():
        kinds: dict[tuple[str, str], list[dict]] = {}
        for r in context.first_runs(ds, arch):
            kinds.setdefault(_kind(r), []).append(r)
        for (label, key), members in kinds.items():
            panels = [(r["variant"], np.asarray(r["analysis"]["class_vectors"]["cosine_matrix"])) for r in members]
            classes = members[0]["analysis"]["head"]["classes"]
            f = figures.cosine_pair(panels, classes, context.path(ds, arch, f"cosines-{key}"),
                                    f"{context.where(ds, arch)}{label}: cos(w_i, w_j), seed {members[0]['seed']}")
            out.append((context.rel(f), f"{context.where(ds, arch)}**{label}**: cosine between class vectors, "
                                  f"{' vs '.join(p[0] for p in panels)}. Read: learned vectors of look-alike "
                                  "classes are red (close in angle); fixed random ones stay near 0 (white)."))
    return out


def spearman_figures(context: FigureContext) -> list[Fig]:
    from robeval.render import figures

    out = []
    for ds, arch in context.groups():
        panels = []
        for r in context.first_runs(ds, arch):
            a = r["analysis"]
            p = a["conditions"][a["primary_condition"]]
            cos, conf = np.asarray(a["class_vectors"]["cosine_matrix"]), np.asarray(p["confusion"])
            off = ~np.eye(len(cos), dtype=bool)
            panels.append((r["variant"], cos[off], conf[off], p["spearman"]["rho"]))
        if panels:
            f = figures.spearman_grid(panels, context.colours, context.path(ds, arch, "spearman"))
            out.append((context.rel(f), f"{context.where(ds, arch)}Confusions i → j against cos(w_i, w_j), every ordered "
                                  "class pair, lowest seed. Read: a rising cloud (ρ > 0) means often-confused "
                                  "classes got close vectors (the paper: 0.61-0.87 for learned heads); "
                                  "fixed heads cannot show it."))
    return out


def compactness_figures(context: FigureContext) -> list[Fig]:
    from robeval.render import figures

    out = []
    for ds, arch in context.groups():
        panels = []
        for r in context.first_runs(ds, arch):
            a, run = r["analysis"], Path(r["run"])
            primary = a["primary_condition"]
            arrays = load_condition(run, primary, r["conditions"][primary]).arrays()
            if arrays.get("features") is None:
                continue
            cos = sample_cosines(arrays["features"].astype(np.float64), load_head(run)["weight"])
            idx = np.arange(len(cos))
            comp = a["conditions"][primary]["compactness"]
            panels.append((r["variant"], cos[idx, arrays["predictions"].astype(np.int64)],
                           cos[idx, arrays["labels"].astype(np.int64)],
                           comp["ceiling_mean_predicted"] if comp.get("ceiling_applies") else None))
        if panels:
            f = figures.compactness_grid(panels, context.colours, context.path(ds, arch, "compactness"))
            out.append((context.rel(f), f"{context.where(ds, arch)}Cosine between each test image's feature and its "
                                  "predicted (filled) and true (outline) class vector, lowest seed. Read: "
                                  "further right is more compact; a ReLU encoder cannot pass the dashed "
                                  "ceiling, so the paper's 0.95 (dotted) is out of reach left of it."))
    return out


def _epochs(run: Path, key: str = "val_acc") -> dict[int, float]:
    f = run / runs.METRICS
    if not f.is_file():
        return {}
    rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return {int(m["epoch"]): float(m[key]) for m in rows if m.get(key) is not None}


#: metrics.jsonl field -> panel title (training/track.py writes them at each epoch)
TRACKED = {"track_cos_mean": "mean off-diagonal cos(w_i, w_j)", "track_cos_max": "max off-diagonal cos",
           "track_compactness": "compactness cos(h, w_pred)", "track_nc1": "NC1 (within / between)",
           "track_margin": "mean logit margin", "track_w_move": "W moved since last epoch (relative)"}


def _seed_band(per_epoch: dict[int, list[float]]) -> list[tuple]:
    """(epoch, mean over seeds, lowest, highest) per epoch; no band from a single seed."""
    return [(e, float(np.mean(x)), *((min(x), max(x)) if len(x) > 1 else (None, None)))
            for e, x in sorted(per_epoch.items())]


def tracking_figures(context: FigureContext) -> list[Fig]:
    """The geometry over training: one panel per tracked quantity, one line per variant (mean
    over seeds, band from lowest to highest seed)."""
    from robeval.render import figures

    out = []
    for ds, arch in context.groups():
        panels: dict[str, dict[str, list[tuple]]] = {}
        for key, title in TRACKED.items():
            per: dict[str, dict[int, list[float]]] = {}
            for r in context.records:
                if (r["config"]["dataset"], r["config"]["arch"]) == (ds, arch):
                    for e, v in _epochs(Path(r["run"]), key).items():
                        per.setdefault(r["variant"], {}).setdefault(e, []).append(v)
            if per:
                panels[title] = {v: _seed_band(ep) for v, ep in per.items()}
        if panels:
            f = figures.curves_grid(panels, context.colours, context.path(ds, arch, "tracking"), "epoch", "value", scale=1.0)
            out.append((context.rel(f), f"{context.where(ds, arch)}The geometry over training, measured at each epoch on a "
                                  "fixed validation subset: mean over seeds, band from lowest to highest seed. "
                                  "Read: fixed heads keep their class-vector cosines and W movement flat by "
                                  "construction; compare how fast compactness rises and NC1 falls."))
    return out


def dynamics_figures(context: FigureContext) -> list[Fig]:
    """Validation accuracy per epoch, one panel per logits kind: mean over seeds, seed band."""
    from robeval.render import figures

    out = []
    for ds, arch in context.groups():
        per: dict[str, dict[str, dict[int, list[float]]]] = {}
        for r in context.records:
            if (r["config"]["dataset"], r["config"]["arch"]) != (ds, arch):
                continue
            for e, v in _epochs(Path(r["run"])).items():
                per.setdefault(_kind(r)[0], {}).setdefault(r["variant"], {}).setdefault(e, []).append(v)
        panels = {k: {v: _seed_band(ep) for v, ep in vs.items()} for k, vs in per.items()}
        if panels:
            f = figures.curves_grid(panels, context.colours, context.path(ds, arch, "dynamics"), "epoch",
                                    "validation accuracy %")
            out.append((context.rel(f), f"{context.where(ds, arch)}Validation accuracy per epoch, mean over seeds, band "
                                  "from lowest to highest seed. Read: a line still rising at its last epoch "
                                  "had not converged; compare variants within a panel."))
    return out


def diagnostic_figures(context: FigureContext) -> list[Fig]:
    """The run plots robeval analyze drew for each variant's lowest seed, copied."""
    out = []
    for ds, arch in context.groups():
        for r in context.first_runs(ds, arch):
            for name, caption in DIAGNOSTIC_PLOTS:
                src = Path(r["run"]) / r["analysis"].get("plots", {}).get(name, "-")
                if src.is_file():
                    dst = context.path(ds, arch, f"{r['variant']}-seed{r['seed']}-{name}")
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
                    out.append((context.rel(dst), f"{context.where(ds, arch)}{r['variant']} seed {r['seed']}: {caption}"))
    return out


@dataclass(frozen=True)
class Figure:
    name: str  # the key sections read from ReportInputs.figs
    draw: Callable[[FigureContext], list[Fig]]


FIGURES: Registry[Figure] = Registry("report figure")
FIGURES.add(Figure("headline", headline_figure))
FIGURES.add(Figure("severity", severity_figures))
FIGURES.add(Figure("calibration", calibration_figures))
FIGURES.add(Figure("cosines", cosine_figures))
FIGURES.add(Figure("spearman", spearman_figures))
FIGURES.add(Figure("compactness", compactness_figures))
FIGURES.add(Figure("dynamics", dynamics_figures))
FIGURES.add(Figure("tracking", tracking_figures))
FIGURES.add(Figure("diagnostics", diagnostic_figures))


def draw_figures(records: list[dict], rows: list[dict], out: Path, colours: dict) -> dict[str, list[Fig]]:
    c = FigureContext(records, rows, out, colours)
    return {f.name: f.draw(c) for f in FIGURES.records()}
