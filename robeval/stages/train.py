"""The training loop: device-agnostic, seeded, resumable, atomic.

    robeval train --dataset shapes --arch smallcnn --head fixed --logits cosine --out runs/demo

A run's seed fixes the encoder init, the class-vector draw, the validation split, the data order
and the augmentation; ``--resume`` after a crash or kill -9 continues from the last finished
epoch and ends with the same weights as an uninterrupted CPU run. The test split is never read.

``train()`` is five steps: prepare the folder, build data/model/optimiser, resume (or start),
fit epochs, finish (last.pt, summary.json).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from robeval import runs
from robeval.core.environment import environment, pick_device
from robeval.core.errors import RobevalError
from robeval.core.fileio import append_jsonl, write_json, write_text
from robeval.core.progress import progress_bar
from robeval.data import ImageSet, load_split, split_train_val
from robeval.data.loading import dataset_record
from robeval.models import Classifier, ModelConfig, build_model
from robeval.models.checkpoint import load_checkpoint, save_checkpoint
from robeval.models.inference import autocast, predict
from robeval.runs.config_file import write_config
from robeval.runs.model import predict_kwargs
from robeval.training import distributed, precise_bn, track
from robeval.training.augment import random_crop_flip, to_input
from robeval.training.config import TrainConfig, with_preset_defaults
from robeval.training.optim import Scheduler, make_optimizer, make_scheduler, plateau


def default_run_dir(cfg: TrainConfig) -> Path:
    """Where ``robeval train`` writes without --out: runs/<dataset>-<arch>-<variant>-seed<k>."""
    return Path("runs") / runs.run_name(cfg)


def load_train_val(cfg: TrainConfig, data_dir: str | None) -> tuple[ImageSet, ImageSet]:
    """The training and validation sets; validation is a dataset's own val split or carved from train."""
    train = load_split(cfg.dataset, "train", data_dir)
    if "val" in dataset_record(cfg.dataset).splits:
        val = load_split(cfg.dataset, "val", data_dir)
    else:
        train_idx, val_idx = split_train_val(train.labels, cfg.val_fraction, cfg.seed)
        train, val = train.subset(train_idx), train.subset(val_idx, f"{cfg.dataset}/val")
    if cfg.max_train is not None:
        train = train.subset(np.arange(min(cfg.max_train, len(train))))
    return train, val


def model_config(cfg: TrainConfig, data: ImageSet) -> ModelConfig:
    return ModelConfig(
        arch=cfg.arch, num_classes=len(data.classes), image_size=data.image_size, head=cfg.head,
        logits=cfg.logits, scale=cfg.scale or 1.0, bias=cfg.bias, init=cfg.init,
        learn_scale=cfg.learn_scale, seed=cfg.seed, margin=cfg.margin,
    )


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def train_epoch(net, opt, sched, x_train, y_train, cfg, epoch, device, dist_info, progress,
                step_per_batch: bool) -> dict:
    """One pass over the training set in the run's seeded order; returns loss and accuracy.

    Every rank draws the same global batch and trains on its slice (see training/distributed.py).
    """
    net.train()
    gen = _epoch_generator(cfg.seed, epoch)
    n = len(y_train)
    bs = min(cfg.batch_size, n)
    perm = torch.randperm(n, generator=gen)
    steps = n // bs  # the last incomplete batch is dropped (batch norm dislikes tiny batches)
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    total_correct = torch.zeros((), device=device, dtype=torch.float64)
    seen = 0
    bar = progress_bar(range(steps), desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=not progress)
    for step in bar:
        idx = perm[step * bs : (step + 1) * bs].to(device)
        xb = random_crop_flip(x_train[idx], cfg.crop_padding, cfg.flip, gen)
        yb = y_train[idx]
        if dist_info.enabled:
            xb, yb = xb[dist_info.rank :: dist_info.world], yb[dist_info.rank :: dist_info.world]
        with autocast(device, cfg.precision):
            logits = net(to_input(xb, cfg.mean, cfg.std), yb)  # yb: for a margin head
            loss = F.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step_per_batch and sched is not None:
            sched.step()
        total_loss += loss.detach() * len(yb)
        total_correct += (logits.argmax(1) == yb).sum()
        seen += len(yb)
        if progress and step % 10 == 0:
            bar.set_postfix(loss=f"{total_loss.item() / seen:.3f}", acc=f"{total_correct.item() / seen:.3f}")
    loss_sum, correct_sum, count = distributed.all_sum(
        [total_loss.item(), total_correct.item(), float(seen)], dist_info, device)
    return {"train_loss": loss_sum / max(count, 1), "train_acc": correct_sum / max(count, 1)}


