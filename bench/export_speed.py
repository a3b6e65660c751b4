"""Benchmark: `robeval export` rows/s, peak memory and file size, CSV and Parquet, on a run-size case.

    PYTHONPATH=. python bench/export_speed.py                  # 16 conditions x 10,000 images, d = 512
    PYTHONPATH=. python bench/export_speed.py --conditions 4 --images 2000   # a smoke run

The case: a real tiny shapes run (1 epoch on 128 images; it provides a valid run folder), whose
eval outputs are replaced by synthetic ones of a CIFAR-10 study's size: clean + 3 corruptions x 5
severities = 16 conditions of 10,000 test images, 10 classes, 512-d features (resnet18) and a
512-d head. Each format is exported in a fresh child process, so its peak memory is the export's
own: its peak RSS (VmHWM) after the imports and at the end (after the timed export), and
tracemalloc's peak of Python + numpy allocations during a second, untimed export (tracemalloc
slows every allocation). The timed export excludes the imports (reported as import_s).
Figures are printed and written as JSON to bench/results/export-<time>.json. Never a pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robeval.core.environment import environment  # noqa: E402
from robeval.core.fileio import write_json, write_npz  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CHILD = """
import json, sys, time, tracemalloc


def hwm_mb():  # this process's peak RSS (VmHWM; ru_maxrss would carry the parent's over exec)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


t = time.perf_counter()
from robeval.stages.export import export
if sys.argv[3] == "parquet":
    import pyarrow.parquet
import_s = time.perf_counter() - t
before = hwm_mb()
run, out, fmt = sys.argv[1:4]
t0 = time.perf_counter()
res = export([run], out, fmt)  # timed without tracemalloc, which slows every allocation
seconds = time.perf_counter() - t0
after = hwm_mb()
tracemalloc.start()
export([run], out, fmt, overwrite=True)  # the same again, for the memory peak
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"rows": res["rows"], "seconds": seconds, "import_s": import_s,
                  "rss_peak_after_imports_mb": before, "tracemalloc_peak_mb": peak / 2**20,
                  "rss_peak_mb": after}))
"""


def make_case(root: Path, n_conditions: int, n_images: int, dim: int, classes: int) -> Path:
    """A real run folder whose eval outputs are synthetic, of the given size."""
    from robeval import runs
    from robeval.runs.outputs import HEAD_FILE, write_condition, write_eval_json
    from robeval.stages.train import train
    from robeval.training.config import TrainConfig

    run = root / "run"
    train(TrainConfig(dataset="shapes", arch="tinycnn", epochs=1, max_train=128, batch_size=32,
                      preset="quick"), run, progress=False)
    g = np.random.default_rng(0)
    weight = g.normal(size=(classes, dim)).astype(np.float32)
    write_npz(run / runs.EVAL_DIR / HEAD_FILE, weight=weight, bias=np.zeros(classes, np.float32),
              scale=np.float32(1.0), logits=np.array("dot"), train=np.array("fixed"),
              nonnegative_features=np.array(True), classes=np.array([f"c{i}" for i in range(classes)]))
    names = ["clean"] + [f"{fam}/{s}" for fam in ("impulse_noise", "defocus_blur", "jpeg_compression")
                         for s in range(1, 6)]
    conditions = {}
    for name in names[:n_conditions]:
        feats = np.abs(g.normal(size=(n_images, dim))).astype(np.float32)
        logits = feats @ weight.T
        labels = g.integers(0, classes, n_images)
        rel = write_condition(run, name, {"labels": labels, "predictions": logits.argmax(1),
                                          "logits": logits, "index": np.arange(n_images),
                                          "features": feats})
        kind = "clean" if name == "clean" else "corruption"
        conditions[name] = {"accuracy": float((logits.argmax(1) == labels).mean()), "n": n_images,
                            "kind": kind, "family": name.split("/")[0] if kind == "corruption" else None,
                            "severity": int(name.split("/")[1]) if kind == "corruption" else None,
                            "file": rel}
    write_eval_json(run, {"run": str(run), "conditions": conditions})
    return run


def measure(run: Path, out: Path, fmt: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", CHILD, str(run), str(out), fmt], env=env,
                         capture_output=True, text=True, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    r.update(format=fmt, rows_per_s=r["rows"] / r["seconds"], file_mb=out.stat().st_size / 2**20)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conditions", type=int, default=16)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="robeval-export-bench-") as tmp:
        run = make_case(Path(tmp), args.conditions, args.images, args.dim, args.classes)
        npz_mb = sum(f.stat().st_size for f in (run / "eval").glob("*.npz")) / 2**20
        results = [measure(run, Path(tmp) / f"out.{fmt}", fmt) for fmt in ("csv", "parquet")]
    for r in results:
        print(f"{r['format']:>8}: {r['rows']} rows in {r['seconds']:.2f} s = {r['rows_per_s']:,.0f} rows/s; "
              f"peak {r['tracemalloc_peak_mb']:.0f} MiB traced, RSS {r['rss_peak_after_imports_mb']:.0f} -> "
              f"{r['rss_peak_mb']:.0f} MiB; "
              f"file {r['file_mb']:.1f} MiB (eval npz: {npz_mb:.0f} MiB)")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"export-{stamp}.json"
    write_json(path, {"case": vars(args) | {"eval_npz_mb": npz_mb}, "results": results,
                      "environment": environment("cpu")})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
