"""The ``local`` launcher: cells run on this machine, in order in this process, or dealt
round-robin to one worker process per device slot (``reproduce --devices``, ``--workers``)."""

from __future__ import annotations

from robeval.core.errors import RobevalError
from robeval.core.progress import progress_bar
from robeval.stages.launchers.base import LAUNCHERS, Batch, Launcher, LaunchOptions, Outcome


def _exit_with_parent(parent: int) -> None:
    """A worker ends when the study process does, even after ``kill -9`` of it: the kernel sends
    SIGTERM on the parent's death (Linux prctl), and a watcher thread covers other systems.
    The cell it was running resumes from its last epoch on the next ``reproduce``."""
    import os
    import signal
    import threading
    import time

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="robeval-parent-watch", daemon=True).start()


def _init_worker(threads: int | None, parent: int) -> None:
    """A worker process: a share of the CPU threads, so parallel cells do not oversubscribe."""
    _exit_with_parent(parent)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _stop_workers(pools) -> None:
    """Ctrl-C or an error in one cell: stop the other workers now rather than after their cell."""
    for pool in pools:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()


def run_local(batch: Batch) -> Outcome:
    """Run every cell; a cell's results do not depend on which worker ran it."""
    cells, slots = batch.cells, batch.slots
    outcome = Outcome(workers=len(slots))
    bar = progress_bar(total=len(cells), desc=batch.desc, disable=not batch.progress)
    if len(slots) > 1:
        import multiprocessing as mp
        import os
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // len(slots)) if all(d == "cpu" for d in slots) else None
        pools = [ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker,
                                     initargs=(threads, os.getpid())) for _ in slots]
        futures = {pools[i % len(slots)].submit(cell.fn, device=slots[i % len(slots)], **cell.kwargs):
                   cell.name for i, cell in enumerate(cells)}
        try:
            for fut in as_completed(futures):
                outcome.add(fut.result())
                bar.set_postfix_str(futures[fut])
                bar.update()
        except BaseException:
            _stop_workers(pools)
            raise
        finally:
            for pool in pools:
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


LAUNCHERS.add("local", Launcher(
    name="local", summary="this machine: in process, or one worker process per --devices entry",
    run=run_local, check=_check, remote=False))
