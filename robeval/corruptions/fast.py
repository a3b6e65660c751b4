"""The fast backend: batched torch on CPU or CUDA for impulse noise and defocus blur.

Impulse noise draws the same distribution as skimage's s&p (each channel value flipped with
probability p, salt or pepper with equal odds) but not the same random numbers: flipped positions
come from geometric gaps whose uniforms are a counter-based hash of (image key, draw number), so
a batch needs only about p * H * W * 3 hashes per image, and CPU and CUDA give the same pixels.
Defocus blur is one depthwise convolution with Hendrycks' kernel, cropped to its non-zero
support, with reflect-101 padding (OpenCV's default border); it is float32, so it agrees with the
float64 reference to within one grey level.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from robeval.corruptions.reference import disk
from robeval.corruptions.seeding import MASK32, hash32

_GOLDEN = 0x9E3779B1 & 0x7FFFFFFF  # odd and < 2**31: no int64 overflow in j * _GOLDEN
_SALT_TWEAK = 0x632BE5AB


@lru_cache(maxsize=64)
def _gap_thresholds(amount: float) -> np.ndarray:
    """Integer thresholds T_k = ceil(2^32 (1 - (1-p)^k)): a gap is 1 + #{k: T_k <= u32}."""
    k_max = math.ceil(32 * math.log(2) / -math.log1p(-amount)) + 1
    k = np.arange(1, k_max + 1, dtype=np.float64)
    return np.minimum(np.ceil(2.0**32 * -np.expm1(k * math.log1p(-amount))), 2.0**32).astype(np.int64)


def impulse_noise(images: torch.Tensor, amount: float, keys: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> same, with s&p noise; ``keys`` (N,) int64 per-image 32-bit keys."""
    n_img = images.shape[0]
    n = images[0].numel()
    out = images.clone()
    if amount <= 0 or n_img == 0:
        return out
    device = images.device
    thresholds = torch.from_numpy(_gap_thresholds(float(amount))).to(device)
    flat = out.view(n_img, n)
    keys = keys.to(device).view(n_img, 1)
    expected = n * amount
    draws = int(math.ceil(expected + 8 * math.sqrt(expected) + 16))
    start, last = 0, torch.full((n_img, 1), -1, dtype=torch.int64, device=device)
    rows_all = torch.arange(n_img, device=device)
    while True:  # usually once; more draws only if some image has not yet passed its last value
        j = torch.arange(start, start + draws, dtype=torch.int64, device=device)
        u = hash32(((j * _GOLDEN) & MASK32).view(1, -1) ^ keys)
        gaps = torch.searchsorted(thresholds, u, right=True) + 1
        pos = last + gaps.cumsum(1)
        salt = hash32(u ^ _SALT_TWEAK) & 1
        valid = pos < n
        rows = rows_all.view(-1, 1).expand_as(pos)[valid]
        flat[rows, pos[valid]] = (salt[valid] * 255).to(torch.uint8)
        last = pos[:, -1:]
        if bool((last >= n).all()):
            return out
        start += draws


@lru_cache(maxsize=64)
def cropped_disk(radius: float, alias_blur: float) -> np.ndarray:
    """Hendrycks' kernel without its all-zero border (zeros add nothing under any padding)."""
    kernel = disk(radius, alias_blur).astype(np.float64)
    nz = np.flatnonzero(np.abs(kernel).sum(0) > 0)
    half = max(int(kernel.shape[0] // 2 - nz.min()), int(nz.max() - kernel.shape[0] // 2))
    c = kernel.shape[0] // 2
    return kernel[c - half: c + half + 1, c - half: c + half + 1]


def defocus_blur(images: torch.Tensor, radius: float, alias_blur: float) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> same: 0-255 float32 correlation, clip, truncate (as np.uint8)."""
    n_img, h, w, _ = images.shape
    kernel = torch.from_numpy(cropped_disk(float(radius), float(alias_blur)).astype(np.float32))
    half = kernel.shape[0] // 2
    x = images.permute(0, 3, 1, 2).reshape(n_img * 3, 1, h, w).float()
    if half:
        x = F.pad(x, (half, half, half, half), mode="reflect")
    y = F.conv2d(x, kernel.to(images.device).view(1, 1, *kernel.shape))
    y = y.clamp_(0, 255).floor_().to(torch.uint8)
    return y.view(n_img, 3, h, w).permute(0, 2, 3, 1).contiguous()


BATCHED = {
    "impulse_noise": lambda x, p, keys: impulse_noise(x, p["amount"], keys),
    "defocus_blur": lambda x, p, keys: defocus_blur(x, p["radius"], p["alias_blur"]),
}
