"""Seed statistics: mean, sample std and a Student-t confidence interval; paired differences.

With n = 1 there is no spread and no interval: the fields are None and ``note`` says so, so a
report prints "n = 1: no interval" instead of NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sstats

from robeval.analysis.common import num


def t_interval(values, level: float = 0.95) -> dict:
    """mean, sample std (ddof 1), n and the two-sided ``level`` t-interval of the mean."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    out = {"n": n, "mean": None, "std": None, "ci_low": None, "ci_high": None,
           "half_width": None, "level": level, "note": None}
    if n == 0:
        out["note"] = "no values"
        return out
    out["mean"] = num(x.mean())
    if n == 1:
        out["note"] = "n = 1: no interval"
        return out
    sd = float(x.std(ddof=1))
    half = float(sstats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    out.update(std=num(sd), half_width=num(half), ci_low=num(x.mean() - half),
               ci_high=num(x.mean() + half))
    return out


MIN_SEEDS_FOR_VERDICT = 3  # below this a t-interval is too wide to be a finding (n = 2: 12.7 x s/sqrt(2))
MIN_SEEDS_FOR_WILCOXON = 5  # exact two-sided p is at least 2 / 2^n: 0.0625 at n = 5, 0.031 at n = 6


def paired_differences(a: dict, b: dict, level: float = 0.95) -> dict:
    """a - b over the keys (seeds) both have: the paired t-interval and, with at least five
    pairs, the two-sided Wilcoxon signed-rank p-value (exact); unmatched keys are listed."""
    common = sorted(set(a) & set(b), key=str)
    diffs = [a[k] - b[k] for k in common if a[k] is not None and b[k] is not None]
    out = t_interval(diffs, level)
    out["seeds"] = common
    out["values"] = [num(v) for v in diffs]
    out["unmatched"] = sorted(set(a) ^ set(b), key=str)
    out["wilcoxon_p"] = None
    if len(diffs) >= MIN_SEEDS_FOR_WILCOXON and any(d != 0 for d in diffs):
        out["wilcoxon_p"] = num(sstats.wilcoxon(diffs).pvalue)
    if not common:
        out["note"] = "no seed appears in both: no paired difference"
    return out


SEEDS_NEEDED_MAX = 100_000  # beyond this, "more than" is all that is worth saying


def seeds_needed(mean: float | None, sd: float | None, level: float = 0.95) -> int | None:
    """How many seeds the observed effect would need: the smallest n >= 2 at which the ``level``
    t-interval of a mean ``mean`` with sample std ``sd`` would exclude 0, i.e.
    t_{(1+level)/2, n-1} * sd / sqrt(n) < |mean|. A planning estimate, not a power analysis: if
    the true effect and spread were exactly the observed ones, about half of the studies of that
    size would exclude 0. None when there is no effect to detect (mean 0 or unknown) or when it
    would take more than SEEDS_NEEDED_MAX seeds."""
    if mean is None or sd is None or not math.isfinite(mean) or mean == 0:
        return None
    if sd == 0:
        return 2
    n = np.arange(2, SEEDS_NEEDED_MAX + 1)
    ok = np.flatnonzero(sstats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n) < abs(mean))
    return int(n[ok[0]]) if len(ok) else None


def clopper_pearson(correct: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """The exact binomial interval of an accuracy ``correct / n`` (one run, one test set)."""
    if n <= 0:
        return None, None
    alpha = 1 - level
    lo = 0.0 if correct == 0 else float(sstats.beta.ppf(alpha / 2, correct, n - correct + 1))
    hi = 1.0 if correct == n else float(sstats.beta.ppf(1 - alpha / 2, correct + 1, n - correct))
    return lo, hi


def verdict(interval: dict, unit: str = "pp", scale: float = 100.0, signed: bool = True,
            digits: int = 2) -> str:
    """'+1.20 pp [+0.40, +2.00], n = 3' or '+1.20 pp (n = 1: no interval)'."""
    if interval.get("mean") is None:
        return interval.get("note") or "no values"
    number_format = f"{'+' if signed else ''}.{digits}f"

    def num(x: float) -> str:
        return format(scale * x, number_format)

    s = f"{num(interval['mean'])} {unit}".strip()
    if interval.get("ci_low") is None:
        return f"{s} (n = {interval['n']}: no interval)"
    return (f"{s} [{num(interval['ci_low'])}, {num(interval['ci_high'])}]"
            f", n = {interval['n']}")
