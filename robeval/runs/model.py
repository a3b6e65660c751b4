"""A finished run's model, built from config.json and loaded from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from robeval.core.errors import RobevalError
from robeval.models import Classifier, ModelConfig, build_model
from robeval.models.checkpoint import first_line, load_checkpoint
from robeval.models.preprocess import Pipeline, explicit_params
from robeval.models.sources import ForeignClassifier, build_source
from robeval.runs.layout import CHECKPOINTS, open_run
from robeval.training.config import TrainConfig


def load_run_model(run_dir: str | Path, which: str = "best", device: str = "cpu"
                   ) -> tuple[Classifier, TrainConfig, dict]:
    """(model with weights, resolved config, config.json) for a finished run."""
    path, config = open_run(run_dir)
    if which not in CHECKPOINTS:
        raise RobevalError(f"unknown checkpoint {which!r}; choose one of: {', '.join(CHECKPOINTS)}")
    cfg = TrainConfig.from_dict(config["config"])
    foreign = config.get("foreign")
    model = build_model(ModelConfig(**config["model"])) if foreign is None else \
        build_foreign(path, foreign, cfg)
    state = load_checkpoint(path / CHECKPOINTS[which], device)
    try:
        target = model if foreign is None else model.net
        target.load_state_dict(state["model"] if "model" in state else state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise RobevalError(f"{path / CHECKPOINTS[which]} does not fit this run's model: "
                           f"{first_line(exc)}") from None
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device), cfg, config


def build_foreign(path: Path, foreign: dict, cfg: TrainConfig) -> ForeignClassifier:
    """The network of an imported run (config.json's ``foreign``) with its preprocessing pipeline
    (``foreign.preprocess``; runs imported before pipelines were recorded: explicit, from
    ``config.mean/std`` and ``foreign.resize/crop``)."""
    if foreign["arch"] == "module":
        raise RobevalError(f"{path} was written by robeval.evaluate() from a Python nn.Module, which "
                           "a run folder cannot rebuild; evaluate it again with robeval.evaluate(model, ...)")
    script = path / foreign["file"] if foreign.get("file") else None
    net = build_source(foreign["arch"], foreign["num_classes"], script, foreign.get("kwargs"))
    if foreign.get("preprocess"):
        pipeline = Pipeline.from_record(foreign["preprocess"])
    else:
        pipeline = Pipeline("explicit", explicit_params(cfg.mean, cfg.std, foreign.get("resize"),
                                                        foreign.get("crop")))
    return ForeignClassifier(net, foreign["head_layer"], foreign["train"], pipeline)


def predict_kwargs(cfg: TrainConfig) -> dict:
    """The preprocessing and batching a run's config asks of models.inference.predict."""
    return {"mean": cfg.mean, "std": cfg.std, "batch_size": cfg.eval_batch_size,
            "precision": cfg.precision or "fp32"}
