"""Digital families (Hendrycks & Dietterich's fourth category), one decorated function each.

Brightness and saturate go through scikit-image's HSV conversion, as every script does; their
fast paths restate its steps on batches of torch planes (float64) and give the same bits.
Elastic transform is the one random family here: its reference draws from ``rng`` in the order the
scripts draw from numpy's global state, calling only ``rng.uniform`` (so a RandomState seeded like
np.random.seed reproduces imagecorruptions and Hendrycks' scripts bit for bit); its
fast path draws the same law from the counter-based stream. Contrast and pixelate have no
fast path: per image they already run at 7,000+ CIFAR images/s on one loaded core.
"""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

import cv2
import numpy as np
from PIL import Image

from robeval.corruptions.family import corruption
from robeval.corruptions.kernels import OneTorchThread, cpu_groups, to_uint8, to_unit
from robeval.corruptions.seeding import stream_bits, stream_bits_numpy, unit_uniforms

_UPSAMPLE = {"box": Image.BOX, "nearest": Image.NEAREST}


# hsv2rgb's np.choose: for each hue sector 0-5, which of (v, q, p, t) each of R, G, B takes
_HSV_CHOICE = ((0, 1, 2, 2, 3, 0), (3, 0, 0, 1, 2, 2), (2, 2, 3, 0, 0, 1))


def _rgb2hsv(r, g, b):
    """skimage.color.rgb2hsv on float64 torch planes, step for step (the same bits)."""
    import torch

    v = torch.maximum(torch.maximum(r, g), b)
    delta = v - torch.minimum(torch.minimum(r, g), b)
    grey = delta == 0
    s = (delta / v).masked_fill_(grey, 0)
    is_b, is_g = b == v, g == v  # red is the largest; green, then blue, win ties, as in skimage
    num = torch.where(is_b, r - g, torch.where(is_g, b - r, g - b)).div_(delta)
    h = torch.where(is_b, num + 4.0, torch.where(is_g, num + 2.0, num)).div_(6.0)
    h = torch.where(h < 0, h + 1.0, h).masked_fill_(grey, 0)  # = numpy's % 1.0 on [-1/6, 5/6)
    return h, s, v


def _hsv2rgb(h, s, v):
    """skimage.color.hsv2rgb on float64 torch planes, step for step; returns (..., 3)."""
    import torch

    h6 = h * 6
    hi = torch.floor(h6)
    f = h6.sub_(hi)
    options = torch.stack((v, (f * s).neg_().add_(1).mul_(v), v * (1 - s),
                           (1 - f).mul_(s).neg_().add_(1).mul_(v)))
    sector = hi.long().remainder_(6)
    pixel = torch.arange(h.numel(), device=h.device).view(h.shape)
    choice = torch.tensor(_HSV_CHOICE, device=h.device)
    return torch.stack([options.take(choice[c].take(sector).mul_(h.numel()).add_(pixel))
                        for c in range(3)], -1)


def _hsv_batches(images, change):
    """uint8 (N, H, W, 3) -> same: ``change(h, s, v) -> (h, s, v)`` in HSV, on cache-sized groups
    of images, rounded as the scripts round (np.uint8 truncation)."""
    import torch

    if len(images) == 0:
        return images.clone()
    cpu = images.device.type == "cpu"
    groups = cpu_groups(len(images), images[0].numel()) if cpu else [slice(0, len(images))]
    with OneTorchThread(images.device):
        parts = []
        for group in groups:
            planes = images[group].double().div_(255.0).unbind(-1)
            rgb = _hsv2rgb(*change(*_rgb2hsv(*planes)))
            parts.append(rgb.clamp_(0, 1).mul_(255).to(torch.uint8))
        return torch.cat(parts)  # inside: a 2-thread cat waits on a busy core (measured 2x)


def brightness_fast(images, stream_keys, *, shift: float):
    """Batched brightness: the reference's bits (its HSV steps restated in torch, float64)."""
    return _hsv_batches(images, lambda h, s, v: (h, s, (v + shift).clamp_(0, 1)))


def saturate_fast(images, stream_keys, *, factor: float, offset: float):
    """Batched saturate: the reference's bits (its HSV steps restated in torch, float64)."""
    return _hsv_batches(images, lambda h, s, v: (h, (s * factor + offset).clamp_(0, 1), v))


@corruption(
    category="digital", params=("shift",), fast=brightness_fast,
    cifar=(.05, .1, .15, .2, .3), tinyimagenet=(.1, .2, .3, .4, .5), imagenet=(.1, .2, .3, .4, .5),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, skimage rgb2hsv, V + shift clipped to [0, 1], hsv2rgb; only the "
            "shifts differ (imagecorruptions adds a branch for one-channel images, which robeval "
            "repeats to RGB first)")
