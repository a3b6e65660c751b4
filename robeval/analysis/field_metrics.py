"""The field's corruption-benchmark arithmetic on accuracies: per family and per severity means,
mean corruption accuracy, corruption error (CE, mCE, relative mCE) against a named reference, and
effective robustness. Plain floats in, plain floats out; the records that name and define these
numbers are in study_metrics.py, and the report (stages/report/field.py) feeds them eval outputs.

Sources of the formulas: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations" (ICLR 2019), Sec. 3 (CE, mCE, relative mCE; there the
reference is AlexNet); RobustBench (Croce et al. 2021) reports the unweighted mean accuracy over
the 15 corruptions x 5 severities; Taori et al., "Measuring Robustness to Natural Distribution
Shifts in Image Classification" (NeurIPS 2020), Sec. 3 (effective robustness: the distance
above a linear fit of logit-scaled OOD accuracy on logit-scaled in-distribution accuracy).

A corruption condition is a ``Key`` (family, severity); errors are 1 - accuracy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from robeval.core.errors import RobevalError

Key = tuple[str, int]  # (family, severity)
SEVERITIES = (1, 2, 3, 4, 5)
ZERO = 1e-12  # a denominator this close to 0 is 0: the ratio is undefined
MIN_FIT_RUNS = 3  # distinct clean accuracies a line through logit space needs to be more than 2 points


def condition_name(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def family_means(acc: Mapping[Key, float]) -> dict[str, float]:
    """Mean accuracy over each family's evaluated severities."""
    per: dict[str, list[float]] = defaultdict(list)
    for (family, _), a in acc.items():
        per[family].append(a)
    return {f: float(np.mean(v)) for f, v in per.items()}


def severity_means(acc: Mapping[Key, float]) -> dict[int, float]:
    """Mean accuracy over the families evaluated at each severity."""
    per: dict[int, list[float]] = defaultdict(list)
    for (_, severity), a in acc.items():
        per[severity].append(a)
    return {s: float(np.mean(per[s])) for s in sorted(per)}


def missing_conditions(acc: Mapping[Key, float], families: Sequence[str],
                 severities: Sequence[int] = SEVERITIES) -> list[Key]:
    return [(f, s) for f in families for s in severities if (f, s) not in acc]


def mean_corruption_accuracy(acc: Mapping[Key, float], families: Sequence[str],
                             severities: Sequence[int] = SEVERITIES) -> float | None:
    """The unweighted mean over every (family, severity) of ``families`` x ``severities``
    (RobustBench's figure with the 15 standard families); None unless all are present."""
    if not families or missing_conditions(acc, families, severities):
        return None
    return float(np.mean([acc[(f, s)] for f in families for s in severities]))


def describe_conditions(conditions: Iterable[Key], name: Callable[[Key], str] = condition_name) -> str:
    """'fog (1-5), frost (3)': missing conditions said briefly, by family."""
    per: dict[str, list[int]] = defaultdict(list)
    for f, s in conditions:
        per[f].append(s)
    parts = []
    for f, sev in per.items():
        sev = sorted(sev)
        span = f"{sev[0]}-{sev[-1]}" if sev == list(range(sev[0], sev[-1] + 1)) and len(sev) > 1 \
            else ",".join(map(str, sev))
        parts.append(f"{name((f, sev[0])).rsplit('/', 1)[0]} ({span})")
    return ", ".join(parts)


@dataclass(frozen=True)
class Reference:
    """What CE is normalised by: the mean error over the reference's runs per condition."""

    name: str  # as the report names it: a head variant of the study, or a folder
    runs: tuple[str, ...]
    error: dict[Key, float]  # mean over ``runs`` of 1 - accuracy, conditions every run has
    clean_error: float | None  # the same on the clean test set (None: not every run has it)
    lacking: dict[object, str] = field(default_factory=dict)  # key or "clean" -> a run without it
    condition: Callable[[Key], str] = condition_name  # how a key is named in messages

    def _lacks(self, what: str, key: object) -> RobevalError:
        run = self.lacking.get(key, self.runs[0] if self.runs else "?")
        return RobevalError(f"--ce-reference {self.name}: run {run} has no condition {what}; "
                            f"evaluate it (robeval eval {run} --conditions {what}) or choose another "
                            "reference (--ce-reference VARIANT|PATH|none)")

    def errors(self, family: str, severities: Sequence[int]) -> list[float]:
        """The reference's errors at those severities of ``family``; a missing one is an error."""
        for s in severities:
            if (family, s) not in self.error:
                raise self._lacks(self.condition((family, s)), (family, s))
        return [self.error[(family, s)] for s in severities]

    def clean(self) -> float:
        if self.clean_error is None:
            raise self._lacks("clean", "clean")
        return self.clean_error

    def zero(self, what: str, family: str, severities: Sequence[int]) -> RobevalError:
        conds = describe_conditions([(family, s) for s in severities], self.condition)
        return RobevalError(f"--ce-reference {self.name}: {what} on {conds} in its run(s) "
                            f"{', '.join(self.runs)}, and CE divides by it; choose a reference that "
                            "errs there (--ce-reference VARIANT|PATH|none)")


