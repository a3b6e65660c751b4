"""Benchmark: images/s of every registered corruption family, reference and fast backend, at 32 px
(the `cifar` table) and 224 px (the `imagenet` table), on this machine's CPU.

    PYTHONPATH=. python bench/corrupt_families.py              # bench/results/corrupt-families-cpu-<time>.json
    PYTHONPATH=. python bench/corrupt_families.py --quick      # fewer images, for a smoke run
    PYTHONPATH=. python bench/corrupt_families.py --families glass_blur,fog --sizes 32

Images: real CIFAR-10 test images from $ROBEVAL_BENCH_DATA/cifar10-jpeg.tar.xz (or
datasets/downloads/) when present, resized with PIL bicubic to 224 px; uniform noise otherwise.
Severity 3; one process, torch's default threads; the median of --repeats timed runs. It never
fails on speed: the figures say which families stay slow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from corrupt import test_images, timed  # noqa: E402  (bench/corrupt.py: the image sources)
from PIL import Image  # noqa: E402

from robeval.core.environment import environment  # noqa: E402
from robeval.core.fileio import write_json  # noqa: E402
from robeval.corruptions import corrupt  # noqa: E402
from robeval.corruptions.families import FAMILIES, group_families  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE_AT = {32: "cifar", 224: "imagenet"}


def images_at(size: int, n: int) -> tuple[np.ndarray, str]:
    x, source = test_images(32, n)
    if size != 32:
        x = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in x])
        source += f", resized to {size} px (bicubic)"
    return x, source


def bench(families: list[str], sizes: list[int], n_ref: int, n_fast: int, repeats: int) -> list[dict]:
    rows = []
    for size in sizes:
        scale = (32 / size) ** 2  # fewer big images: similar seconds per measurement
        pool, source = images_at(size, max(n_ref, n_fast))
        for family in families:
            name = f"{family}/3@{TABLE_AT[size]}"
            record = FAMILIES.get(family)
            backends = ["reference"] + (["fast"] if record.fast else [])
            for backend in backends:
                n = max(4, int((n_fast if backend == "fast" else n_ref) * scale))
                x = pool[:n]
                corrupt(x[:2], name, backend=backend)  # warm-up: imports, textures, kernels
                sec = timed(lambda x=x, b=backend, c=name: corrupt(x, c, backend=b), repeats)
                rows.append({"size": size, "table": TABLE_AT[size], "family": family,
                             "category": record.category, "backend": backend, "images": n,
                             "images_per_s": round(n / sec, 1), "ms_per_image": round(1000 * sec / n, 4),
                             "source": source})
                print(f"{size:>3}px {family:<18} {backend:<9} {n / sec:10.0f} img/s", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        if r["backend"] != "fast":
            continue
        ref = next(q for q in rows if q["size"] == r["size"] and q["family"] == r["family"]
                   and q["backend"] == "reference")
        out[f"{r['size']}px_{r['family']}_fast_over_reference"] = round(
            r["images_per_s"] / ref["images_per_s"], 1)
    for size in sorted({r["size"] for r in rows}):
        best = {}
        for r in rows:
            if r["size"] == size:
                best[r["family"]] = max(best.get(r["family"], 0), r["images_per_s"])
        slow = sorted((v, f) for f, v in best.items() if f in group_families("standard"))[:5]
        out[f"{size}px_slowest_standard_families_best_backend_img_per_s"] = {f: v for v, f in slow}
        std = [best[f] for f in group_families("standard") if f in best]
        if len(std) == len(group_families("standard")):
            # seconds for 10,000 images x 5 severities x 15 families at the best backend, one process
            out[f"{size}px_standard_suite_10k_images_est_s_one_process"] = round(
                sum(50_000 / v for v in std), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer images and repeats")
    ap.add_argument("--sizes", default="32,224")
    ap.add_argument("--families", default="all", help="comma-separated, or all")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch

    families = list(group_families("all")) if args.families == "all" else args.families.split(",")
    n_ref, n_fast, repeats = (64, 256, 2) if args.quick else (256, 2048, 3)
    t0 = time.time()
    rows = bench(families, [int(s) for s in args.sizes.split(",")], n_ref, n_fast, repeats)
    result = {"benchmark": "corrupt-families", "summary": summary(rows),
              "targets": {"fast_over_reference": ">= 10 where a fast path exists",
                          "32px_standard_suite_10k_images_s_two_cores": "<= 300"},
              "load_average_1_5_15": list(os.getloadavg()), "torch_threads": torch.get_num_threads(),
              "wall_s": round(time.time() - t0, 1), "rows": rows, "environment": environment("cpu")}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or ROOT / "bench" / "results" / f"corrupt-families-cpu-{stamp}.json")
    write_json(out, result)
    print("summary:", result["summary"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