@dataclass
class _Run:
    """What the steps of one training run share."""

    out: Path
    cfg: TrainConfig
    info: distributed.DistInfo
    device: str
    progress: bool
    train_set: ImageSet
    val_set: ImageSet
    t0: float
    model: Classifier | None = None
    net: Any = None
    opt: Any = None
    sched_record: Scheduler | None = None
    sched: Any = None
    model_config: ModelConfig | None = None
    prev_weight: Any = None  # W at the end of the last epoch (training/track.py)

    @property
    def main(self) -> bool:
        return self.info.is_main


def _start_or_resume(out: Path, resume: bool, overwrite: bool) -> tuple[bool, dict | None]:
    """Rank 0 prepares the folder: (resuming, summary if the run had already finished)."""
    resuming = runs.prepare_out_dir(out, resume, overwrite)
    if resuming and runs.is_finished(out) and not (out / runs.STATE).exists():
        return True, runs.read_summary(out)
    return resuming, None


# options a preset fills (None = "the preset's"): on --resume, a value given that differs from the
# run's own would be silently ignored, so it is refused instead
RESUME_CHECKED = ("epochs", "batch_size", "lr", "weight_decay", "scheduler", "crop_padding",
                  "precision", "max_train", "scale", "precise_bn_images")


def _refuse_changes(given: TrainConfig, stored: TrainConfig, out: Path) -> None:
    changed = [f"--{k.replace('_', '-')} {getattr(given, k)} (the run has {getattr(stored, k)})"
               for k in RESUME_CHECKED
               if getattr(given, k) is not None and getattr(given, k) != getattr(stored, k)]
    if changed:
        raise RobevalError(f"--resume continues {out} as it was configured; it would ignore "
                           f"{'; '.join(changed)}. Drop those options, or start a new run with "
                           "another --out (or --overwrite)")


def _prepare(cfg: TrainConfig, out: Path, info, device: str, resuming: bool, data_dir,
             progress: bool) -> _Run:
    """Load data and complete the config from its preset (a resumed run keeps its config.json's);
    a failed start leaves no empty run folder behind."""
    if resuming:
        cfg = TrainConfig.from_dict(runs.open_run(out)[1]["config"])
    t0 = time.time()
    try:
        train_set, val_set = load_train_val(cfg, data_dir)
        cfg = with_preset_defaults(cfg, train_set.image_size)
    except BaseException:
        if info.is_main and not resuming and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    if cfg.precision == "bf16" and not device.startswith("cuda") and info.is_main:
        # bench/results/train-cpu-reduced-*.json: bf16 autocast ran 7-11x slower than fp32 on a CPU
        # without bf16 units; the run still works, so warn rather than refuse.
        warnings.warn("bf16 autocast on a CPU is usually far slower than fp32 (7-11x in "
                      "bench/results); pass --precision fp32 unless this CPU has bf16 units",
                      stacklevel=3)
    if cfg.batch_size % info.world:
        raise RobevalError(f"--batch-size {cfg.batch_size} (the global batch) must divide by the "
                           f"{info.world} processes")
    return _Run(out, cfg, info, device, progress and info.is_main, train_set, val_set, t0)


