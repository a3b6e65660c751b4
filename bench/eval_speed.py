"""Benchmark: `robeval eval` against a minimal PyTorch inference loop on the same run, the same
cached corrupted conditions and the same batch size, on this machine's CPU.

    PYTHONPATH=. python bench/eval_speed.py --run RUN --conditions corrupt:study     # a finished run
    PYTHONPATH=. python bench/eval_speed.py --arch smallcnn      # a fresh 1-epoch shapes run (2,000 test images)

The plain loop: the run's model, `torch.inference_mode()`, the same batch size, the same uint8
arrays already in memory, normalisation as eval does it, logits and features (what eval keeps).
robeval's figure is `evaluate_run` end to end: cache reads and checks, the forward passes,
calibration, writing eval/<condition>.npz and eval.json (analysis not included; it is a separate
stage). Both are timed after one warm-up over the same conditions, alternating, --repeats times;
the ratio uses each side's fastest pass (the least disturbed by other work on a shared machine),
and the medians are written beside it.
Figures (img/s, ratio, and where robeval's time goes) are printed and written to
bench/results/eval-speed-<time>.json. A benchmark: it never fails on speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402

from robeval.conditions import ConditionContext, parse_conditions  # noqa: E402
from robeval.core.environment import environment  # noqa: E402
from robeval.core.fileio import write_json  # noqa: E402
from robeval.models.inference import to_input  # noqa: E402
from robeval.runs.model import load_run_model, predict_kwargs  # noqa: E402
from robeval.stages.evaluate import evaluate_run  # noqa: E402


def plain_loop(model, arrays: list[np.ndarray], mean, std, batch_size: int) -> float:
    """Seconds for logits + features of every array: the least any evaluator must do."""
    model.eval()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for images in arrays:
            logits, feats = [], []
            for i in range(0, len(images), batch_size):
                x = to_input(torch.from_numpy(images[i:i + batch_size]), mean, std)
                out, h = model.forward_features(x)
                logits.append(out)
                feats.append(h)
            torch.cat(logits).numpy(), torch.cat(feats).numpy()
    return time.perf_counter() - t0


def fresh_run(arch: str, work: Path) -> Path:
    from robeval.stages.train import train
    from robeval.training.config import TrainConfig

    run = work / "run"
    cfg = TrainConfig(dataset="shapes", arch=arch, head="learned", logits="dot", epochs=1,
                      max_train=512, preset="quick")
    train(cfg, run, progress=False)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None, help="a finished run (default: a fresh shapes run)")
    ap.add_argument("--arch", default="smallcnn")
    ap.add_argument("--conditions", default="clean,corrupt:study")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eval-speed-"))
    try:
        src = args.run or fresh_run(args.arch, work)
        run = work / "bench-run"
        shutil.copytree(src, run, ignore=shutil.ignore_patterns("eval", "eval.json", "*.png"))
        model, cfg, _ = load_run_model(run)
        kw = predict_kwargs(cfg)
        conditions = parse_conditions(args.conditions, cfg.dataset)
        ctx = ConditionContext(cfg.dataset)
        arrays = [c.build(ctx).images for c in conditions]  # builds any missing cache file
        n = sum(len(a) for a in arrays)
        plain, ours, phases = [], [], []
        plain_loop(model, arrays[:1], kw["mean"], kw["std"], kw["batch_size"])  # warm-up
        evaluate_run(run, args.conditions, progress=False)  # warm-up (and file-system cache)
        for _ in range(args.repeats):
            plain.append(plain_loop(model, arrays, kw["mean"], kw["std"], kw["batch_size"]))
            t0 = time.perf_counter()
            result = evaluate_run(run, args.conditions, progress=False)
            ours.append(time.perf_counter() - t0)
            phases.append(sum(r["seconds"] for r in result["conditions"].values()))
        p, o = min(plain), min(ours)
        summary = {"conditions": len(conditions), "images": n, "batch_size": kw["batch_size"],
                   "plain_img_per_s": round(n / p, 1), "robeval_img_per_s": round(n / o, 1),
                   "robeval_over_plain": round(p / o, 3),
                   "robeval_over_plain_medians": round(float(np.median(plain) / np.median(ours)), 3),
                   "robeval_per_condition_seconds_sum": round(float(np.median(phases)), 3),
                   "robeval_outside_conditions_s": round(o - float(np.median(phases)), 3),
                   "arch": cfg.arch, "torch_threads": torch.get_num_threads(),
                   "load_average_1_5_15": list(os.getloadavg())}
        print(summary)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path(args.out or ROOT / "bench" / "results" / f"eval-speed-{stamp}.json")
        write_json(out, {"benchmark": "eval-speed", "summary": summary, "plain_s": plain,
                         "robeval_s": ours, "target": "robeval_over_plain >= 0.95",
                         "environment": environment("cpu")})
        print(f"wrote {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
