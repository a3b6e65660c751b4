"""Every metric ``robeval analyze`` measures, as one record each in METRICS.

A ``Metric`` says how to compute it from one condition's arrays and the class vectors (one
signature for all), what it means (``definitions``, written into analysis.json and
docs/analysis.md), and which scalars it contributes (``columns``): geometry.csv gets one column
per ``Column``, the report's geometry table shows those with a ``label``, and claims read them by
key. Adding a metric is one record here; ``measure``, the report and the parametrised tests pick
it up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from robeval.analysis.collapse import neural_collapse
from robeval.analysis.geometry import (
    check_inputs,
    compactness,
    confusion_matrix,
    feature_norms,
    separability,
    spearman_confusion,
    weights_vs_centres,
)
from robeval.core.registry import Registry


@dataclass
class Arrays:
    """One condition's arrays as the metrics take them (float64 features, int64 labels)."""

    labels: np.ndarray
    predictions: np.ndarray
    logits: np.ndarray
    features: np.ndarray | None
    num_classes: int

    @classmethod
    def from_outputs(cls, arrays: dict, num_classes: int) -> Arrays:
        feats = arrays.get("features")
        return cls(np.asarray(arrays["labels"]).astype(np.int64),
                   np.asarray(arrays["predictions"]).astype(np.int64),
                   np.asarray(arrays["logits"]).astype(np.float64),
                   None if feats is None else np.asarray(feats).astype(np.float64), num_classes)

    @cached_property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predictions, self.num_classes)


@dataclass(frozen=True)
class Column:
    """One scalar of a metric: ``key`` names it in geometry.csv and claims, ``path`` finds it in
    the metric's result, ``label`` (when set) puts it in the report's geometry table."""

    key: str
    path: tuple[str, ...]
    label: str | None = None
    fmt: str = ".3f"


@dataclass(frozen=True)
class Metric:
    name: str  # the key of its result in analysis.json (or, with merge, of its fields)
    compute: Callable[[Arrays, dict, bool], Any]  # (arrays, head, full) -> result
    definitions: dict[str, str]
    columns: tuple[Column, ...] = ()
    needs_features: bool = True
    merge: bool = False  # the result's fields go to the top level of the condition's result
    extra: dict = field(default_factory=dict)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    METRICS.add(metric)
    return metric


def _accuracy(a: Arrays, head: dict, full: bool) -> dict:
    n = len(a.labels)
    return {"n": int(n), "accuracy": float((a.labels == a.predictions).mean()) if n else None}


def _confusion(a: Arrays, head: dict, full: bool) -> dict:
    out: dict = {"predicted_classes_never_used": [int(i) for i in np.flatnonzero(a.confusion.sum(0) == 0)]}
    if full:
        out["confusion"] = a.confusion.tolist()
    return out


def _compactness(a: Arrays, head: dict, full: bool) -> dict:
    comp = compactness(a.features, head["weight"], a.labels, a.predictions, head["nonnegative"])
    if not full:
        comp["predicted"].pop("per_class", None)
        comp["true"].pop("per_class", None)
        comp.pop("ceiling_per_class", None)
    return comp


def _weights_vs_centres(a: Arrays, head: dict, full: bool) -> dict:
    out = weights_vs_centres(head["weight"], a.features, a.labels)
    if not full:
        out.pop("angle_deg", None)
        out.pop("angle_centred_deg", None)
    return out