def _build(run: _Run) -> None:
    """Model (seeded), data-parallel wrapper, optimiser and scheduler."""
    cfg, info, device = run.cfg, run.info, run.device
    run.model_config = model_config(cfg, run.train_set)
    model = build_model(run.model_config)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    net = distributed.wrap(model, info, device)
    run.model = net.module if info.enabled else net  # SyncBatchNorm may have replaced modules
    run.opt = make_optimizer(run.model, cfg, device)
    steps_per_epoch = max(1, len(run.train_set) // min(cfg.batch_size, len(run.train_set)))
    run.sched_record, run.sched = make_scheduler(run.opt, cfg, steps_per_epoch)
    run.net = torch.compile(net) if cfg.compile else net


def _resume(run: _Run, resuming: bool) -> tuple[list[dict], dict]:
    """(history, best) from state.pt, or a fresh config.json and metrics.jsonl."""
    out = run.out
    state = load_checkpoint(out / runs.STATE, run.device) if resuming and (out / runs.STATE).exists() else None
    if state is None:
        if run.main:
            ds = run.train_set
            write_config(out, run.cfg, run.model_config,
                         {"name": run.cfg.dataset, "classes": ds.classes, "image_size": ds.image_size,
                          "n_train": len(ds), "n_val": len(run.val_set)},
                         environment(run.device),
                         distributed={"world_size": run.info.world, "global_batch": run.cfg.batch_size})
            write_text(out / runs.METRICS, "")
        return [], {"val_acc": -1.0, "epoch": 0}
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    if run.sched is not None:
        run.sched.load_state_dict(state["scheduler"])
    history = list(state["history"])
    if history:  # time_s and train_wall_s count training time over every session, not downtime
        run.t0 = time.time() - float(history[-1].get("time_s", 0.0))
    if run.main:
        write_text(out / runs.METRICS, "".join(json.dumps(row) + "\n" for row in history))
    return history, dict(state["best"])


def _fit_epoch(run: _Run, epoch: int, x_train, y_train, history: list[dict], best: dict) -> dict:
    """Train one epoch, validate, step the schedule, save state (and the best checkpoint)."""
    cfg, out = run.cfg, run.out
    row = {"epoch": epoch, "lr": run.opt.param_groups[0]["lr"]}
    row.update(train_epoch(run.net, run.opt, run.sched, x_train, y_train, cfg, epoch, run.device,
                           run.info, run.progress, run.sched_record.steps_on == "batch"))
    if not math.isfinite(row["train_loss"]):
        _diverged(run, epoch, row)
    if cfg.precise_bn_images:
        _precise_bn(run, row, x_train)
    # every rank: same weights, same answer
    val_logits, val_feats = predict(run.model, run.val_set.images, run.device, features=cfg.track,
                                    **predict_kwargs(cfg))
    row["val_acc"] = float((val_logits.argmax(1) == run.val_set.labels).mean())
    if cfg.track:
        _track(run, row, val_logits, val_feats)
    row["time_s"] = round(time.time() - run.t0, 2)
    if run.sched_record.steps_on == "val_acc":
        run.sched.step(row["val_acc"])
    history.append(row)
    improved = row["val_acc"] > best["val_acc"]
    if improved:
        best = {"val_acc": row["val_acc"], "epoch": epoch}
    if run.main:
        if improved:
            save_checkpoint(out / runs.BEST, {"model": run.model.state_dict()})
        save_checkpoint(out / runs.STATE, {
            "model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
            "scheduler": run.sched.state_dict() if run.sched is not None else {},
            "history": history, "best": best,
        })
        append_jsonl(out / runs.METRICS, row)
    if run.progress:
        tqdm.write(f"  epoch {epoch:3d}  loss {row['train_loss']:.4f}  train {row['train_acc']:.3f}"
                   f"  val {row['val_acc']:.3f}  lr {row['lr']:.2g}")
    distributed.barrier(run.info)
    return best


def _precise_bn(run: _Run, row: dict, x_train) -> None:
    """Population BatchNorm statistics of this epoch's weights, before validation sees them."""
    t = time.perf_counter()
    cfg = run.cfg
    idx = precise_bn.sample_indices(len(x_train), cfg.precise_bn_images, cfg.seed)
    precise_bn.recompute_bn_stats(run.model, x_train, idx, cfg.batch_size, cfg.mean, cfg.std,
                                  run.device, cfg.precision)
    row["precise_bn_s"] = round(time.perf_counter() - t, 4)


def _track(run: _Run, row: dict, logits, feats) -> None:
    """The geometry fields of this epoch's row, on the run's fixed validation subset."""
    t = time.perf_counter()
    idx = track.subset_indices(len(run.val_set), run.cfg.seed)
    weight = track.head_weight(run.model)
    row.update(track.geometry_row(feats[idx], run.val_set.labels[idx], logits[idx], weight,
                                  run.prev_weight, track.is_learned(run.model)))
    run.prev_weight = weight
    row["track_s"] = round(time.perf_counter() - t, 4)


DIVERGED = "diverged.json"


def _diverged(run: _Run, epoch: int, row: dict) -> None:
    """A non-finite loss: say so in the run folder (diverged.json, no state.pt to resume) and stop."""
    if run.main:
        write_json(run.out / DIVERGED, {"epoch": epoch, "lr": row["lr"], "train_loss": str(row["train_loss"]),
                                        "config": run.cfg.to_dict()})
        (run.out / runs.STATE).unlink(missing_ok=True)
    raise RobevalError(f"training diverged in epoch {epoch}: the loss is {row['train_loss']} (lr "
                       f"{row['lr']:g}); lower --lr, then train again with --overwrite "
                       f"({run.out / DIVERGED} records it)")


def _finish(run: _Run, history: list[dict], best: dict) -> dict:
    """last.pt and summary.json; state.pt is removed, so the run counts as finished."""
    distributed.check_replicas(run.model, run.info, run.device)
    summary = {
        "variant": runs.variant(run.cfg), "seed": run.cfg.seed, "epochs": run.cfg.epochs,
        "best_val_acc": best["val_acc"], "best_epoch": best["epoch"],
        "last_val_acc": history[-1]["val_acc"] if history else None,
        "last_train_acc": history[-1]["train_acc"] if history else None,
        "train_wall_s": round(time.time() - run.t0, 2),
        "world_size": run.info.world,
        "plateau": plateau(history),
    }
    if run.main:
        save_checkpoint(run.out / runs.LAST, {"model": run.model.state_dict()})
        write_json(run.out / runs.SUMMARY, summary)
        (run.out / runs.STATE).unlink(missing_ok=True)
    distributed.barrier(run.info)
    return summary


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    data_dir: str | None = None,
    progress: bool = True,
) -> dict:
    """Train one run into ``out_dir``; returns its summary (best-val and last-epoch results).

    Under torchrun (WORLD_SIZE > 1) it trains data-parallel; rank 0 alone writes files.
    """
    out = Path(out_dir)
    info = distributed.from_environment()
    device = distributed.setup(info, pick_device(device))
    try:
        return _train_joined(cfg, out, info, device, resume, overwrite, data_dir, progress)
    finally:  # the group is left on success and on error; a next run joins a new rendezvous
        distributed.teardown(info)


def _train_joined(cfg: TrainConfig, out: Path, info, device: str, resume: bool, overwrite: bool,
                  data_dir: str | None, progress: bool) -> dict:
    """``train`` once this process has joined the process group (if any)."""
    resuming, finished = distributed.on_main(info, _start_or_resume, out, resume, overwrite)
    if resuming:  # a finished run too: "--resume --epochs 99" must not silently do nothing
        _refuse_changes(cfg, TrainConfig.from_dict(runs.open_run(out)[1]["config"]), out)
    if finished is not None:
        return finished
    run = _prepare(cfg, out, info, device, resuming, data_dir, progress)
    _build(run)
    history, best = _resume(run, resuming)
    run.prev_weight = track.head_weight(run.model)
    x_train = torch.from_numpy(run.train_set.images).to(device)
    y_train = torch.from_numpy(run.train_set.labels).to(device)
    for epoch in range(len(history) + 1, run.cfg.epochs + 1):
        best = _fit_epoch(run, epoch, x_train, y_train, history, best)
    return _finish(run, history, best)
