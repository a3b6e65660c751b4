"""The field's study-level metrics over a study's runs: every STUDY_METRICS record per dataset /
arch, source and head variant, as the mean over seeds with a 95% t-interval; and released vs
generated corruptions side by side.

    field = field_results(records, ce_reference="learned-dot", er_fit=None)

Computed before any report file is written, so a bad reference (a missing condition, a zero
error to divide by) is one RobevalError and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from robeval.analysis.condition_kinds import condition_kind
from robeval.analysis.stats import paired_differences, t_interval
from robeval.analysis.study_metrics import NotMeasured, StudyContext, study_metrics
from robeval.core.errors import RobevalError
from robeval.corruptions.families import group_families
from robeval.stages.report.aggregate import collect, variant_order
from robeval.stages.report.sources import (
    GENERATED,
    RELEASED,
    FitResult,
    Source,
    choose_reference,
    fit_for,
    reference_for,
    run_folders,
    run_sources,
    scores,
)

STATS = ("n", "mean", "std", "ci_low", "ci_high", "half_width", "note")


@dataclass
class FieldResults:
    rows: list[dict] = field(default_factory=list)  # one per (ds, arch, source, metric, variant, part)
    contexts: list[dict] = field(default_factory=list)  # per (ds, arch, source): reference and fit
    released_vs_generated: list[dict] = field(default_factory=list)
    reference: str = ""  # what --ce-reference chose, in words

    def to_json(self) -> dict:
        return {"reference": self.reference, "contexts": self.contexts, "rows": self.rows,
                "released_vs_generated": self.released_vs_generated}

    def of(self, ds: str, arch: str, source: str | None = None, metric: str | None = None) -> list[dict]:
        return [r for r in self.rows if (r["dataset"], r["arch"]) == (ds, arch)
                and (source is None or r["source"] == source) and (metric is None or r["metric"] == metric)]

    def context(self, ds: str, arch: str, source: str) -> dict | None:
        return next((c for c in self.contexts if (c["dataset"], c["arch"], c["source"]) == (ds, arch, source)),
                    None)

    def sources(self, ds: str, arch: str, kind: str | None = None) -> list[str]:
        return [c["source"] for c in self.contexts if (c["dataset"], c["arch"]) == (ds, arch)
                and (kind is None or c["kind"] == kind)]


def _source_order(s: Source) -> tuple:
    return (condition_kind(s.kind).rank, s.name != GENERATED, s.name != RELEASED, s.name)


def _fit_records(er_fit: str | None, records: list[dict]) -> tuple[list[dict], str]:
    if er_fit in (None, "study"):
        return records, "this study"
    path = Path(er_fit)
    if not path.is_dir():
        raise RobevalError(f"--er-fit {er_fit!r} is neither 'study' nor a folder of runs")
    found = run_folders(path)
    if not found:
        raise RobevalError(f"--er-fit {er_fit}: no run folders in it; give a folder of evaluated runs")
    return collect(found), er_fit


def _rows(metric, ctx: StudyContext, members: list[dict], base: dict) -> list[dict]:
    """One row per part of ``metric``: each variant's mean over its seeds."""
    values: dict[str, dict] = {}
    notes: list[str] = []
    for r in members:
        try:
            got = metric.per_run(scores(r, Source(ctx.source, ctx.kind)), ctx)
        except NotMeasured as exc:
            notes.append(str(exc))
            continue
        for part, v in got.items():
            if v is not None:
                values.setdefault(part, {})[r["seed"]] = v
    label = metric.normalised_by(ctx) if metric.normalised_by else None
    common = {**base, "metric": metric.name, "label": metric.label, "unit": metric.unit,
              "higher_is_better": metric.higher_is_better, "normalised_by": label}
    if not values:
        t = t_interval([])
        return [{**common, "part": "", **{k: t[k] for k in STATS}, "note": notes[0] if notes else "no values",
                 "seeds": [], "values": []}]
    out = []
    for part, by_seed in values.items():
        t = t_interval(list(by_seed.values()))
        note = t["note"] or (f"{len(notes)} seed(s) left out: {notes[0]}" if notes else None)
        out.append({**common, "part": part, **{k: t[k] for k in STATS}, "note": note,
                    "seeds": list(by_seed), "values": list(by_seed.values())})
    return out


