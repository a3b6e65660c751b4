"""The field's study-level metrics: one ``StudyMetric`` record each in STUDY_METRICS.

A study-level metric is measured per run, from that run's accuracies on one *source* of
conditions (the generated corruptions, the released ``released:`` files, or one generalisation
set) and what the study gives it (``StudyContext``: the standard families, the CE reference, the
effective-robustness fit); the report then takes each head variant's mean over seeds with a 95%
t-interval, exactly as it does for accuracy. A record holds the metric's definition, formula,
report label, unit, what it is normalised by and how to compute it: the report's tables,
results.csv/results.json and docs/analysis.md read these records. Adding one is one record here.

The arithmetic is in field_metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robeval.analysis.field_metrics import (
    SEVERITIES,
    Key,
    LogitFit,
    Reference,
    condition_name,
    corruption_errors,
    describe_conditions,
    family_means,
    inside,
    mean_corruption_accuracy,
    missing_conditions,
    severity_means,
)
from robeval.core.registry import Registry


class NotMeasured(Exception):
    """A run's value cannot be computed; the text says why (the report prints it beside "–")."""


@dataclass(frozen=True)
class RunScores:
    """One run's accuracies as the study-level metrics read them, for one source."""

    run: str
    variant: str
    seed: int
    clean: float | None
    scores: dict[Key, float]  # (family, severity) -> accuracy; a genset is (its name, 0)


@dataclass
class StudyContext:
    """What a source's metrics need beyond one run."""

    source: str  # "generated", "released", "generated @imagenet", "genset:NAME"
    kind: str  # "corruption" | "generalisation"
    standard: tuple[str, ...] = ()  # the standard benchmark families (registry order)
    severities: tuple[int, ...] = SEVERITIES
    reference: Reference | None = None
    reference_note: str = ""  # which reference and why, or why there is none
    fit: LogitFit | None = None
    fit_note: str = ""  # what the fit is over, or why there is none
    ood_conditions: tuple[Key, ...] = ()  # the conditions a run's OOD accuracy averages (ER)
    condition: Callable[[Key], str] = condition_name


@dataclass(frozen=True)
class StudyMetric:
    name: str  # key in results.json's field rows and results.csv's metric column
    label: str  # the report's header
    definition: str
    formula: str
    per_run: Callable[[RunScores, StudyContext], dict[str, float]]  # part -> value ("" = scalar)
    higher_is_better: bool
    unit: str = "%"  # "%": a share shown x 100; "pp": a difference of shares shown x 100, signed
    kinds: tuple[str, ...] = ("corruption",)  # the sources it applies to
    needs: str | None = None  # "reference" | "fit": no rows at all without it (the note says why)
    # what a header says the number is relative to ("normalised by learned-dot's error", "residual
    # from the logit fit over 12 runs"); None: a plain share
    normalised_by: Callable[[StudyContext], str] | None = None
    headline: bool = False  # a column of the report's headline table
    parts: str = ""  # what its parts are ("family", "severity"), "" for one number per run


STUDY_METRICS: Registry[StudyMetric] = Registry("study metric")


def register_study_metric(metric: StudyMetric) -> StudyMetric:
    STUDY_METRICS.add(metric)
    return metric


def study_metrics() -> list[StudyMetric]:
    return [STUDY_METRICS.get(n) for n in STUDY_METRICS.names()]


def _mca(r: RunScores, c: StudyContext) -> dict[str, float]:
    value = mean_corruption_accuracy(r.scores, c.standard, c.severities)
    if value is None:
        missing = missing_conditions(r.scores, c.standard, c.severities)
        total = len(c.standard) * len(c.severities)
        raise NotMeasured(f"needs all {total} standard conditions ({len(c.standard)} families x "
                          f"{len(c.severities)} severities); missing {len(missing)}: "
                          f"{describe_conditions(missing, c.condition)}")
    return {"": value}


def _ce(r: RunScores, c: StudyContext) -> dict:
    if c.reference is None:
        raise NotMeasured(c.reference_note or "no reference")
    present = [f for f in c.standard if any(g == f for g, _ in r.scores)]
    if not present:
        raise NotMeasured("no standard corruption family evaluated")
    return corruption_errors(r.scores, r.clean, c.reference, present)


def _relative(r: RunScores, c: StudyContext) -> dict[str, float]:
    got = _ce(r, c)
    if got["relative_mce"] is None:
        raise NotMeasured(got["relative_note"])
    return {"": got["relative_mce"]}


