"""`reproduce --launcher slurm` against a real Slurm: Debian's slurm-wlm and munge as one node on
127.0.0.1 (tests/slurm/start.sh, started by .ci/run, or here when run as root). Where there is no
Slurm these tests skip and say why; the option checks at the bottom run everywhere.

The grid is 2 heads x 2 seeds on `shapes` (400 images, 2 epochs). One task is frozen after its
first epoch and killed with scancel, another gets the pre-emption signal (USR2, what Slurm sends
before a time limit or a pre-emption); re-running the same command finishes the grid, and its
accuracies and checkpoints equal a `--launcher local` run of the same grid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from robeval import runs
from robeval.cli import cli
from robeval.cli.cluster import INCOMPLETE_EXIT

START = Path(__file__).parent / "slurm" / "start.sh"
GRID = ["reproduce", "--seeds", "2", "--epochs", "2", "--max-train", "400", "--arch", "smallcnn",
        "--conditions", "clean", "--quiet", "--heads", "learned-dot,fixed-cosine"]  # 2 of the 4 heads
SLURM = ["--launcher", "slurm", "--gpus-per-task", "0", "--cpus-per-task", "1",
         "--slurm-time", "10"]


def _idle() -> bool:
    try:
        res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s in res.stdout for s in ("idle", "mixed", "allocated"))


def _why_no_slurm() -> str | None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        return 'submitit is not installed: pip install "robeval[cluster]"'
    if shutil.which("sbatch") is None or shutil.which("slurmctld") is None:
        return "no Slurm on this machine: apt-get install slurm-wlm munge, then tests/slurm/start.sh"
    if not _idle() and os.geteuid() == 0:
        res = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=120)
        if res.returncode:
            return f"tests/slurm/start.sh failed: {(res.stderr or res.stdout).strip()[-300:]}"
    return None if _idle() else "Slurm is installed but not running (run tests/slurm/start.sh as root)"


@pytest.fixture(scope="module")
def slurm():
    reason = _why_no_slurm()
    if reason:
        pytest.skip(reason)


def _run(args: list[str], exit_code: int = 0) -> str:
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == exit_code, res.output
    return res.output


def _scancel(*args: str) -> None:
    subprocess.run(["scancel", *args], check=True, timeout=30)


def _ledger(out: Path) -> dict:
    return json.loads((out / "slurm" / "jobs.json").read_text())


def _catch_after_first_epoch(out: Path, skip: set[str], timeout: float = 120) -> tuple[str, str]:
    """Freeze (SIGSTOP) a task between its first and its last epoch: (cell, job id). An epoch
    here takes about a second, so the task is held still while the test acts on it."""
    ledger, t0 = _ledger(out), time.time()
    while time.time() - t0 < timeout:
        for name, jobs in ledger.items():
            run = out / "runs" / name
            if name in skip or not (run / runs.STATE).exists() or (run / runs.SUMMARY).exists():
                continue
            job = jobs[-1]["id"]
            _scancel("--signal=STOP", job)
            if (run / runs.STATE).exists() and not (run / runs.SUMMARY).exists():
                return name, job
            _scancel("--signal=CONT", job)  # too late: it had finished; try another
        time.sleep(0.02)
    raise AssertionError(f"no task of {sorted(ledger)} was caught between its epochs")


def _start_requeued_now(job: str, timeout: float = 60) -> None:
    """Slurm holds a requeued job back (BeginTime a minute or two ahead); here it starts within
    seconds. Not in the same second as its requeue: slurmd refuses a job whose credential is no
    newer than the one it revoked when it killed the old run ("Job credential revoked", to the
    second), and the task then ends without a result (seen on a loaded machine)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        res = subprocess.run(["squeue", "-h", "-r", "-j", job.split("_")[0], "-o", "%i|%T|%r"],
                             capture_output=True, text=True, timeout=30)
        if any(line.startswith(f"{job}|PENDING") for line in res.stdout.splitlines()):
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now+2"], check=True,
                           timeout=30)
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job} was not requeued after USR2")


