"""Each metric on small cases whose answer is known by hand (or by an independent formula)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sstats

from robeval.analysis import (
    compactness,
    confusion_matrix,
    cosine_matrix,
    feature_norms,
    neural_collapse,
    paired_differences,
    separability,
    spearman_confusion,
    t_interval,
    weights_vs_centres,
)
from robeval.analysis.collapse import etf_distance, nc2
from robeval.analysis.geometry import cosine_ceiling
from robeval.core.errors import RobevalError


def simplex_etf(c: int, d: int, seed: int = 0) -> np.ndarray:
    basis, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, c)))
    return math.sqrt(c / (c - 1)) * (np.eye(c) - np.ones((c, c)) / c) @ basis.T


def no_nan(obj) -> bool:
    """True when no float in a nested dict/list is NaN or infinite."""
    if isinstance(obj, dict):
        return all(no_nan(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return all(no_nan(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return True


def collapsed(c: int = 5, d: int = 8, per: int = 4):
    w = simplex_etf(c, d)
    labels = np.repeat(np.arange(c), per)
    h = 2.5 * w[labels]  # every feature sits exactly on its (scaled) class vector
    return h, labels, h @ w.T, w


def test_exact_simplex_etf_has_zero_etf_distance_and_equal_angles():
    w = simplex_etf(6, 10)
    out = nc2(w)
    assert out["etf_distance"] == pytest.approx(0, abs=1e-12)
    assert out["equiangular_gap"] == pytest.approx(0, abs=1e-12)
    assert out["norm_cv"] == pytest.approx(0, abs=1e-12)
    assert out["cos_mean"] == pytest.approx(-1 / 5)
    assert etf_distance(7.0 * w) == pytest.approx(0, abs=1e-12)  # scale-free
    assert etf_distance(np.eye(6)) > 0.05  # orthogonal vectors are not an ETF


def test_collapsed_features_give_nc1_nc3_nc4_zero():
    h, labels, logits, w = collapsed()
    nc = neural_collapse(h, labels, logits, w)
    assert nc["nc1"] == pytest.approx(0, abs=1e-20)
    assert nc["nc4"] == 0
    assert nc["nc3"] == pytest.approx(0, abs=1e-12)  # W is a multiple of the centred means
    assert nc["nc2_means"]["etf_distance"] == pytest.approx(0, abs=1e-12)
    assert nc["sigma_b_rank"] == 4  # C - 1: Sigma_B of centred means is singular


def test_nc1_by_hand_one_dimension():
    # class means -1, +1 (global mean 0): Sigma_B = 1; spread +-0.5: Sigma_W = 0.25 -> NC1 = 0.25/2
    h = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    labels = np.array([0, 0, 1, 1])
    w = np.array([[-1.0], [1.0]])
    nc = neural_collapse(h, labels, h @ w.T, w)
    assert nc["nc1"] == pytest.approx(0.125)


@pytest.mark.parametrize("c,d", [(4, 9), (8, 5)])  # d > C and C > d
def test_nc1_matches_explicit_pseudo_inverse(c, d):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(c), 7)
    h = rng.standard_normal((len(labels), d)) + 3 * rng.standard_normal((c, d))[labels]
    w = rng.standard_normal((c, d))
    means = np.stack([h[labels == k].mean(0) for k in range(c)])
    mu = h.mean(0)
    sw = (h - means[labels]).T @ (h - means[labels]) / len(h)
    sb = (means - mu).T @ (means - mu) / c
    expected = np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10)) / c
    nc = neural_collapse(h, labels, h @ w.T, w)
    assert nc["nc1"] == pytest.approx(expected, rel=1e-6)
    assert nc["etf_possible"] == (c <= d + 1)
    assert no_nan(nc)


def test_nc4_uses_argmax_of_logits():
    # two classes with means at 0 and 10 (1-D); the classifier agrees with the nearest mean on
    # three of four samples
    h = np.array([[0.0], [1.0], [9.0], [10.0]])
    labels = np.array([0, 0, 1, 1])
    w = np.array([[1.0], [2.0]])
    logits = np.array([[5.0, 1.0], [5.0, 1.0], [1.0, 5.0], [5.0, 1.0]])  # last one: argmax 0, NCC 1
    nc = neural_collapse(h, labels, logits, w)
    assert nc["nc4"] == pytest.approx(0.25)  # argmin would give 0.75


def test_nc3_uncentred_is_reported_apart():
    h, labels, logits, w = collapsed()
    shifted = h + 5.0  # a common offset: centred means unchanged, raw means not
    nc = neural_collapse(shifted, labels, shifted @ w.T, w)
    assert nc["nc3"] == pytest.approx(0, abs=1e-9)
    assert nc["nc3_uncentred"] > 0.1


def test_spearman_known_pairs():
    # class vectors at 0, 30 and 100 degrees: cos 0.87 (0-1), 0.34 (1-2), -0.17 (0-2)
    ang = np.radians([0, 30, 100])
    w = np.stack([np.cos(ang), np.sin(ang)], 1)
    conf = np.array([[50, 10, 1], [10, 50, 5], [1, 5, 50]])  # more confusion for closer vectors
    assert spearman_confusion(w, conf)["rho"] == pytest.approx(1.0)
    anti = np.array([[50, 1, 10], [1, 50, 5], [10, 5, 50]])
    assert spearman_confusion(w, anti)["rho"] == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    w4, conf4 = rng.standard_normal((4, 6)), rng.integers(0, 20, (4, 4))
    cos = cosine_matrix(w4)
    mask = ~np.eye(4, dtype=bool)
    rx, ry = sstats.rankdata(cos[mask]), sstats.rankdata(conf4[mask])
    assert spearman_confusion(w4, conf4)["rho"] == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert spearman_confusion(w4, conf4)["n_pairs"] == 12


def test_spearman_undefined_cases_are_none_with_a_note():
    w = simplex_etf(4, 6)
    perfect = np.diag([10, 10, 10, 10])
    out = spearman_confusion(np.random.default_rng(0).standard_normal((4, 6)), perfect)
    assert out["rho"] is None and "no mistakes" in out["note"]
    out = spearman_confusion(w, np.array([[5, 1, 2, 0], [0, 5, 3, 1], [2, 2, 5, 0], [1, 0, 0, 5]]))
    assert out["rho"] is None and "equiangular" in out["note"]


def test_confusion_matrix_counts():
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_compactness_and_relu_ceiling():
    w = np.array([[1.0, -1.0], [0.0, 1.0]]) / np.array([[math.sqrt(2)], [1.0]])
    assert cosine_ceiling(w).tolist() == pytest.approx([1 / math.sqrt(2), 1.0])
    h = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    labels, preds = np.array([0, 1, 0]), np.array([0, 1, 1])
    out = compactness(h, w, labels, preds, nonnegative=True)
    assert out["predicted"]["mean"] == pytest.approx((1 / math.sqrt(2) + 1 + 1) / 3)
    assert out["true"]["mean"] == pytest.approx((1 / math.sqrt(2) + 1 - 1 / math.sqrt(2)) / 3)
    assert out["predicted"]["per_class"] == pytest.approx([1 / math.sqrt(2), 1.0])
    assert out["ceiling_applies"] and out["ceiling_mean_predicted"] == pytest.approx((1 / math.sqrt(2) + 2) / 3)
    # no non-negative feature beats the ceiling
    rng = np.random.default_rng(0)
    wr = rng.standard_normal((3, 16))
    hr = np.abs(rng.standard_normal((2000, 16)))
    cos = (hr / np.linalg.norm(hr, axis=1, keepdims=True)) @ (wr / np.linalg.norm(wr, axis=1, keepdims=True)).T
    assert (cos <= cosine_ceiling(wr)[None] + 1e-12).all()
    neg = compactness(-h, w, labels, preds, nonnegative=True)
    assert not neg["ceiling_applies"] and neg["ceiling_mean_predicted"] is None and neg["note"]


def test_separability_margins_and_class_vectors():
    h, labels, logits, w = collapsed(c=4, d=6)
    sep = separability(h, labels, w, logits)
    assert sep["class_vectors"]["mean_cos"] == pytest.approx(-1 / 3)
    assert sep["class_vectors"]["max_cos"] == pytest.approx(-1 / 3)
    assert sep["margin_cosine"] == pytest.approx(1 + 1 / 3)
    assert sep["centred_class_means"]["max_cos"] == pytest.approx(-1 / 3)
    assert sep["margin_logit"] == pytest.approx(2.5 * (1 + 1 / 3))  # ||w|| = 1


def test_weights_vs_centres():
    h, labels, _, w = collapsed(c=4, d=6)
    out = weights_vs_centres(w, h, labels)
    assert out["sum_ratio"] == pytest.approx(0, abs=1e-12)  # ETF vectors cancel
    assert out["mean_angle_centred_deg"] == pytest.approx(0, abs=1e-5)
    plane = np.array([[1.0, 0, 0], [0, 1, 0], [1, 1, 0]])
    assert weights_vs_centres(plane, plane, np.arange(3))["coplanarity"] == pytest.approx(1.0)


def test_feature_norms_split_by_correctness():
    h = np.array([[3.0, 4.0], [0.0, 1.0], [0.0, 2.0]])
    out = feature_norms(h, np.array([0, 0, 1]), np.array([0, 1, 1]))
    assert out["correct"]["mean"] == pytest.approx(3.5) and out["wrong"]["mean"] == pytest.approx(1.0)


def test_robust_cases_give_defined_values_or_notes():
    rng = np.random.default_rng(0)
    c, d = 12, 3  # C > d
    labels = np.r_[np.repeat(np.arange(c - 2), 5)]  # two classes absent
    h = rng.standard_normal((len(labels), d))
    w = rng.standard_normal((c, d))
    logits = h @ w.T
    nc = neural_collapse(h, labels, logits, w)
    assert nc["classes_present"] == c - 2 and not nc["etf_possible"] and no_nan(nc)
    assert nc["nc1"] is not None and any("absent" in n for n in nc["notes"])
    assert no_nan(compactness(h, w, labels, logits.argmax(1)))
    assert no_nan(separability(h, labels, w, logits))
    assert no_nan(weights_vs_centres(w, h, labels))
    one = neural_collapse(h[:5], labels[:5], logits[:5], w)
    assert one["nc1"] is None and one["nc4"] is None and one["notes"]
    same = neural_collapse(np.ones((4, d)), np.array([0, 0, 1, 1]), np.ones((4, c)), w)
    assert same["nc1"] is None and any("coincide" in n for n in same["notes"])
    with pytest.raises(RobevalError):
        neural_collapse(h, labels + 20, logits, w)


def test_t_interval_and_paired_differences():
    ci = t_interval([1.0, 2.0, 3.0])
    assert ci["mean"] == 2 and ci["std"] == pytest.approx(1.0)
    assert ci["half_width"] == pytest.approx(4.302652729911275 / math.sqrt(3))
    single = t_interval([0.7])
    assert single["mean"] == 0.7 and single["ci_low"] is None and "n = 1" in single["note"]
    assert t_interval([])["mean"] is None
    d = paired_differences({0: 0.8, 1: 0.9, 2: 0.7}, {0: 0.7, 1: 0.85, 3: 0.1})
    assert d["seeds"] == [0, 1] and d["unmatched"] == [2, 3]
    assert d["mean"] == pytest.approx(0.075) and d["n"] == 2
    assert d["ci_low"] < d["mean"] < d["ci_high"]


def test_class_absent_from_predictions_and_pca():
    from robeval.analysis import pca_2d

    rng = np.random.default_rng(0)
    h = np.abs(rng.standard_normal((30, 6)))
    w = rng.standard_normal((3, 6))
    labels = np.repeat(np.arange(3), 10)
    preds = np.where(labels == 2, 0, labels)  # class 2 is never predicted
    comp = compactness(h, w, labels, preds, nonnegative=True)
    assert comp["predicted"]["per_class"][2] is None and no_nan(comp)
    assert spearman_confusion(w, confusion_matrix(labels, preds, 3))["rho"] is not None
    # two dominant directions: PCA finds them, in order
    x = rng.standard_normal((500, 40)) * 0.1
    x[:, 3] += 10 * rng.standard_normal(500)
    x[:, 7] += 5 * rng.standard_normal(500)
    xy, idx, comps, _ = pca_2d(x, max_points=300)
    assert xy.shape == (300, 2) and len(idx) == 300
    assert np.abs(comps[0]).argmax() == 3 and np.abs(comps[1]).argmax() == 7
    xy_wide, _, comps_wide, _ = pca_2d(x[:20], max_points=300)  # fewer points than dimensions
    assert np.abs(comps_wide[0]).argmax() == 3 and xy_wide.shape == (20, 2)


def test_nc1_ignores_round_off_direction_of_centred_means():
    # sum_c n_c (mu_c - mu_G) = 0, so the centred means span K - 1 directions; with a large common
    # offset, round-off leaves a K-th singular value above any eps tolerance, and its 1/s^2 would
    # make NC1 ~1e13 (measured) instead of ~0.007
    rng = np.random.default_rng(2)
    c, d = 4, 10
    labels = np.repeat(np.arange(c), [5, 9, 13, 30])
    centres = 1e-3 * rng.standard_normal((c, d)) + 1e4
    h = centres[labels] + 1e-4 * rng.standard_normal((len(labels), d))
    nc = neural_collapse(h, labels, h @ centres.T, centres)
    assert nc["sigma_b_rank"] == c - 1
    means = np.stack([h[labels == k].mean(0) for k in range(c)])
    _, s, vt = np.linalg.svd(means - h.mean(0), full_matrices=False)
    sb_pinv = vt[: c - 1].T @ np.diag(c / s[: c - 1] ** 2) @ vt[: c - 1]
    sw = (h - means[labels]).T @ (h - means[labels]) / len(h)
    assert nc["nc1"] == pytest.approx(np.trace(sw @ sb_pinv) / c, rel=1e-6)
    assert nc["nc1"] < 1
