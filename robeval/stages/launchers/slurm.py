"""The ``slurm`` launcher: every cell that still lacks results becomes one task of a Slurm job
array, submitted through submitit.

    robeval reproduce --dataset cifar10 --preset fast --launcher slurm --slurm-partition gpu

The run folders are the truth about results; OUT/slurm/jobs.json only remembers which job ran
which cell and how each attempt ended, so that a later identical command collects what finished,
resubmits only what is missing (never a cell whose job is still queued or running) and stops
resubmitting a cell that failed twice. Task states come from ``squeue`` and submitit's result
files, not ``sacct``, so a cluster without an accounting database works too. Logs:
OUT/slurm/<job>_<task>/.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from robeval.core.errors import RobevalError
from robeval.core.fileio import read_json, write_json
from robeval.core.progress import progress_bar
from robeval.stages.launchers.base import (
    LAUNCHERS,
    Batch,
    Cell,
    Launcher,
    LaunchOptions,
    Outcome,
    SlurmOptions,
)

LEDGER = "jobs.json"
INSTALL = 'pip install "robeval[cluster]"'
# squeue states of a job that may still write results; any other state (or none: the job has
# left the queue) means the task ended
ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
          "REQUEUE_FED", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED", "PREEMPTED"}
FAILED = ("failed", "lost")
# squeue can briefly not list a task while Slurm requeues it (a pre-empted array task between its
# requeue and its pending state): a task that is neither listed nor has a result is looked up
# once more after this many seconds before it is called lost
QUEUE_GRACE_S = 5.0


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise RobevalError(f"--launcher slurm needs submitit, which is not installed: {INSTALL}") from None
    return submitit


def _check(options: LaunchOptions, devices: list[str] | None) -> None:
    """Fail before any data is prepared: no submitit, no Slurm client, or local-only options."""
    _submitit()
    if devices:
        raise RobevalError("--devices deals cells to local worker processes; with --launcher slurm "
                           "each task gets its own GPUs: use --gpus-per-task")
    missing = [t for t in ("sbatch", "squeue") if shutil.which(t) is None]
    if missing:
        raise RobevalError(f"--launcher slurm: {' and '.join(missing)} not found on PATH; run on "
                           "a machine that can submit Slurm jobs (a login node)")


def active_jobs() -> dict[str, str]:
    """This user's queued and running tasks, one line per array task: job id -> state."""
    try:
        res = subprocess.run(["squeue", "--noheader", "--array", "--me", "--format", "%i|%T"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RobevalError(f"squeue did not answer ({exc}); is the Slurm controller up?") from None
    if res.returncode != 0:
        raise RobevalError(f"squeue failed: {res.stderr.strip() or res.stdout.strip()}")
    jobs = {}
    for line in res.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if state in ACTIVE:
            jobs[job_id] = state
    return jobs


def _ended(job: dict, submitit: Any) -> tuple[str, str, dict]:
    """How a task that left the queue ended: ("done" | "failed" | "lost", reason, timings)."""
    result = Path(job["result"])
    if not result.exists():
        return "lost", "the task ended without a result (cancelled, killed or its node failed)", {}
    try:
        status, value = submitit.core.utils.pickle_load(result)
    except Exception as exc:  # a truncated file: the task died while writing it
        return "lost", f"unreadable result file {result}: {exc}", {}
    if status == "success":
        return "done", "", value if isinstance(value, dict) else {}
    lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
    return "failed", lines[-1] if lines else "the task raised an error", {}


def _executor(folder: Path, opts: SlurmOptions, submitit: Any) -> Any:
    executor = submitit.SlurmExecutor(folder=folder / "%j")
    params: dict[str, Any] = {"job_name": "robeval", "time": opts.time,
                              "cpus_per_task": opts.cpus_per_task,
                              "array_parallelism": opts.array_parallelism}
    if opts.partition:
        params["partition"] = opts.partition
    if opts.gpus_per_task > 0:  # never ask for gres on a CPU-only request: sites without GPUs refuse it
        params["gpus_per_task"] = opts.gpus_per_task
    if opts.extra:
        params["additional_parameters"] = dict(opts.extra)
    executor.update_parameters(**params)
    return executor


def submit(cells: list[Cell], device: str, folder: Path, opts: SlurmOptions,
           submitit: Any) -> list[dict]:
    """One job array, one task per cell; returns each task's ledger entry."""
    from robeval.stages.launchers.task import CellTask  # imports submitit

    executor = _executor(folder, opts, submitit)
    try:
        jobs = executor.submit_array([CellTask(cell, device) for cell in cells])
    except Exception as exc:  # sbatch refused: bad partition, time, option...
        msg = str(exc).strip().splitlines()
        why = msg[-1] if msg else str(exc)
        hint = ("; if the cluster (or partition) has no GPUs, pass --gpus-per-task 0"
                if opts.gpus_per_task > 0 and any(w in why.lower() for w in ("gres", "gpu", "tres"))
                else "")
        raise RobevalError(f"sbatch refused the job array: {why}{hint}") from None
    return [{"id": job.job_id, "log": str(job.paths.stderr), "out": str(job.paths.stdout),
             "result": str(job.paths.result_pickle), "end": None, "submitted": time.time()}
            for job in jobs]


def _load(path: Path) -> dict[str, list[dict]]:
    if not path.exists():
        return {}
    try:
        return read_json(path)
    except ValueError as exc:
        raise RobevalError(f"{path} is not valid JSON ({exc}); delete it to start the Slurm "
                           "bookkeeping afresh (finished run folders are kept)") from None


class _Poll:
    """One look at every cell: which are done, running, failed for good, or to be submitted."""

    def __init__(self, batch: Batch, ledger: dict[str, list[dict]], submitit: Any,
                 outcome: Outcome) -> None:
        active = active_jobs()
        unlisted = [jobs[-1] for jobs in ledger.values() if jobs and jobs[-1]["end"] is None
                    and jobs[-1]["id"] not in active and not Path(jobs[-1]["result"]).exists()]
        if unlisted:
            time.sleep(QUEUE_GRACE_S)
            active = active_jobs()
        max_failures = batch.options.slurm.max_failures
        self.done, self.running, self.todo, self.failed = 0, 0, [], {}
        for cell in batch.cells:
            jobs = ledger.setdefault(cell.name, [])
            last = jobs[-1] if jobs else None
            if last and last["end"] is None:
                if last["id"] in active:
                    self.running += 1
                    continue
                last["end"], last["reason"], timings = _ended(last, submitit)
                outcome.add(timings)
            if cell.is_done():
                self.done += 1
                continue
            if last and last["end"] == "done":  # it ran, yet results are missing (deleted?)
                last["end"], last["reason"] = "failed", "finished, but the run folder lacks results"
            if sum(j["end"] in FAILED and not j.get("forgiven") for j in jobs) >= max_failures:
                self.failed[cell.name] = last["log"] if last else ""
            else:
                self.todo.append(cell)


def run_slurm(batch: Batch) -> Outcome:
    """Submit what is missing; with ``wait``, poll until no task is queued or running."""
    submitit = _submitit()
    opts = batch.options.slurm
    folder = batch.out.resolve() / "slurm"
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    ledger = _load(folder / LEDGER)
    if batch.options.retry_failed:
        for jobs in ledger.values():
            for job in jobs:
                if job["end"] in FAILED:
                    job["forgiven"] = True
    outcome = Outcome(workers=len(batch.cells))
    bar = progress_bar(total=len(batch.cells), desc=f"{batch.desc} (slurm)", disable=not batch.progress)
    t0 = time.time()
    try:
        while True:
            poll = _Poll(batch, ledger, submitit, outcome)
            if poll.todo:
                try:
                    entries = submit(poll.todo, batch.device, folder, opts, submitit)
                except RobevalError:
                    if made and not any(ledger.values()):  # refused at the first submission:
                        shutil.rmtree(folder, ignore_errors=True)  # nothing of it is left
                    raise
                for cell, entry in zip(poll.todo, entries, strict=True):
                    ledger[cell.name].append(entry)
                outcome.submitted += len(poll.todo)
                poll.running += len(poll.todo)
            write_json(folder / LEDGER, ledger)
            bar.n = poll.done
            bar.set_postfix_str(f"{poll.running} queued or running, {len(poll.failed)} failed")
            if not poll.running or not batch.options.wait:
                break
            time.sleep(min(30.0, opts.poll_s + (time.time() - t0) / 20))
    finally:
        bar.close()
    outcome.failed, outcome.waiting = poll.failed, poll.running
    return outcome


LAUNCHERS.add(Launcher(
    name="slurm", summary="one task of a Slurm job array per cell, through submitit "
                          f"({INSTALL})",
    run=run_slurm, check=_check, remote=True))
