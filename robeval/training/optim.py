"""Optimiser and LR schedulers. A scheduler is one record in SCHEDULERS: how it is built and
when it steps (after every batch, or once per epoch on validation accuracy).

    Scheduler("cosine", build=..., steps_on="batch")

Adding one is one record here; ``--scheduler`` choices, the config check and the training loop
read the registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from robeval.core.registry import Registry

if TYPE_CHECKING:  # torch is imported where a scheduler is built, so --help stays light
    import torch


@dataclass(frozen=True)
class Scheduler:
    name: str
    # (optimizer, config, steps per epoch) -> a torch scheduler, or None for a constant LR
    build: Callable[[torch.optim.Optimizer, object, int], object | None]
    steps_on: Literal["batch", "val_acc", "never"]
    description: str = ""


SCHEDULERS: Registry[Scheduler] = Registry("scheduler")


def _plateau(opt, cfg, steps_per_epoch):
    import torch

    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
        threshold_mode="abs",
    )


def _cosine(opt, cfg, steps_per_epoch):
    import torch

    total = cfg.epochs * steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )


def _onecycle(opt, cfg, steps_per_epoch):
    import torch

    total = cfg.epochs * steps_per_epoch
    warm = max(1, min(2 * steps_per_epoch, total // 8))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min((step + 1) / warm, max(0.0, (total - step) / (total - warm)))
    )


for _record in (
    Scheduler("plateau", _plateau, "val_acc",
              "ReduceLROnPlateau on validation accuracy (factor, patience from the config)"),
    Scheduler("cosine", _cosine, "batch", "cosine annealing to 0 over the run, per batch"),
    Scheduler("onecycle", _onecycle, "batch",
              "linear warm-up over 2 epochs (or 1/8 of the run), then linear decay to 0"),
    Scheduler("none", lambda opt, cfg, steps: None, "never", "constant learning rate"),
):
    SCHEDULERS.add(_record)


PLATEAU_TOLERANCE = 0.01  # validation accuracy of the last two epochs within 1 pp


def plateau(history: list[dict], tolerance: float = PLATEAU_TOLERANCE) -> dict:
    """Whether a run ended at its plateau: the change of validation accuracy over its last two
    epochs is within ``tolerance``. Runs of one epoch cannot show a plateau."""
    vals = [row["val_acc"] for row in history]
    change = abs(vals[-1] - vals[-2]) if len(vals) >= 2 else None
    return {"at_plateau": within_plateau(change, tolerance), "last_change": change,
            "tolerance": tolerance}


def within_plateau(change: float | None, tolerance: float) -> bool:
    """A last change of validation accuracy within ``tolerance``; None (one epoch) is not."""
    # exactly 1 pp (10 of 1,000 images) counts as within: compare past float rounding
    return change is not None and change <= tolerance + 1e-9


def make_optimizer(model: torch.nn.Module, cfg, device: str = "cpu") -> torch.optim.Optimizer:
    """SGD over trainable parameters only: fixed class vectors are buffers and never appear here.

    One fused kernel per step on CUDA; the multi-tensor (foreach) path on CPU.
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    fast = {"fused": True} if device.startswith("cuda") else {"foreach": True}
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay, **fast,
    )


def make_scheduler(opt: torch.optim.Optimizer, cfg, steps_per_epoch: int):
    """(scheduler record, built scheduler or None)."""
    record = SCHEDULERS.get(cfg.scheduler)
    return record, record.build(opt, cfg, steps_per_epoch)
