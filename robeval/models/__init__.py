"""Encoders, heads and checkpoints."""

from robeval.models.classifier import Classifier, ModelSpec, build_model
from robeval.models.encoders import ENCODERS, build_encoder
from robeval.models.heads import INITS, LOGITS, TRAIN_MODES, ClassifierHead, draw_class_vectors

__all__ = [
    "ENCODERS", "INITS", "LOGITS", "TRAIN_MODES", "Classifier", "ClassifierHead", "ModelSpec",
    "build_encoder", "build_model", "draw_class_vectors",
]
