"""Batched augmentation on uint8 NHWC tensors: the same code and the same random draws on CPU and
CUDA (offsets come from a CPU generator), so a run's augmentation does not depend on the device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robeval.models.inference import to_input

__all__ = ["random_crop_flip", "to_input"]


def random_crop_flip(
    images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Zero-pad by ``padding``, crop back to H x W at a random offset, flip half horizontally."""
    n, h, w, _ = images.shape
    if padding > 0:
        padded = F.pad(images, (0, 0, padding, padding, padding, padding))
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
        rows = (oy[:, None] + torch.arange(h, device=images.device))[:, :, None]
        cols = (ox[:, None] + torch.arange(w, device=images.device))[:, None, :]
        images = padded[torch.arange(n, device=images.device)[:, None, None], rows, cols]
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(images.device)
        images = torch.where(mask[:, None, None, None], images.flip(2), images)
    return images
