"""Neural collapse NC1-NC4 (Papyan, Han & Donoho 2020), computed without any d x d matrix.

Definitions (K = number of classes present, N samples, mu_G the mean of all features, M the
K x d matrix of CENTRED class means mu_c - mu_G, W the K x d class vectors of those classes):

- NC1 = Tr(Sigma_W Sigma_B^+) / K with Sigma_W = (1/N) sum (h - mu_y)(h - mu_y)^T and
  Sigma_B = (1/K) M^T M. Sigma_B has rank <= min(K - 1, d) (always singular when d >= K), so its
  Moore-Penrose pseudo-inverse is taken over the directions with non-negligible eigenvalues
  (the SVD of M, at most K - 1 of them, as in Papyan et al.'s code): Tr(Sigma_W Sigma_B^+) =
  sum_k (K / s_k^2) v_k^T Sigma_W v_k.
- NC2 for M and for W: coefficient of variation of row norms; std of pairwise cosines;
  mean |cos + 1/(K-1)|; ETF distance ||G G^T/||G G^T||_F - (I - 11^T/K)/sqrt(K-1)||_F.
- NC3 = ||W/||W||_F - M/||M||_F||_F with centred M (``nc3_uncentred`` uses raw means, as one
  public reference does; reported separately and labelled).
- NC4 = share of samples whose classifier argmax (of the logits) differs from the nearest class
  mean (Euclidean, among present classes).
"""

from __future__ import annotations

import numpy as np

from robeval.analysis.common import num, offdiag, row_normalise
from robeval.analysis.geometry import check_inputs, class_means


def etf_distance(g: np.ndarray) -> float | None:
    """||G G^T/||G G^T||_F - (I - 11^T/K)/sqrt(K-1)||_F; 0 for an exact simplex ETF (any scale)."""
    k = g.shape[0]
    if k < 2:
        return None
    gram = g @ g.T
    fro = np.linalg.norm(gram)
    if fro == 0:
        return None
    target = (np.eye(k) - np.ones((k, k)) / k) / np.sqrt(k - 1)
    return num(np.linalg.norm(gram / fro - target))


def nc2(g: np.ndarray) -> dict:
    """Equinorm and equiangularity of the rows of ``g`` (class means or class vectors)."""
    g = np.asarray(g, dtype=np.float64)
    k = g.shape[0]
    norms = np.linalg.norm(g, axis=1)
    out = {"norm_cv": None, "cos_std": None, "cos_mean": None, "equiangular_gap": None,
           "etf_distance": None, "zero_rows": 0}
    if k < 2:
        return out
    out["norm_cv"] = num(norms.std() / norms.mean()) if norms.mean() > 0 else None
    gn, zero = row_normalise(g)
    out["zero_rows"] = zero
    cos = offdiag(np.clip(gn @ gn.T, -1, 1))
    out["cos_std"] = num(cos.std())
    out["cos_mean"] = num(cos.mean())
    out["equiangular_gap"] = num(np.abs(cos + 1.0 / (k - 1)).mean())
    out["etf_distance"] = etf_distance(g)
    return out


def _frob_gap(a: np.ndarray, b: np.ndarray) -> float | None:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return None
    return num(np.linalg.norm(a / na - b / nb))


def neural_collapse(features: np.ndarray, labels: np.ndarray, logits: np.ndarray,
                    weight: np.ndarray, rtol: float | None = None) -> dict:
    """NC1-NC4 for one set of features; Nones with a ``notes`` entry where a value is undefined."""
    check_inputs(features, labels, weight, logits)
    c, d = weight.shape
    means, counts = class_means(features, labels, c)
    present = np.flatnonzero(counts > 0)
    k = len(present)
    notes: list[str] = []
    out: dict = {"classes": c, "classes_present": k, "dim": d, "n": int(len(labels)),
                 "nc1": None, "sigma_b_rank": None, "nc2_means": nc2(np.zeros((0, d))),
                 "nc2_weights": nc2(np.zeros((0, d))), "nc3": None, "nc3_uncentred": None,
                 "nc4": None, "etf_possible": bool(c <= d + 1), "notes": notes}
    if c > d + 1:
        notes.append(f"C = {c} > d + 1 = {d + 1}: no simplex ETF fits in {d} dimensions, so "
                     "the ETF distance cannot reach 0")
    absent = [int(i) for i in np.flatnonzero(counts == 0)]
    if absent:
        notes.append(f"classes absent from the labels ({absent[:10]}{'...' if len(absent) > 10 else ''}) "
                     "are left out of NC1-NC4")
    if k < 2:
        notes.append("fewer than 2 classes present: neural-collapse metrics are undefined")
        return out
    h = features.astype(np.float64)
    mu_g = h.mean(0)
    m = means[present] - mu_g
    w = np.asarray(weight, dtype=np.float64)[present]
    # NC1 through the SVD of M: Sigma_B = V diag(s^2 / K) V^T
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    tol = (s.max() * max(k, d) * np.finfo(np.float64).eps) if rtol is None else s.max() * rtol
    keep = s > tol
    # at most K - 1 directions (Papyan et al.'s code: svds, k = C - 1): sum_c n_c (mu_c - mu_G) = 0,
    # so a K-th singular value is round-off (large with a big common offset) and its 1/s^2 would
    # swamp NC1
    keep[min(k - 1, d):] = False
    out["sigma_b_rank"] = int(keep.sum())
    if not keep.any():
        notes.append("all class means coincide (Sigma_B = 0): NC1 is undefined")
    else:
        within = h - means[labels]
        proj = within @ vt[keep].T  # N x r
        var = (proj ** 2).mean(0)  # v_k^T Sigma_W v_k
        out["nc1"] = num((var * k / s[keep] ** 2).sum() / k)
        if out["sigma_b_rank"] < min(k - 1, d):
            notes.append(f"Sigma_B has rank {out['sigma_b_rank']} < {min(k - 1, d)}: NC1 uses its "
                         "pseudo-inverse on the non-degenerate directions only")
    out["nc2_means"] = nc2(m)
    out["nc2_weights"] = nc2(w)
    out["nc3"] = _frob_gap(w, m)
    out["nc3_uncentred"] = _frob_gap(w, means[present])
    # NC4: nearest class mean (squared Euclidean) vs the classifier's argmax
    d2 = (h ** 2).sum(1, keepdims=True) - 2 * h @ means[present].T + (means[present] ** 2).sum(1)
    ncc = present[d2.argmin(1)]
    out["nc4"] = num((ncc != logits.argmax(1)).mean()) if len(labels) else None
    return out