def _effective_robustness(r: RunScores, c: StudyContext) -> dict[str, float]:
    if c.fit is None:
        raise NotMeasured(c.fit_note or "no fit")
    if not inside(r.clean):
        raise NotMeasured("clean accuracy of 0 or 1 has no logit")
    missing = [k for k in c.ood_conditions if k not in r.scores]
    if missing or not c.ood_conditions:
        raise NotMeasured(f"lacks {describe_conditions(missing, c.condition)}" if missing else "no OOD conditions")
    return {"": c.fit.residual(r.clean, float(np.mean([r.scores[k] for k in c.ood_conditions])))}


def _reference_error(c: StudyContext) -> str:
    """'normalised by learned-dot's error', plus how many standard families it covers when that
    is not all of them (an mCE over 3 families is not the benchmark's mCE)."""
    if not c.reference:
        return "no reference"
    families = {f for f, _ in c.reference.error if f in c.standard}
    part = f" over {len(families)} of {len(c.standard)} standard families" \
        if c.standard and len(families) < len(c.standard) else ""
    return f"normalised by {c.reference.name}'s error{part}"


for _metric in (
    StudyMetric(
        "family_accuracy", "mean accuracy per family",
        "accuracy averaged over the severities evaluated of one corruption family",
        "A_f = (1/|S_f|) Σ_{s ∈ S_f} A(f, s)",
        lambda r, c: family_means(r.scores), higher_is_better=True, parts="family"),
    StudyMetric(
        "severity_accuracy", "mean accuracy per severity",
        "accuracy averaged over the corruption families evaluated at one severity",
        "A_s = (1/|F_s|) Σ_{f ∈ F_s} A(f, s)",
        lambda r, c: {str(s): v for s, v in severity_means(r.scores).items()}, higher_is_better=True,
        parts="severity"),
    StudyMetric(
        "mean_corruption_accuracy", "mean corruption acc.",
        "accuracy averaged with equal weights over the 15 standard families x 5 severities "
        "(RobustBench's corruption figure); only when all of them were evaluated",
        "mCA = (1/75) Σ_{f ∈ standard} Σ_{s=1..5} A(f, s)",
        _mca, higher_is_better=True, headline=True),
    StudyMetric(
        "ce", "CE", "corruption error of one standard family: the run's summed error over the "
        "severities it evaluated, divided by the reference's summed error there",
        "CE_f = Σ_s E(f, s) / Σ_s E_ref(f, s), E = 1 − A",
        lambda r, c: _ce(r, c)["ce"], higher_is_better=False, needs="reference",
        normalised_by=_reference_error, parts="family"),
    StudyMetric(
        "mce", "mCE", "mean corruption error: CE_f averaged over the standard families the run "
        "evaluated (Hendrycks & Dietterich 2019; below 100% = fewer errors than the reference)",
        "mCE = (1/|F|) Σ_{f ∈ F} CE_f, F = the standard families present",
        lambda r, c: {"": _ce(r, c)["mce"]}, higher_is_better=False, needs="reference",
        normalised_by=_reference_error, headline=True),
    StudyMetric(
        "relative_mce", "relative mCE", "how much accuracy a run loses to corruption relative to "
        "how much the reference loses: each family's error above the clean error, over the "
        "reference's, averaged over the standard families present",
        "rel. CE_f = Σ_s (E(f, s) − E_clean) / Σ_s (E_ref(f, s) − E_ref,clean); "
        "rel. mCE = (1/|F|) Σ_f rel. CE_f",
        _relative, higher_is_better=False, needs="reference",
        normalised_by=lambda c: f"{_reference_error(c)} above its clean error"),
    StudyMetric(
        "effective_robustness", "effective robustness",
        "after Taori et al. 2020: OOD accuracy minus the accuracy predicted from the clean "
        "accuracy by a line fitted in logit space over a set of runs (by default every run of the "
        "study); OOD accuracy is the mean over the source's conditions every run evaluated",
        "ER = A_ood − σ(a + b · logit(A_clean)), (a, b) = least squares of logit(A_ood) on "
        "logit(A_clean) over the fit's runs, σ the logistic function",
        _effective_robustness, higher_is_better=True, unit="pp",
        kinds=("corruption", "generalisation"), needs="fit",
        normalised_by=lambda c: f"residual from the logit fit over {len(c.fit.runs) if c.fit else 0} runs"),
):
    register_study_metric(_metric)
