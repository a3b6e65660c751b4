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


def image_stream_keys(seed: int, name: str, indices: np.ndarray) -> np.ndarray:
    """32-bit random-stream keys per image for the counter-based generator of the fast backend
    (int64 array)."""
    base = (np.uint64(int(seed) & 0xFFFFFFFF) << np.uint64(32)) | np.uint64(condition_key(name))
    idx = np.asarray(indices, dtype=np.uint64)
    with np.errstate(over="ignore"):
        stream_keys = _splitmix64(_splitmix64(np.full(idx.shape, base, dtype=np.uint64)) ^ idx)
    return (stream_keys >> np.uint64(32)).astype(np.int64)


image_keys = image_stream_keys  # deprecated: the old name, kept for one release


def hash32(x):
    """A 32-bit integer mix (lowbias32-style) on int64 tensors or arrays holding values < 2**32.

    Constants are below 2**31, so no product overflows int64: CPU and CUDA give the same bits.
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x2C1B3C6D) & MASK32
    return x ^ (x >> 16)



STREAM_STEP = 0x9E3779B1 & 0x7FFFFFFF  # odd and < 2**31: no int64 overflow in j * STREAM_STEP
_HASH_STEPS = ((16, 0x7FEB352D), (15, 0x2C1B3C6D))


def stream_bits_numpy(stream_keys: np.ndarray, start: int, count: int) -> np.ndarray:
    """Draws ``start .. start+count-1`` of each image's counter-based stream, uint32 (N, count):
    hash32((j * STREAM_STEP mod 2**32) xor key), in place on uint32 (wrapping products)."""
    j = np.arange(start, start + count, dtype=np.uint32) * np.uint32(STREAM_STEP)
    x = j[None, :] ^ np.asarray(stream_keys, dtype=np.int64).astype(np.uint32)[:, None]
    tmp = np.empty_like(x)
    for shift, mult in _HASH_STEPS:
        np.right_shift(x, shift, out=tmp)
        x ^= tmp
        x *= np.uint32(mult)
    np.right_shift(x, 16, out=tmp)
    x ^= tmp
    return x


def stream_bits(stream_keys, start: int, count: int):
    """``stream_bits_numpy`` as an int64 torch tensor on the keys' device: numpy's uint32 on CPU
    (3x faster than int64 torch there), masked int64 torch elsewhere; the same bits on both."""
    import torch

    if stream_keys.device.type == "cpu":
        return torch.from_numpy(stream_bits_numpy(stream_keys.numpy(), start, count).astype(np.int64))
    return stream_bits_torch(stream_keys, start, count)


def stream_bits_torch(stream_keys, start: int, count: int):
    """The torch path of ``stream_bits`` (any device; tested against numpy's on CPU)."""
    import torch

    j = torch.arange(start, start + count, dtype=torch.int64, device=stream_keys.device)
    x = j.mul_(STREAM_STEP).bitwise_and_(MASK32).view(1, -1) ^ stream_keys.view(-1, 1)
    tmp = torch.empty_like(x)
    for shift, mult in _HASH_STEPS:
        torch.bitwise_right_shift(x, shift, out=tmp)
        x.bitwise_xor_(tmp).mul_(mult).bitwise_and_(MASK32)
    torch.bitwise_right_shift(x, 16, out=tmp)
    return x.bitwise_xor_(tmp)


def unit_uniforms(bits):
    """32-bit draws (numpy uint32 or int64 torch) -> float32 U(-1, 1): their top 24 bits, centred
    (exact in float32; the same numbers from either)."""
    if isinstance(bits, np.ndarray):
        return ((bits >> 8).astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-23) - 1
    return (bits >> 8).float().add_(0.5).mul_(2.0**-23).sub_(1)
