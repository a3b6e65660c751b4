"""One grid cell as one Slurm task, in the form submitit checkpoints.

submitit pickles a ``CellTask``, runs it on a node and, when Slurm signals a time limit or a
pre-emption (USR2, ``signal_delay_s`` before the end), calls ``checkpoint``: the same task is
requeued under the same job id. Nothing needs saving at that moment, because a cell's run folder
already holds the last finished epoch (state.pt, written atomically after every epoch); the
requeued task calls the same cell function, which resumes from there. Imported only when the
slurm launcher runs, so submitit stays an optional dependency.
"""

from __future__ import annotations

import os
import socket
import sys

from submitit.helpers import Checkpointable, DelayedSubmission

from robeval.stages.launchers.base import Cell


class CellTask(Checkpointable):
    """``cell.fn(device=..., **cell.kwargs)`` with this task's share of the CPU threads."""

    def __init__(self, cell: Cell, device: str) -> None:
        self.name = cell.name
        self.fn = cell.fn
        self.kwargs = cell.kwargs
        self.device = device

    def __call__(self) -> dict:
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0)
        if threads:  # torch would otherwise start one thread per core of the whole node
            import torch

            torch.set_num_threads(threads)
        env = os.environ
        job = (f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
               if "SLURM_ARRAY_JOB_ID" in env else env.get("SLURM_JOB_ID", "?"))
        print(f"robeval cell {self.name}: job {job} on "
              f"{socket.gethostname()}, device {self.device}, {threads or 'all'} CPU thread(s), "
              f"restart {os.environ.get('SLURM_RESTART_COUNT', '0')}", flush=True)
        return self.fn(device=self.device, **self.kwargs)

    def checkpoint(self) -> DelayedSubmission:
        """Requeue as is: the cell resumes from its run folder's last finished epoch."""
        print(f"robeval cell {self.name}: time limit or pre-emption; requeued, it resumes from "
              "its last finished epoch", file=sys.stderr, flush=True)
        return DelayedSubmission(self)
