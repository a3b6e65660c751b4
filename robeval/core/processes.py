"""Worker processes that cannot hang: a pool started with ``forkserver`` (``spawn`` where there is
none), never a bare ``fork`` of a process that already runs threads.

A forked child inherits every lock of its parent but only the thread that forked; a lock held at
that moment by another thread (OpenCV's, OpenMP's, a BLAS pool's, tqdm's) is never released in the
child, which then waits forever. That happened in the test suite: ``corrupt(..., workers=2)`` after
earlier tests had used OpenCV hung in a futex wait. Workers started from a fresh server process
pay an import (about a second) instead, and get their inputs pickled once through ``initargs``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


def start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def worker_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """``workers`` fresh processes; ``initializer(*initargs)`` runs once in each (shared inputs)."""
    ctx = multiprocessing.get_context(start_method())
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer,
                               initargs=initargs)
