"""Run configuration: one dataclass, presets that fill in what the user did not set.

Presets (``--preset``):

- ``authors``: the authors' published protocol (MLSpeech/FixedClassificationLayer): SGD Nesterov,
  momentum 0.9; LR 0.001 for learned-dot and 0.1 for the other three; weight decay 5e-4 for dot
  models only; ReduceLROnPlateau (max, x0.2, patience 3) on VALIDATION accuracy (the authors used
  test accuracy; robeval never does); 80 epochs; batch 32; random crop (pad 10 at 96 px, 4 at
  32 px) + flip; normalise with mean = std = 0.5.
- ``fast``: for a GPU: 16 epochs, batch 512, LR 0.2 with a 2-epoch linear warm-up then linear
  decay to 0 ("onecycle"), weight decay 5e-4 for dot models only, bf16 autocast, channels_last.
- ``quick``: a CPU demo: 6 epochs, batch 64, LR 0.1 for every head, cosine-annealed, weight
  decay 5e-4 for dot models only, same augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from robeval.errors import RobevalError
from robeval.registry import Registry


@dataclass
class TrainConfig:
    dataset: str = "shapes"
    arch: str = "smallcnn"
    head: str = "learned"
    logits: str = "dot"
    scale: float | None = None  # cosine S; None -> 1.0 for cosine, unused for dot
    bias: bool = True
    init: str = "sphere"
    learn_scale: bool = False
    seed: int = 0
    preset: str = "quick"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    nesterov: bool = True
    scheduler: str | None = None  # plateau | cosine | none
    plateau_factor: float = 0.2
    plateau_patience: int = 3
    crop_padding: int | None = None
    flip: bool = True
    mean: float = 0.5
    std: float = 0.5
    val_fraction: float = 0.1
    max_train: int | None = None  # use only the first N training images (after the val split)
    eval_batch_size: int = 512
    precision: str | None = None  # fp32 | bf16 (autocast); None -> the preset's, else fp32
    channels_last: bool = True
    compile: bool = False  # torch.compile the training model

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def variant(self) -> str:
        """Short name of the head variant, e.g. 'fixed-cosine-S1'."""
        s = f"-S{self.scale:g}" if self.logits == "cosine" else ""
        init = "" if self.init == "sphere" else f"-{self.init}"
        return f"{self.head}-{self.logits}{s}{init}"


Preset = Callable[[TrainConfig, int], dict[str, Any]]
PRESETS: Registry[Preset] = Registry("preset")


def _padding(image_size: int) -> int:
    return 10 if image_size == 96 else max(1, image_size // 8)


@PRESETS.register("authors")
def authors_preset(cfg: TrainConfig, image_size: int) -> dict[str, Any]:
    return {
        "epochs": 80,
        "batch_size": 32,
        "lr": 0.001 if (cfg.head, cfg.logits) == ("learned", "dot") else 0.1,
        "weight_decay": 5e-4 if cfg.logits == "dot" else 0.0,
        "scheduler": "plateau",
        "crop_padding": _padding(image_size),
    }


@PRESETS.register("quick")
def quick_preset(cfg: TrainConfig, image_size: int) -> dict[str, Any]:
    return {
        "epochs": 6,
        "batch_size": 64,
        "lr": 0.1,
        "weight_decay": 5e-4 if cfg.logits == "dot" else 0.0,
        "scheduler": "cosine",
        "crop_padding": _padding(image_size),
    }


@PRESETS.register("fast")
def fast_preset(cfg: TrainConfig, image_size: int) -> dict[str, Any]:
    return {
        "epochs": 16,
        "batch_size": 512,
        "lr": 0.2,
        "weight_decay": 5e-4 if cfg.logits == "dot" else 0.0,
        "scheduler": "onecycle",
        "crop_padding": _padding(image_size),
        "precision": "bf16",
    }


SCHEDULERS = ("plateau", "cosine", "onecycle", "none")
DEFAULTS = {"precision": "fp32"}  # what a preset does not set
PRECISIONS = ("fp32", "bf16")


def resolve(cfg: TrainConfig, image_size: int) -> TrainConfig:
    """Fill unset fields from the preset and check the combination; returns a new config."""
    if cfg.logits == "dot" and cfg.scale is not None:
        raise RobevalError(
            "--scale applies to cosine logits only (dot logits have no S); drop it or use --logits cosine"
        )
    if cfg.logits == "cosine" and cfg.scale is None:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "scale": 1.0})
    if cfg.scale is not None and not cfg.scale > 0:
        raise RobevalError(f"the cosine scale S must be > 0, got {cfg.scale}")
    if not 0 < cfg.val_fraction < 1:
        raise RobevalError(f"--val-fraction must lie in (0, 1), got {cfg.val_fraction}")
    filled = PRESETS.get(cfg.preset)(cfg, image_size)
    d = cfg.to_dict()
    for key, value in {**DEFAULTS, **filled}.items():
        if d[key] is None:
            d[key] = value
    out = TrainConfig.from_dict(d)
    if out.scheduler not in SCHEDULERS:
        raise RobevalError(f"unknown scheduler {out.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}")
    for name in ("epochs", "batch_size"):
        if getattr(out, name) < 1:
            raise RobevalError(f"--{name.replace('_', '-')} must be >= 1")
    if out.precision not in PRECISIONS:
        raise RobevalError(f"unknown precision {out.precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if not out.lr > 0:
        raise RobevalError(f"--lr must be > 0, got {out.lr}")
    return out
