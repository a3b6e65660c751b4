"""Class-vector geometry, confusion, compactness, separability, weights vs centres, feature norms.

Conventions: ``features`` H is N x d, ``weight`` W is C x d (one class vector per row), ``labels``
and ``predictions`` are ints in [0, C), ``logits`` is N x C. Classes absent from ``labels`` are left
out of every per-class statistic (and listed), so a condition that covers only some classes still
gives defined numbers.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sstats

from robeval.analysis.common import num, offdiag, row_normalise, stats
from robeval.core.errors import RobevalError


def check_inputs(features: np.ndarray | None, labels: np.ndarray, weight: np.ndarray,
                 logits: np.ndarray | None = None) -> None:
    """Shapes agree and labels index W; a clear RobevalError otherwise."""
    c, d = weight.shape
    if labels.ndim != 1:
        raise RobevalError(f"labels must be 1-D, got shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= c):
        raise RobevalError(f"labels must lie in [0, {c}) to index the {c} class vectors")
    if features is not None and features.shape != (len(labels), d):
        raise RobevalError(f"features have shape {features.shape}; expected ({len(labels)}, {d}) "
                           "to match the labels and the class vectors")
    if logits is not None and logits.shape != (len(labels), c):
        raise RobevalError(f"logits have shape {logits.shape}; expected ({len(labels)}, {c})")


def cosine_matrix(weight: np.ndarray) -> np.ndarray:
    """C x C cosines between class vectors (a zero vector has cosine 0 with everything)."""
    w, _ = row_normalise(weight)
    return np.clip(w @ w.T, -1.0, 1.0)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return m


def class_means(features: np.ndarray, labels: np.ndarray, num_classes: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(C x d means, counts); an absent class has a zero row and count 0."""
    counts = np.bincount(labels, minlength=num_classes)
    sums = np.zeros((num_classes, features.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, features.astype(np.float64))
    means = sums / np.maximum(counts, 1)[:, None]
    return means, counts


def spearman_pairs(weight: np.ndarray, confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos(w_i, w_j), count of class i predicted as j) over ordered pairs i != j, i present."""
    cos = cosine_matrix(weight)
    present = confusion.sum(1) > 0
    mask = ~np.eye(len(cos), dtype=bool) & present[:, None]
    return cos[mask], confusion[mask].astype(np.float64)


def spearman_confusion(weight: np.ndarray, confusion: np.ndarray) -> dict:
    """Spearman rank correlation between class-vector cosine and confusion count (paper Fig. 2/4).

    All ordered pairs i != j whose true class i occurs are used (the paper: "all possible class
    pairs"). Undefined -- rho None with a note -- when either side is constant (no mistakes at all,
    or equiangular vectors such as an exact simplex ETF).
    """
    x, y = spearman_pairs(weight, confusion)
    out = {"rho": None, "p_value": None, "n_pairs": int(len(x)), "errors": int(y.sum()), "note": None}
    if len(x) < 3:
        out["note"] = "fewer than 3 class pairs: no correlation"
    elif np.ptp(y) == 0:
        out["note"] = "every pair has the same confusion count (e.g. no mistakes): correlation undefined"
    elif np.ptp(x) <= 1e-12:
        out["note"] = "all class vectors are equiangular: correlation undefined"
    else:
        res = sstats.spearmanr(x, y)
        out["rho"], out["p_value"] = num(res.statistic), num(res.pvalue)
    return out


def cosine_ceiling(weight: np.ndarray) -> np.ndarray:
    """Per class ||w+|| / ||w||: the largest cos(h, w) any non-negative h can reach (docs/analysis.md)."""
    w = np.asarray(weight, dtype=np.float64)
    norm = np.linalg.norm(w, axis=1)
    pos = np.linalg.norm(np.maximum(w, 0.0), axis=1)
    return np.divide(pos, norm, out=np.zeros_like(norm), where=norm > 0)


def sample_cosines(features: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """N x C cosines between each feature and each class vector."""
    h, _ = row_normalise(features)
    w, _ = row_normalise(weight)
    return np.clip(h @ w.T, -1.0, 1.0)


def _per_class(values: np.ndarray, groups: np.ndarray, num_classes: int) -> list[float | None]:
    sums = np.bincount(groups, weights=values, minlength=num_classes)
    counts = np.bincount(groups, minlength=num_classes)
    return [num(s / n) if n else None for s, n in zip(sums, counts, strict=True)]


def compactness(features: np.ndarray, weight: np.ndarray, labels: np.ndarray,
                predictions: np.ndarray, nonnegative: bool | None = None) -> dict:
    """Mean cos(h, w_pred) (paper Table 4) and cos(h, w_true), overall and per class.

    Per class means group by the predicted class for ``predicted`` and by the true class for
    ``true``. The ceiling ||w+||/||w|| applies when every feature is >= 0 (ReLU before pooling):
    then no image can exceed it, whatever the training.
    """
    c = weight.shape[0]
    cos = sample_cosines(features, weight)
    idx = np.arange(len(labels))
    pred, true = cos[idx, predictions], cos[idx, labels]
    ceiling = cosine_ceiling(weight)
    observed_nonneg = bool(len(features) == 0 or features.min() >= 0)
    applies = observed_nonneg if nonnegative is None else bool(nonnegative) and observed_nonneg
    out = {
        "predicted": {"mean": num(pred.mean()) if len(pred) else None,
                      "per_class": _per_class(pred, predictions, c)},
        "true": {"mean": num(true.mean()) if len(true) else None,
                 "per_class": _per_class(true, labels, c)},
        "features_nonnegative": observed_nonneg,
        "ceiling_applies": applies,
        "ceiling_per_class": [num(x) for x in ceiling],
        "ceiling_mean_classes": num(ceiling.mean()) if applies and c else None,
        "ceiling_mean_predicted": num(ceiling[predictions].mean()) if applies and len(pred) else None,
        "ceiling_mean_true": num(ceiling[labels].mean()) if applies and len(true) else None,
        "note": None,
    }
    if not applies:
        out["note"] = ("features take negative values: the ReLU ceiling ||w+||/||w|| does not apply"
                       if not observed_nonneg else "encoder not marked non-negative: no ceiling")
    return out


def separability(features: np.ndarray, labels: np.ndarray, weight: np.ndarray,
                 logits: np.ndarray) -> dict:
    """Pairwise cosines of class means (raw and centred) and of class vectors; mean margins.

    ``margin_logit``: true logit minus the best other logit (> 0 means correct). ``margin_cosine``:
    the same with cosines to the class vectors, comparable across heads and scales S.
    """
    c, d = weight.shape
    means, counts = class_means(features, labels, c)
    present = counts > 0
    out: dict = {"classes_present": int(present.sum())}
    g = features.astype(np.float64).mean(0) if len(features) else np.zeros(d)
    for key, m in (("class_means", means[present]), ("centred_class_means", means[present] - g)):
        pc = offdiag(cosine_matrix(m)) if len(m) > 1 else np.zeros(0)
        out[key] = {"mean_cos": num(pc.mean()) if pc.size else None,
                    "max_cos": num(pc.max()) if pc.size else None}
    wc = offdiag(cosine_matrix(weight))
    out["class_vectors"] = {"mean_cos": num(wc.mean()) if wc.size else None,
                            "max_cos": num(wc.max()) if wc.size else None,
                            "std_cos": num(wc.std()) if wc.size else None,
                            "random_std_reference": num(1 / np.sqrt(d)),
                            "simplex_etf_cos": num(-1 / (c - 1)) if c > 1 else None}
    idx = np.arange(len(labels))
    for key, score in (("margin_logit", logits.astype(np.float64)),
                       ("margin_cosine", sample_cosines(features, weight))):
        if len(labels) == 0 or c < 2:
            out[key] = None
            continue
        true = score[idx, labels]
        other = score.copy()
        other[idx, labels] = -np.inf
        out[key] = num((true - other.max(1)).mean())
    return out


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise angle in degrees; None-safe (zero rows give 90 degrees)."""
    an, _ = row_normalise(a)
    bn, _ = row_normalise(b)
    return np.degrees(np.arccos(np.clip((an * bn).sum(1), -1.0, 1.0)))


def weights_vs_centres(weight: np.ndarray, features: np.ndarray, labels: np.ndarray) -> dict:
    """Do class vectors sit at class centres (Kansizoglou et al.)? Angles, cancellation, coplanarity.

    ``angle_deg``: angle between w_c and the class mean mu_c; ``angle_centred_deg``: with
    mu_c - mu_G (mu_G the mean of all features). ``sum_ratio`` = ||sum_c w_c|| / sum_c ||w_c||
    (0 when the vectors cancel, as a centred ETF does). ``coplanarity``: share of ||W||_F^2 in
    the top two singular values.
    """
    c, _ = weight.shape
    means, counts = class_means(features, labels, c)
    present = counts > 0
    g = features.astype(np.float64).mean(0) if len(features) else np.zeros(weight.shape[1])
    w = np.asarray(weight, dtype=np.float64)
    raw = np.full(c, np.nan)
    cen = np.full(c, np.nan)
    raw[present] = angle_deg(w[present], means[present])
    cen[present] = angle_deg(w[present], means[present] - g)
    sv = np.linalg.svd(w, compute_uv=False)
    total = float((sv ** 2).sum())
    norms = np.linalg.norm(w, axis=1)
    return {
        "angle_deg": [num(x) for x in raw],
        "angle_centred_deg": [num(x) for x in cen],
        "mean_angle_deg": num(raw[present].mean()) if present.any() else None,
        "mean_angle_centred_deg": num(cen[present].mean()) if present.any() else None,
        "sum_ratio": num(np.linalg.norm(w.sum(0)) / norms.sum()) if norms.sum() > 0 else None,
        "coplanarity": num((sv[:2] ** 2).sum() / total) if total > 0 else None,
        "weight_norm": stats(norms),
    }


def feature_norms(features: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> dict:
    """||h|| of correct vs wrong predictions (dot heads can grow norms instead of angles)."""
    norms = np.linalg.norm(features.astype(np.float64), axis=1)
    ok = labels == predictions
    return {"correct": stats(norms[ok]), "wrong": stats(norms[~ok]), "all": stats(norms)}


def pca_2d(features: np.ndarray, max_points: int = 2000, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(2-D coordinates of a seeded subsample, its indices, the 2 x d components, the mean).

    The top two directions come from the smaller Gram matrix (n x n or d x d), so d = 4608
    features cost no more than a 2000 x 2000 eigenproblem.
    """
    from scipy.linalg import eigh

    n, d = features.shape
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False)) if n else np.zeros(0, int)
    x = features[idx].astype(np.float64)
    mean = x.mean(0) if len(x) else np.zeros(d)
    xc = x - mean
    comps = np.zeros((2, d))
    k = min(2, len(x) - 1, d)
    if k >= 1:
        if d <= len(x):
            _, vecs = eigh(xc.T @ xc, subset_by_index=[d - k, d - 1])
            comps[:k] = vecs[:, ::-1].T
        else:
            vals, u = eigh(xc @ xc.T, subset_by_index=[len(x) - k, len(x) - 1])
            v = xc.T @ u[:, ::-1]
            comps[:k] = (v / np.maximum(np.linalg.norm(v, axis=0), 1e-300)).T
    return xc @ comps.T, idx, comps, mean
