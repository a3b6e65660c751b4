"""Small numeric helpers shared by the metric modules: safe floats, safe normalisation."""

from __future__ import annotations

import math

import numpy as np


def num(x: float | np.floating | None, digits: int | None = None) -> float | None:
    """A plain float, or None for NaN/inf/None: reports never print NaN."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


def row_normalise(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows scaled to unit L2 norm; all-zero rows stay zero. Returns (rows, number of zero rows)."""
    a = np.asarray(a, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    zero = norms[:, 0] <= np.finfo(np.float64).tiny
    out = np.divide(a, norms, out=np.zeros_like(a), where=~zero[:, None])
    return out, int(zero.sum())


def offdiag(m: np.ndarray, ordered: bool = False) -> np.ndarray:
    """Off-diagonal entries: i < j (default) or every ordered pair i != j."""
    c = m.shape[0]
    if ordered:
        return m[~np.eye(c, dtype=bool)]
    return m[np.triu_indices(c, k=1)]


def stats(x: np.ndarray) -> dict:
    """mean, std (ddof 0), min, max, median of a 1-D array; Nones when empty."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None, "median": None}
    return {"n": int(x.size), "mean": num(x.mean()), "std": num(x.std()), "min": num(x.min()),
            "max": num(x.max()), "median": num(np.median(x))}
