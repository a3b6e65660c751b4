"""Head modes (``--head``) and logits kinds (``--logits``): one record each.

Torch is imported only inside the forward functions, so the config check, run naming, the CLI
and the report read these records without loading torch.

    LogitsKind("cosine", forward, uses_scale=True, normalised=True, formula="S·cos(h, w_c) + b_c")

Adding a logits kind is one record here: ``--logits``, the config check (``-S`` only where
``uses_scale``), the head (models/heads.py), run names and tests/test_registries.py read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from robeval.core.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class HeadMode:
    """``--head``: whether the class vectors (and bias) are trained or frozen buffers."""

    name: str
    trainable: bool
    description: str = ""


@dataclass(frozen=True)
class LogitsKind:
    """``--logits``: features x class vectors -> logits. ``uses_scale``: S applies (and ``-S`` is
    accepted); ``normalised``: logits depend on feature and class-vector directions only."""

    name: str
    forward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (h, W, S)
    uses_scale: bool
    normalised: bool
    formula: str = ""
    uses_margin: bool = False  # CosFace's additive margin m (``--margin``) applies in training


HEAD_MODES: Registry[HeadMode] = Registry("head")
LOGITS_KINDS: Registry[LogitsKind] = Registry("logits kind")


def _dot(h: torch.Tensor, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return h @ w.t()


def _cosine(h: torch.Tensor, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return scale * (F.normalize(h, dim=1) @ F.normalize(w, dim=1).t())


for _mode in (HeadMode("learned", True, "class vectors and bias are trained"),
              HeadMode("fixed", False, "drawn from the seed and frozen (buffers, never optimised)")):
    HEAD_MODES.add(_mode)
for _kind in (LogitsKind("dot", _dot, uses_scale=False, normalised=False, formula="h·w_c + b_c"),
              LogitsKind("cosine", _cosine, uses_scale=True, normalised=True,
                         formula="S·cos(h, w_c) + b_c", uses_margin=True)):
    LOGITS_KINDS.add(_kind)
