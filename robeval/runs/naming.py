"""The one place a run's name and its head variant's name are made.

    variant(cfg)   'fixed-cosine-S1', 'learned-dot', 'fixed-cosine-S1-hadamard-learnS',
                   'learned-cosine-S30-m0.35' (CosFace)
    run_name(cfg)  'shapes-smallcnn-fixed-cosine-S1-seed0' (reproduce's and train's default folder)

Reports group and claims match runs on config fields; the variant is only a label.
"""

from __future__ import annotations

from typing import Any

from robeval.models.kinds import LOGITS_KINDS


def _get(cfg: Any, key: str, default=None):
    return cfg.get(key, default) if isinstance(cfg, dict) else getattr(cfg, key, default)


def variant(cfg: Any, with_scale: bool = True) -> str:
    """Short name of the head variant of a TrainConfig (or its dict); ``with_scale=False`` leaves
    S out (a tuning sweep chooses S per variant, stages/tuning.py)."""
    logits = _get(cfg, "logits")
    scale = _get(cfg, "scale")
    uses_scale = logits in LOGITS_KINDS and LOGITS_KINDS.get(logits).uses_scale
    s = f"-S{(1.0 if scale is None else scale):g}" if uses_scale and with_scale else ""
    init = _get(cfg, "init", "sphere")
    init = "" if init == "sphere" else f"-{init}"
    learn = "-learnS" if _get(cfg, "learn_scale", False) else ""
    margin = _get(cfg, "margin", 0.0) or 0.0
    m = f"-m{margin:g}" if margin else ""  # CosFace: runs with different margins never collide
    return f"{_get(cfg, 'head')}-{logits}{s}{m}{init}{learn}"


def run_name(cfg: Any) -> str:
    dataset = str(_get(cfg, "dataset")).replace(":", "_").replace("/", "_")
    lr = _get(cfg, "lr")
    swept = f"-lr{lr:g}" if lr is not None else ""  # an LR given (a sweep): one folder per value
    return f"{dataset}-{_get(cfg, 'arch')}-{variant(cfg)}{swept}-seed{_get(cfg, 'seed')}"
