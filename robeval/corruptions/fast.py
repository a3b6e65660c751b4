"""The fast backend: batched torch on CPU or CUDA for impulse noise and defocus blur.

Impulse noise draws the same distribution as skimage's s&p (each channel value flipped with
probability p, salt or pepper with equal odds) but not the same random numbers: flipped positions
come from geometric gaps whose uniforms are a counter-based hash of (image key, draw number), so
a batch needs only about p * H * W * 3 hashes per image, and CPU and CUDA give the same pixels.
Defocus blur uses Hendrycks' kernel without its negligible border, reflect-101 padding (OpenCV's
default border) and float32: one cv2.filter2D over a tiled batch on CPU, a depthwise torch
convolution on CUDA; both agree with the float64 reference to within one grey level.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from robeval.corruptions.reference import disk
from robeval.corruptions.seeding import MASK32

_GOLDEN = 0x9E3779B1 & 0x7FFFFFFF  # odd and < 2**31: no int64 overflow in j * _GOLDEN


@lru_cache(maxsize=64)
def _gap_table(amount: float) -> np.ndarray:
    """[0, T_1, ..., T_K, 2^32 + 1] with T_k = ceil(2^32 (1 - (1-p)^k)): a draw u32 gives the gap
    G (>= 1) to the next flipped value with T_{G-1} <= u32 < T_G, i.e. P(G = k) = (1-p)^(k-1) p."""
    k_max = math.ceil(32 * math.log(2) / -math.log1p(-amount)) + 1
    k = np.arange(1, k_max + 1, dtype=np.float64)
    t = np.minimum(np.ceil(2.0**32 * -np.expm1(k * math.log1p(-amount))), 2.0**32).astype(np.int64)
    return np.concatenate([[0], t, [2**32 + 1]])


def _hash32_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """``seeding.hash32`` in place (``tmp``: scratch of the same shape); fresh 64-bit temporaries
    per step cost more than the arithmetic on CPU."""
    for shift, mult in ((16, 0x7FEB352D), (15, 0x2C1B3C6D)):
        torch.bitwise_right_shift(x, shift, out=tmp)
        x.bitwise_xor_(tmp).mul_(mult).bitwise_and_(MASK32)
    torch.bitwise_right_shift(x, 16, out=tmp)
    return x.bitwise_xor_(tmp)


def _gaps(u: torch.Tensor, amount: float, table: torch.Tensor) -> torch.Tensor:
    """Exact geometric gaps: a float64 inverse-CDF guess, then integer corrections against the
    table, so the result does not depend on the device's log() rounding."""
    k_max = table.numel() - 2
    g = u.double().mul_(-(2.0**-32)).log1p_().mul_(1.0 / math.log1p(-amount)).floor_().long()
    g = g.add_(1).clamp_(1, k_max + 1)
    flat = g.view(-1)
    g += u >= table.index_select(0, flat).view_as(g)  # sentinels 0 and 2^32 + 1 keep look-ups in range
    g -= (u < table.index_select(0, flat - 1).view_as(g)).long()
    return g


# CPU work goes in groups of images whose intermediates stay in cache, on one torch thread:
# measured 2-10x faster than one big multi-threaded batch on a 2-core CPU, where OpenMP threads
# on these small ops mostly wait for each other.
CPU_DRAWS = 1 << 15
CPU_PIXELS = 1 << 18


def impulse_noise(images: torch.Tensor, amount: float, keys: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> same, with s&p noise; ``keys`` (N,) int64 per-image 32-bit keys."""
    group = max(1, CPU_DRAWS // _draws(images[0].numel(), amount)) if len(images) else 1
    if images.device.type != "cpu" or len(images) == 0:
        return _impulse_noise(images, amount, keys)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # some of these small ops still go parallel, and then wait (10x slower)
    try:
        return torch.cat([_impulse_noise(images[i:i + group], amount, keys[i:i + group])
                          for i in range(0, len(images), group)])
    finally:
        torch.set_num_threads(threads)


def _draws(n: int, amount: float) -> int:
    """Draws per image per round: the expected flips plus 5 sigma (a second round is rare)."""
    expected = n * amount
    return int(math.ceil(expected + 5 * math.sqrt(expected) + 16))


def _impulse_noise(images: torch.Tensor, amount: float, keys: torch.Tensor) -> torch.Tensor:
    n_img = images.shape[0]
    n = images[0].numel()
    if amount <= 0 or n_img == 0:
        return images.clone()
    device = images.device
    table = torch.from_numpy(_gap_table(float(amount))).to(device)
    buf = torch.empty((n_img, n + 1), dtype=torch.uint8, device=device)  # last column: a sink
    buf[:, :n] = images.reshape(n_img, n)
    keys = keys.to(device).view(n_img, 1)
    draws = _draws(n, amount)
    start, last = 0, torch.full((n_img, 1), -1, dtype=torch.int64, device=device)
    while True:  # usually once; more draws only while some image has not yet passed its last value
        j = torch.arange(start, start + draws, dtype=torch.int64, device=device)
        u = j.mul_(_GOLDEN).bitwise_and_(MASK32).view(1, -1) ^ keys
        u = _hash32_(u, torch.empty_like(u))
        pos = _gaps(u, amount, table).cumsum_(1).add_(last)
        salt = u.bitwise_and_(1).mul_(255).to(torch.uint8)  # independent of the gap: bins are >> 2 wide
        buf.scatter_(1, pos.clamp(max=n), salt)
        last = pos[:, -1:]
        if bool((last >= n).all()):
            return buf[:, :n].reshape(images.shape)
        start += draws


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



def defocus_blur_torch(images: torch.Tensor, radius: float, alias_blur: float) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> same: 0-255 float32 correlation, clip, truncate (as np.uint8).

    A depthwise (groups=3) convolution in channels-last layout: NHWC needs no transpose, and it is
    several times faster on CPU than one-channel planes."""
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


def defocus_blur_opencv(images: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    """The CPU path: each image padded reflect-101, the batch stacked into one tall image, one
    float32 cv2.filter2D over all of it, interiors cut out. OpenCV's SIMD filter is several times
    faster on CPU than torch's depthwise convolution; the padding keeps images from mixing."""
    kernel = cropped_disk(float(radius), float(alias_blur)).astype(np.float32)
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
    out = out.reshape(n, h + 2 * half, w + 2 * half, c)[:, half:half + h, half:half + w]
    return np.clip(out, 0, 255).astype(np.uint8)  # truncation = floor for values >= 0


def defocus_blur(images: torch.Tensor, radius: float, alias_blur: float) -> torch.Tensor:
    """OpenCV on CPU, torch on CUDA; both within one grey level of the reference."""
    if images.device.type == "cpu":
        x = images.numpy()
        if len(x) == 0:
            return images.clone()
        group = max(1, CPU_PIXELS // max(1, x[0].size))
        return torch.from_numpy(np.concatenate([
            defocus_blur_opencv(x[i:i + group], radius, alias_blur) for i in range(0, len(x), group)]))
    return defocus_blur_torch(images, radius, alias_blur)
