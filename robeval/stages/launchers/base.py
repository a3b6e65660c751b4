"""The cell interface every launcher implements, and the LAUNCHERS registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robeval.core.registry import Registry


@dataclass(frozen=True)
class Cell:
    """One grid cell: ``fn(device=..., **kwargs)`` trains/evaluates it and returns its timings.

    ``fn`` must be a module-level function (it is pickled to worker processes and Slurm tasks);
    ``is_done`` is only called where the launcher runs, so it may be any callable.
    """

    name: str  # the run folder's name: unique within a grid
    fn: Callable[..., dict]
    kwargs: dict[str, Any]
    is_done: Callable[[], bool]

    def run(self, device: str) -> dict:
        return self.fn(device=device, **self.kwargs)


@dataclass(frozen=True)
class SlurmOptions:
    """What each Slurm task asks for; ``extra`` becomes ``#SBATCH --KEY=VALUE`` lines."""

    partition: str | None = None
    time: int = 240  # minutes per task (submitit's unit)
    gpus_per_task: int = 1
    cpus_per_task: int = 4
    array_parallelism: int = 64
    extra: dict[str, str] = field(default_factory=dict)
    max_failures: int = 2  # a cell that failed this many times is reported, not resubmitted
    poll_s: float = 2.0  # first wait between squeue calls; it grows to 30 s


@dataclass(frozen=True)
class LaunchOptions:
    """How ``reproduce`` runs its cells: which launcher, and that launcher's settings."""

    launcher: str = "local"
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    wait: bool = True  # slurm: False returns once every missing cell is submitted
    retry_failed: bool = False  # slurm: give cells that failed twice two more attempts


@dataclass
class Batch:
    """The cells of one phase (an LR sweep, or the study itself) and where they may run."""

    cells: list[Cell]
    out: Path  # the study folder: slurm logs and state go under out/slurm/
    desc: str
    options: LaunchOptions
    slots: list[str]  # local: one worker process per entry (one entry: in this process)
    device: str  # slurm: the device each task picks ("auto": its GPU when it has one)
    progress: bool = True


@dataclass
class Outcome:
    """What a launcher reports back: timings summed over cells, and what did not finish."""

    train_s: float = 0.0
    eval_s: float = 0.0
    workers: int = 1
    failed: dict[str, str] = field(default_factory=dict)  # cell name -> its log file
    waiting: int = 0  # cells queued or running when the launcher returned (--no-wait)
    submitted: int = 0

    def add(self, timings: dict) -> None:
        self.train_s += float(timings.get("train_s", 0.0))
        self.eval_s += float(timings.get("eval_s", 0.0))


@dataclass(frozen=True)
class Launcher:
    """A way to run cells. ``check`` fails early (before data is prepared or anything trains)."""

    name: str
    summary: str
    run: Callable[[Batch], Outcome]
    check: Callable[[LaunchOptions, list[str] | None], None]
    remote: bool  # cells run in other processes side by side: build the data caches first


LAUNCHERS: Registry[Launcher] = Registry("launcher")