def brightness(image: np.ndarray, *, shift: float) -> np.ndarray:
    """Raise the HSV value (the largest channel) by ``shift``, keeping hue and saturation."""
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(to_unit(image))
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + shift, 0, 1)
    return to_uint8(hsv2rgb(hsv))


@corruption(
    category="digital", params=("factor",),
    cifar=(.75, .5, .4, .3, .15), tinyimagenet=(.4, .3, .2, .1, .05),
    imagenet=(.4, .3, .2, .1, .05),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, (x - mean) * factor + mean with the mean per channel over the "
            "image; only the factors differ")
def contrast(image: np.ndarray, *, factor: float) -> np.ndarray:
    """Pull every channel value toward its channel's image mean: ``factor`` of the contrast stays."""
    x = to_unit(image)
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return to_uint8((x - means) * factor + means)


def _sample(image, rows, cols, reflect_101: bool):
    """Sample a float (N, C, H, W) batch at float pixel positions (N, H, W), bilinearly:
    grid_sample's reflection about pixel centres (align_corners) is OpenCV's reflect-101, about
    pixel edges it is scipy's 'reflect' (for bilinear weights both read the same pixels)."""
    import torch
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    if reflect_101:
        grid = torch.stack((cols * (2 / (w - 1)) - 1, rows * (2 / (h - 1)) - 1), -1)
    else:
        grid = torch.stack(((cols * 2 + 1) / w - 1, (rows * 2 + 1) / h - 1), -1)
    return F.grid_sample(image, grid.float(), mode="bilinear", padding_mode="reflection",
                         align_corners=reflect_101)


def _gaussian_taps(sd: float) -> np.ndarray:
    """scipy's Gaussian kernel (radius int(3 sd + 0.5)) as float32; [1] where scipy skips."""
    if sd <= 1e-15:
        return np.ones(1, np.float32)
    taps = np.arange(-int(3 * sd + 0.5), int(3 * sd + 0.5) + 1, dtype=np.float64)
    kernel = np.exp(-0.5 / sd**2 * taps**2)
    return (kernel / kernel.sum()).astype(np.float32)


@lru_cache(maxsize=32)
def _gaussian_matrix(size: int, sd: float) -> np.ndarray:
    """``_gaussian_taps(sd)`` along one axis with 'reflect' borders (d c b a | a b c d) as a size
    x size matrix: ``field @ M`` smooths the last axis."""
    kernel = _gaussian_taps(sd)
    radius = len(kernel) // 2
    matrix = np.zeros((size, size), np.float32)
    out = np.arange(size)
    for tap, weight in zip(range(-radius, radius + 1), kernel, strict=True):
        src = np.remainder(out + tap, 2 * size)
        np.add.at(matrix, (np.where(src >= size, 2 * size - 1 - src, src), out), weight)
    return matrix


def _smooth(field, sigmas: tuple[float, float]):
    """(N, H, W) float field smoothed as skimage.filters.gaussian(mode='reflect', truncate=3)."""
    import torch

    for axis, sd in ((1, sigmas[0]), (2, sigmas[1])):
        if sd > 1e-15:  # scipy leaves such an axis alone
            m = torch.from_numpy(_gaussian_matrix(field.shape[axis], float(sd))).to(field)
            field = field @ m if axis == 2 else m.T @ field
    return field


def _anchors(h: int, w: int) -> np.ndarray:
    """The scripts' three affine anchor points (x, y), float32: centre +- a third of the side."""
    center = np.float32((h, w)) // 2
    square = min(h, w) // 3
    return np.float32([center + square, [center[0] + square, center[1] - square], center - square])


def _elastic_torch(images, stream_keys, alpha: float, spread: float, sigma: float, affine: float):
    import torch

    n, h, w, _ = images.shape
    dev = images.device
    bits = unit_uniforms(stream_bits(stream_keys.to(dev), 0, 2 * h * w + 6))
    x = images.permute(0, 3, 1, 2).float().div_(255.0)  # float32 on [0, 1], as the scripts
    rows = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1).expand(n, h, w)
    cols = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w).expand(n, h, w)
    if affine:  # the inverse of the warp that moves anchors to anchors + U(-affine h, affine h)
        src = torch.from_numpy(_anchors(h, w)).to(dev).expand(n, 3, 2)
        dst = src + bits[:, -6:].view(n, 3, 2) * np.float32(affine * h)
        ones = torch.ones(n, 3, 1, device=dev, dtype=torch.float64)
        inverse = torch.linalg.solve(torch.cat([dst.double(), ones], 2), src.double()).float()
        at = torch.stack((cols, rows, torch.ones_like(rows)), -1).reshape(n, h * w, 3) @ inverse
        x = _sample(x, at[..., 1].view(n, h, w), at[..., 0].view(n, h, w), reflect_101=True)
    field = _smooth(bits[:, :2 * h * w].reshape(2 * n, h, w), (sigma * h, sigma * w))
    field = field.mul_(alpha * spread * h).view(n, 2, h, w)  # = alpha * U(-spread h, spread h)
    moved = _sample(x, rows + field[:, 1], cols + field[:, 0], reflect_101=False)
    return moved.clamp_(0, 1).mul_(255).to(torch.uint8).permute(0, 2, 3, 1)