for _metric in (
    Metric("accuracy", _accuracy, {}, (Column("accuracy", ("accuracy",)),),
           needs_features=False, merge=True),
    Metric("spearman", lambda a, head, full: spearman_confusion(head["weight"], a.confusion),
           {"spearman": "Spearman rho between cos(w_i, w_j) and the count of class-i images "
                        "predicted as j, over all ordered pairs i != j whose class i occurs"},
           (Column("spearman_rho", ("rho",), "Spearman ρ", ".2f"),), needs_features=False),
    Metric("confusion", _confusion, {}, needs_features=False, merge=True),
    Metric("compactness", _compactness,
           {"compactness": "mean cos(h, w_pred) (paper Table 4) and mean cos(h, w_true); ceiling = "
                           "||w+||/||w|| of the class vector, the maximum for non-negative features"},
           (Column("compactness_pred", ("predicted", "mean"), "cos(h, w_pred)"),
            Column("compactness_true", ("true", "mean"), "cos(h, w_true)"),
            Column("ceiling_pred", ("ceiling_mean_predicted",), "ReLU ceiling"))),
    Metric("separability", lambda a, head, full: separability(a.features, a.labels, head["weight"], a.logits),
           {"separability": "pairwise cosines (i < j) of class means (raw and centred on the global "
                            "mean) and of class vectors; margins = true score minus best other score"},
           (Column("class_vector_mean_cos", ("class_vectors", "mean_cos")),
            Column("class_vector_max_cos", ("class_vectors", "max_cos"), "max cos(w_i, w_j)"),
            Column("class_mean_max_cos", ("class_means", "max_cos")),
            Column("centred_class_mean_max_cos", ("centred_class_means", "max_cos"),
                   "max cos(μ_i, μ_j) centred"),
            Column("margin_cosine", ("margin_cosine",), "cosine margin"),
            Column("margin_logit", ("margin_logit",)))),
    Metric("neural_collapse",
           lambda a, head, full: neural_collapse(a.features, a.labels, a.logits, head["weight"]),
           {"nc1": "Tr(Sigma_W Sigma_B^+)/K, K classes present, pseudo-inverse over the SVD of "
                   "centred means",
            "nc2": "for centred means M and class vectors W: norm CV, std of pairwise cos, mean "
                   "|cos + 1/(K-1)|, ETF distance ||GG^T/||GG^T||_F - (I - 11^T/K)/sqrt(K-1)||_F",
            "nc3": "||W/||W||_F - M/||M||_F||_F with centred M; nc3_uncentred uses raw class means",
            "nc4": "share of images whose argmax logit differs from the nearest class mean (Euclidean)"},
           (Column("nc1", ("nc1",), "NC1", ".3g"),
            Column("nc2_etf_means", ("nc2_means", "etf_distance"), "NC2 ETF dist. M"),
            Column("nc2_etf_weights", ("nc2_weights", "etf_distance"), "NC2 ETF dist. W"),
            Column("nc2_equiangular_weights", ("nc2_weights", "equiangular_gap")),
            Column("nc3", ("nc3",), "NC3"),
            Column("nc4", ("nc4",), "NC4"))),
    Metric("weights_vs_centres", _weights_vs_centres,
           {"weights_vs_centres": "angle between w_c and mu_c (raw and centred), ||sum w_c||/sum "
                                  "||w_c||, coplanarity = share of ||W||_F^2 in the top two singular "
                                  "values"},
           (Column("angle_centred_deg", ("mean_angle_centred_deg",), "∠(w_c, μ_c−μ_G)°", ".1f"),
            Column("sum_ratio", ("sum_ratio",), "‖Σw‖/Σ‖w‖"),
            Column("coplanarity", ("coplanarity",), "coplanarity"))),
    Metric("feature_norms", lambda a, head, full: feature_norms(a.features, a.labels, a.predictions),
           {"feature_norms": "||h|| of correctly and wrongly classified images (median, mean, ...)"},
           (Column("norm_correct_median", ("correct", "median")),
            Column("norm_wrong_median", ("wrong", "median")))),
):
    register_metric(_metric)

NOTES = {"class_means_from": "the same condition's features (the test set for clean): no training data"}


def definitions() -> dict[str, str]:
    """Every metric's definitions, plus notes that hold for all of them."""
    out = {k: v for m in map(METRICS.get, METRICS.names()) for k, v in m.definitions.items()}
    return {**out, **NOTES}


def columns() -> list[tuple[Metric, Column]]:
    """Every scalar column, in registry order (geometry.csv's column order)."""
    return [(m, c) for m in map(METRICS.get, METRICS.names()) for c in m.columns]


def scalar(result: dict, metric: Metric, column: Column):
    """A column's value in one condition's result (None when absent)."""
    d = result if metric.merge else result.get(metric.name)
    for k in column.path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def measure(arrays: dict, head: dict, full: bool) -> dict:
    """Every metric for one condition; ``full`` adds per-class lists and C x C matrices."""
    w = head["weight"]
    a = Arrays.from_outputs(arrays, w.shape[0])
    check_inputs(a.features, a.labels, w, a.logits)
    out: dict = {}
    noted = False
    for metric in map(METRICS.get, METRICS.names()):
        if metric.needs_features and a.features is None:
            if not noted:
                out["note"] = "evaluated with --no-features: feature geometry not measured"
                noted = True
            continue
        result = metric.compute(a, head, full)
        if metric.merge:
            out.update(result)
        else:
            out[metric.name] = result
    return out
