"""Blur families (Hendrycks & Dietterich's second category), one decorated function each.

The fast defocus and Gaussian blurs use float32 filters over a tiled batch (OpenCV on CPU, torch
convolutions on CUDA) and agree with the float64 reference to within one grey level; the fast
zoom blur is torch's corner-aligned bilinear resize (= scipy's order-1 zoom). The fast glass and
motion blurs draw their random numbers from per-image counter-based hashes (kernels.HashedDraws)
and otherwise compute what the reference computes.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from robeval.corruptions.family import corruption
from robeval.corruptions.kernels import (
    HashedDraws,
    clipped_zoom,
    cpu_groups,
    cropped_disk,
    disk,
    filter_batch_opencv,
    gaussian_batch_opencv,
    gaussian_hw,
    gaussian_torch,
    motion_blur_array,
    motion_blur_f32,
    to_uint8,
    to_uint8_torch,
    to_unit,
    zoom_crop,
    zoom_matrix,
    zoomed_side,
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


def defocus_blur_fast(images, stream_keys, *, radius: float, alias_blur: float):
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


def _gaussian_unit(x: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 gaussian_hw(x / 255), in groups that stay in cache."""
    parts = [gaussian_batch_opencv(x[s].astype(np.float32) / np.float32(255), sigma)
             for s in cpu_groups(len(x), x[0].size)]
    return np.concatenate(parts) if parts else x.astype(np.float32)


def gaussian_blur_fast(images, stream_keys, *, sigma: float):
    """The whole batch through one float32 separable filter (within one grey level): OpenCV on
    CPU (numpy only: torch's threads on small tensors wait more than they work), torch on CUDA."""
    import torch

    if images.device.type != "cpu":
        x = images.permute(0, 3, 1, 2).float().div_(255)
        return to_uint8_torch(gaussian_torch(x, sigma)).permute(0, 2, 3, 1).contiguous()
    return torch.from_numpy(to_uint8(_gaussian_unit(images.numpy(), sigma)))


@corruption(
    category="blur", params=("sigma",), standard=False, fast=gaussian_blur_fast,
    cifar=(.4, .6, .7, .8, 1), tinyimagenet=(.5, .75, 1, 1.25, 1.5), imagenet=(1, 2, 3, 4, 6),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, skimage.filters.gaussian(x / 255, sigma, multichannel=True) "
            "(borders 'nearest', truncate 4); only sigma differs. scikit-image removed "
            "'multichannel'; robeval calls the same scipy filter over the two image axes")
