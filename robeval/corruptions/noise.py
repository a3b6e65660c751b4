"""Noise families (Hendrycks & Dietterich's first category), one decorated function each.

The fast impulse noise draws the same distribution as skimage's s&p (each channel value flipped
with probability p, salt or pepper with equal odds) but not the same random numbers: flipped
positions come from geometric gaps whose uniforms are a counter-based hash of (image key, draw
number), so a batch needs only about p * H * W * 3 hashes per image, and CPU and CUDA give the
same pixels. The fast Gaussian, shot and speckle noise draw each output value from the exact
distribution of the reference's output level given the input level (alias tables, below), with
one hashed 32-bit number per value. Their reference functions call only ``rng.normal`` /
``rng.poisson``, in the scripts' order: given a RandomState seeded like ``np.random.seed`` they
reproduce imagecorruptions bit for bit (the parity tests do that).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from robeval.corruptions.family import corruption
from robeval.corruptions.kernels import CPU_DRAWS, to_uint8, to_unit
from robeval.corruptions.seeding import MASK32, stream_bits_numpy, stream_bits_torch

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


def _impulse_batch(images, amount: float, stream_keys):
    import torch

    n_img = images.shape[0]
    n = images[0].numel()
    if amount <= 0 or n_img == 0:
        return images.clone()
    device = images.device
    table = torch.from_numpy(_gap_table(float(amount))).to(device)
    buf = torch.empty((n_img, n + 1), dtype=torch.uint8, device=device)  # last column: a sink
    buf[:, :n] = images.reshape(n_img, n)
    stream_keys = stream_keys.to(device).view(n_img, 1)
    draws = _draws(n, amount)
    start, last = 0, torch.full((n_img, 1), -1, dtype=torch.int64, device=device)
    while True:  # usually once; more draws only while some image has not yet passed its last value
        j = torch.arange(start, start + draws, dtype=torch.int64, device=device)
        u = j.mul_(_GOLDEN).bitwise_and_(MASK32).view(1, -1) ^ stream_keys
        u = _hash32_(u, torch.empty_like(u))
        pos = _gaps(u, amount, table).cumsum_(1).add_(last)
        salt = u.bitwise_and_(1).mul_(255).to(torch.uint8)  # independent of the gap: bins are >> 2 wide
        buf.scatter_(1, pos.clamp(max=n), salt)
        last = pos[:, -1:]
        if bool((last >= n).all()):
            return buf[:, :n].reshape(images.shape)
        start += draws


def impulse_noise_fast(images, stream_keys, *, amount: float):
    """uint8 (N, H, W, 3) tensor -> same, with s&p noise; ``stream_keys`` (N,) int64 per-image keys."""
    import torch

    group = max(1, CPU_DRAWS // _draws(images[0].numel(), amount)) if len(images) else 1
    if images.device.type != "cpu" or len(images) == 0:
        return _impulse_batch(images, amount, stream_keys)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # some of these small ops still go parallel, and then wait (10x slower)
    try:
        return torch.cat([_impulse_batch(images[i:i + group], amount, stream_keys[i:i + group])
                          for i in range(0, len(images), group)])
    finally:
        torch.set_num_threads(threads)


# --- Gaussian, shot and speckle noise: exact output-level distributions, sampled by alias tables.
# Each output value depends on its input value v (0-255) and one random number, so the reference's
# whole law is a 256 x 256 table P(out = g | v), worked out from the formula (Gaussian CDF,
# Poisson CDF) and the same truncation. Walker's alias method then draws from row v with one
# 32-bit number per value: its top 8 bits pick a cell g, its low 24 a coin between g and the
# cell's alias. Probabilities are whole multiples of 2^-32, so the law is the reference's to
# within 2^-32 per level, and only integer steps remain: CPU (numpy uint32) and torch (int64)
# give the same pixels.
_CELL = 1 << 24  # each of the 256 cells holds 2^24 of the 2^32 draws
_BLOCK = 1 << 15  # values per numpy step on CPU: blocks this size stay in cache


def _rows(below: np.ndarray) -> np.ndarray:
    """P(out < g | v) for g = 1..255, shape (256, 255) -> P(out = g | v), shape (256, 256)."""
    below = np.clip(below, 0, 1)
    cdf = np.concatenate([np.zeros((256, 1)), np.maximum.accumulate(below, 1), np.ones((256, 1))], 1)
    return np.diff(cdf, axis=1)


def _gaussian_levels(scale: float) -> np.ndarray:
    """uint8(clip(v/255 + N(0, scale))*255) < g  <=>  N(0, 1) < (g - v) / (255 scale)."""
    from scipy.special import ndtr

    v, g = np.arange(256.0)[:, None], np.arange(1.0, 256.0)[None, :]
    return _rows(ndtr((g - v) / (255.0 * scale)))


def _speckle_levels(scale: float) -> np.ndarray:
    """x (1 + N(0, scale)) < g/255  <=>  N(0, 1) < (g/v - 1) / scale; black stays black."""
    from scipy.special import ndtr

    v, g = np.arange(256.0)[:, None], np.arange(1.0, 256.0)[None, :]
    with np.errstate(divide="ignore"):
        z = np.where(v > 0, (g / np.maximum(v, 1) - 1) / scale, np.inf)
    return _rows(ndtr(z))


def _shot_levels(photons: float) -> np.ndarray:
    """uint8(clip(K / photons)*255) with K ~ Poisson(v/255 * photons): the level of every count K
    below ``photons`` (larger ones give 255) computed with the reference's own float steps."""
    from scipy.special import pdtr

    top = int(np.ceil(photons))
    counts = np.arange(top)
    level = to_uint8(counts / float(photons)).astype(np.int64)
    lam = (np.arange(256) / 255.0 * photons)[:, None]
    cdf = np.where(lam > 0, pdtr(counts[None, :], np.maximum(lam, 1e-300)), 1.0)  # P(K <= k)
    mass = np.diff(np.concatenate([np.zeros((256, 1)), cdf], 1), axis=1)
    rows = np.zeros((256, 256))
    np.add.at(rows.T, level, mass.T)
    rows[:, 255] += 1 - cdf[:, -1]
    return rows


