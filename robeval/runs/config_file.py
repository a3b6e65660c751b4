"""The one writer of a run's ``config.json`` (trained and imported runs alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robeval.core.fileio import write_json
from robeval.runs.layout import CONFIG
from robeval.runs.naming import variant


def write_config(path: Path, cfg: Any, model_config: Any, dataset: dict, environment: dict,
                 **extra: Any) -> None:
    """config.json: the resolved TrainConfig, the ModelConfig, dataset facts, the environment
    record and any extra sections (``distributed``, ``imported``)."""
    write_json(path / CONFIG, {
        "config": cfg.to_dict(), "model": model_config.to_dict(), "variant": variant(cfg),
        "dataset": dataset, **extra, "environment": environment,
    })
