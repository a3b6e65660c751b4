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


# --- Steps of the blur and weather families (glass, motion, zoom, snow, fog, spatter) -------------


def gaussian_hw(x: np.ndarray, sigma: float) -> np.ndarray:
    """``skimage.filters.gaussian(x, sigma, channel_axis=-1)`` as Hendrycks' scripts call it
    (``multichannel=True``; plain for 2-D layers), bit for bit: scipy's 1-D Gaussian correlation
    along the two image axes in turn, borders 'nearest', truncate 4, in x's float dtype. Called
    directly, skimage's argument checks (and its removed ``multichannel``) stay out of the way."""
    from scipy.ndimage import correlate1d

    weights = gaussian_weights(float(sigma))[::-1]
    out = correlate1d(x, weights, 0, None, "nearest", 0.0, 0)
    return correlate1d(out, weights, 1, out, "nearest", 0.0, 0)


@lru_cache(maxsize=64)
def gaussian_weights(sigma: float) -> np.ndarray:
    """scipy's 1-D Gaussian (``_gaussian_kernel1d``): radius int(4 sigma + 0.5), normalised."""
    radius = int(4.0 * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


def gaussian_batch_opencv(images: np.ndarray, sigma: float) -> np.ndarray:
    """``gaussian_hw`` on a whole (N, H, W, C) batch in float32 (within float32 rounding of it):
    each image edge-padded ('nearest'), the batch stacked into one tall image, one separable
    cv2.sepFilter2D over it, interiors cut out."""
    kernel = gaussian_weights(float(sigma)).astype(np.float32)
    half = len(kernel) // 2
    n, h, w, c = images.shape
    padded = np.pad(images.astype(np.float32, copy=False),
                    ((0, 0), (half, half), (half, half), (0, 0)), mode="edge")
    tall = padded.reshape(n * (h + 2 * half), w + 2 * half, c)
    out = cv2.sepFilter2D(tall, -1, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(n, h + 2 * half, w + 2 * half, c)[:, half:half + h, half:half + w]


def gaussian_torch(x, sigma: float):
    """``gaussian_hw`` on a float (N, C, H, W) torch tensor: two depthwise 1-D convolutions with
    replicate padding ('nearest')."""
    import torch
    import torch.nn.functional as F

    kernel = torch.from_numpy(gaussian_weights(float(sigma))).to(x)
    half = len(kernel) // 2
    c = x.shape[1]
    x = F.pad(x, (half, half, half, half), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """imagecorruptions' clipped_zoom: the centre crop of ceil(side / factor) per axis, zoomed by
    ``factor`` with scipy's order-1 spline (bilinear, corners aligned). Not trimmed: callers cut
    ``[:H, :W]`` (Hendrycks' square version trims the centre; the two differ only when the zoomed
    crop exceeds the image by >= 2 px, i.e. for factors above 1.5)."""
    from scipy.ndimage import zoom

    h, w = x.shape[:2]
    ch, cw = zoom_crop(h, factor), zoom_crop(w, factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    return zoom(x[top:top + ch, left:left + cw], (factor, factor) + (1,) * (x.ndim - 2), order=1)


def zoom_crop(side: int, factor: float) -> int:
    """The crop that ``clipped_zoom`` zooms: ceil(side / factor)."""
    return int(np.ceil(side / float(factor)))


def zoomed_side(side: int, factor: float) -> int:
    """The side scipy's zoom gives a crop of ``zoom_crop(side, factor)``: round(crop * factor)."""
    return int(round(zoom_crop(side, factor) * factor))


@lru_cache(maxsize=64)
def zoom_matrix(side: int, factor: float) -> np.ndarray:
    """One axis of ``clipped_zoom`` as a (zoomed_side x side) float64 matrix: row k holds the two
    weights scipy's order-1 zoom (corners aligned) gives output k, at the crop's input columns
    (scipy's own rule: w0 = 1 - t, w1 = 1 - w0; 0 beyond the last input pixel)."""
    if factor == 1:
        return np.eye(side)
    crop, size = zoom_crop(side, factor), zoomed_side(side, factor)
    coord = np.arange(size, dtype=np.float64) * ((crop - 1) / (size - 1))
    start = np.floor(coord)
    low = (1.0 - (coord - start)) * (coord <= crop - 1)
    high = (1.0 - (1.0 - (coord - start))) * (coord <= crop - 1)
    first = np.minimum(start.astype(np.int64), crop - 1)
    second = np.where(first + 1 >= crop, max(crop - 2, 0), first + 1)
    out = np.zeros((size, side))
    rows, top = np.arange(size), (side - crop) // 2
    np.add.at(out, (rows, top + first), low)
    np.add.at(out, (rows, top + second), high)
    return out


def motion_taps(radius: int, sigma: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """imagecorruptions' motion-blur kernel (its stand-in for ImageMagick's MotionBlurImage):
    2 radius + 1 taps weighted by a half Gaussian exp(-i^2 / 2 sigma^2) (normalised), tap i
    shifted by (dy, dx) = -ceil(i (sin, cos)(angle) - 1/2) pixels, rounding half down."""
    import math

    width = 2 * int(radius) + 1
    x = np.arange(width)
    weights = np.exp(-x**2 / (2 * (sigma**2))) / (np.sqrt(2 * np.pi) * sigma)
    weights = weights / np.sum(weights)
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    dy = np.array([-math.ceil(((i * point[0]) / hypot) - 0.5) for i in range(width)])
    dx = np.array([-math.ceil(((i * point[1]) / hypot) - 0.5) for i in range(width)])
    return weights, dy, dx


def motion_taps_inside(radius: int, sigma: float, angle: float, h: int, w: int):
    """``motion_taps`` up to the first tap that shifts by a whole image side or more, where
    imagecorruptions stops summing ("simulated motion exceeded image borders")."""
    weights, dys, dxs = motion_taps(int(radius), float(sigma), float(angle))
    beyond = (np.abs(dys) >= h) | (np.abs(dxs) >= w)
    used = int(np.argmax(beyond)) if beyond.any() else len(weights)
    return weights[:used], dys[:used], dxs[:used]


def motion_blur_array(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """imagecorruptions' _motion_blur on a 2-D or H x W x C array, in float64 and in its order
    of sums: weight_i * (x shifted by tap i, edges repeated), bit for bit; the shifts are views of
    one edge-padded copy instead of np.roll copies."""
    h, w = x.shape[:2]
    weights, dys, dxs = motion_taps_inside(radius, sigma, angle, h, w)
    pad = int(max(np.abs(dys).max(), np.abs(dxs).max()))
    padded = np.pad(x, ((pad, pad), (pad, pad)) + ((0, 0),) * (x.ndim - 2), mode="edge")
    out = np.zeros(x.shape, dtype=np.float64)
    term = np.empty(x.shape, dtype=np.float64)
    for wt, dy, dx in zip(weights, dys, dxs, strict=True):
        np.multiply(padded[pad - dy:pad - dy + h, pad - dx:pad - dx + w], wt, out=term)
        out += term
    return out


def motion_blur_f32(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """``motion_blur_array`` in float32 with one OpenCV multiply-add per tap (within float32
    rounding of it): x is float32 H x W (x C)."""
    h, w = x.shape[:2]
    weights, dys, dxs = motion_taps_inside(radius, sigma, angle, h, w)
    pad = int(max(np.abs(dys).max(), np.abs(dxs).max()))
    padded = cv2.copyMakeBorder(x, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    out = np.zeros_like(x)
    for wt, dy, dx in zip(weights, dys, dxs, strict=True):
        cv2.scaleAdd(padded[pad - dy:pad - dy + h, pad - dx:pad - dx + w], float(wt), out, dst=out)
    return out


def plasma_fractal(mapsize: int, wibbledecay: float, uniform, batch: tuple[int, ...] = ()):
    """Hendrycks' diamond-square height map (after FLHerne/mapgen), in [0, 1]: ``mapsize`` a power
    of two, ``uniform(low, high, shape)`` the random source in the scripts' order of draws (one
    call per square step and two per diamond step). ``batch`` leading axes make several maps at
    once (the fast path); each map is normalised on its own."""
    assert mapsize & (mapsize - 1) == 0, "mapsize must be a power of two"
    maps = np.zeros((*batch, mapsize, mapsize), dtype=np.float64)  # every value is set before read
    step, wibble = mapsize, 100.0

    def wibbledmean(array):
        return array / 4 + wibble * uniform(-wibble, wibble, array.shape)

    while step >= 2:
        half = step // 2
        corners = maps[..., 0:mapsize:step, 0:mapsize:step]
        squares = corners + np.roll(corners, shift=-1, axis=-2)
        squares += np.roll(squares, shift=-1, axis=-1)
        maps[..., half:mapsize:step, half:mapsize:step] = wibbledmean(squares)
        centres = maps[..., half:mapsize:step, half:mapsize:step]
        corners = maps[..., 0:mapsize:step, 0:mapsize:step]
        left = centres + np.roll(centres, 1, axis=-2) + (corners + np.roll(corners, -1, axis=-1))
        maps[..., 0:mapsize:step, half:mapsize:step] = wibbledmean(left)
        top = centres + np.roll(centres, 1, axis=-1) + (corners + np.roll(corners, -1, axis=-2))
        maps[..., half:mapsize:step, 0:mapsize:step] = wibbledmean(top)
        step //= 2
        wibble /= wibbledecay
    maps -= maps.min(axis=(-2, -1), keepdims=True)
    return maps / maps.max(axis=(-2, -1), keepdims=True)


def next_power_of_2(n: int) -> int:
    """The plasma map side for an image of max side n (imagecorruptions; = Hendrycks' 32/64/256)."""
    return 1 if n == 0 else 2 ** (int(n) - 1).bit_length()


def to_uint8_torch(x):
    """``to_uint8`` on a torch tensor of [0, 1] values: clip, scale to 255, truncate."""
    import torch

    return x.clamp(0, 1).mul_(255).to(torch.uint8)


class HashedDraws:
    """Counter-based random numbers per image for the fast paths: draw j of image n is
    ``seeding.hash32((j * golden) mod 2**32 XOR key_n)``, key_n a hash of (image key, stream),
    so an image's numbers depend neither on its batch nor on the images beside it; each call
    continues the stream. Computed in numpy uint32 arithmetic (wrapping products), which gives the
    bits of ``seeding.hash32`` at a fraction of its int64 cost.

    ``stream_keys``: (N,) int64 array or tensor (seeding.image_stream_keys); ``stream`` separates
    independent steps of one family."""

    GOLDEN = np.uint32(0x9E3779B1)
    STREAM = 0x5BD1E995

    def __init__(self, stream_keys, stream: int = 0):
        if hasattr(stream_keys, "cpu"):
            stream_keys = stream_keys.cpu()
        stream_keys = np.asarray(stream_keys, dtype=np.int64)
        salt = np.uint32((self.STREAM * (stream + 1)) & 0xFFFFFFFF)
        self._stream_keys = _hash32_u32(stream_keys.astype(np.uint32) ^ salt).reshape(-1, 1)
        self._next = 0

    def u32(self, count: int) -> np.ndarray:
        """(N, count) uint32 array."""
        j = np.arange(self._next, self._next + count, dtype=np.uint32)
        self._next += count
        return _hash32_u32((j * self.GOLDEN) ^ self._stream_keys)

    def uniform(self, low: float, high: float, shape: tuple[int, ...] = ()) -> np.ndarray:
        """(N, *shape) float64, uniform on the open interval (low, high)."""
        u = (self.u32(_prod(shape)) + 0.5) * 2.0**-32
        return (low + (high - low) * u).reshape(-1, *shape)

    def integers(self, low: int, high: int, shape: tuple[int, ...] = (), dtype=np.int64) -> np.ndarray:
        """(N, *shape) integers uniform on low..high-1 by multiply-shift: ranges up to 2**16 take
        one 16-bit half of a hash each (exact for powers of two, else bias < range / 2**16),
        larger ones a whole 32-bit hash."""
        count, span = _prod(shape), high - low
        if span <= 1 << 16:
            u = self.u32((count + 1) // 2)
            halves = np.stack([u >> np.uint32(16), u & np.uint32(0xFFFF)], axis=-1)
            v = (halves.reshape(len(u), -1)[:, :count] * np.uint32(span)) >> np.uint32(16)
        else:
            v = (self.u32(count).astype(np.uint64) * np.uint64(span)) >> np.uint64(32)
        return (v.astype(dtype) + dtype(low)).reshape(-1, *shape)

    def normal(self, loc: float, scale: float, shape: tuple[int, ...] = ()) -> np.ndarray:
        """(N, *shape) float64, Gaussian (Box-Muller on two uniforms per value)."""
        u1, u2 = self.uniform(0.0, 1.0, shape), self.uniform(0.0, 1.0, shape)
        return loc + scale * (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))


def _hash32_u32(x: np.ndarray) -> np.ndarray:
    """``seeding.hash32`` on uint32 arrays (products wrap mod 2**32, as its masks do)."""
    x = x ^ (x >> np.uint32(16))
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x2C1B3C6D)
    x ^= x >> np.uint32(16)
    return x


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for side in shape:
        out *= int(side)
    return out
