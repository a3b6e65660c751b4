"""--quiet silences every bar (in this process and in workers it starts); every run records
whether it reached its plateau, and the report marks the runs that had not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from robeval.core.progress import ENV, is_quiet, progress_bar, set_quiet
from robeval.training.optim import plateau


def test_quiet_disables_bars_here_and_in_child_processes(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert not progress_bar(range(3)).disable
    set_quiet(True)
    try:
        assert is_quiet() and progress_bar(range(3)).disable
        child = subprocess.run([sys.executable, "-c", "from robeval.core.progress import is_quiet; "
                                "print(is_quiet())"], capture_output=True, text=True)
        assert child.stdout.strip() == "True"
    finally:
        set_quiet(False)
    assert not is_quiet()


def test_corrupt_quiet_prints_no_bar(tmp_path):
    args = [sys.executable, "-m", "robeval", "corrupt", "--dataset", "shapes", "--conditions",
            "impulse_noise", "--severities", "1", "--data-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != ENV}
    loud = subprocess.run(args, capture_output=True, text=True, env=env)
    quiet = subprocess.run([*args, "--quiet"], capture_output=True, text=True, env=env)
    assert loud.returncode == 0 and quiet.returncode == 0, quiet.stderr
    assert "it/s" in loud.stderr or "%|" in loud.stderr  # the corruption's progress bar
    assert "%|" not in quiet.stderr and "it/s" not in quiet.stderr


@pytest.mark.parametrize("vals,expected", [([0.5, 0.9, 0.905], True), ([0.5, 0.8, 0.9], False),
                                           ([0.9], False), ([0.7, 0.705], True),
                                           ([0.72, 0.71], True), ([0.72, 0.709], False)])
def test_plateau_rule(vals, expected):
    result = plateau([{"val_acc": v} for v in vals])
    assert result["at_plateau"] is expected
    assert result["tolerance"] == 0.01


def test_report_marks_runs_not_at_plateau(tmp_path):
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.report import write_report
    from robeval.stages.train import train
    from tests.helpers import tiny_config

    run = tmp_path / "r"
    summary = train(tiny_config(epochs=1), run, device="cpu", progress=False)
    assert summary["plateau"]["at_plateau"] is False  # one epoch cannot show a plateau
    evaluate_run(run, "clean", device="cpu", progress=False)
    write_report([run], tmp_path / "rep", plots=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "had not reached their plateau" in md and "| NO |" in md


def test_clopper_pearson_matches_scipys_exact_binomial_interval():
    from scipy.stats import binomtest

    from robeval.analysis.stats import clopper_pearson

    for k, n in ((0, 10), (7, 10), (10, 10), (931, 1000)):
        ref = binomtest(k, n).proportion_ci(0.95, method="exact")
        lo, hi = clopper_pearson(k, n)
        assert abs(lo - ref.low) < 1e-12 and abs(hi - ref.high) < 1e-12


def test_paired_wilcoxon_only_from_five_seeds_and_two_seeds_give_no_verdict():
    from robeval.analysis.stats import paired_differences
    from robeval.stages.report.claims import gain_verdict

    a = {s: 0.80 + 0.01 * s for s in range(6)}
    b = {s: 0.70 for s in range(6)}
    six = paired_differences(a, b)
    assert six["wilcoxon_p"] is not None and six["wilcoxon_p"] < 0.05  # all 6 positive: p = 1/32
    four = paired_differences({s: a[s] for s in range(4)}, {s: b[s] for s in range(4)})
    assert four["wilcoxon_p"] is None and gain_verdict(four) == "supported"
    two = paired_differences({0: 0.9, 1: 0.91}, {0: 0.7, 1: 0.72})
    assert two["ci_low"] is not None and gain_verdict(two).startswith("n = 2 seeds: too few")


def test_report_shows_each_runs_last_change_for_stricter_plateau_rules(tmp_path):
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.report import write_report
    from robeval.stages.train import train
    from tests.helpers import tiny_config

    run = tmp_path / "r"
    summary = train(tiny_config(epochs=2), run, device="cpu", progress=False)
    change = summary["plateau"]["last_change"]
    assert change is not None
    evaluate_run(run, "clean", device="cpu", progress=False)
    write_report([run], tmp_path / "rep", plots=False)
    record = json.loads((tmp_path / "rep" / "results.json").read_text())["runs"][0]
    assert record["plateau_change"] == change
    assert f"{100 * change:.2f} pp" in (tmp_path / "rep" / "report.md").read_text()


def test_report_plateau_tolerance_rejudges_every_run_by_the_given_rule(tmp_path):
    """`robeval report --plateau-tolerance PP` judges each run by PP, not by the rule it was
    trained under: NO when its last change exceeds PP, yes when not; results.json carries both."""
    from click.testing import CliRunner

    from robeval.cli import cli
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.train import train
    from tests.helpers import tiny_config

    run = tmp_path / "r"
    summary = train(tiny_config(epochs=2), run, device="cpu", progress=False)
    change = summary["plateau"]["last_change"]
    assert change > 0  # seeded: the same value every time
    evaluate_run(run, "clean", device="cpu", progress=False)
    for pp, expected in ((100 * change / 2, False), (100 * change + 0.01, True)):
        out = tmp_path / f"rep-{expected}"
        result = CliRunner().invoke(cli, ["report", str(run), "--out", str(out), "--no-plots",
                                          "--plateau-tolerance", str(pp)])
        assert result.exit_code == 0, result.output
        record = json.loads((out / "results.json").read_text())["runs"][0]
        assert record["at_plateau"] is expected and record["plateau_tolerance"] == pytest.approx(pp / 100)
        md = (out / "report.md").read_text()
        assert ("had not reached their plateau" in md) is (not expected)
        assert f"rule: {pp:g} pp" in md
    bad = CliRunner().invoke(cli, ["report", str(run), "--out", str(tmp_path / "x"),
                                   "--plateau-tolerance", "0"])
    assert bad.exit_code != 0 and not (tmp_path / "x").exists()


def test_rejudging_leaves_runs_without_a_training_record_unknown():
    from robeval.stages.report.aggregate import rejudge_plateaus

    records = [{"at_plateau": True, "plateau_change": 0.008}, {"at_plateau": None, "plateau_change": None}]
    rejudge_plateaus(records, 0.005)
    assert [r["at_plateau"] for r in records] == [False, None]
