"""Random streams per (seed, condition, image index), so that any subset of the images, any batch
size and any number of workers give the same pixels: no stream is ever shared between images.
"""

from __future__ import annotations

import zlib

import numpy as np

MASK32 = 0xFFFFFFFF


def condition_key(name: str) -> int:
    """A stable 32-bit number for a condition name such as ``impulse_noise/3``."""
    return zlib.crc32(name.encode())


def image_rng(seed: int, name: str, index: int) -> np.random.Generator:
    """The numpy generator of one image (reference backend): PCG64 from SeedSequence([seed, key, i])."""
    return np.random.default_rng([int(seed), condition_key(name), int(index)])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def image_keys(seed: int, name: str, indices: np.ndarray) -> np.ndarray:
    """32-bit keys per image for the counter-based generator of the fast backend (int64 array)."""
    base = (np.uint64(int(seed) & 0xFFFFFFFF) << np.uint64(32)) | np.uint64(condition_key(name))
    idx = np.asarray(indices, dtype=np.uint64)
    with np.errstate(over="ignore"):
        keys = _splitmix64(_splitmix64(np.full(idx.shape, base, dtype=np.uint64)) ^ idx)
    return (keys >> np.uint64(32)).astype(np.int64)


def hash32(x):
    """A 32-bit integer mix (lowbias32-style) on int64 tensors or arrays holding values < 2**32.

    Constants are below 2**31, so no product overflows int64: CPU and CUDA give the same bits.
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x2C1B3C6D) & MASK32
    return x ^ (x >> 16)
