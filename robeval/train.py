"""The training loop: device-agnostic, seeded, resumable, atomic.

    robeval train --dataset shapes --arch smallcnn --head fixed --logits cosine --out runs/demo

A run's seed fixes the encoder init, the class-vector draw, the validation split, the data order
and the augmentation; ``--resume`` after a crash or kill -9 continues from the last finished
epoch and ends with the same weights as an uninterrupted CPU run. The test split is never read.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from robeval import distributed, runs
from robeval.augment import random_crop_flip, to_input
from robeval.config import TrainConfig, resolve
from robeval.data import ImageSet, load_split, split_train_val
from robeval.data.registry import dataset_spec
from robeval.environment import environment, pick_device
from robeval.errors import RobevalError
from robeval.fileio import append_jsonl, read_json, write_json, write_text
from robeval.models import Classifier, ModelSpec, build_model
from robeval.models.checkpoint import load_checkpoint, save_checkpoint


def load_train_val(cfg: TrainConfig, data_dir: str | None) -> tuple[ImageSet, ImageSet]:
    """The training and validation sets; validation is a dataset's own val split or carved from train."""
    train = load_split(cfg.dataset, "train", data_dir)
    if "val" in dataset_spec(cfg.dataset).splits:
        val = load_split(cfg.dataset, "val", data_dir)
    else:
        train_idx, val_idx = split_train_val(train.labels, cfg.val_fraction, cfg.seed)
        train, val = train.subset(train_idx), train.subset(val_idx, f"{cfg.dataset}/val")
    if cfg.max_train is not None:
        train = train.subset(np.arange(min(cfg.max_train, len(train))))
    return train, val


def model_spec(cfg: TrainConfig, data: ImageSet) -> ModelSpec:
    return ModelSpec(
        arch=cfg.arch, num_classes=len(data.classes), image_size=data.image_size, head=cfg.head,
        logits=cfg.logits, scale=cfg.scale or 1.0, bias=cfg.bias, init=cfg.init,
        learn_scale=cfg.learn_scale, seed=cfg.seed,
    )


def make_optimizer(model: Classifier, cfg: TrainConfig, device: str = "cpu") -> torch.optim.Optimizer:
    """SGD over trainable parameters only: fixed class vectors are buffers and never appear here.

    One fused kernel per step on CUDA; the multi-tensor (foreach) path on CPU.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    fast = {"fused": True} if device.startswith("cuda") else {"foreach": True}
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay, **fast,
    )


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            threshold_mode="abs",
        )
    total = cfg.epochs * steps_per_epoch
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        )
    if cfg.scheduler == "onecycle":  # linear warm-up over 2 epochs (or 1/8 of the run), linear decay
        warm = max(1, min(2 * steps_per_epoch, total // 8))
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: min((step + 1) / warm, max(0.0, (total - step) / (total - warm)))
        )
    return None


@torch.no_grad()
def predict(
    model: Classifier, images: np.ndarray, cfg: TrainConfig, device: str, features: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and penultimate features) for uint8 NHWC images, in eval mode, in large batches."""
    model.eval()
    logits, feats = [], []
    for i in range(0, len(images), cfg.eval_batch_size):
        x = to_input(torch.from_numpy(images[i : i + cfg.eval_batch_size]).to(device), cfg.mean, cfg.std)
        with autocast(cfg, device):
            out, h = model.forward_features(x)
        logits.append(out.float().cpu())
        if features:
            feats.append(h.float().cpu())
    num_classes = model.head.weight.shape[0]
    out = torch.cat(logits).numpy() if logits else np.zeros((0, num_classes), np.float32)
    return out, (torch.cat(feats).numpy() if feats else None)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def train_epoch(net, opt, sched, x_train, y_train, cfg, epoch, device, dist_info, progress) -> dict:
    """One pass over the training set in the run's seeded order; returns loss and accuracy.

    Every rank draws the same global batch and trains on its slice (see distributed.py).
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
    bar = tqdm(range(steps), desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=not progress)
    for step in bar:
        idx = perm[step * bs : (step + 1) * bs].to(device)
        xb = random_crop_flip(x_train[idx], cfg.crop_padding, cfg.flip, gen)
        yb = y_train[idx]
        if dist_info.enabled:
            xb, yb = xb[dist_info.rank :: dist_info.world], yb[dist_info.rank :: dist_info.world]
        with autocast(cfg, device):
            logits = net(to_input(xb, cfg.mean, cfg.std))
            loss = F.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if isinstance(sched, torch.optim.lr_scheduler.LambdaLR):
            sched.step()
        total_loss += loss.detach() * len(yb)
        total_correct += (logits.argmax(1) == yb).sum()
        seen += len(yb)
        if progress and step % 10 == 0:
            bar.set_postfix(loss=f"{total_loss.item() / seen:.3f}", acc=f"{total_correct.item() / seen:.3f}")
    loss_sum, correct_sum, count = distributed.all_sum(
        [total_loss.item(), total_correct.item(), float(seen)], dist_info, device)
    return {"train_loss": loss_sum / max(count, 1), "train_acc": correct_sum / max(count, 1)}


def autocast(cfg: TrainConfig, device: str):
    """bf16 autocast when the config asks for it; a no-op context otherwise."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")