def _first_epoch(out: Path, name: str) -> dict:
    return json.loads((out / "runs" / name / runs.METRICS).read_text().splitlines()[0])


def _same_models(a: Path, b: Path) -> None:
    names = sorted(p.name for p in (a / "runs").iterdir())
    assert names == sorted(p.name for p in (b / "runs").iterdir()) and len(names) == 4
    for name in names:
        for f in (runs.BEST, runs.LAST):
            x = torch.load(a / "runs" / name / f, weights_only=True)["model"]
            y = torch.load(b / "runs" / name / f, weights_only=True)["model"]
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), (name, f)


@pytest.mark.slow
def test_grid_on_slurm_survives_scancel_and_preemption_and_equals_local(
        slurm, data_dir, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    _run([*GRID, "--out", str(local)])

    out = _run([*GRID, "--out", str(remote), *SLURM, "--no-wait"])
    assert "submitted 4 task(s)" in out and "Re-run the same command" in out
    assert not (remote / "report").exists()

    killed, kill_job = _catch_after_first_epoch(remote, skip=set())
    killed_epoch1 = _first_epoch(remote, killed)
    # killed where it stands: a plain scancel sends SIGTERM (which submitit ignores) and SIGKILL
    # only after KillWait, by when this one-second epoch has ended; SIGQUIT ends it at once
    _scancel("--signal=QUIT", kill_job)
    _scancel("--signal=CONT", kill_job)
    subprocess.run(["scancel", kill_job], timeout=30)  # and the job itself, if it is still there

    preempted, pre_job = _catch_after_first_epoch(remote, skip={killed})
    preempted_epoch1 = _first_epoch(remote, preempted)
    _scancel("--signal=USR2", pre_job)  # what Slurm sends before a time limit or pre-emption
    _scancel("--signal=CONT", pre_job)
    _start_requeued_now(pre_job)

    out = _run([*GRID, "--out", str(remote), *SLURM])  # the same command: collects, resubmits
    assert "INCOMPLETE" not in out and "report:" in out
    ledger = _ledger(remote)
    assert [j["end"] for j in ledger[killed]] == ["lost", "done"]  # resubmitted once
    assert [j["end"] for j in ledger[preempted]] == ["done"]  # requeued under the same job id
    assert "restart 1" in Path(ledger[preempted][0]["out"]).read_text()
    # both resumed after their first epoch instead of training it again (time_s would differ)
    assert _first_epoch(remote, killed) == killed_epoch1
    assert _first_epoch(remote, preempted) == preempted_epoch1
    assert all(len(jobs) == 1 for n, jobs in ledger.items() if n not in (killed, preempted))

    assert (remote / "report" / "results.csv").read_text() == (local / "report" / "results.csv").read_text()
    _same_models(local, remote)
    assert not (remote / "incomplete.json").exists()


@pytest.mark.slow
def test_cell_failing_twice_is_reported_and_the_rest_reported(slurm, data_dir, tmp_path):
    out = tmp_path / "study"
    grid = [a if a != "2" or i != 2 else "1" for i, a in enumerate(GRID)]  # one seed
    blocked = out / "runs" / "shapes-smallcnn-fixed-cosine-S1-seed0"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a run folder")  # its task fails: the run folder cannot be created

    text = _run([*grid, "--out", str(out), *SLURM], exit_code=INCOMPLETE_EXIT)  # report written
    assert "INCOMPLETE: 1 cell(s) failed twice" in text and blocked.name in text
    jobs = _ledger(out)[blocked.name]
    assert [j["end"] for j in jobs] == ["failed", "failed"] and "is not a folder" in jobs[-1]["reason"]
    listed = json.loads((out / "incomplete.json").read_text())["cells"]
    assert listed == [{"run": blocked.name, "log": jobs[-1]["log"]}]
    assert "is not a folder" in Path(jobs[-1]["log"]).read_text()
    report = json.loads((out / "report" / "results.json").read_text())
    assert {r["variant"] for r in report["rows"]} == {"learned-dot"}
    assert report["incomplete"] == {blocked.name: jobs[-1]["log"]}  # the report says it is incomplete
    assert "Incomplete: 1 grid cell(s) failed twice" in (out / "report" / "report.md").read_text()

    # a re-run does not resubmit it; --retry-failed does, once the cause is gone
    text = _run([*grid, "--out", str(out), *SLURM], exit_code=INCOMPLETE_EXIT)
    assert len(_ledger(out)[blocked.name]) == 2 and "INCOMPLETE" in text
    assert len(_ledger(out)["shapes-smallcnn-learned-dot-seed0"]) == 1  # done cells: never again
    blocked.unlink()
    text = _run([*grid, "--out", str(out), *SLURM, "--retry-failed"])
    assert "INCOMPLETE" not in text and not (out / "incomplete.json").exists()
    assert "Incomplete:" not in (out / "report" / "report.md").read_text()
    assert [j["end"] for j in _ledger(out)[blocked.name]] == ["failed", "failed", "done"]


def test_slurm_without_submitit_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    res = CliRunner().invoke(cli, ["reproduce", "--launcher", "slurm", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and 'pip install "robeval[cluster]"' in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize("args,message", [
    (["--gpus-per-task", "0"], "--gpus-per-task: only with --launcher slurm"),
    (["--no-wait"], "--no-wait: only with --launcher slurm"),
    (["--launcher", "slurm", "--slurm-time", "1h"], "give minutes (90) or [D-]HH:MM:SS"),
    (["--launcher", "slurm", "--slurm-option", "account"], "give KEY=VALUE"),
    (["--launcher", "pbs"], "choose one of: local, slurm"),
])
def test_launcher_options_are_checked_before_anything_runs(args, message, tmp_path):
    res = CliRunner().invoke(cli, ["reproduce", *args, "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and message in res.output and not (tmp_path / "x").exists()


def _fake_slurm(tmp_path: Path, monkeypatch, refusal: str) -> Path:
    """sbatch that keeps the script it was given and refuses it as a CPU-only Slurm does; squeue
    and srun that answer (the real ones run in the tests above where Slurm is installed)."""
    bin_dir, kept = tmp_path / "bin", tmp_path / "sbatch-script"
    bin_dir.mkdir()
    scripts = {"sbatch": f'#!/bin/sh\nfor a; do [ -f "$a" ] && cp "$a" {kept}; done\n'
                         f'echo "sbatch: error: {refusal}" >&2\nexit 1\n',
               "squeue": "#!/bin/sh\nexit 0\n", "srun": "#!/bin/sh\nexit 0\n"}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return kept


def test_cpu_only_slurm_refusal_says_the_fix_and_leaves_nothing(monkeypatch, tmp_path, data_dir):
    pytest.importorskip("submitit")
    kept = _fake_slurm(tmp_path, monkeypatch, "Invalid generic resource (gres) specification")
    out = tmp_path / "study"
    res = CliRunner().invoke(cli, [*GRID[:1], "--seeds", "1", "--epochs", "1", "--max-train", "64",
                                   "--conditions", "clean", "--quiet", "--launcher", "slurm",
                                   "--slurm-time", "0", "--out", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "gres" in res.output and "pass --gpus-per-task 0" in res.output
    assert not out.exists()  # neither OUT/slurm nor OUT
    assert "#SBATCH --time=0" in kept.read_text()  # 0 is Slurm's "no limit", not one minute


def test_slurm_time_forms_in_minutes():
    from robeval.cli.cluster import minutes

    assert [minutes(t) for t in ("0", "00:00", "0-0", "90", "1:30", "01:00:00", "1-0", "0:0:1")] == \
        [0, 0, 0, 90, 2, 60, 1440, 1]
