"""The runs as the field's metrics read them: each run's accuracies split by *source* (generated
corruptions, the released ``released:`` files, each generalisation set), the CE reference a
study names (``--ce-reference``) and the effective-robustness fit (``--er-fit``).

A generated condition ``fog/3`` and a released one ``released:fog/3`` are the same (family,
severity) in different sources, never mixed; ``fog/3@imagenet`` (an explicit table) is its own
source ``generated @imagenet``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis.condition_kinds import condition_kind
from robeval.analysis.field_metrics import (
    Key,
    LogitFit,
    Reference,
    describe_conditions,
    fit_logit_line,
)
from robeval.analysis.study_metrics import RunScores
from robeval.core.errors import RobevalError
from robeval.corruptions.families import FAMILIES
from robeval.stages.report.aggregate import collect

RELEASED = "released"
GENERATED = "generated"
DEFAULT_REFERENCE = "learned-dot"  # the paper's baseline head: the study's own CE reference
HOW_TO_REFERENCE = ("name one with --ce-reference VARIANT (a head variant of this study) or "
                    "--ce-reference PATH (a folder of run folders evaluated on the same conditions)")


@dataclass(frozen=True)
class Source:
    name: str  # "generated", "released", "generated @imagenet", "genset:NAME"
    kind: str  # a ConditionKind name: "corruption" | "generalisation"

    def condition(self, key: Key) -> str:
        """The eval condition name of a key in this source."""
        if not condition_kind(self.kind).graded:  # a set of its own: the key is (name, 0)
            return key[0]
        if self.name == RELEASED:
            return f"released:{key[0]}/{key[1]}"
        table = self.name.partition(" @")[2]
        return f"{key[0]}/{key[1]}" + (f"@{table}" if table else "")


def classify(name: str, info: dict) -> tuple[Source, Key] | None:
    """A condition's source and key, or None for clean, custom (albu:) and summary conditions."""
    family, severity = info.get("family") or "", info.get("severity")
    kind = condition_kind(info.get("kind"))
    if kind.split is None:  # a set of its own (genset:): a source of its own
        return Source(name, kind.name), (name, 0)
    if not kind.graded or severity is None:
        return None
    if family.startswith(f"{RELEASED}:"):
        return Source(RELEASED, kind.name), (family.split(":", 1)[1], int(severity))
    if family in FAMILIES:
        table = name.partition("@")[2]
        source = f"{GENERATED} @{table}" if table else GENERATED
        return Source(source, kind.name), (family, int(severity))
    return None


CATEGORY_OTHER = "other"  # a released family robeval does not generate


def category_of(family: str) -> str:
    """The Hendrycks category of a (generated or released) family, from the corruption registry."""
    name = family.removeprefix(f"{RELEASED}:")
    return FAMILIES.get(name).category if name in FAMILIES else CATEGORY_OTHER


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def run_sources(record: dict) -> dict[Source, dict[Key, float]]:
    """One run's accuracies per source (conditions without an accuracy left out)."""
    out: dict[Source, dict[Key, float]] = {}
    for name, info in record["conditions"].items():
        hit = classify(name, info)
        if hit and _finite(info.get("accuracy")):
            out.setdefault(hit[0], {})[hit[1]] = float(info["accuracy"])
    return out


def clean_of(record: dict) -> float | None:
    a = record["conditions"].get("clean", {}).get("accuracy")
    return float(a) if _finite(a) else None


def scores(record: dict, source: Source) -> RunScores:
    return RunScores(record["run"], record["variant"], record["seed"], clean_of(record),
                     run_sources(record).get(source, {}))


# --- the CE reference ------------------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceChoice:
    """What ``--ce-reference`` names: a variant of the study, a folder of runs, or nothing."""

    kind: str  # "variant" | "path" | "none"
    name: str  # the variant, the folder as given, or ""
    note: str  # how it was chosen, for the report
    records: tuple[dict, ...] = ()  # a folder's runs (collected)


def run_folders(path: Path) -> list[Path]:
    """A run folder, or the run folders directly inside a folder."""
    if runs.is_run(path):
        return [path]
    return sorted(p for p in path.iterdir() if runs.is_run(p))


