"""The GPU figures in one call (about 8 minutes on one H100/H200), or the same code paths on a CPU
in seconds (``--smoke``, run by the test suite).

    python bench/gpu_check.py --data-dir DIR            # DIR/downloads/cifar10-jpeg.tar.xz (or the
                                                        # official cifar-10-python.tar.gz)
    python bench/gpu_check.py --smoke --out /tmp/g.json # CPU, shapes, tiny sizes (smallcnn for
                                                        # parts 2-3, resnet18 for part 1; no compile)

Measures, and writes as JSON under bench/results/ (one summary printed):

1. ResNet-18 (CIFAR form) training throughput at 32 px, bf16 autocast + channels_last, eager and
   ``torch.compile``d, with model FLOPs utilisation. FLOPs per image are counted, not assumed:
   ``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward of the real model
   (about 3 x the forward's 1.1 GFLOPs), divided by the device's dense bf16 peak (``PEAK_TFLOPS``).
   Target: >= 50,000 img/s (about 17 % MFU on an H200).
2. The ``fast`` preset's wall time to >= 94 % CIFAR-10 accuracy: the time to the first epoch whose
   VALIDATION accuracy reaches it (the checkpoint is chosen on validation), then that run's test
   accuracy for the validation-chosen checkpoint. No test-set selection. Target: <= 60 s.
3. As much of ``robeval reproduce --dataset cifar10 --preset fast --seeds 3`` (the 2 x 2 grid)
   with every corruption as fits in ``--grid-budget`` seconds, and its wall time. Target: the whole
   grid in <= 15 min. The grid resumes, so a second call continues it.

Never a pass/fail: it reports what it measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train import throughput  # noqa: E402
from robeval.core.environment import environment, pick_device  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# dense bf16 tensor-core peaks (vendor data sheets, SXM parts; no sparsity)
PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


def train_flops_per_image(arch: str, size: int) -> float:
    """FLOPs of one training step per image (forward + backward), counted by PyTorch."""
    from torch.utils.flop_counter import FlopCounterMode

    from robeval.models import ModelConfig, build_model

    model = build_model(ModelConfig(arch, 10, size, "fixed", "cosine"))
    x = torch.randn(2, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 2


def peak_tflops(device_name: str) -> float | None:
    return next((v for k, v in PEAK_TFLOPS.items() if k in device_name), None)


def measure_throughput(device: str, smoke: bool) -> list[dict]:
    arch, size = "resnet18", 32
    flops = train_flops_per_image(arch, size)
    peak = peak_tflops(environment(device)["device_name"]) if device.startswith("cuda") else None
    rows = []
    for compiled in ([False] if smoke else [False, True]):  # compiling on a CPU takes minutes
        n, batch = (32, 16) if smoke else (40960, 512)
        row = throughput(arch, size, "bf16" if not smoke else "fp32", True, compiled, device, n, batch)
        tflops = row["train_images_per_s"] * flops / 1e12
        row.update(train_flops_per_image=flops, achieved_tflops=round(tflops, 2),
                   peak_tflops=peak, mfu=round(tflops / peak, 4) if peak else None)
        rows.append(row)
    return rows


def time_to_94(device: str, data_dir: str | None, smoke: bool, out: Path) -> dict:
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.train import train
    from robeval.training.config import TrainConfig

    target = 0.94
    cfg = (TrainConfig(dataset="shapes", arch="smallcnn", preset="fast", epochs=1, max_train=64,
                       batch_size=32, precision="fp32") if smoke else
           TrainConfig(dataset="cifar10", arch="resnet18", preset="fast"))
    t0 = time.perf_counter()
    summary = train(cfg, out, device=device, overwrite=True, data_dir=data_dir, progress=not smoke)
    wall = time.perf_counter() - t0
    test = evaluate_run(out, "clean", device=device, data_dir=data_dir, features=False,
                        progress=False)["conditions"]["clean"]["accuracy"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    first = next((r for r in rows if r["val_acc"] >= target), None)
    return {"dataset": cfg.dataset, "preset": cfg.preset, "target": target, "train_wall_s": round(wall, 1),
            "epochs": summary["epochs"], "best_val_acc": summary["best_val_acc"],
            "best_epoch": summary["best_epoch"], "test_acc_of_val_chosen_checkpoint": test,
            "first_epoch_val_reaches_target": first["epoch"] if first else None,
            "seconds_to_that_epoch": first["time_s"] if first else None,
            "test_reaches_target": test >= target,
            "rule": "time to the first epoch whose validation accuracy reaches the target; test "
                    "accuracy of the checkpoint chosen on validation (never on test)"}


def grid(device: str, data_dir: str | None, smoke: bool, out: Path, budget_s: float) -> dict:
    """The 2 x 2 x 3-seed grid with every corruption, cell by cell until the budget is spent."""
    from robeval.runs import run_name
    from robeval.stages.reproduce import ReproducePlan, run_cell

    plan = (ReproducePlan(dataset="shapes", archs=("smallcnn",), preset="fast", seeds=(0,), epochs=1, batch_size=32,
                          max_train=64, conditions="clean,impulse_noise/1") if smoke else
            ReproducePlan(dataset="cifar10", archs=("resnet18",), preset="fast", seeds=(0, 1, 2),
                          conditions="all"))
    cells = plan.configs()
    if smoke:
        cells = [c for c in cells if c.head == "fixed"][:1]
        for c in cells:
            c.precision = "fp32"
    t0, done = time.perf_counter(), []
    for cfg in cells:
        if time.perf_counter() - t0 > budget_s:
            break
        t = run_cell(cfg, out / "runs" / run_name(cfg), plan.conditions, device, data_dir)
        done.append({"run": run_name(cfg), **{k: round(v, 1) for k, v in t.items()}})
    return {"cells_total": len(cells), "cells_done": len(done), "wall_s": round(time.perf_counter() - t0, 1),
            "budget_s": budget_s, "cells": done, "conditions": plan.conditions}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="CPU, shapes, tiny sizes: the same code paths")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None, help="data root holding downloads/ (CIFAR-10)")
    ap.add_argument("--grid-budget", type=float, default=300.0, help="seconds for part 3")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--out", default=None, help="JSON to write (default bench/results/gpu-check-<device>.json)")
    args = ap.parse_args(argv)
    import tempfile

    device = "cpu" if args.smoke else pick_device(args.device)
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    t0 = time.perf_counter()
    result = {"smoke": args.smoke, "device": device, "environment": environment(device),
              "throughput": measure_throughput(device, args.smoke)}
    result["time_to_94"] = time_to_94(device, args.data_dir, args.smoke, work / "tta")
    result["grid"] = grid(device, args.data_dir, args.smoke, work / "grid",
                          1.0 if args.smoke else args.grid_budget)
    result["total_s"] = round(time.perf_counter() - t0, 1)
    name = result["environment"]["device_name"].split("(")[0].strip().replace(" ", "-").lower()
    out = Path(args.out) if args.out else RESULTS / f"gpu-check-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["throughput"]:
        print(f"resnet18 32px {row['precision']} compile={row['compile']}: {row['train_images_per_s']:,.0f} "
              f"img/s, {row['achieved_tflops']} TFLOP/s, MFU {row['mfu'] if row['mfu'] is not None else '–'} "
              f"({row['train_flops_per_image'] / 1e9:.2f} GFLOP per training image)")
    tta = result["time_to_94"]
    print(f"fast preset: first val >= 94% at epoch {tta['first_epoch_val_reaches_target']} "
          f"({tta['seconds_to_that_epoch']} s); test acc {100 * tta['test_acc_of_val_chosen_checkpoint']:.2f}% "
          f"of the val-chosen checkpoint; whole run {tta['train_wall_s']} s")
    g = result["grid"]
    print(f"grid: {g['cells_done']}/{g['cells_total']} cells in {g['wall_s']} s; wrote {out}")
    return result


if __name__ == "__main__":
    main()