def _elastic_opencv(images: np.ndarray, stream_keys: np.ndarray, alpha: float, spread: float,
                    sigma: float, affine: float) -> np.ndarray:
    """The CPU path, per image with OpenCV: the reference's own warpAffine, sepFilter2D with
    scipy's kernel and 'reflect' borders, remap (bilinear at 1/32-pixel steps) in place of
    map_coordinates."""
    n, h, w, _ = images.shape
    uniforms = unit_uniforms(stream_bits_numpy(stream_keys, 0, 2 * h * w + 6))
    kx, ky = _gaussian_taps(sigma * w), _gaussian_taps(sigma * h)
    rows, cols = np.mgrid[:h, :w].astype(np.float32)
    scale = np.float32(alpha * spread * h)  # alpha * U(-spread h, spread h)
    out = np.empty_like(images)
    for i in range(n):
        x = images[i].astype(np.float32) / np.float32(255)
        if affine:
            anchors = _anchors(h, w)
            shifted = anchors + uniforms[i, -6:].reshape(3, 2) * np.float32(affine * h)
            warp = cv2.getAffineTransform(anchors, shifted)
            x = cv2.warpAffine(x, warp, (w, h), borderMode=cv2.BORDER_REFLECT_101)
        dx, dy = (cv2.sepFilter2D(uniforms[i, k * h * w:(k + 1) * h * w].reshape(h, w), -1, kx,
                                  ky, borderType=cv2.BORDER_REFLECT) * scale for k in (0, 1))
        moved = cv2.remap(x, cols + dx, rows + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out[i] = to_uint8(moved)
    return out


def elastic_transform_fast(images, stream_keys, *, alpha: float, spread: float, sigma: float,
                           affine: float):
    """Batched elastic transform drawing the reference's distribution from the counter-based
    stream (the same law of uniforms, scipy's Gaussian kernel and borders): OpenCV per image on
    CPU, torch (float32, exact bilinear weights) elsewhere."""
    import torch

    if len(images) == 0:
        return images.clone()
    if images.device.type == "cpu":
        return torch.from_numpy(_elastic_opencv(images.numpy(), stream_keys.numpy(), alpha, spread,
                                                sigma, affine))
    return _elastic_torch(images, stream_keys, alpha, spread, sigma, affine)


@corruption(
    category="digital", params=("alpha", "spread", "sigma", "affine"), seeded=True,
    fast=elastic_transform_fast,
    cifar=((32 * 0, 1 / 32, 0, .08), (32 * .05, 1 / 32, .2, .07), (32 * .08, 1 / 32, .06, .06),
           (32 * .1, 1 / 32, .04, .05), (32 * .1, 1 / 32, .03, .03)),
    tinyimagenet=((64 * 0, 1 / 64, 0, .08), (64 * .05, 1 / 64, .3, .06), (64 * .1, 1 / 64, .08, .06),
                  (64 * .1, 1 / 64, .03, .03), (64 * .16, 1 / 64, .03, .02)),
    imagenet=((250 * .05, .005, .01, 0), (250 * .065, .005, .01, 0), (250 * .085, .005, .01, 0),
              (250 * .1, .005, .01, 0), (250 * .12, .005, .01, 0)),
    sources="cifar and tinyimagenet: make_cifar_c.py and make_tinyimagenet_c.py, the same operation "
            "written for IMSIZE = 32 / 64 px: a random affine warp (cv2.warpAffine, reflect-101) "
            "whose three anchor points move by up to IMSIZE * affine, then a displacement field "
            "IMSIZE * a * gaussian(U(-1, 1), sigma = IMSIZE * s, reflect, truncate 3), sampled "
            "bilinearly (map_coordinates, reflect). The scripts' (IMSIZE * a, IMSIZE * s, IMSIZE * "
            "affine) become alpha = IMSIZE * a, spread = 1 / IMSIZE, sigma = s, affine as written, "
            "with lengths in units of the image's own height (sigma per side): the same numbers "
            "at the native size, the script's IMSIZE -> the image's size elsewhere (the gaussian "
            "is linear, so alpha * U(-H/IMSIZE, H/IMSIZE) = H * a * U(-1, 1)). "
            "imagenet: imagecorruptions 1.1.2, which rewrote the operation for any size: no affine "
            "warp, sigma = 0.01 of each side, noise U(-0.005 H, 0.005 H), alpha = 250 * (.05, .065, "
            ".085, .1, .12). make_imagenet_c.py (the released ImageNet-C) instead keeps the "
            "CIFAR-style operation with 244 * (2, .7, .1), (2, .08, .2), (.05, .01, .02), (.07, .01, "
            ".02), (.12, .01, .02) (its comment: 244 should have been 224); that table is not "
            "this one")
def elastic_transform(image: np.ndarray, rng: np.random.Generator, *, alpha: float, spread: float,
                      sigma: float, affine: float) -> np.ndarray:
    """Simard-style elastic distortion: an optional random affine warp (anchor points moved by up
    to ``affine`` x height), then pixels moved by ``alpha`` x a Gaussian-smoothed (``sigma`` x
    each side) field of U(-spread x height, +spread x height) noise, sampled bilinearly."""
    from scipy.ndimage import map_coordinates
    from skimage.filters import gaussian

    x = np.asarray(image, dtype=np.float32) / 255.0  # float32, as every script
    h, w = x.shape[:2]
    if affine:
        pts1 = _anchors(h, w)
        pts2 = pts1 + rng.uniform(-affine * h, affine * h, size=pts1.shape).astype(np.float32)
        warp = cv2.getAffineTransform(pts1, pts2)
        x = cv2.warpAffine(x, warp, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    sigmas = np.array((h, w)) * sigma
    dx, dy = (
        (gaussian(rng.uniform(-spread * h, spread * h, size=(h, w)), sigmas, mode="reflect",
                  truncate=3) * alpha).astype(np.float32)[..., None]
        for _ in range(2))
    cols, rows, chans = np.meshgrid(np.arange(w), np.arange(h), np.arange(3))
    coords = (rows + dy).reshape(-1, 1), (cols + dx).reshape(-1, 1), chans.reshape(-1, 1)
    return to_uint8(map_coordinates(x, coords, order=1, mode="reflect").reshape(x.shape))


@corruption(
    category="digital", params=("factor", "upsample"),
    cifar=((.95, "box"), (.9, "box"), (.85, "box"), (.75, "box"), (.65, "box")),
    tinyimagenet=((.9, "box"), (.8, "box"), (.7, "box"), (.6, "box"), (.5, "box")),
    imagenet=((.6, "nearest"), (.5, "nearest"), (.4, "nearest"), (.3, "nearest"),
              (.25, "nearest")),
    sources="cifar and tinyimagenet: make_cifar_c.py and make_tinyimagenet_c.py: PIL BOX resize to "
            "int(IMSIZE * factor) square, BOX back to IMSIZE (32 / 64 px hard-coded); here to "
            "int(W * factor) x int(H * factor) and back to the image's own W x H, the same at the "
            "native size. imagenet: imagecorruptions 1.1.2: BOX down the same way, NEAREST back "
            "up; make_imagenet_c.py (the released ImageNet-C) resizes back with BOX to 224 px, "
            "hence the ``upsample`` parameter")
def pixelate(image: np.ndarray, *, factor: float, upsample: str) -> np.ndarray:
    """Shrink by ``factor`` with PIL's BOX filter and enlarge back (BOX or NEAREST)."""
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize((max(1, int(w * factor)), max(1, int(h * factor))),
                                          Image.BOX)
    return np.asarray(small.resize((w, h), _UPSAMPLE[upsample]))


@corruption(
    category="digital", params=("quality",),
    cifar=(80, 65, 58, 50, 40), tinyimagenet=(65, 58, 50, 40, 25), imagenet=(25, 18, 15, 10, 7),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same PIL encode/decode; only the qualities differ")
def jpeg_compression(image: np.ndarray, *, quality: int) -> np.ndarray:
    """PIL JPEG encode/decode at the given quality (PIL's defaults otherwise: 4:2:0)."""
    buf = BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


@corruption(
    category="digital", params=("factor", "offset"), standard=False, fast=saturate_fast,
    cifar=((.3, 0), (.1, 0), (1.5, 0), (2, .1), (2.5, .2)),
    tinyimagenet=((.3, 0), (.1, 0), (2, 0), (5, .1), (30, .2)),
    imagenet=((.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same operation, skimage rgb2hsv, S * factor + offset clipped to [0, 1], hsv2rgb; "
            "only the numbers differ (an offset turns grey pixels, whose hue is 0, red)")
def saturate(image: np.ndarray, *, factor: float, offset: float) -> np.ndarray:
    """Scale the HSV saturation by ``factor`` and add ``offset``, keeping hue and value."""
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(to_unit(image))
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * factor + offset, 0, 1)
    return to_uint8(hsv2rgb(hsv))
