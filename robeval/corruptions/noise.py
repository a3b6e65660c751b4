"""Noise families (Hendrycks & Dietterich's first category), one decorated function each.

The fast impulse noise draws the same distribution as skimage's s&p (each channel value flipped
with probability p, salt or pepper with equal odds) but not the same random numbers: flipped
positions come from geometric gaps whose uniforms are a counter-based hash of (image key, draw
number), so a batch needs only about p * H * W * 3 hashes per image, and CPU and CUDA give the
same pixels.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from robeval.corruptions.family import corruption
from robeval.corruptions.kernels import CPU_DRAWS, to_uint8, to_unit
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


def _hash32_(x, tmp):
    """``seeding.hash32`` in place on torch tensors (``tmp``: scratch of the same shape); fresh
    64-bit temporaries per step cost more than the arithmetic on CPU."""
    import torch

    for shift, mult in ((16, 0x7FEB352D), (15, 0x2C1B3C6D)):
        torch.bitwise_right_shift(x, shift, out=tmp)
        x.bitwise_xor_(tmp).mul_(mult).bitwise_and_(MASK32)
    torch.bitwise_right_shift(x, 16, out=tmp)
    return x.bitwise_xor_(tmp)


def _gaps(u, amount: float, table):
    """Exact geometric gaps: a float64 inverse-CDF guess, then integer corrections against the
    table, so the result does not depend on the device's log() rounding."""
    k_max = table.numel() - 2
    g = u.double().mul_(-(2.0**-32)).log1p_().mul_(1.0 / math.log1p(-amount)).floor_().long()
    g = g.add_(1).clamp_(1, k_max + 1)
    flat = g.view(-1)
    g += u >= table.index_select(0, flat).view_as(g)  # sentinels 0 and 2^32 + 1 keep look-ups in range
    g -= (u < table.index_select(0, flat - 1).view_as(g)).long()
    return g


def _draws(n: int, amount: float) -> int:
    """Draws per image per round: the expected flips plus 5 sigma (a second round is rare)."""
    expected = n * amount
    return int(math.ceil(expected + 5 * math.sqrt(expected) + 16))


def _impulse_batch(images, amount: float, keys):
    import torch

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


def impulse_noise_fast(images, keys, *, amount: float):
    """uint8 (N, H, W, 3) tensor -> same, with s&p noise; ``keys`` (N,) int64 per-image keys."""
    import torch

    group = max(1, CPU_DRAWS // _draws(images[0].numel(), amount)) if len(images) else 1
    if images.device.type != "cpu" or len(images) == 0:
        return _impulse_batch(images, amount, keys)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # some of these small ops still go parallel, and then wait (10x slower)
    try:
        return torch.cat([_impulse_batch(images[i:i + group], amount, keys[i:i + group])
                          for i in range(0, len(images), group)])
    finally:
        torch.set_num_threads(threads)


@corruption(
    category="noise", params=("scale",), seeded=True,
    cifar=(.04, .06, .08, .09, .10), tinyimagenet=(.04, .08, .12, .15, .18),
    imagenet=(.08, .12, .18, .26, .38),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, x + N(0, scale) per channel value on [0, 1] floats; only the "
            "scales differ")
def gaussian_noise(image: np.ndarray, rng: np.random.Generator, *, scale: float) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``scale`` (on [0, 1]) per channel value."""
    x = to_unit(image)
    return to_uint8(x + rng.normal(size=x.shape, scale=scale))


@corruption(
    category="noise", params=("photons",), seeded=True,
    cifar=(500, 250, 100, 75, 50), tinyimagenet=(250, 100, 50, 30, 15),
    imagenet=(60, 25, 12, 5, 3),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, Poisson(x * photons) / photons per channel value; only the "
            "photon counts differ (imagecorruptions divides by float(photons): the same numbers)")
def shot_noise(image: np.ndarray, rng: np.random.Generator, *, photons: float) -> np.ndarray:
    """Poisson (shot) noise: each channel value becomes Poisson(x * photons) / photons, so fewer
    photons (a higher severity) give relatively more noise."""
    x = to_unit(image)
    return to_uint8(rng.poisson(x * photons) / float(photons))


@corruption(
    category="noise", params=("amount",), seeded=True, fast=impulse_noise_fast,
    cifar=(.01, .02, .03, .05, .07), tinyimagenet=(.01, .02, .05, .08, .14),
    imagenet=(.03, .06, .09, .17, .27),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, sk.util.random_noise(mode='s&p') on [0, 1] floats; only the "
            "amounts differ")
def impulse_noise(image: np.ndarray, rng: np.random.Generator, *, amount: float) -> np.ndarray:
    """Salt & pepper on single channel values; amount = share of values replaced (skimage's s&p:
    each value flipped with probability amount, to 0 or 1 with equal odds)."""
    from skimage.util import random_noise

    return to_uint8(random_noise(to_unit(image), mode="s&p", amount=amount, rng=rng))


@corruption(
    category="noise", params=("scale",), seeded=True, standard=False,
    cifar=(.06, .1, .12, .16, .2), tinyimagenet=(.15, .2, .25, .3, .35),
    imagenet=(.15, .2, .35, .45, .6),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, x + x * N(0, scale) per channel value; only the scales differ")
def speckle_noise(image: np.ndarray, rng: np.random.Generator, *, scale: float) -> np.ndarray:
    """Multiplicative Gaussian noise: x (1 + N(0, scale)), so bright values get more noise and
    black stays black."""
    x = to_unit(image)
    return to_uint8(x + x * rng.normal(size=x.shape, scale=scale))
