"""Run configuration: one dataclass; ``with_preset_defaults`` fills what the user did not set
from the preset (training/presets.py) and checks the combination against the registries (heads,
logits kinds, schedulers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from robeval.core.errors import RobevalError
from robeval.models.kinds import HEAD_MODES, LOGITS_KINDS
from robeval.training.optim import SCHEDULERS
from robeval.training.presets import PRESETS


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
    margin: float = 0.0  # CosFace margin m (cosine logits, training only)
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
    mean: float | list[float] = 0.5  # one number, or one per channel (imports: --mean)
    std: float | list[float] = 0.5
    val_fraction: float = 0.1
    max_train: int | None = None  # use only the first N training images (after the val split)
    eval_batch_size: int = 512
    precision: str | None = None  # fp32 | bf16 (autocast); None -> the preset's, else fp32
    channels_last: bool = True
    compile: bool = False  # torch.compile the training model
    track: bool = True  # per-epoch geometry on a validation subset (training/track.py)
    # training images over which BatchNorm statistics are re-estimated after each epoch, before
    # validation (training/precise_bn.py); 0 keeps the running averages; None -> the preset's
    precise_bn_images: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{**STORED_BEFORE, **{k: v for k, v in d.items() if k in known}})


# fields added after runs were already stored: what a config.json without them meant, so a run
# resumed or re-evaluated after an upgrade keeps doing what it did (not the preset's new value)
STORED_BEFORE = {"precise_bn_images": 0}


_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
          "None": (type(None),), "list[float]": (list,)}
REQUIRED = ("dataset", "arch", "head", "logits", "seed")


def check_stored(d: Any, source: str) -> None:
    """A stored config (config.json's "config") has the fields and types TrainConfig declares:
    an edited or damaged file is refused here, not deep inside training or evaluation."""
    if not isinstance(d, dict):
        raise RobevalError(f"{source}: \"config\" is a {type(d).__name__}, not a mapping of settings; "
                           "re-create the run")
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise RobevalError(f"{source}: \"config\" lacks {', '.join(missing)}; re-create the run")
    for f in fields(TrainConfig):
        if f.name not in d:
            continue
        allowed = tuple(t for part in str(f.type).split("|") for t in _TYPES[part.strip()])
        value = d[f.name]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise RobevalError(f"{source}: \"{f.name}\" is {value!r}, not a {f.type}; the file was "
                               "edited or damaged: restore it or re-create the run")


# The largest learning rate, cosine scale, weight decay or margin accepted (CLI and config alike):
# larger ones overflow float32 arithmetic (--lr 1e308 did, inside the optimizer) and mean nothing.
LARGEST = 1e6
DEFAULTS = {"precision": "fp32"}  # what a preset does not set
PRECISIONS = ("fp32", "bf16")  # --precision: fp32, or bf16 autocast


def with_preset_defaults(cfg: TrainConfig, image_size: int) -> TrainConfig:
    """Fill unset fields from the preset and check the combination; returns a new config."""
    HEAD_MODES.get(cfg.head)
    kind = LOGITS_KINDS.get(cfg.logits)
    if not kind.uses_scale and cfg.scale is not None:
        raise RobevalError(
            f"--scale applies to cosine logits only ({cfg.logits} logits have no S); drop it or use "
            "--logits cosine"
        )
    if cfg.learn_scale and not kind.uses_scale:
        raise RobevalError(f"--learn-scale learns the cosine S; {cfg.logits} logits have none: drop "
                           "--learn-scale or use --logits cosine")
    if not (isinstance(cfg.margin, int | float) and 0 <= cfg.margin <= LARGEST):
        raise RobevalError(f"--margin must be a number in [0, {LARGEST:g}], got {cfg.margin}")
    if cfg.margin and not kind.uses_margin:
        raise RobevalError(f"--margin is CosFace's margin on cosine logits; {cfg.logits} logits have "
                           "none: drop --margin or use --logits cosine")
    if kind.uses_scale and cfg.scale is None:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "scale": 1.0})
    if cfg.scale is not None and not (0 < cfg.scale <= LARGEST):
        raise RobevalError(f"the cosine scale S must be a number in (0, {LARGEST:g}], got {cfg.scale}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**31:
        raise RobevalError(f"--seed must be an integer in [0, 2^31), got {cfg.seed!r}")
    if cfg.max_train is not None and cfg.max_train < 1:
        raise RobevalError(f"--max-train must be >= 1 (leave it out to use every image), got {cfg.max_train}")
    if not 0 < cfg.val_fraction < 1:
        raise RobevalError(f"--val-fraction must lie in (0, 1), got {cfg.val_fraction}")
    filled = PRESETS.get(cfg.preset).fill(cfg, image_size)
    d = cfg.to_dict()
    for key, value in {**DEFAULTS, **filled}.items():
        if d[key] is None:
            d[key] = value
    out = TrainConfig.from_dict(d)
    SCHEDULERS.get(out.scheduler)  # an unknown name is a RobevalError listing the choices
    for name in ("epochs", "batch_size"):
        if getattr(out, name) < 1:
            raise RobevalError(f"--{name.replace('_', '-')} must be >= 1")
    if out.precision not in PRECISIONS:
        raise RobevalError(f"unknown precision {out.precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if not 0 < out.lr <= LARGEST:
        raise RobevalError(f"--lr must be a number in (0, {LARGEST:g}], got {out.lr}")
    if not 0 <= out.weight_decay <= LARGEST:
        raise RobevalError(f"--weight-decay must be a number in [0, {LARGEST:g}], got {out.weight_decay}")
    if isinstance(out.precise_bn_images, bool) or not isinstance(out.precise_bn_images, int) \
            or out.precise_bn_images < 0:
        raise RobevalError(f"--precise-bn-images must be an integer >= 0 (0 keeps the running "
                           f"averages), got {out.precise_bn_images!r}")
    if not 0 <= out.momentum < 1:
        raise RobevalError(f"momentum must lie in [0, 1), got {out.momentum}")
    return out
