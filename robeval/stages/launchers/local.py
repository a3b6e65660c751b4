"""The ``local`` launcher: cells run on this machine, in order in this process, or dealt
round-robin to one worker process per device slot (``reproduce --devices``, ``--workers``)."""

from __future__ import annotations

import os
import signal
import time

from robeval.core.errors import RobevalError
from robeval.core.progress import progress_bar
from robeval.stages.launchers.base import LAUNCHERS, Batch, Launcher, LaunchOptions, Outcome


def _exit_with_parent(parent: int) -> None:
    """A worker ends when the study process does, even after ``kill -9`` of it: the kernel sends
    SIGTERM on the parent's death (Linux prctl), and a watcher thread covers other systems.
    The cell it was running resumes from its last epoch on the next ``reproduce``."""
    import threading

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # the cell unwinds (see _interrupted), then ends
        time.sleep(GRACE_S)
        os._exit(1)

    threading.Thread(target=watch, name="robeval-parent-watch", daemon=True).start()


# Seconds a worker gets, after Ctrl-C, to unwind its cell (temporary files and staging folders
# removed by their ``finally``) before it is killed. Measured (bench/ctrl_c_timing.py) on the
# project's 2-core machine at load average 11 (two busy loops beside the study and other jobs):
# the whole study, workers included, ended 6.2-8.1 s after SIGINT with nothing left behind;
# unloaded 1.6-2.0 s. A study therefore ends within GRACE_S + 5 s plus its own exit.
GRACE_S = 10.0
_in_cell = False  # a worker: True while it runs a cell (an interrupt then unwinds the cell)
_stopping = False  # a worker: interrupted once already (a terminal's Ctrl-C reaches it directly,
# then the study's SIGINT follows): later signals must not cut its cleanup short


def _end_worker(code: int) -> None:
    """End this worker now, running multiprocessing's own exit first (what a worker's normal exit
    runs): its semaphores are released, so no "leaked semaphore" warning follows Ctrl-C."""
    from multiprocessing import util

    util._exit_function()
    os._exit(code)


def _interrupted(signum, frame) -> None:
    """SIGINT or SIGTERM in a worker: inside a cell, unwind it (its ``finally`` blocks clean up)
    and end; between cells there is nothing to clean: end at once, without a traceback. Only the
    first signal counts: a second one would interrupt the cleanup itself."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    if _in_cell:
        raise KeyboardInterrupt
    _end_worker(130)


def _init_worker(threads: int | None, parent: int) -> None:
    """A worker process: a share of the CPU threads, so parallel cells do not oversubscribe;
    Ctrl-C, SIGTERM and the study's death end it after its cell has cleaned up."""
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    _exit_with_parent(parent)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _run_in_worker(fn, **kwargs) -> dict:
    """One cell in a worker; an interrupt ends the worker process once the cell has unwound."""
    global _in_cell
    _in_cell = True
    try:
        return fn(**kwargs)
    except KeyboardInterrupt:
        _end_worker(130)
    finally:
        _in_cell = False


def _stop_workers(pools, grace_s: float = GRACE_S) -> None:
    """Ctrl-C or an error in one cell: stop the other workers now rather than after their cell.
    Each is interrupted (so it removes its temporary files), given ``grace_s`` to end, then
    killed."""
    procs = [p for pool in pools for p in list((getattr(pool, "_processes", None) or {}).values())]
    for proc in procs:
        if proc.pid is not None:
            try:
                os.kill(proc.pid, signal.SIGINT)
            except OSError:  # it has ended already
                pass
    deadline = time.monotonic() + grace_s
    for proc in procs:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
    for proc in [p for p in procs if p.is_alive()]:  # stuck: no more waiting
        proc.kill()
        proc.join(timeout=5.0)


def run_local(batch: Batch) -> Outcome:
    """Run every cell; a cell's results do not depend on which worker ran it."""
    cells, slots = batch.cells, batch.slots
    outcome = Outcome(workers=len(slots))
    bar = progress_bar(total=len(cells), desc=batch.desc, disable=not batch.progress)
    if len(slots) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // len(slots)) if all(d == "cpu" for d in slots) else None
        pools = [ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker,
                                     initargs=(threads, os.getpid())) for _ in slots]
        futures = {pools[i % len(slots)].submit(_run_in_worker, cell.fn, device=slots[i % len(slots)],
                                                **cell.kwargs): cell.name for i, cell in enumerate(cells)}
        try:
            for fut in as_completed(futures):
                outcome.add(fut.result())
                bar.set_postfix_str(futures[fut])
                bar.update()
        except BaseException:
            _stop_workers(pools)
            raise
        finally:
            for pool in pools:  # quick once the workers have ended
                pool.shutdown(cancel_futures=True)
    else:
        for cell in cells:
            bar.set_postfix_str(cell.name)
            outcome.add(cell.run(slots[0]))
            bar.update()
    bar.close()
    return outcome


def _check(options: LaunchOptions, devices: list[str] | None) -> None:
    if not options.wait:
        raise RobevalError("--no-wait needs --launcher slurm: a local study runs in this process")
    if options.retry_failed:
        raise RobevalError("--retry-failed needs --launcher slurm: a local cell that fails stops "
                           "the study with its error")


LAUNCHERS.add(Launcher(
    name="local", summary="this machine: in process, or one worker process per --devices entry",
    run=run_local, check=_check, remote=False))
