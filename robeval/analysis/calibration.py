"""The arithmetic of the calibration and selective-risk records (``nll``, ``ece``, ``brier``,
``aurc``) in condition_metrics.py, where each one's definition and formula live. Pure numpy on
one condition's logits (N x C) and labels; float64 throughout.
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

