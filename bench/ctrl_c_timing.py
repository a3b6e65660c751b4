"""Ctrl-C of ``robeval reproduce`` with two workers on a loaded CPU: seconds from SIGINT to the
study's exit, and whether anything half-written (a ``.*.incoming`` staging folder, a ``.*.tmp``
file) was left behind. tests/test_launcher_local.py sets its limits from the launcher's bound and
cites what this prints.

    PYTHONPATH=. python bench/ctrl_c_timing.py [--trials 3] [--load 2] [--out bench/ctrl_c.json]

Each trial starts a small study (``shapes``, 2 seeds, 2 epochs, clean only), waits until a cell
has begun training (its metrics.jsonl or state.pt exists) plus a delay that differs per trial, so
the signal lands in training, between cells or in evaluation, and sends SIGINT to the study
process alone (as ``kill -INT``; a terminal's Ctrl-C also reaches the workers directly). ``--load``
busy-looping processes run beside it the whole time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _spin() -> None:
    while True:
        pass


def trial(delay: float, root: Path) -> dict:
    out = root / f"study-{delay:g}"
    cmd = [sys.executable, "-m", "robeval", "reproduce", "--seeds", "2", "--epochs", "2",
           "--max-train", "600", "--conditions", "clean", "--workers", "2", "--quiet",
           "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "ROBEVAL_DATA": str(root / "data")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if any(out.glob("runs/*/metrics.jsonl")) or any(out.glob("runs/*/state.pt")):
            break
        time.sleep(0.1)
    time.sleep(delay)
    if proc.poll() is not None:
        return {"delay_s": delay, "note": "the study ended before the signal", "rc": proc.returncode}
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    seconds = time.monotonic() - t0
    left = [str(p.relative_to(out)) for p in out.rglob(".*") if p.name.endswith((".incoming", ".tmp"))]
    return {"delay_s": delay, "exit_s": round(seconds, 2), "rc": proc.returncode, "left_behind": left,
            "last_line": (output.strip().splitlines() or [""])[-1][:160]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--load", type=int, default=2, help="busy-looping processes beside the study")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    spinners = [mp.Process(target=_spin, daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    root = Path(tempfile.mkdtemp(prefix="robeval-ctrl-c-"))
    try:
        rows = [trial(delay, root) for delay in [0.5, 4.0, 9.0][: args.trials]]
    finally:
        for p in spinners:
            p.terminate()
        shutil.rmtree(root, ignore_errors=True)
    result = {"cpus": os.cpu_count(), "load_processes": args.load,
              "loadavg_1min": round(os.getloadavg()[0], 2), "trials": rows}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
