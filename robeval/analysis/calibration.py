"""Calibration and selective-risk metrics of one condition, from its logits and labels.

Written per condition into eval.json by ``robeval eval`` (see robeval/stages/evaluate.py):

- ``nll``: mean negative log-likelihood of the true class (cross-entropy, natural log).
- ``ece``: expected calibration error, top-label, 15 equal-width confidence bins on (0, 1]:
  sum over bins of (bin size / n) * |accuracy(bin) - mean confidence(bin)|.
- ``brier``: multi-class Brier score, sum over classes of (p_c - 1[c == y])^2, averaged over
  samples (range 0..2).
- ``aurc``: area under the risk-coverage curve, ranking samples by max-softmax confidence
  (most confident first); the mean over k = 1..n of the error rate of the k most confident.
  A classifier that is always right scores 0; one that is always wrong scores 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

ECE_BINS = 15


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: shifted by the row maximum)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    z = np.asarray(logits, dtype=np.float64)
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(labels)), labels]))


def ece(logits: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS,
        probs: np.ndarray | None = None) -> float:
    p = softmax(logits) if probs is None else probs
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == labels).astype(np.float64)
    # bin b holds confidences in (b/n_bins, (b+1)/n_bins]
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(total)


def brier(logits: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> float:
    p = (softmax(logits) if probs is None else probs).copy()
    p[np.arange(len(labels)), labels] -= 1.0
    return float(np.mean((p ** 2).sum(axis=1)))


def aurc(logits: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> float:
    p = softmax(logits) if probs is None else probs
    conf = p.max(axis=1)
    wrong = (p.argmax(axis=1) != labels).astype(np.float64)
    order = np.argsort(-conf, kind="stable")
    risks = np.cumsum(wrong[order]) / np.arange(1, len(labels) + 1)
    return float(risks.mean())


def calibration(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """All four metrics for one condition (NaN for an empty condition)."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return {k: float("nan") for k in ("nll", "ece", "brier", "aurc")}
    p = softmax(logits)  # once for the three metrics that read probabilities
    return {"nll": nll(logits, labels), "ece": ece(logits, labels, probs=p),
            "brier": brier(logits, labels, probs=p), "aurc": aurc(logits, labels, probs=p)}
