"""How many seeds an observed effect would need: the smallest n whose 95% t-interval around the
observed mean, with the observed sd, excludes 0; claims whose interval spans 0 say it."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sstats

from robeval.analysis.stats import paired_differences, seeds_needed
from robeval.stages.report.claims import Evidence, seeds_note


@pytest.mark.parametrize("mean,sd", [(0.0767, 0.0334), (0.003, 0.0256), (-0.05, 0.04), (0.2, 0.01)])
def test_seeds_needed_is_the_smallest_n_whose_interval_excludes_zero(mean, sd):
    n = seeds_needed(mean, sd)

    def half(k: int) -> float:
        return sstats.t.ppf(0.975, k - 1) * sd / math.sqrt(k)

    assert n >= 2 and half(n) < abs(mean)
    assert n == 2 or half(n - 1) >= abs(mean)


def test_seeds_needed_edge_cases():
    assert seeds_needed(0.0, 0.1) is None  # nothing to detect
    assert seeds_needed(None, 0.1) is None
    assert seeds_needed(0.01, 0.0) == 2
    assert seeds_needed(1e-6, 1.0) is None  # beyond any sensible study


def test_a_claim_line_whose_interval_spans_zero_says_how_many_seeds():
    wide = paired_differences({0: 0.90, 1: 0.80, 2: 0.95}, {0: 0.85, 1: 0.83, 2: 0.80})
    assert wide["ci_low"] < 0 < wide["ci_high"]
    n = seeds_needed(wide["mean"], wide["std"])
    ev = Evidence()
    ev.add("fixed − learned: wide", "short", wide, "fixed − learned on clean")
    assert ev.needs == [f"fixed − learned on clean: {seeds_note(wide)}"]
    assert f"about {n} seeds" in ev[0] and ev[0].startswith("fixed − learned: wide; observed +")
    clear = paired_differences({0: 0.90, 1: 0.91, 2: 0.92}, {0: 0.80, 1: 0.80, 2: 0.81})
    assert clear["ci_low"] > 0 and seeds_note(clear) is None
    ev.add("clear", None, clear, "x")
    assert ev[-1] == "clear" and len(ev.needs) == 1