def _start_or_resume(out: Path, resume: bool, overwrite: bool) -> tuple[bool, dict | None]:
    """Rank 0 prepares the folder: (resuming, summary if the run had already finished)."""
    resuming = runs.prepare_out_dir(out, resume, overwrite)
    if resuming and runs.is_finished(out) and not (out / runs.STATE).exists():
        return True, read_json(out / runs.SUMMARY)
    return resuming, None


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
    resuming, finished = distributed.on_main(info, _start_or_resume, out, resume, overwrite)
    if finished is not None:
        return finished
    main = info.is_main
    progress = progress and main
    if resuming:
        cfg = TrainConfig.from_dict(read_json(out / runs.CONFIG)["config"])
    t0 = time.time()
    try:
        train_set, val_set = load_train_val(cfg, data_dir)
        cfg = resolve(cfg, train_set.image_size)
    except BaseException:
        if main and not resuming and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # bad data or options: leave no empty run folder behind
        raise
    if cfg.precision == "bf16" and not device.startswith("cuda") and main:
        # bench/results/train-cpu-reduced-*.json: bf16 autocast ran 7-11x slower than fp32 on a CPU
        # without bf16 units; the run still works, so warn rather than refuse.
        warnings.warn("bf16 autocast on a CPU is usually far slower than fp32 (7-11x in "
                      "bench/results); pass --precision fp32 unless this CPU has bf16 units",
                      stacklevel=2)
    if cfg.batch_size % info.world:
        raise RobevalError(f"--batch-size {cfg.batch_size} (the global batch) must divide by the "
                           f"{info.world} processes")
    spec = model_spec(cfg, train_set)
    model = build_model(spec)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    net = distributed.wrap(model, info, device)
    model = net.module if info.enabled else net  # SyncBatchNorm may have replaced modules
    opt = make_optimizer(model, cfg, device)
    steps_per_epoch = max(1, len(train_set) // min(cfg.batch_size, len(train_set)))
    sched = make_scheduler(opt, cfg, steps_per_epoch)
    if cfg.compile:
        net = torch.compile(net)

    state = load_checkpoint(out / runs.STATE, device) if resuming and (out / runs.STATE).exists() else None
    if state is None:
        if main:
            write_json(out / runs.CONFIG, {
                "config": cfg.to_dict(), "model": spec.to_dict(), "variant": cfg.variant,
                "dataset": {"name": cfg.dataset, "classes": train_set.classes,
                            "image_size": train_set.image_size,
                            "n_train": len(train_set), "n_val": len(val_set)},
                "distributed": {"world_size": info.world, "global_batch": cfg.batch_size},
                "environment": environment(device),
            })
            write_text(out / runs.METRICS, "")
        history, best = [], {"val_acc": -1.0, "epoch": 0}
    else:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        history, best = list(state["history"]), dict(state["best"])
        if main:
            write_text(out / runs.METRICS, "".join(json.dumps(row) + "\n" for row in history))

    x_train = torch.from_numpy(train_set.images).to(device)
    y_train = torch.from_numpy(train_set.labels).to(device)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
        row.update(train_epoch(net, opt, sched, x_train, y_train, cfg, epoch, device, info, progress))
        val_logits, _ = predict(model, val_set.images, cfg, device)  # every rank: same weights, same answer
        row["val_acc"] = float((val_logits.argmax(1) == val_set.labels).mean())
        row["time_s"] = round(time.time() - t0, 2)
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(row["val_acc"])
        history.append(row)
        improved = row["val_acc"] > best["val_acc"]
        if improved:
            best = {"val_acc": row["val_acc"], "epoch": epoch}
        if main:
            if improved:
                save_checkpoint(out / runs.BEST, {"model": model.state_dict()})
            save_checkpoint(out / runs.STATE, {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else {},
                "history": history, "best": best,
            })
            append_jsonl(out / runs.METRICS, row)
        if progress:
            tqdm.write(f"  epoch {epoch:3d}  loss {row['train_loss']:.4f}  train {row['train_acc']:.3f}"
                       f"  val {row['val_acc']:.3f}  lr {row['lr']:.2g}")
        distributed.barrier(info)

    distributed.check_replicas(model, info, device)
    summary = {
        "variant": cfg.variant, "seed": cfg.seed, "epochs": cfg.epochs,
        "best_val_acc": best["val_acc"], "best_epoch": best["epoch"],
        "last_val_acc": history[-1]["val_acc"] if history else None,
        "last_train_acc": history[-1]["train_acc"] if history else None,
        "train_wall_s": round(time.time() - t0, 2),
        "world_size": info.world,
    }
    if main:
        save_checkpoint(out / runs.LAST, {"model": model.state_dict()})
        write_json(out / runs.SUMMARY, summary)
        (out / runs.STATE).unlink(missing_ok=True)
    distributed.barrier(info)
    return summary


def load_run_model(run_dir: str | Path, which: str = "best", device: str = "cpu") -> tuple[Classifier, TrainConfig, dict]:
    """(model with weights, resolved config, config.json) for a finished run."""
    path, config = runs.open_run(run_dir)
    if which not in runs.CHECKPOINTS:
        raise RobevalError(f"unknown checkpoint {which!r}; choose one of: {', '.join(runs.CHECKPOINTS)}")
    cfg = TrainConfig.from_dict(config["config"])
    model = build_model(ModelSpec(**config["model"]))
    state = load_checkpoint(path / runs.CHECKPOINTS[which], device)
    try:
        model.load_state_dict(state["model"] if "model" in state else state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise RobevalError(f"{path / runs.CHECKPOINTS[which]} does not fit this run's model: "
                           f"{str(exc).splitlines()[0][:200]}") from None
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device), cfg, config
