"""The local launcher's worker processes end with the study process: after ``kill -9`` of it
(they would otherwise train on, unseen) and at once on Ctrl-C (not after their current cell)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from robeval.stages.launchers.base import Batch, Cell, LaunchOptions
    from robeval.stages.launchers.local import run_local
    from sleeper import nap

    if __name__ == "__main__":
        cells = [Cell(name=f"c{i}", fn=nap, kwargs={"seconds": 120}, is_done=lambda: False)
                 for i in range(4)]
        run_local(Batch(cells=cells, out=Path(sys.argv[1]), desc="t", options=LaunchOptions(),
                        slots=["cpu", "cpu"], device="cpu", progress=False))
""")


def _start(tmp_path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    (tmp_path / "sleeper.py").write_text(
        "import time\n\ndef nap(device, seconds):\n    time.sleep(seconds)\n    return {}\n")
    (tmp_path / "driver.py").write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(tmp_path)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # the two pool workers (spawn also starts a resource tracker: it is not a worker)
        workers = [c for c in psutil.Process(proc.pid).children()
                   if "resource_tracker" not in " ".join(c.cmdline())]
        if len(workers) == 2:
            time.sleep(2.0)  # let them reach the cell
            return proc, workers
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the launcher did not start its 2 workers within 60 s")


def _gone_within(workers: list[psutil.Process], seconds: float) -> bool:
    _, alive = psutil.wait_procs(workers, timeout=seconds)
    for p in alive:
        p.kill()
    return not alive


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_workers_end_with_the_study_process(tmp_path, sig):
    proc, workers = _start(tmp_path)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert _gone_within(workers, 10.0), f"workers still running 10 s after {sig.name}"
