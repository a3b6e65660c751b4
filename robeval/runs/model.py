"""A finished run's model, built from config.json and loaded from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from robeval.core.errors import RobevalError
from robeval.models import Classifier, ModelSpec, build_model
from robeval.models.checkpoint import first_line, load_checkpoint
from robeval.runs.layout import CHECKPOINTS, open_run
from robeval.training.config import TrainConfig


def load_run_model(run_dir: str | Path, which: str = "best", device: str = "cpu"
                   ) -> tuple[Classifier, TrainConfig, dict]:
    """(model with weights, resolved config, config.json) for a finished run."""
    path, config = open_run(run_dir)
    if which not in CHECKPOINTS:
        raise RobevalError(f"unknown checkpoint {which!r}; choose one of: {', '.join(CHECKPOINTS)}")
    cfg = TrainConfig.from_dict(config["config"])
    model = build_model(ModelSpec(**config["model"]))
    state = load_checkpoint(path / CHECKPOINTS[which], device)
    try:
        model.load_state_dict(state["model"] if "model" in state else state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise RobevalError(f"{path / CHECKPOINTS[which]} does not fit this run's model: "
                           f"{first_line(exc)}") from None
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device), cfg, config


def predict_kwargs(cfg: TrainConfig) -> dict:
    """The preprocessing and batching a run's config asks of models.inference.predict."""
    return {"mean": cfg.mean, "std": cfg.std, "batch_size": cfg.eval_batch_size,
            "precision": cfg.precision or "fp32"}
