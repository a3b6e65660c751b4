"""Part of layer 4 (stages): where grid cells run.

``reproduce`` hands a ``Batch`` of cells to a ``Launcher`` record from ``LAUNCHERS``: ``local``
(this machine: in process, or one worker process per device) or ``slurm`` (one task of a Slurm
job array per cell, through submitit). A launcher knows nothing about training: a cell is a
picklable function with its arguments and a predicate that says whether its results exist, so
the same cell gives the same run folder wherever it ran.
"""

from __future__ import annotations

from robeval.stages.launchers import local, slurm  # noqa: F401  (registers the launchers)
from robeval.stages.launchers.base import (
    LAUNCHERS,
    Batch,
    Cell,
    Launcher,
    LaunchOptions,
    Outcome,
    SlurmOptions,
)

__all__ = ["LAUNCHERS", "Batch", "Cell", "LaunchOptions", "Launcher", "Outcome", "SlurmOptions"]