def gaussian_blur(image: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation sigma (pixels) per channel."""
    return to_uint8(gaussian_hw(to_unit(image), sigma))


def glass_sources(h: int, w: int, max_delta: int, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Where each pixel's value comes from after Hendrycks' "local shuffle", for offsets dx, dy of
    shape (N, iterations, rows, cols) in the scripts' order of draws: flat indices into the
    N * h * w pixels before it.

    The scripts visit (r, c) for r from h - d down to d + 1 and c from w - d down to d + 1, and
    run ``x[r, c], x[r', c'] = x[r', c'], x[r, c]`` with (r', c') = (r + dy, c + dx). Both right
    hand sides are numpy views, so this is no swap: x[r, c] takes the value that (r', c') holds at
    that moment and (r', c') keeps it. That value is the original one, unless (r', c') was visited
    earlier in the same pass (it lies later in raster order): then it is whatever (r', c') took.
    Following those links by pointer doubling gives the loop's result exactly, vectorised.
    """
    n, iterations = dx.shape[:2]
    d = max_delta
    index = np.int32 if n * h * w < 2**31 else np.int64
    total = np.arange(n * h * w, dtype=index)
    if h - d <= d or w - d <= d:
        return total
    region = (slice(None), slice(d + 1, h - d + 1), slice(d + 1, w - d + 1))  # rows, cols visited
    rows = np.arange(d + 1, h - d + 1, dtype=index).reshape(-1, 1)
    cols = np.arange(d + 1, w - d + 1, dtype=index).reshape(1, -1)
    for it in range(iterations):
        # the draws of one pass in ascending raster order (the loop visits descending)
        ddy = dy[:, it, ::-1, ::-1].astype(index)
        ddx = dx[:, it, ::-1, ::-1].astype(index)
        offset = ddy * w + ddx
        src = np.arange(n * h * w, dtype=index).reshape(n, h, w)
        src[region] += offset
        linked = offset > 0  # later in raster order and inside the visited rectangle
        linked &= (rows + ddy >= d + 1) & (rows + ddy <= h - d)
        linked &= (cols + ddx >= d + 1) & (cols + ddx <= w - d)
        src = src.reshape(-1)
        if linked.any():
            follow = np.arange(n * h * w, dtype=index).reshape(n, h, w)
            follow[region] += np.where(linked, offset, 0).astype(index)
            follow = follow.reshape(-1)
            while True:
                further = follow[follow]
                if np.array_equal(further, follow):
                    break
                follow = further
            src = src[follow]
        total = src if it == 0 else total[src]
    return total


def _glass_sizes(h: int, w: int, max_delta: int) -> tuple[int, int]:
    """Rows and columns the shuffle visits: range(side - d, d, -1) on each axis."""
    return len(range(h - max_delta, max_delta, -1)), len(range(w - max_delta, max_delta, -1))


def glass_blur_fast(images, stream_keys, *, sigma: float, max_delta: int, iterations: int):
    """Batched: float32 Gaussians (OpenCV), and the shuffle of glass_sources with offsets drawn
    per image from hashes (the same distribution: integers in [-d, d), as randint(-d, d))."""
    import torch

    n, h, w, _ = images.shape
    if n == 0:
        return images.clone()
    x = to_uint8(_gaussian_unit(images.cpu().numpy(), sigma))
    nr, nc = _glass_sizes(h, w, max_delta)
    draws = HashedDraws(stream_keys).integers(-max_delta, max_delta, (iterations, nr, nc, 2), np.int32)
    x = x.reshape(n * h * w, 3)[glass_sources(h, w, max_delta, draws[..., 0], draws[..., 1])]
    out = to_uint8(_gaussian_unit(x.reshape(n, h, w, 3), sigma))
    return torch.from_numpy(out).to(images.device)


@corruption(
    category="blur", params=("sigma", "max_delta", "iterations"), seeded=True, fast=glass_blur_fast,
    cifar=((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    tinyimagenet=((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
    imagenet=((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    sources="make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py and imagecorruptions: the "
            "same operation (Gaussian, uint8, local shuffle, Gaussian); the scripts loop over "
            "range(32|64|224 - d, d, -1) on both axes (square images only), imagecorruptions over "
            "the real height and width, as robeval does. The Python loop (one np.random.randint per "
            "pixel) is replaced by one draw of all offsets in the same order and an exact "
            "vectorised equivalent (glass_sources); the scripts' 'swap' copies one way, kept")
def glass_blur(image: np.ndarray, rng: np.random.Generator, *, sigma: float, max_delta: int,
               iterations: int) -> np.ndarray:
    """Frosted glass: Gaussian blur, then each pixel replaced by one up to max_delta away
    (``iterations`` passes), then the Gaussian again."""
    x = np.uint8(gaussian_hw(to_unit(image), sigma) * 255)
    h, w = x.shape[:2]
    nr, nc = _glass_sizes(h, w, max_delta)
    draws = rng.integers(-max_delta, max_delta, size=(1, iterations, nr, nc, 2))
    source = glass_sources(h, w, max_delta, draws[..., 0], draws[..., 1])
    x = x.reshape(-1, 3)[source].reshape(h, w, 3)
    return to_uint8(gaussian_hw(x / 255.0, sigma))


def motion_blur_fast(images, stream_keys, *, radius: int, sigma: float):
    """Angles drawn per image from hashes (uniform on (-45, 45) degrees, as the reference), then
    the same taps summed in float32 (within one grey level of the reference at one angle)."""
    import torch

    angles = HashedDraws(stream_keys).uniform(-45.0, 45.0).ravel()
    x = images.cpu().numpy()
    out = np.empty_like(x)
    for k, (image, angle) in enumerate(zip(x, angles, strict=True)):
        blurred = motion_blur_f32(image.astype(np.float32), radius, sigma, angle)
        out[k] = np.clip(blurred, 0, 255).astype(np.uint8)
    return torch.from_numpy(out).to(images.device)


@corruption(
    category="blur", params=("radius", "sigma"), seeded=True, fast=motion_blur_fast,
    cifar=((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    tinyimagenet=((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
    imagenet=((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    sources="tables from make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py "
            "(= imagecorruptions). The operation differs: Hendrycks' scripts call ImageMagick's "
            "MotionBlurImage (through Wand) on a PNG, imagecorruptions a hand-made kernel of "
            "2 radius + 1 shifted copies weighted by a half Gaussian; robeval cannot use "
            "ImageMagick and follows imagecorruptions' kernel for every table. Angle uniform "
            "on (-45, 45) degrees in all of them")
def motion_blur(image: np.ndarray, rng: np.random.Generator, *, radius: int, sigma: float
                ) -> np.ndarray:
    """Linear motion at a random angle in (-45, 45) degrees: 2 radius + 1 shifted copies weighted
    by a half Gaussian of sigma (imagecorruptions' kernel), edges repeated."""
    angle = rng.uniform(-45, 45)
    return np.uint8(np.clip(motion_blur_array(image, radius, sigma, angle), 0, 255))


def zoom_factors(zoom_stop: float, zoom_step: float) -> np.ndarray:
    """The scripts' np.arange(1, stop, step), float rounding and all."""
    return np.arange(1, zoom_stop, zoom_step)


@lru_cache(maxsize=16)
def zoom_operator(h: int, w: int, zoom_stop: float, zoom_step: float):
    """The whole zoom blur of an h x w image as one sparse (h w x h w) float32 matrix: the mean of
    the identity and, per factor, the Kronecker product of its two axis matrices."""
    import scipy.sparse as sp

    factors = zoom_factors(zoom_stop, zoom_step)
    total = sp.identity(h * w, format="csr")
    for factor in factors:
        total = total + sp.kron(sp.csr_matrix(zoom_matrix(h, factor)[:h]),
                                sp.csr_matrix(zoom_matrix(w, factor)[:w]), format="csr")
    return (total / (len(factors) + 1)).astype(np.float32).tocsr()


def _zoom_blur_torch(images, zoom_stop: float, zoom_step: float):
    """The CUDA path: per factor one corner-aligned bilinear resize of the centre crop of the
    whole batch (torch's align_corners=True = scipy's order-1 zoom), float32 sums."""
    import torch
    import torch.nn.functional as F

    n, h, w, _ = images.shape
    x = images.permute(0, 3, 1, 2).float().div_(255).contiguous(memory_format=torch.channels_last)
    out = x.clone()
    factors = zoom_factors(zoom_stop, zoom_step)
    for factor in factors:
        ch, cw = zoom_crop(h, factor), zoom_crop(w, factor)
        top, left = (h - ch) // 2, (w - cw) // 2
        size = (zoomed_side(h, factor), zoomed_side(w, factor))
        crop = x[:, :, top:top + ch, left:left + cw]
        out += F.interpolate(crop, size=size, mode="bilinear", align_corners=True)[:, :, :h, :w]
    out /= len(factors) + 1
    return to_uint8_torch(out).permute(0, 2, 3, 1).contiguous()


def zoom_blur_fast(images, stream_keys, *, zoom_stop: float, zoom_step: float):
    """The zoom blur is one linear map shared by every image of a size: on CPU one sparse
    matrix product for the whole batch (float32 weights), on CUDA torch resizes."""
    import torch

    if images.device.type != "cpu":
        return _zoom_blur_torch(images, zoom_stop, zoom_step)
    n, h, w, c = images.shape
    operator = zoom_operator(h, w, float(zoom_stop), float(zoom_step))
    x = images.numpy().transpose(1, 2, 0, 3).reshape(h * w, n * c).astype(np.float32)
    y = operator @ (x / np.float32(255))
    return torch.from_numpy(to_uint8(y).reshape(h, w, n, c).transpose(2, 0, 1, 3).copy())


@corruption(
    category="blur", params=("zoom_stop", "zoom_step"), fast=zoom_blur_fast,
    cifar=((1.06, .01), (1.11, .01), (1.16, .01), (1.21, .01), (1.26, .01)),
    tinyimagenet=((1.06, .01), (1.11, .01), (1.16, .01), (1.21, .01), (1.26, .01)),
    imagenet=((1.11, .01), (1.16, .01), (1.21, .02), (1.26, .02), (1.31, .03)),
    sources="zoom factors np.arange(1, zoom_stop, zoom_step) from make_cifar_c.py, "
            "make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions). The same "
            "operation (mean of the image and its centre crops zoomed by each factor with scipy's "
            "order-1 zoom); the scripts crop square images and trim the zoomed crop at its "
            "centre, imagecorruptions crops each axis and keeps the top-left: the same pixels for "
            "factors below 1.5, which all of these are. robeval follows imagecorruptions")
def zoom_blur(image: np.ndarray, *, zoom_stop: float, zoom_step: float) -> np.ndarray:
    """Radial blur: the mean of the image and its centre zoomed by 1 to zoom_stop in zoom_step
    steps (scipy's order-1 zoom, float32)."""
    x = to_unit(image).astype(np.float32)
    h, w = x.shape[:2]
    out = np.zeros_like(x)
    factors = zoom_factors(zoom_stop, zoom_step)
    for factor in factors:
        out += clipped_zoom(x, factor)[:h, :w]
    return to_uint8((x + out) / (len(factors) + 1))
