"""Per-condition metrics: one ``ConditionMetric`` record each in CONDITION_METRICS.

``robeval eval`` computes every record on each condition's labels and logits and writes the
value into that condition's entry of eval.json under the record's ``name``
(robeval/stages/evaluate.py); the report averages each over seeds (aggregate.py), shows a column
per record (report/calibration.py), draws the records with a ``figure`` label against severity
(report/figures.py) and writes ``<name>_mean``, ``<name>_ci_low``, ... into results.csv. Adding a
per-condition metric is one record here; a run evaluated before it existed reports "–".

Accuracy is not a record: it is the quantity every row of the report is about (its mean,
interval and paired differences), written by eval with its binomial interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from robeval.analysis.calibration import ECE_BINS, aurc, brier, ece, nll, softmax
from robeval.core.registry import Registry


@dataclass
class Prediction:
    """One condition's labels and logits, with the softmax computed once for every metric."""

    logits: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, logits: np.ndarray, labels: np.ndarray) -> Prediction:
        return cls(np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64))

    @cached_property
    def probs(self) -> np.ndarray:
        return softmax(self.logits)


@dataclass(frozen=True)
class ConditionMetric:
    """A number measured on one condition from its labels and logits alone."""

    name: str  # its key in eval.json's condition entry, results.json and results.csv (<name>_mean)
    label: str  # the report's column header
    definition: str  # what it measures, in words (report and docs/analysis.md)
    formula: str  # how, in symbols (p = softmax(logits), y the true class, n images)
    compute: Callable[[Prediction], float]
    higher_is_better: bool
    fmt: str = ".3f"  # how the report prints it
    note: str = ""  # a short reading note the report's section sentence is made of
    figure: str | None = None  # y-axis label: the report draws it vs severity (x 100) per category


CONDITION_METRICS: Registry[ConditionMetric] = Registry("per-condition metric")


def register_condition_metric(metric: ConditionMetric) -> ConditionMetric:
    CONDITION_METRICS.add(metric)
    return metric


for _metric in (
    ConditionMetric(
        "nll", "NLL", "mean negative log-likelihood of the true class (cross-entropy, natural log)",
        "NLL = (1/n) Σ_i −log p_i(y_i)",
        lambda p: nll(p.logits, p.labels), higher_is_better=False),
    ConditionMetric(
        "ece", "ECE",
        f"expected calibration error, top-label: {ECE_BINS} equal-width confidence bins on (0, 1], "
        "L1 gap between accuracy and mean confidence, weighted by bin size",
        "ECE = Σ_b (|B_b|/n) |acc(B_b) − conf(B_b)|, conf = max_c p_c, B_b = {i: conf_i ∈ (b/15, "
        "(b+1)/15]}",
        lambda p: ece(p.logits, p.labels, probs=p.probs), higher_is_better=False,
        note=f"ECE is top-label, {ECE_BINS} equal-width confidence bins",
        figure=f"ECE % ({ECE_BINS} bins)"),
    ConditionMetric(
        "brier", "Brier", "multi-class Brier score: squared error of the probability vector, "
        "averaged over images (0 to 2)",
        "Brier = (1/n) Σ_i Σ_c (p_ic − 1[c = y_i])²",
        lambda p: brier(p.logits, p.labels, probs=p.probs), higher_is_better=False),
    ConditionMetric(
        "aurc", "AURC", "area under the risk-coverage curve: images ranked by max-softmax "
        "confidence, most confident first; 0 = always right, 1 = always wrong",
        "AURC = (1/n) Σ_k (1/k) Σ_{i ≤ k} 1[ŷ_(i) ≠ y_(i)], (i) the i-th most confident image",
        lambda p: aurc(p.logits, p.labels, probs=p.probs), higher_is_better=False,
        note="AURC ranks by max-softmax confidence"),
):
    register_condition_metric(_metric)


def condition_metrics() -> list[ConditionMetric]:
    """Every record, in registry order (the report's column order)."""
    return [CONDITION_METRICS.get(n) for n in CONDITION_METRICS.names()]


def measure_condition(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Every per-condition metric of one condition (NaN for an empty condition: eval.json
    records that it has no value; the report shows "–")."""
    p = Prediction.of(logits, labels)
    if len(p.labels) == 0:
        return {m.name: float("nan") for m in condition_metrics()}
    return {m.name: float(m.compute(p)) for m in condition_metrics()}