@lru_cache(maxsize=64)
def _alias_table(kind: str, value: float) -> np.ndarray:
    """uint32 (65536,): entry v * 256 + g = coin threshold << 8 | alias of cell g in row v, from
    integer weights summing to 2^32 (Vose's method, exact in integers)."""
    rows = {"gaussian": _gaussian_levels, "speckle": _speckle_levels, "shot": _shot_levels}[kind](value)
    table = np.zeros((256, 256), np.uint32)
    for v, probs in enumerate(rows):
        weight = np.floor(np.clip(probs, 0, 1) * 2.0**32).astype(np.int64)
        weight[np.argmax(weight)] += 2**32 - weight.sum()
        coin, alias = np.full(256, _CELL, np.int64), np.arange(256)
        small, large = list(np.flatnonzero(weight < _CELL)), list(np.flatnonzero(weight >= _CELL))
        while small and large:
            cell, donor = small.pop(), large[-1]
            coin[cell], alias[cell] = weight[cell], donor
            weight[donor] -= _CELL - weight[cell]
            if weight[donor] < _CELL:
                small.append(large.pop())
        alias = np.where(coin == _CELL, np.arange(256), alias)  # a full cell never tosses
        table[v] = (np.minimum(coin, _CELL - 1) << 8 | alias).astype(np.uint32)
    return table.ravel()


def _levels_numpy(values: np.ndarray, bits: np.ndarray, table: np.ndarray) -> np.ndarray:
    cell = bits >> 24
    entry = table.take((values.astype(np.uint32) << 8) | cell)
    return np.where((bits & 0xFFFFFF) < (entry >> 8), cell, entry & 0xFF).astype(np.uint8)


def _levels_torch(values, bits, table):
    import torch

    cell = bits >> 24
    entry = table.take((values.long() << 8) | cell)
    return torch.where((bits & 0xFFFFFF) < (entry >> 8), cell, entry & 0xFF).to(torch.uint8)


def _sample_levels(images, stream_keys, kind: str, value: float):
    """uint8 (N, H, W, 3) -> same, each value drawn from its row of the alias table with draw j =
    its position in the image (so batches and workers never change a pixel)."""
    import torch

    table = _alias_table(kind, float(value))
    n = len(images)
    if n == 0:
        return images.clone()
    flat = images.reshape(n, -1)
    size = flat.shape[1]
    if images.device.type != "cpu":
        bits = stream_bits_torch(stream_keys.to(images.device), 0, size)
        return _levels_torch(flat, bits, torch.from_numpy(table.astype(np.int64)).to(images.device)
                             ).view(images.shape)
    values, stream_keys, out = flat.numpy(), stream_keys.numpy(), np.empty((n, size), np.uint8)
    rows, cols = max(1, _BLOCK // size), min(size, _BLOCK)
    for r in range(0, n, rows):
        for c in range(0, size, cols):
            bits = stream_bits_numpy(stream_keys[r:r + rows], c, min(cols, size - c))
            out[r:r + rows, c:c + cols] = _levels_numpy(values[r:r + rows, c:c + cols], bits, table)
    return torch.from_numpy(out).view(images.shape)



def gaussian_noise_fast(images, stream_keys, *, scale: float):
    """Gaussian noise with the reference's exact level distribution (alias tables above)."""
    return _sample_levels(images, stream_keys, "gaussian", scale)


def shot_noise_fast(images, stream_keys, *, photons: float):
    """Shot noise with the reference's exact level distribution (alias tables above)."""
    return _sample_levels(images, stream_keys, "shot", photons)


def speckle_noise_fast(images, stream_keys, *, scale: float):
    """Speckle noise with the reference's exact level distribution (alias tables above)."""
    return _sample_levels(images, stream_keys, "speckle", scale)


@corruption(
    category="noise", params=("scale",), seeded=True, fast=gaussian_noise_fast,
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
    category="noise", params=("photons",), seeded=True, fast=shot_noise_fast,
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
    fast=speckle_noise_fast,
    cifar=(.06, .1, .12, .16, .2), tinyimagenet=(.15, .2, .25, .3, .35),
    imagenet=(.15, .2, .35, .45, .6),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, x + x * N(0, scale) per channel value; only the scales differ")
def speckle_noise(image: np.ndarray, rng: np.random.Generator, *, scale: float) -> np.ndarray:
    """Multiplicative Gaussian noise: x (1 + N(0, scale)), so bright values get more noise and
    black stays black."""
    x = to_unit(image)
    return to_uint8(x + x * rng.normal(size=x.shape, scale=scale))
