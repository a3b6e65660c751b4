"""Blur families (Hendrycks & Dietterich's second category), one decorated function each.

The fast defocus blur uses Hendrycks' kernel without its negligible border, reflect-101 padding
(OpenCV's default border) and float32: one cv2.filter2D over a tiled batch on CPU, a depthwise
torch convolution on CUDA; both agree with the float64 reference to within one grey level.
"""

from __future__ import annotations

import cv2
import numpy as np

from robeval.corruptions.family import corruption
from robeval.corruptions.kernels import (
    cpu_groups,
    cropped_disk,
    disk,
    filter_batch_opencv,
    to_uint8,
    to_unit,
)


def _defocus_torch(images, radius: float, alias_blur: float):
    """uint8 (N, H, W, 3) -> same: 0-255 float32 correlation, clip, truncate (as np.uint8).

    A depthwise (groups=3) convolution in channels-last layout: NHWC needs no transpose."""
    import torch
    import torch.nn.functional as F

    kernel = torch.from_numpy(cropped_disk(float(radius), float(alias_blur)).astype(np.float32))
    half = kernel.shape[0] // 2
    x = images.permute(0, 3, 1, 2).float()  # NCHW view of NHWC memory = channels_last
    if half:
        x = F.pad(x, (half, half, half, half), mode="reflect")  # = OpenCV's BORDER_REFLECT_101
    x = x.contiguous(memory_format=torch.channels_last)
    weight = kernel.to(images.device).expand(3, 1, *kernel.shape).contiguous()
    y = F.conv2d(x, weight, groups=3)
    y = y.clamp_(0, 255).to(torch.uint8)  # truncation = floor for values >= 0
    return y.permute(0, 2, 3, 1).contiguous()


def defocus_blur_fast(images, keys, *, radius: float, alias_blur: float):
    """OpenCV on CPU (its SIMD filter is several times faster than torch's depthwise
    convolution there), torch on CUDA; both within one grey level of the reference."""
    import torch

    if images.device.type != "cpu":
        return _defocus_torch(images, radius, alias_blur)
    x = images.numpy()
    if len(x) == 0:
        return images.clone()
    kernel = cropped_disk(float(radius), float(alias_blur)).astype(np.float32)
    parts = [np.clip(filter_batch_opencv(x[s], kernel), 0, 255).astype(np.uint8)
             for s in cpu_groups(len(x), x[0].size)]
    return torch.from_numpy(np.concatenate(parts))


@corruption(
    category="blur", params=("radius", "alias_blur"), fast=defocus_blur_fast,
    cifar=((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    tinyimagenet=((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
    imagenet=((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same disk kernel and per-channel cv2.filter2D; only (radius, alias) differ")
def defocus_blur(image: np.ndarray, *, radius: float, alias_blur: float) -> np.ndarray:
    """Anti-aliased disk kernel (radius, Gaussian alias sigma), per channel with cv2.filter2D in
    float64 and reflect-101 borders."""
    x = to_unit(image)
    kernel = disk(radius, alias_blur)
    channels = [cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]
    return to_uint8(np.array(channels).transpose((1, 2, 0)))
