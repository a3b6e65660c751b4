"""Encoder + head as one module, built from a plain config dict (the run's config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from robeval.models.encoders import build_encoder
from robeval.models.heads import ClassifierHead


@dataclass
class ModelConfig:
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


ModelSpec = ModelConfig  # deprecated: the old name, kept for one release


class Classifier(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.arch, config.image_size)
        self.head = ClassifierHead(
            self.encoder.out_dim, config.num_classes, config.head, config.logits, config.scale,
            config.bias, config.init, config.seed, config.learn_scale, config.margin,
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``labels`` (training only) let a margin head penalise the true class."""
        return self.head(self.encoder(x), labels)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, penultimate features) in one pass."""
        features = self.encoder(x)
        return self.head(features), features


def build_model(config: ModelConfig) -> Classifier:
    """Same config, same seed -> same initial weights (encoder init uses the config's seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return Classifier(config)
