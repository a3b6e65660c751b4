"""Running a classifier on uint8 images: normalisation, batching, optional bf16 autocast.

Takes plain numbers (mean, std, batch size, precision), not a training config, so evaluation
needs nothing from the training machinery.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from robeval.models.classifier import Classifier


def to_input(images: torch.Tensor, mean: float | Sequence[float],
             std: float | Sequence[float]) -> torch.Tensor:
    """uint8 NHWC -> normalised float NCHW; ``mean``/``std`` one number or one per channel."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
        return x.sub_(mean).div_(std)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def autocast(device: str, precision: str):
    """bf16 autocast when ``precision`` is 'bf16'; a no-op context otherwise."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                          enabled=precision == "bf16")


@torch.inference_mode()
def predict(
    model: Classifier, images: np.ndarray, device: str, *, mean: float | Sequence[float],
    std: float | Sequence[float],
    batch_size: int = 512, precision: str = "fp32", features: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and penultimate features) for uint8 NHWC images, in eval mode, in large batches.

    A model with its own preprocessing pipeline (an imported one: ``prepare_input``) gets the
    uint8 batch through it; otherwise the images are normalised with ``mean`` and ``std``."""
    model.eval()
    prepare = getattr(model, "prepare_input", None)
    logits, feats = [], []
    for i in range(0, len(images), batch_size):
        batch = images[i : i + batch_size]
        x = prepare(batch, device) if prepare is not None else None
        if x is None:
            x = to_input(torch.from_numpy(batch).to(device), mean, std)
        with autocast(device, precision):
            out, h = model.forward_features(x)
        logits.append(out.float().cpu())
        if features and h is not None:  # a TorchScript model gives no features
            feats.append(h.float().cpu())
    num_classes = model.head.weight.shape[0]
    out = torch.cat(logits).numpy() if logits else np.zeros((0, num_classes), np.float32)
    return out, (torch.cat(feats).numpy() if feats else None)
