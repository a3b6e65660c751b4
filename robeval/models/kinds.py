"""Head modes (``--head``) and logits kinds (``--logits``): one record each.

Torch is imported only inside the forward functions, so the config check, run naming, the CLI
and the report read these records without loading torch.

    LogitsKind("cosine", forward, uses_scale=True, normalised=True, formula="S·cos(h, w_c) + b_c")

Adding a logits kind is one record here: ``--logits``, the config check (``-S`` only where
``uses_scale``), the head (models/heads.py), run names, the presets' LR and weight decay
(training/presets.py), the report's words for it (``label``) and tests/test_registries.py read it.
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
    # what the presets fill in (training/presets.py): weight decay (the authors': 5e-4 for dot
    # models only); the authors' LR per head mode (absent: 0.1); the quick/cpu presets' LR at
    # S <= 2 (cosine: 0.5, where 0.1 leaves it far from converged; at larger S 0.1)
    weight_decay: float = 0.0
    authors_lr: tuple[tuple[str, float], ...] = ()
    small_scale_lr: float = 0.1

    def label(self, scale: float | None = None) -> str:
        """The kind in the report's words: 'dot', 'cosine S = 16' (S where it applies)."""
        return f"{self.name} S = {scale:g}" if self.uses_scale and scale is not None else self.name

    def authors_lr_for(self, head: str) -> float:
        return dict(self.authors_lr).get(head, 0.1)


def logits_label(name: str, scale: float | None) -> str:
    """A logits kind and its S in words; also for a kind no record names any more (a run folder
    written with it): its name, with S when the run has one."""
    if name in LOGITS_KINDS:
        return LOGITS_KINDS.get(name).label(scale)
    return name if scale is None else f"{name} S = {scale:g}"


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
for _kind in (LogitsKind("dot", _dot, uses_scale=False, normalised=False, formula="h·w_c + b_c",
                         weight_decay=5e-4, authors_lr=(("learned", 0.001),)),
              LogitsKind("cosine", _cosine, uses_scale=True, normalised=True,
                         formula="S·cos(h, w_c) + b_c", uses_margin=True, small_scale_lr=0.5)):
    LOGITS_KINDS.add(_kind)
