"""Layer 1 component, models: encoders, the classification head (head modes, logits kinds and
class-vector inits are registries of records), checkpoints and inference.

Imports only ``robeval.core``; never data, corruptions, analysis, training or anything above.
"""

from robeval.models.classifier import Classifier, ModelSpec, build_model
from robeval.models.encoders import ENCODERS, build_encoder
from robeval.models.heads import (
    HEAD_MODES,
    INITS,
    LOGITS_KINDS,
    ClassifierHead,
    HeadMode,
    LogitsKind,
    draw_class_vectors,
)

__all__ = [
    "ENCODERS", "HEAD_MODES", "INITS", "LOGITS_KINDS", "Classifier", "ClassifierHead", "HeadMode",
    "LogitsKind", "ModelSpec", "build_encoder", "build_model", "draw_class_vectors",
]
