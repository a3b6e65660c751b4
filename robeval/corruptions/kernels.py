"""Kernels and steps shared by several families: Hendrycks' output rounding, the anti-aliased
disk, Gaussian filtering, clipped zoom, the plasma fractal and the CPU batching rule.

Each is written once here and imported by the category modules (noise, blur, weather, digital).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# CPU work goes in groups of images whose intermediates stay in cache, on one torch thread:
# measured 2-10x faster than one big multi-threaded batch on a 2-core CPU, where OpenMP threads
# on these small ops mostly wait for each other.
CPU_DRAWS = 1 << 15
CPU_PIXELS = 1 << 18


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Hendrycks' output step: clip to [0, 1], scale to 255, truncate (np.uint8)."""
    return np.uint8(np.clip(x, 0, 1) * 255)


def to_unit(image: np.ndarray) -> np.ndarray:
    """uint8 -> float64 in [0, 1], as every script starts (``np.array(x) / 255.``)."""
    return np.asarray(image, dtype=np.float64) / 255.0


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


@lru_cache(maxsize=64)
def cropped_disk(radius: float, alias_blur: float) -> np.ndarray:
    """Hendrycks' kernel without its negligible border: rings whose weights sum to < 1e-9 (they
    move no output by more than 3e-7 grey levels) are dropped, so a 17x17 grid becomes 3x3-7x7."""
    kernel = disk(radius, alias_blur).astype(np.float64)
    c = kernel.shape[0] // 2
    half = c
    while half > 0 and kernel.sum() - kernel[c - half + 1: c + half, c - half + 1: c + half].sum() < 1e-9:
        half -= 1
    return kernel[c - half: c + half + 1, c - half: c + half + 1]


def filter_batch_opencv(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate every image of a uint8/float (N, H, W, C) batch with ``kernel`` (float32, odd
    square) under reflect-101 borders: each image padded, the batch stacked into one tall image,
    one cv2.filter2D over all of it, interiors cut out. Returns float32 (N, H, W, C)."""
    kernel = np.asarray(kernel, dtype=np.float32)
    half = kernel.shape[0] // 2
    n, h, w, c = images.shape
    padded = np.empty((n, h + 2 * half, w + 2 * half, c), dtype=np.float32)
    padded[:, half:half + h, half:half + w] = images
    for k in range(1, half + 1):  # reflect-101: row -k is row k, row h-1+k is row h-1-k
        padded[:, half - k] = padded[:, half + k]
        padded[:, half + h - 1 + k] = padded[:, half + h - 1 - k]
    for k in range(1, half + 1):
        padded[:, :, half - k] = padded[:, :, half + k]
        padded[:, :, half + w - 1 + k] = padded[:, :, half + w - 1 - k]
    tall = padded.reshape(n * (h + 2 * half), w + 2 * half, c)
    out = cv2.filter2D(tall, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(n, h + 2 * half, w + 2 * half, c)[:, half:half + h, half:half + w]


def cpu_groups(n_images: int, image_values: int) -> list[slice]:
    """Slices of a batch sized so that one group's float32 intermediates stay in cache."""
    group = max(1, CPU_PIXELS // max(1, image_values))
    return [slice(i, min(i + group, n_images)) for i in range(0, n_images, group)]


class OneTorchThread:
    """``with OneTorchThread(device):`` CPU torch work on one thread (CPU_DRAWS' reason: on 2
    shared cores OpenMP threads on small ops mostly wait for each other, measured 2-10x slower);
    other devices unchanged."""

    def __init__(self, device) -> None:
        self.cpu = getattr(device, "type", device) == "cpu"
        self.threads = 0

    def __enter__(self) -> OneTorchThread:
        if self.cpu:
            import torch

            self.threads = torch.get_num_threads()
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc) -> None:
        if self.cpu:
            import torch

            torch.set_num_threads(self.threads)
