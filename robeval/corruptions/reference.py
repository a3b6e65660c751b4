"""The reference backend: Hendrycks' formulas, one image at a time, exactly as ``make_cifar_c.py``
and ``imagecorruptions`` compute them (float64 in [0, 1], ``np.clip(x, 0, 1) * 255``, then
``np.uint8``, which truncates), with three corrections: the parameter table is chosen by
resolution, impulse noise is seeded per image, and images below 32 px are accepted.
"""

from __future__ import annotations

from io import BytesIO

import cv2
import numpy as np
from PIL import Image


def disk(radius: float, alias_blur: float, dtype=np.float32) -> np.ndarray:
    """Hendrycks' defocus kernel: a disk on a 17x17 grid (or 2r+1 above r=8), normalised, then
    anti-aliased with a 3x3 (5x5) Gaussian of sigma ``alias_blur`` through OpenCV."""
    if radius <= 8:
        grid = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        grid = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx**2 + yy**2) <= radius**2, dtype=dtype)
    aliased /= np.sum(aliased)
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Hendrycks' output step: clip to [0, 1], scale to 255, truncate (np.uint8)."""
    return np.uint8(np.clip(x, 0, 1) * 255)


def impulse_noise(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Salt & pepper on single channel values (skimage's s&p: each value is flipped with
    probability ``amount``, to 1 or 0 with equal odds)."""
    from skimage.util import random_noise

    return to_uint8(random_noise(np.array(image) / 255.0, mode="s&p", amount=amount, rng=rng))


def jpeg_compression(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode with PIL at ``quality`` (PIL's defaults otherwise: 4:2:0) and decode."""
    buf = BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def defocus_blur(image: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    """Per-channel cv2.filter2D (float64, BORDER_REFLECT_101) with the anti-aliased disk."""
    x = np.array(image) / 255.0
    kernel = disk(radius, alias_blur)
    channels = [cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]
    return to_uint8(np.array(channels).transpose((1, 2, 0)))
