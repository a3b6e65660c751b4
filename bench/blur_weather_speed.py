"""Benchmark: images/s of the blur and weather families, reference and fast, at 32 px (cifar
table) and 224 px (imagenet table), on CPU.

    PYTHONPATH=. python bench/blur_weather_speed.py            # writes bench/results/blur-weather-<time>.json
    PYTHONPATH=. python bench/blur_weather_speed.py --quick    # fewer images

Two figures per family and size: one thread (``reference``: the family's function per image with
its per-image generator, as core.apply_chunk runs it; ``fast``: one batched call), and end to end
through ``robeval.corruptions.corrupt`` at 32 px (fast backend where the family has one, else the
reference with 2 worker processes), which is what a cache build costs. Images: uniform noise (the
speed of these families does not depend on content). Severities 1, 3, 5; best of --repeats runs.
A benchmark: it never fails on speed.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from robeval.core.environment import environment
from robeval.core.fileio import write_json
from robeval.corruptions import corrupt
from robeval.corruptions.families import FAMILIES
from robeval.corruptions.seeding import image_rng, image_stream_keys

NAMES = ("gaussian_blur", "glass_blur", "motion_blur", "zoom_blur", "snow", "frost", "fog", "spatter")
SIZES = ((32, "cifar"), (224, "imagenet"))


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def one_thread(name: str, size: int, table: str, severity: int, n_ref: int, n_fast: int,
               repeats: int) -> dict:
    record = FAMILIES.get(name)
    params = record.params(table, severity)
    x = np.random.default_rng(0).integers(0, 256, (max(n_ref, n_fast), size, size, 3), dtype=np.uint8)
    cond = f"{name}/{severity}"

    def reference():
        for i in range(n_ref):
            record.apply(x[i], params, image_rng(0, cond, i) if record.seeded else None)

    row = {"family": name, "size": size, "table": table, "severity": severity,
           "reference_per_s": n_ref / best_of(reference, repeats), "fast_per_s": None}
    if record.fast is not None:
        stream_keys = torch.from_numpy(image_stream_keys(0, cond, np.arange(n_fast)))
        images = torch.from_numpy(x[:n_fast])
        row["fast_per_s"] = n_fast / best_of(lambda: record.fast(images, stream_keys, **params), repeats)
    return row


def end_to_end(name: str, n: int) -> dict:
    record = FAMILIES.get(name)
    x = np.random.default_rng(1).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    backend, workers = ("fast", 1) if record.fast is not None else ("reference", 2)
    corrupt(x[:64], f"{name}/3@cifar", backend=backend, workers=workers)
    t0 = time.perf_counter()
    corrupt(x, f"{name}/3@cifar", backend=backend, workers=workers)
    return {"family": name, "backend": backend, "workers": workers, "images": n,
            "per_s": n / (time.perf_counter() - t0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    counts = {32: (100, 512), 224: (4, 16)} if args.quick else {32: (300, 1024), 224: (8, 32)}
    rows = []
    for name in NAMES:
        for size, table in SIZES:
            for severity in (1, 3, 5):
                row = one_thread(name, size, table, severity, *counts[size], args.repeats)
                rows.append(row)
                fast = "-" if row["fast_per_s"] is None else f"{row['fast_per_s']:.0f}"
                print(f"{name:14s} {size:4d} px s{severity}  reference {row['reference_per_s']:8.0f}/s"
                      f"  fast {fast:>8}/s", flush=True)
    torch.set_num_threads(2)
    suite = []
    for name in NAMES:
        suite.append(end_to_end(name, 2000 if args.quick else 10000))
        print(f"{name:14s} corrupt() 32 px, {suite[-1]['backend']}: {suite[-1]['per_s']:.0f}/s", flush=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(__file__).resolve().parent / "results" / f"blur-weather-{stamp}.json"
    write_json(out, {"one_thread": rows, "corrupt_32px": suite, "environment": environment()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
