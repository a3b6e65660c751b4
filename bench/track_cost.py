"""What the per-epoch geometry tracking (training/track.py, on by default) costs: the same run
trained with and without ``--no-track`` (same seed, data, epochs), epoch time both ways and the
overhead in percent.

    python bench/track_cost.py                                  # shapes, tinycnn, 4 epochs, CPU
    python bench/track_cost.py --arch smallcnn --epochs 6 --repeats 3 --device cuda

Two measures, because a shared CPU makes single epochs noisy:

- end to end: an epoch's time is the wall time between consecutive metrics.jsonl rows (training
  pass, validation pass, tracking, checkpoint). The first epoch (warm-up) is dropped. With
  --repeats the two modes alternate (untracked, tracked, ...) so a change in machine load hits
  both. Per mode the fastest steady epoch is kept (load only ever adds time) and the median is
  reported next to it. train logs ``time_s`` to 0.01 s, so keep epochs well above that
  (the default 3,000 shapes images take about 0.65 s per epoch on one CPU thread).
- by parts: what tracking adds to an epoch, timed alone on the trained model (best of --parts
  tries): the validation pass keeping its features minus the pass without, plus
  ``track.geometry_row`` on the tracked subset (what train logs as ``track_s``).

Figures are printed and written as JSON under bench/results/, named by device, dataset, encoder
and torch version. Never a pass/fail.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robeval.core.environment import environment, pick_device  # noqa: E402
from robeval.core.fileio import write_json  # noqa: E402
from robeval.models.inference import predict  # noqa: E402
from robeval.runs.model import load_run_model, predict_kwargs  # noqa: E402
from robeval.stages.train import train  # noqa: E402
from robeval.training import track  # noqa: E402
from robeval.training.config import TrainConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def epoch_times(metrics: list[dict]) -> list[float]:
    """Seconds per epoch from the cumulative ``time_s`` of each metrics row."""
    cumulative = [0.0] + [float(m["time_s"]) for m in metrics]
    return [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]


def best_of(tries: int, fn) -> float:
    times = []
    for _ in range(tries):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def by_parts(run_dir: Path, n_val: int, device: str, tries: int) -> dict:
    """Seconds tracking adds to one epoch, timed alone on the run's model (synthetic val images:
    the cost does not depend on their content)."""
    model, cfg, _ = load_run_model(run_dir, "best", device)
    images = np.random.default_rng(0).integers(0, 256, (n_val, 32, 32, 3), dtype=np.uint8)
    kw = predict_kwargs(cfg)
    plain = best_of(tries, lambda: predict(model, images, device, features=False, **kw))
    keep = best_of(tries, lambda: predict(model, images, device, features=True, **kw))
    logits, feats = predict(model, images, device, features=True, **kw)
    labels = np.arange(n_val) % logits.shape[1]
    idx = track.subset_indices(n_val, cfg.seed)
    w = track.head_weight(model)
    geo = best_of(tries, lambda: track.geometry_row(feats[idx], labels[idx], logits[idx], w, w, True))
    return {"val_pass_s": round(plain, 4), "val_pass_features_s": round(keep, 4),
            "geometry_row_s": round(geo, 4), "added_s": round(max(keep - plain, 0.0) + geo, 4)}


def one_run(cfg: TrainConfig, out: Path, device: str, data_dir: str | None) -> dict:
    """Train ``cfg`` into ``out``; its per-epoch times (warm-up first) and track_s."""
    train(cfg, out, device=device, overwrite=True, data_dir=data_dir, progress=False)
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    n_val = json.loads((out / "config.json").read_text())["dataset"]["n_val"]
    times = epoch_times(metrics)
    steady = times[1:] or times
    return {"track": cfg.track, "epoch_s": [round(t, 3) for t in times], "n_val": n_val,
            "min_epoch_s": round(min(steady), 4), "median_epoch_s": round(statistics.median(steady), 4),
            "track_s": [m.get("track_s") for m in metrics] if cfg.track else [],
            "val_acc": [m["val_acc"] for m in metrics]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--arch", default="tinycnn")
    ap.add_argument("--head", default="learned", help="learned: W movement is tracked too")
    ap.add_argument("--logits", default="cosine")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--max-train", type=int, default=3000, help="training images (reproduce's quick default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating")
    ap.add_argument("--parts", type=int, default=5, help="tries per part (best kept)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared CPU)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    device = pick_device(args.device)
    if device == "cpu":
        torch.set_num_threads(args.threads)
    runs = []
    with tempfile.TemporaryDirectory(prefix="robeval-track-cost-") as tmp:
        for rep in range(args.repeats):
            for tracked in (False, True):
                cfg = TrainConfig(dataset=args.dataset, arch=args.arch, head=args.head, logits=args.logits,
                                  seed=args.seed, preset="quick", epochs=args.epochs,
                                  max_train=args.max_train, track=tracked)
                row = one_run(cfg, Path(tmp) / f"run-{rep}-{tracked}", device, args.data_dir)
                runs.append(row)
                print(f"track={tracked!s:5s}  epoch s {row['epoch_s']}  (after warm-up: min "
                      f"{row['min_epoch_s']:.3f}, median {row['median_epoch_s']:.3f})", flush=True)
        parts = by_parts(Path(tmp) / "run-0-True", runs[0]["n_val"], device, args.parts)
    off = min(r["min_epoch_s"] for r in runs if not r["track"])
    on = min(r["min_epoch_s"] for r in runs if r["track"])
    off_med = round(statistics.median([r["median_epoch_s"] for r in runs if not r["track"]]), 4)
    on_med = round(statistics.median([r["median_epoch_s"] for r in runs if r["track"]]), 4)
    track_s = [t for r in runs for t in r["track_s"] if t is not None]
    summary = {"epoch_s_no_track": off, "epoch_s_track": on, "overhead_pct": round(100 * (on - off) / off, 2),
               "median_epoch_s_no_track": off_med, "median_epoch_s_track": on_med,
               "overhead_pct_medians": round(100 * (on_med - off_med) / off_med, 2),
               "track_s_logged_median": round(statistics.median(track_s), 4) if track_s else None,
               "parts_added_s": parts["added_s"], "parts_pct_of_epoch": round(100 * parts["added_s"] / off, 2),
               "same_val_acc": all(r["val_acc"] == runs[0]["val_acc"] for r in runs)}
    print(f"epoch (fastest steady): {off:.3f} s without tracking, {on:.3f} s with: "
          f"{summary['overhead_pct']:+.1f}% (medians {off_med:.3f} / {on_med:.3f} s: "
          f"{summary['overhead_pct_medians']:+.1f}%)")
    print(f"by parts: tracking adds {parts['added_s']:.4f} s per epoch = {summary['parts_pct_of_epoch']}% "
          f"of an untracked epoch (features kept {parts['val_pass_features_s']:.4f} vs "
          f"{parts['val_pass_s']:.4f} s, geometry_row {parts['geometry_row_s']:.4f} s); "
          f"same val accuracy both ways: {summary['same_val_acc']}")
    env = environment(device)
    result = {"device": device, "settings": vars(args), "summary": summary, "parts": parts, "runs": runs,
              "environment": env}
    name = env["device_name"].split("(")[0].strip().replace(" ", "-").lower()
    out = RESULTS / f"track-{name}-{args.dataset}-{args.arch}-torch{torch.__version__.split('+')[0]}.json"
    write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
