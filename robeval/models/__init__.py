"""Layer 1 component, models: encoders, the classification head (head modes and logits kinds in
kinds.py, class-vector inits in heads.py: registries of records), checkpoints and inference.

Imports only ``robeval.core``; never data, corruptions, analysis, training or anything above.
Names are loaded on first use (PEP 562), so ``robeval.models.kinds`` imports without torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Classifier": "classifier", "ModelConfig": "classifier", "build_model": "classifier",
    "ModelSpec": "classifier",  # deprecated: ModelConfig's old name
    "ENCODERS": "encoders", "build_encoder": "encoders",
    "INITS": "heads", "ClassifierHead": "heads", "draw_class_vectors": "heads",
    "HEAD_MODES": "kinds", "LOGITS_KINDS": "kinds", "HeadMode": "kinds", "LogitsKind": "kinds",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'robeval.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"robeval.models.{_WHERE[name]}"), name)