def field_results(records: list[dict], ce_reference: str | None = None,
                  er_fit: str | None = None) -> FieldResults:
    """Every study metric for every dataset/arch, source and variant of ``records``."""
    standard = tuple(group_families("standard"))
    choice = choose_reference(ce_reference, records)
    fit_records, fit_name = _fit_records(er_fit, records)
    out = FieldResults(reference=choice.note if choice.kind == "none" else f"**{choice.name}** ({choice.note})")
    records = sorted(records, key=lambda r: (variant_order(r["config"]), r["seed"]))
    groups = list(dict.fromkeys((str(r["config"]["dataset"]), str(r["config"]["arch"])) for r in records))
    fits: dict[tuple[str, Source], FitResult] = {}
    for ds, arch in groups:
        mine = [r for r in records if (str(r["config"]["dataset"]), str(r["config"]["arch"])) == (ds, arch)]
        sources = sorted({s for r in mine for s in run_sources(r)}, key=_source_order)
        for source in sources:
            members = [r for r in mine if source in run_sources(r)]
            ref, ref_note = (None, "")
            if condition_kind(source.kind).graded:  # a CE needs a reference per family/severity
                ref, ref_note = reference_for(choice, records, ds, arch, source)
            if (ds, source) not in fits:
                study = [r for r in records if str(r["config"]["dataset"]) == ds]
                fits[(ds, source)] = fit_for(study, [r for r in fit_records
                                                     if str(r["config"]["dataset"]) == ds],
                                             fit_name, source)
            fit = fits[(ds, source)]
            ctx = StudyContext(source.name, source.kind, standard, reference=ref, reference_note=ref_note,
                               fit=fit.fit, fit_note=fit.note, ood_conditions=fit.ood_conditions,
                               condition=source.condition)
            out.contexts.append({"dataset": ds, "arch": arch, "source": source.name, "kind": source.kind,
                                 "reference": ref.name if ref else None,
                                 "reference_runs": list(ref.runs) if ref else [],
                                 "reference_note": ref_note, "fit_note": fit.note,
                                 "fit": None if fit.fit is None else {
                                     "intercept": fit.fit.intercept, "slope": fit.fit.slope,
                                     "r2": fit.fit.r2, "runs": list(fit.fit.runs)},
                                 "ood_conditions": [source.condition(k) for k in fit.ood_conditions]})
            for metric in study_metrics():
                if source.kind not in metric.kinds or (metric.needs == "reference" and ref is None) \
                        or (metric.needs == "fit" and fit.fit is None):
                    continue
                for variant in dict.fromkeys(r["variant"] for r in members):
                    runs_of = [r for r in members if r["variant"] == variant]
                    base = {"dataset": ds, "arch": arch, "source": source.name, "variant": variant}
                    out.rows += _rows(metric, ctx, runs_of, base)
        out.released_vs_generated += side_by_side(mine, ds, arch)
    return out


def side_by_side(records: list[dict], ds: str, arch: str) -> list[dict]:
    """Per variant and (family, severity) evaluated both generated and released: each one's mean
    over seeds and generated − released paired over the seeds (same run, same weights)."""
    gen, rel = Source(GENERATED, "corruption"), Source(RELEASED, "corruption")
    out = []
    for variant in dict.fromkeys(r["variant"] for r in records):
        per_run = [(r["seed"], run_sources(r)) for r in records if r["variant"] == variant]
        conditions = list(dict.fromkeys(k for _, s in per_run for k in s.get(gen, {}) if k in s.get(rel, {})))
        for key in sorted(conditions, key=lambda k: (group_order(k[0]), k[1])):
            a = {seed: s[gen][key] for seed, s in per_run if key in s.get(gen, {}) and key in s.get(rel, {})}
            b = {seed: s[rel][key] for seed, s in per_run if key in s.get(gen, {}) and key in s.get(rel, {})}
            d = paired_differences(a, b)
            out.append({"dataset": ds, "arch": arch, "variant": variant, "family": key[0],
                        "severity": key[1], "generated": t_interval(list(a.values())),
                        "released": t_interval(list(b.values())),
                        "difference": {k: d[k] for k in (*STATS, "seeds", "values")}})
    return out


def group_order(family: str) -> int:
    """Registry order (category, then within it) so tables read noise, blur, weather, digital."""
    names = group_families("all")
    return names.index(family) if family in names else len(names)