def corruption_errors(acc: Mapping[Key, float], clean: float | None, ref: Reference,
                      families: Sequence[str]) -> dict:
    """CE_f = Σ_s E(f,s) / Σ_s E_ref(f,s) over the severities this run evaluated of each family
    in ``families`` it has; mCE = mean_f CE_f. With ``clean``: relative CE_f = Σ_s (E(f,s) -
    E_clean) / Σ_s (E_ref(f,s) - E_ref_clean) and relative mCE.

    A reference that lacks a condition, or has zero error on every severity of a family, is a
    RobevalError naming its run and the condition (CE divides by that error). A reference that
    loses no accuracy to a family (its errors there equal its clean error, e.g. a network that
    predicts one class) leaves relative CE undefined: ``relative_mce`` is None and
    ``relative_note`` says why; mCE is still defined."""
    ce: dict[str, float] = {}
    rel: dict[str, float] = {}
    flat: list[str] = []
    for f in families:
        sev = sorted(s for g, s in acc if g == f)
        if not sev:
            continue
        err = [1.0 - acc[(f, s)] for s in sev]
        ref_err = ref.errors(f, sev)
        if sum(ref_err) <= ZERO:
            raise ref.zero("zero error", f, sev)
        ce[f] = sum(err) / sum(ref_err)
        if clean is not None:
            ref_clean = ref.clean()
            den = sum(e - ref_clean for e in ref_err)
            if abs(den) <= ZERO:
                flat.append(describe_conditions([(f, s) for s in sev], ref.condition))
            else:
                rel[f] = sum(e - (1.0 - clean) for e in err) / den
    note = None
    if clean is None:
        note = "the run has no clean accuracy"
    elif flat:
        note = (f"relative CE divides by the reference's error above its clean error, and "
                f"{ref.name} has none on {'; '.join(flat)}")
    return {"ce": ce, "mce": float(np.mean(list(ce.values()))) if ce else None,
            "relative_ce": rel,
            "relative_mce": float(np.mean(list(rel.values()))) if rel and not note else None,
            "relative_note": note}


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def inside(p: float | None) -> bool:
    """An accuracy whose logit is finite."""
    return p is not None and 0.0 < p < 1.0


@dataclass(frozen=True)
class LogitFit:
    """logit(OOD accuracy) = intercept + slope * logit(clean accuracy), least squares."""

    intercept: float
    slope: float
    runs: tuple[str, ...]  # the runs it was fitted on
    r2: float | None

    def predict(self, clean: float) -> float:
        return expit(self.intercept + self.slope * logit(clean))

    def residual(self, clean: float, ood: float) -> float:
        """Effective robustness: the OOD accuracy above the fit's prediction at this clean accuracy."""
        return ood - self.predict(clean)


def fit_logit_line(points: Mapping[str, tuple[float, float]]) -> LogitFit:
    """The fit over ``points`` (run -> (clean accuracy, OOD accuracy)); points at 0 or 1 have
    no logit and are left out. Fewer than MIN_FIT_RUNS distinct clean accuracies is a
    ValueError whose text says why (the report shows it beside "–")."""
    use = {r: p for r, p in points.items() if inside(p[0]) and inside(p[1])}
    dropped = len(points) - len(use)
    distinct = len({p[0] for p in use.values()})
    if distinct < MIN_FIT_RUNS:
        why = f" ({dropped} at 0% or 100%, where the logit is infinite)" if dropped else ""
        raise ValueError(f"the fit needs at least {MIN_FIT_RUNS} runs with distinct clean accuracies; "
                         f"{distinct} distinct among {len(use)} usable run(s){why}")
    x = np.array([logit(p[0]) for p in use.values()])
    y = np.array([logit(p[1]) for p in use.values()])
    slope, intercept = np.polyfit(x, y, 1)
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = None if ss <= ZERO else float(1.0 - ((y - (intercept + slope * x)) ** 2).sum() / ss)
    return LogitFit(float(intercept), float(slope), tuple(use), r2)
