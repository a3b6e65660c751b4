"""--quiet silences every bar (in this process and in workers it starts); every run records
whether it reached its plateau, and the report marks the runs that had not."""

from __future__ import annotations

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
    loud = subprocess.run(args, capture_output=True, text=True)
    quiet = subprocess.run([*args, "--quiet"], capture_output=True, text=True)
    assert loud.returncode == 0 and quiet.returncode == 0, quiet.stderr
    assert "it/s" in loud.stderr or "%|" in loud.stderr  # the corruption's progress bar
    assert "%|" not in quiet.stderr and "it/s" not in quiet.stderr


@pytest.mark.parametrize("vals,expected", [([0.5, 0.9, 0.905], True), ([0.5, 0.8, 0.9], False),
                                           ([0.9], False), ([0.7, 0.705], True)])
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
