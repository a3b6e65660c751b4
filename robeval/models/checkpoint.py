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
    if path.stat().st_size == 0:
        raise RobevalError(f"{path} is empty (0 bytes): re-train, or pass --resume to finish the run")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, map_location)
    damaged = ("(truncated or not a PyTorch file? a run's own checkpoint: re-train, or pass --resume "
               "to finish the run)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # the weights-only unpickler names the class a whole-model pickle needs ("Unsupported
        # global: GLOBAL ..."); bytes that are no pickle at all fail on an opcode instead
        if "weights only" in str(exc).lower() and "global" in str(exc).lower():
            raise RobevalError(
                f"{path} holds pickled Python objects (a whole model?), which robeval never unpickles; "
                "save the weights instead: torch.save(model.state_dict(), 'model.pt')"
            ) from None
        raise RobevalError(f"cannot read checkpoint {path}: its bytes are not a pickle {damaged}") from None
    except RuntimeError as exc:
        if "TorchScript" in str(exc):
            raise RobevalError(f"{path} is a TorchScript file: import it with --arch torchscript") from None
        raise RobevalError(f"cannot read checkpoint {path}: {first_line(exc)} {damaged}") from None
    except (EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise RobevalError(f"cannot read checkpoint {path}: {first_line(exc)} {damaged}") from None
    except Exception as exc:  # other bytes (a text file) fail inside the unpickler: KeyError, IndexError
        raise RobevalError(f"cannot read checkpoint {path}: not a file torch.save wrote "
                           f"({type(exc).__name__}) {damaged}") from None


def _load_safetensors(path: Path, map_location: str) -> dict:
    """A .safetensors file (tensors only, never code); needs the safetensors package."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise RobevalError(f"{path} is a safetensors file: pip install safetensors") from None
    try:
        return load_file(str(path), device=map_location)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise RobevalError(f"cannot read safetensors file {path}: {first_line(exc)}") from None


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line (its type when the message is empty), for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


WRAPPERS = ("model_state", "state_dict", "model", "net", "module")  # what training scripts nest under


def unwrap_state(raw: dict) -> dict:
    """The tensor dict inside common wrappers ({'state_dict': ...}, {'net': ...}, ...), with
    DataParallel's ``module.`` prefixes removed."""
    state = raw
    while isinstance(state, dict) and not any(torch.is_tensor(v) for v in state.values()):
        inner = next((state[k] for k in WRAPPERS if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, dict):
        return {}
    return {k.removeprefix("module."): v for k, v in state.items() if torch.is_tensor(v)}


def describe_mismatch(module: torch.nn.Module, state: dict, few: int = 4) -> str:
    """Missing and unexpected keys and shape mismatches of ``state`` for ``module``, a few each."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - few} more)" if len(items) > few else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:few])}{more}")
    return "; ".join(parts) or "keys and shapes agree"


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_foreign_state(
    path: str | Path, embedding: str | Path | None = None, bias: str | Path | None = None
) -> tuple[dict, torch.Tensor | None, torch.Tensor | None]:
    """(encoder state dict, class vectors C x d or None, bias or None) from a foreign checkpoint."""
    raw = load_checkpoint(path)
    if not isinstance(raw, dict):
        raise RobevalError(f"{path}: expected a state dict, found {type(raw).__name__}")
    state = unwrap_state(raw)
    if not state:
        raise RobevalError(f"{path}: found no tensors (looked inside {', '.join(WRAPPERS)}); "
                           "save the weights with torch.save(model.state_dict(), 'model.pt')")
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
        if not torch.is_tensor(emb) or emb.ndim != 2:
            raise RobevalError(f"{embedding}: expected one d x C tensor (the authors' embedding), "
                               f"found {_what(emb)}")
        weight = emb.detach().t().contiguous()
    if bias is not None:
        bias_t = load_checkpoint(bias)
        if not torch.is_tensor(bias_t) or bias_t.ndim != 1:
            raise RobevalError(f"{bias}: expected one tensor of C biases, found {_what(bias_t)}")
        bias_t = bias_t.detach()
    return state, weight, bias_t


def _what(obj) -> str:
    return (f"a tensor of shape {tuple(obj.shape)}" if torch.is_tensor(obj)
            else f"a {type(obj).__name__}")
