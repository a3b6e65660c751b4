"""Presets (``--preset``): records that fill in what the user did not set, per head and image size.

- ``authors``: the authors' published protocol (MLSpeech/FixedClassificationLayer): SGD Nesterov,
  momentum 0.9; LR 0.001 for learned-dot and 0.1 for the other three; weight decay 5e-4 for dot
  models only; ReduceLROnPlateau (max, x0.2, patience 3) on VALIDATION accuracy (the authors used
  test accuracy; robeval never does); 80 epochs; batch 32; random crop (pad 10 at 96 px, 4 at
  32 px) + flip; normalise with mean = std = 0.5.
- ``fast``: for a GPU: 16 epochs, batch 512, LR 0.2 with a 2-epoch linear warm-up then linear
  decay to 0 ("onecycle"), weight decay 5e-4 for dot models only, bf16 autocast, channels_last.
- ``quick``: a CPU demo: 6 epochs, batch 64, LR 0.1 for every head, cosine-annealed, weight
  decay 5e-4 for dot models only, same augmentation.

Adding a preset is one ``Preset`` record here; ``--preset`` and the tests read PRESETS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robeval.core.registry import Registry


@dataclass(frozen=True)
class Preset:
    name: str
    fill: Callable[[Any, int], dict[str, Any]]  # (TrainConfig, image size) -> field values
    description: str


PRESETS: Registry[Preset] = Registry("preset")


def padding(image_size: int) -> int:
    """Random-crop padding: the authors' 10 px at 96 px, else 1/8 of the side (4 at 32 px)."""
    return 10 if image_size == 96 else max(1, image_size // 8)


def _dot_decay(cfg) -> float:
    return 5e-4 if cfg.logits == "dot" else 0.0


def _authors(cfg, image_size: int) -> dict[str, Any]:
    return {
        "epochs": 80,
        "batch_size": 32,
        "lr": 0.001 if (cfg.head, cfg.logits) == ("learned", "dot") else 0.1,
        "weight_decay": _dot_decay(cfg),
        "scheduler": "plateau",
        "crop_padding": padding(image_size),
    }


def _quick(cfg, image_size: int) -> dict[str, Any]:
    return {
        "epochs": 6,
        "batch_size": 64,
        "lr": 0.1,
        "weight_decay": _dot_decay(cfg),
        "scheduler": "cosine",
        "crop_padding": padding(image_size),
    }


def _fast(cfg, image_size: int) -> dict[str, Any]:
    return {
        "epochs": 16,
        "batch_size": 512,
        "lr": 0.2,
        "weight_decay": _dot_decay(cfg),
        "scheduler": "onecycle",
        "crop_padding": padding(image_size),
        "precision": "bf16",
    }


for _preset in (
    Preset("authors", _authors,
           "the paper's protocol: SGD Nesterov 0.9; LR 0.001 learned-dot, else 0.1; wd 5e-4 dot only; "
           "ReduceLROnPlateau x0.2 patience 3 on validation accuracy; 80 epochs; batch 32"),
    Preset("quick", _quick, "CPU demos: 6 epochs, batch 64, LR 0.1 cosine-annealed"),
    Preset("fast", _fast, "GPU: 16 epochs, batch 512, bf16, one-cycle LR 0.2"),
):
    PRESETS.add(_preset.name, _preset)
