"""Encoder + head as one module, built from a plain spec dict (the run's config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from robeval.models.encoders import build_encoder
from robeval.models.heads import ClassifierHead


@dataclass
class ModelSpec:
    arch: str
    num_classes: int
    image_size: int = 32
    head: str = "learned"
    logits: str = "dot"
    scale: float = 1.0
    bias: bool = True
    init: str = "sphere"
    learn_scale: bool = False
    seed: int = 0
    margin: float = 0.0  # CosFace margin (training logits only)

    def to_dict(self) -> dict:
        return asdict(self)


class Classifier(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = build_encoder(spec.arch, spec.image_size)
        self.head = ClassifierHead(
            self.encoder.out_dim, spec.num_classes, spec.head, spec.logits, spec.scale,
            spec.bias, spec.init, spec.seed, spec.learn_scale, spec.margin,
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``labels`` (training only) let a margin head penalise the true class."""
        return self.head(self.encoder(x), labels)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, penultimate features) in one pass."""
        features = self.encoder(x)
        return self.head(features), features


def build_model(spec: ModelSpec) -> Classifier:
    """Same spec, same seed -> same initial weights (encoder init uses the spec's seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return Classifier(spec)