def choose_reference(reference: str | None, records: list[dict]) -> ReferenceChoice:
    """``--ce-reference``: None (the default: learned-dot when the study has it), ``none``, a head
    variant of the study or a folder; anything else is a RobevalError listing the choices."""
    variants = list(dict.fromkeys(r["variant"] for r in records))
    if reference is None:
        if DEFAULT_REFERENCE in variants:
            return ReferenceChoice("variant", DEFAULT_REFERENCE, f"the default: this study's "
                                   f"{DEFAULT_REFERENCE} variant, its mean error over its seeds; "
                                   "choose another with --ce-reference VARIANT|PATH|none")
        return ReferenceChoice("none", "", f"no mCE: this study has no {DEFAULT_REFERENCE} variant "
                               f"to normalise by; {HOW_TO_REFERENCE}")
    if reference == "none":
        return ReferenceChoice("none", "", f"no mCE (--ce-reference none); {HOW_TO_REFERENCE}")
    if reference in variants:
        return ReferenceChoice("variant", reference, f"this study's {reference} variant, its mean error over "
                                                "its seeds (--ce-reference)")
    path = Path(reference)
    if path.is_dir():
        found = run_folders(path)
        if not found:
            raise RobevalError(f"--ce-reference {reference}: no run folders in it; give a folder of "
                               "evaluated runs (each with eval.json)")
        recs = tuple(collect(found))
        datasets = sorted({str(r["config"]["dataset"]) for r in recs})
        if len(datasets) > 1:
            raise RobevalError(f"--ce-reference {reference}: its runs mix datasets ({', '.join(datasets)}); "
                               "give a folder of one dataset's runs")
        kinds = sorted({r["variant"] for r in recs})
        return ReferenceChoice("path", reference, f"{len(recs)} run(s) in {reference} ({', '.join(kinds)}), "
                                             "their mean error", recs)
    raise RobevalError(f"--ce-reference {reference!r} is neither a head variant of this study "
                       f"({', '.join(variants)}), a folder of runs, nor none")


def build_reference(choice: ReferenceChoice, ref_records: list[dict], source: Source) -> Reference:
    """The mean error over ``ref_records`` per condition of ``source`` that every one of them has;
    ``lacking`` names a run without each condition some have (for the error message)."""
    per_run = [run_sources(r).get(source, {}) for r in ref_records]
    conditions = list(dict.fromkeys(k for p in per_run for k in p))
    error, lacking = {}, {}
    for k in conditions:
        without = [r["run"] for r, p in zip(ref_records, per_run, strict=True) if k not in p]
        if without:
            lacking[k] = without[0]
        else:
            error[k] = float(np.mean([1.0 - p[k] for p in per_run]))
    cleans = [clean_of(r) for r in ref_records]
    clean_error = None
    if all(c is not None for c in cleans):
        clean_error = float(np.mean([1.0 - c for c in cleans]))
    else:
        lacking["clean"] = next(r["run"] for r, c in zip(ref_records, cleans, strict=True) if c is None)
    return Reference(choice.name, tuple(r["run"] for r in ref_records), error, clean_error, lacking,
                     source.condition)


def reference_for(choice: ReferenceChoice, records: list[dict], ds: str, arch: str,
                  source: Source) -> tuple[Reference | None, str]:
    """The reference of one dataset/arch and source, or None and why not."""
    if choice.kind == "none":
        return None, choice.note
    if choice.kind == "variant":
        mine = [r for r in records if r["variant"] == choice.name
                and (r["config"]["dataset"], r["config"]["arch"]) == (ds, arch)]
        if not mine:
            return None, f"no mCE here: {ds} / {arch} has no {choice.name} runs; {HOW_TO_REFERENCE}"
        return build_reference(choice, mine, source), choice.note
    mine = [r for r in choice.records if str(r["config"]["dataset"]) == ds]
    if not mine:
        return None, f"no mCE here: the reference runs in {choice.name} are not {ds} runs"
    return build_reference(choice, mine, source), choice.note


# --- the effective-robustness fit -----------------------------------------------------------

@dataclass
class FitResult:
    fit: LogitFit | None
    note: str
    ood_conditions: tuple[Key, ...] = ()
    points: dict[str, tuple[float, float]] = field(default_factory=dict)


def fit_for(study: list[dict], fit_records: list[dict], fit_name: str, source: Source) -> FitResult:
    """The logit fit of one dataset and source: OOD accuracy = the mean over the source's
    conditions that every study run with the source evaluated; fit runs lacking one are left out."""
    have = [run_sources(r).get(source) for r in study]
    have = [h for h in have if h]
    if not have:
        return FitResult(None, "no runs")
    conditions = tuple(k for k in have[0] if all(k in h for h in have))
    if not conditions:
        return FitResult(None, "no condition of this source is common to every run")
    points, left = {}, 0
    for r in fit_records:
        got, clean = run_sources(r).get(source, {}), clean_of(r)
        if clean is None or any(k not in got for k in conditions):
            left += 1
            continue
        points[r["run"]] = (clean, float(np.mean([got[k] for k in conditions])))
    what = f"over {len(points)} runs of {fit_name}" + (
        f" ({left} without clean or all {len(conditions)} conditions left out)" if left else "")
    try:
        fit = fit_logit_line(points)
    except ValueError as exc:
        return FitResult(None, f"no fit {what}: {exc}", conditions, points)
    several = len(conditions) > 1
    n_cond = f"{len(conditions)} condition(s)" if several else source.condition(conditions[0])
    by_family = several and condition_kind(source.kind).graded
    return FitResult(fit, f"logit(OOD) = a + b · logit(clean) with a = {fit.intercept:+.3f}, "
                          f"b = {fit.slope:+.3f}" + (f", R² = {fit.r2:.2f}" if fit.r2 is not None else "")
                          + f", fitted {what}; OOD = mean accuracy on {n_cond}"
                          + (f" ({describe_conditions(conditions, source.condition)})" if by_family
                             else ""), conditions, points)
