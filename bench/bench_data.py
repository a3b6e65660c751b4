"""Benchmark (not a test): load times of the real offline data and a genset build over real images.

    PYTHONPATH=. python bench/bench_data.py --shared DIR --out /tmp/bench-data.json  # DIR: the JPEG copies

Uses a fresh data root in a temporary folder: CIFAR-10 (JPEG copy) test and train, uncached and
cached; Tiny ImageNet val; a `files` manifest over the extracted CIFAR-10 test tree, built and
verified. Prints the figures and writes them as JSON with the environment; never fails on speed.
"""

from __future__ import annotations

import argparse
import os
import tarfile
import tempfile
import time
from pathlib import Path


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True,
                    help="folder with cifar10-jpeg.tar.xz and tinyimagenet200-val-jpeg.tar.xz")
    ap.add_argument("--out", default="bench-data.json")
    args = ap.parse_args()
    shared = Path(args.shared).resolve()
    os.environ["ROBEVAL_OFFLINE"] = "1"
    from robeval.core.environment import environment
    from robeval.core.fileio import write_json
    from robeval.data import gensets, load_split
    from robeval.data.gensets.files import make_files_manifest

    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        (root / "downloads").mkdir(parents=True)
        for name in ("cifar10-jpeg.tar.xz", "tinyimagenet200-val-jpeg.tar.xz"):
            (root / "downloads" / name).symlink_to(shared / name)
        for split in ("test", "train"):
            data, figures[f"cifar10_{split}_first_load_s"] = timed(lambda s=split: load_split("cifar10", s, root))
            _, figures[f"cifar10_{split}_cached_load_s"] = timed(lambda s=split: load_split("cifar10", s, root))
            figures[f"cifar10_{split}_n"] = len(data)
        _, figures["tinyimagenet_test_first_load_s"] = timed(lambda: load_split("tinyimagenet", "test", root))
        with tarfile.open(shared / "cifar10-jpeg.tar.xz") as tf:
            tf.extractall(Path(tmp) / "tree", members=[m for m in tf if m.name.startswith("cifar10/test")],
                          filter="data")
        manifest = Path(tmp) / "m.json"
        data, figures["genset_make_manifest_s"] = timed(lambda: make_files_manifest(
            Path(tmp) / "tree" / "cifar10" / "test", "cifar10", "c10-test", progress=False))
        import json

        manifest.write_text(json.dumps(data))
        info, figures["genset_build_10k_s"] = timed(lambda: gensets.build(str(manifest), root, progress=False))
        _, figures["genset_load_built_s"] = timed(lambda: gensets.load_built(info["name"], root))
        figures["genset_n"] = info["n"]
    for k, v in figures.items():
        print(f"{k:<34} {v}")
    write_json(args.out, {"figures": figures, "environment": environment("cpu"),
                          "cpu_count": os.cpu_count(), "load_avg": os.getloadavg()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
