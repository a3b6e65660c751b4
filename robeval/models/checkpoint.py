"""Checkpoints: plain tensor dicts that load with ``torch.load(weights_only=True)``.

Formats understood by ``load_foreign_state``:

- robeval: ``{"model": state_dict}`` with ``encoder.*`` and ``head.*`` keys.
- the authors' (MLSpeech/FixedClassificationLayer): ``{"model_state": state_dict, ...}`` of
  their ResNet-18 (our ``resnet18-authors`` parameter names) plus separate ``embedding`` (d x C)
  and ``bias`` (C) tensors saved with ``torch.save``.
- a plain torchvision/timm-style state dict of the encoder, optionally with the class layer as
  ``fc.weight``/``fc.bias``, ``linear.*``, ``classifier.*`` or ``head.*`` (C x d).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from robeval.core.errors import RobevalError
from robeval.core.fileio import atomic_path

HEAD_PREFIXES = ("fc.", "linear.", "classifier.", "head.fc.", "head.")


def save_checkpoint(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict:
    """Load with ``weights_only=True``; a damaged or foreign file gives a RobevalError."""
    path = Path(path)
    if not path.is_file():
        raise RobevalError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise RobevalError(
            f"cannot read checkpoint {path}: {str(exc).splitlines()[0][:200]} "
            "(truncated or not a PyTorch file? re-train, or pass --resume to finish the run)"
        ) from None


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_foreign_state(
    path: str | Path, embedding: str | Path | None = None, bias: str | Path | None = None
) -> tuple[dict, torch.Tensor | None, torch.Tensor | None]:
    """(encoder state dict, class vectors C x d or None, bias or None) from a foreign checkpoint."""
    raw = load_checkpoint(path)
    if not isinstance(raw, dict):
        raise RobevalError(f"{path}: expected a state dict, found {type(raw).__name__}")
    state = raw.get("model_state") or raw.get("state_dict") or raw.get("model") or raw
    state = {k.removeprefix("module."): v for k, v in state.items() if torch.is_tensor(v)}
    if any(k.startswith("encoder.") for k in state):  # a robeval checkpoint
        head = _strip(state, "head.")
        return _strip(state, "encoder."), head.get("weight"), head.get("bias")
    weight = bias_t = None
    for prefix in HEAD_PREFIXES:
        if f"{prefix}weight" in state:
            weight, bias_t = state.pop(f"{prefix}weight"), state.pop(f"{prefix}bias", None)
            break
    if embedding is not None:  # the authors' separate d x C embedding file
        emb = load_checkpoint(embedding)
        weight = emb.detach().t().contiguous()
    if bias is not None:
        bias_t = load_checkpoint(bias).detach()
    return state, weight, bias_t
