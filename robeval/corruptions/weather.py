"""Weather families (Hendrycks & Dietterich's third category), one decorated function each.

All four are random: each reference draws only from its ``rng`` (numpy's global state is never
touched) and in the order imagecorruptions draws from np.random, so a generator that replays
np.random reproduces imagecorruptions exactly. The fast paths of snow and fog draw the same
distributions from per-image counter-based hashes (kernels.HashedDraws) and compute the rest in
float32. Frost has none: with its textures loaded and resized once, the reference is a crop and
a blend (tens of thousands of 32-px images a second). Spatter has none: its OpenCV steps (Canny,
distance transform, histogram equalisation) work on one image at a time.
"""

from __future__ import annotations

import importlib.util
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np

from robeval.core.errors import RobevalError
from robeval.corruptions.family import corruption
from robeval.corruptions.kernels import (
    HashedDraws,
    clipped_zoom,
    gaussian_hw,
    motion_blur_array,
    motion_blur_f32,
    next_power_of_2,
    plasma_fractal,
    to_uint8,
    to_unit,
    zoom_matrix,
)

# --- snow ------------------------------------------------------------------------------------


def _snow_blend(x: np.ndarray, grey: np.ndarray, layer: np.ndarray, image_weight: float,
                spatial: tuple[int, int] = (0, 1)):
    """Hendrycks' blend: the image pulled toward 1.5 x its grey + 0.5, plus the snow layer and its
    180-degree rotation; values in [0, 1], grey and layer with one channel, ``spatial`` the axes
    of height and width (the fast path puts channels first: numpy's broadcasting over a last axis
    of 3 runs ten times slower)."""
    x = image_weight * x + (1 - image_weight) * np.maximum(x, grey * 1.5 + 0.5)
    return to_uint8(x + layer + np.rot90(layer, k=2, axes=spatial))


def snow_fast(images, stream_keys, *, flake_mean: float, flake_std: float, flake_zoom: float,
              flake_threshold: float, blur_radius: int, blur_sigma: float, image_weight: float):
    """Flakes and angles drawn per image from hashes (Gaussian; uniform on (-135, -45) degrees);
    the zoom as two small matrix products for the whole batch (scipy's order-1 zoom weights),
    the motion blur per image (OpenCV), all in float32."""
    import torch

    n, h, w, _ = images.shape
    if n == 0:
        return images.clone()
    flakes = HashedDraws(stream_keys).normal(flake_mean, flake_std, (h, w)).astype(np.float32)
    angles = HashedDraws(stream_keys, stream=1).uniform(-135.0, -45.0).ravel()
    if flake_zoom != 1:  # two plain 2-D matrix products over the whole batch (BLAS)
        rows = zoom_matrix(h, float(flake_zoom)).astype(np.float32)
        cols = zoom_matrix(w, float(flake_zoom)).astype(np.float32)
        flakes = (flakes.reshape(n * h, w) @ cols.T).reshape(n, h, -1)
        flakes = (rows @ flakes.transpose(1, 0, 2).reshape(h, -1)).reshape(len(rows), n, -1)
        flakes = np.ascontiguousarray(flakes.transpose(1, 0, 2))
    flakes[flakes < flake_threshold] = 0
    np.clip(flakes, 0, 1, out=flakes)
    layer = np.stack([motion_blur_f32(f, blur_radius, blur_sigma, a)[:h, :w]
                      for f, a in zip(flakes, angles, strict=True)])
    layer = (np.round(layer * 255) / np.float32(255))[:, None]
    x = images.cpu().numpy().transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]  # OpenCV's RGB2GRAY
    out = _snow_blend(x, grey, layer, image_weight, spatial=(2, 3))
    return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 2, 3, 1))).to(images.device)


@corruption(
    category="weather", seeded=True, fast=snow_fast,
    params=("flake_mean", "flake_std", "flake_zoom", "flake_threshold", "blur_radius",
            "blur_sigma", "image_weight"),
    cifar=((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
           (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
           (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    tinyimagenet=((0.1, 0.2, 1, 0.6, 8, 3, 0.8), (0.1, 0.2, 1, 0.5, 10, 4, 0.8),
                  (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65),
                  (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6)),
    imagenet=((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
              (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
              (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)),
    sources="tables from make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py "
            "(= imagecorruptions). The operation differs: the scripts trim the zoomed flake layer "
            "at its centre, save it as an 8-bit PNG (values truncated) and motion-blur it with "
            "ImageMagick (Wand); imagecorruptions blurs the untrimmed float layer with its "
            "hand-made motion kernel, rounds to 8 bits, then keeps the top-left H x W. robeval "
            "cannot use ImageMagick and follows imagecorruptions for every table (any image size)")
def snow(image: np.ndarray, rng: np.random.Generator, *, flake_mean: float, flake_std: float,
         flake_zoom: float, flake_threshold: float, blur_radius: int, blur_sigma: float,
         image_weight: float) -> np.ndarray:
    """Snow: a Gaussian flake layer, zoomed, thresholded and motion-blurred at a random angle in
    (-135, -45) degrees, added twice (as is and rotated 180 degrees) to the image brightened
    toward its grey."""
    x = np.asarray(image, dtype=np.float32) / 255.0
    h, w = x.shape[:2]
    layer = rng.normal(loc=flake_mean, scale=flake_std, size=(h, w))
    layer = clipped_zoom(layer[..., np.newaxis], flake_zoom)
    layer[layer < flake_threshold] = 0
    layer = np.clip(layer[..., 0], 0, 1)
    layer = motion_blur_array(layer, blur_radius, blur_sigma, rng.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.0)[:h, :w, np.newaxis]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, w, 1)
    return _snow_blend(x, grey, layer, image_weight)


# --- frost -----------------------------------------------------------------------------------

FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
# Hendrycks' list has a sixth, frost6.jpg, but every script draws np.random.randint(5): never used.
FROST_HELP = ("frost needs the texture images of the imagecorruptions package (imagecorruptions/"
              "frost/frost1.png ... frost5.jpg); install it: pip install imagecorruptions==1.1.2 "
              "(robeval's 'corrupt' extra)")


def _frost_folder() -> Path:
    """imagecorruptions' frost/ folder, found without importing the package (its import needs
    pkg_resources, which new setuptools no longer ship)."""
    module_spec = importlib.util.find_spec("imagecorruptions")
    if module_spec is None or not module_spec.submodule_search_locations:
        raise RobevalError(FROST_HELP)
    return Path(next(iter(module_spec.submodule_search_locations))) / "frost"


@cache
def frost_texture(index: int) -> np.ndarray:
    """Texture ``index`` (0-4) as RGB uint8, read once per process."""
    path = _frost_folder() / FROST_FILES[index]
    image = cv2.imread(str(path)) if path.is_file() else None
    if image is None:
        raise RobevalError(f"{FROST_HELP}; {path} is missing or unreadable")
    return np.ascontiguousarray(image[..., ::-1])


@lru_cache(maxsize=128)
def frost_scaled(index: int, h: int, w: int, texture_scale: float) -> np.ndarray:
    """Texture ``index`` resized for an h x w image, once per (texture, size, scale).

    Scale s = max(texture_scale, 1.1 x max(h / th, w / tw)): the table's scale unless the image
    would not fit, then imagecorruptions' rule (just large enough, with 10% to spare). Shrinking
    is Hendrycks' cv2.resize(fx=fy=s) (bilinear), enlarging imagecorruptions' ceil-sized bicubic;
    for the imagenet table (1.1) this is imagecorruptions' frost exactly.
    """
    texture = frost_texture(index)
    th, tw = texture.shape[:2]
    scale = max(float(texture_scale), max(h / th, w / tw) * 1.1)
    if scale < 1:
        return cv2.resize(texture, (0, 0), fx=scale, fy=scale)
    size = (int(np.ceil(tw * scale)), int(np.ceil(th * scale)))
    return cv2.resize(texture, dsize=size, interpolation=cv2.INTER_CUBIC)


def _crop_ranges(index: int, h: int, w: int, texture_scale: float) -> tuple[int, int]:
    """How many crop positions texture ``index`` offers an h x w image: (rows, cols)."""
    scaled = frost_scaled(index, h, w, texture_scale)
    return scaled.shape[0] - h, scaled.shape[1] - w


@corruption(
    category="weather", params=("image_weight", "frost_weight", "texture_scale"), seeded=True,
    cifar=((1, 0.2, 0.2), (1, 0.3, 0.2), (0.9, 0.4, 0.2), (0.85, 0.4, 0.2), (0.75, 0.45, 0.2)),
    tinyimagenet=((1, 0.3, 0.3), (0.9, 0.4, 0.3), (0.8, 0.45, 0.3), (0.75, 0.5, 0.3),
                  (0.7, 0.55, 0.3)),
    imagenet=((1, 0.4, 1.1), (0.8, 0.6, 1.1), (0.7, 0.7, 1.1), (0.65, 0.7, 1.1), (0.6, 0.75, 1.1)),
    sources="weights from make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py "
            "(= imagecorruptions); texture_scale is how each script sizes the texture before "
            "its random crop: make_cifar_c.py shrinks it to 0.2 and make_tinyimagenet_c.py to "
            "0.3 (cv2.resize, bilinear), make_imagenet_c.py crops it unscaled, imagecorruptions "
            "scales it by 1.1 (x the ratio that makes it cover larger images; bicubic). robeval "
            "follows the CIFAR and Tiny scripts for their tables and imagecorruptions for imagenet, "
            "and grows any texture that would not cover the image by imagecorruptions' rule "
            "(the scripts handled 32, 64 and 224 px only). Textures: imagecorruptions' package "
            "files, one of the first five at random (the scripts' randint(5) never picks frost6)")
def frost(image: np.ndarray, rng: np.random.Generator, *, image_weight: float,
          frost_weight: float, texture_scale: float) -> np.ndarray:
    """Frost on a lens: the image weighted, plus a random crop of one of five frost photographs
    (imagecorruptions' files) resized by texture_scale."""
    h, w = image.shape[:2]
    index = int(rng.integers(len(FROST_FILES)))
    rows, cols = _crop_ranges(index, h, w, texture_scale)
    top, left = rng.integers(0, rows), rng.integers(0, cols)
    crop = frost_scaled(index, h, w, texture_scale)[top:top + h, left:left + w]
    return np.uint8(np.clip(image_weight * np.asarray(image) + frost_weight * crop, 0, 255))


# --- fog -------------------------------------------------------------------------------------


def fog_fast(images, stream_keys, *, thickness: float, wibble_decay: float):
    """Plasma maps of the whole batch at once from hashed uniforms (the same diamond-square
    steps), the blend in float32."""
    import torch

    n, h, w, _ = images.shape
    if n == 0:
        return images.clone()
    draws = HashedDraws(stream_keys)
    maps = plasma_fractal(next_power_of_2(max(h, w)), wibble_decay,
                          lambda low, high, shape: draws.uniform(low, high, shape[1:]), (n,))
    x = images.cpu().numpy().transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    x += np.float32(thickness) * maps[:, None, :h, :w].astype(np.float32)  # channels first: see snow
    out = to_uint8(x * peak / (peak + np.float32(thickness))).transpose(0, 2, 3, 1)
    return torch.from_numpy(np.ascontiguousarray(out)).to(images.device)


@corruption(
    category="weather", params=("thickness", "wibble_decay"), seeded=True, fast=fog_fast,
    cifar=((.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    tinyimagenet=((.4, 3), (.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)),
    imagenet=((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
    sources="make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py (= imagecorruptions): "
            "the same operation, a diamond-square plasma map added and the result rescaled by "
            "max / (max + thickness); only the numbers differ. The scripts' map is 32, 64 and "
            "256 px, imagecorruptions' the next power of two above the image's longer side (the "
            "same three at 32, 64 and 224 px); robeval follows imagecorruptions for any size")
def fog(image: np.ndarray, rng: np.random.Generator, *, thickness: float, wibble_decay: float
        ) -> np.ndarray:
    """Fog: a plasma-fractal haze of the given thickness (roughness falling by wibble_decay per
    octave) added, then the image rescaled so its brightest value keeps its level."""
    h, w = image.shape[:2]
    x = to_unit(image)
    peak = x.max()
    haze = plasma_fractal(next_power_of_2(max(h, w)), wibble_decay, rng.uniform)
    x += thickness * haze[:h, :w][..., np.newaxis]
    return to_uint8(x * peak / (peak + thickness))


# --- spatter ---------------------------------------------------------------------------------

WATER = (np.array([175, 238, 238]) / 255.0).astype(np.float32)  # pale turquoise, float32 as
MUD = np.array([63, 42, 20]) / 255.0  # in the scripts; channels 0, 1, 2 in this order


def _water_mask(liquid: np.ndarray) -> np.ndarray:
    """Hendrycks' water-drop shading (float32): the liquid layer in 8 bits times its edges'
    truncated distance transform, equalised, embossed and blurred (OpenCV, as in the scripts)."""
    layer = (liquid * 255).astype(np.uint8)
    dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
    dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
    return layer * dist


@corruption(
    category="weather", standard=False, seeded=True,
    params=("liquid_mean", "liquid_std", "liquid_sigma", "liquid_threshold", "strength", "mud"),
    cifar=((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
           (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
           (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    tinyimagenet=((0.62, 0.1, 0.7, 0.7, 0.6, 0), (0.65, 0.1, 0.8, 0.7, 0.6, 0),
                  (0.65, 0.3, 1, 0.69, 0.6, 0), (0.65, 0.1, 0.7, 0.68, 0.6, 1),
                  (0.65, 0.1, 0.5, 0.67, 0.6, 1)),
    imagenet=((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
              (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
              (0.67, 0.4, 1, 0.65, 1.5, 1)),
    sources="make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py (= imagecorruptions): "
            "the same operation (water drops for mud=0, mud for mud=1); only the numbers differ. "
            "The CIFAR and Tiny scripts blend mud in float32, imagecorruptions in float64 "
            "(robeval follows it: at most one grey level apart). Where the layer has no "
            "drop at all imagecorruptions divides 0 by 0 (a black image); robeval leaves the "
            "image unchanged")
def spatter(image: np.ndarray, rng: np.random.Generator, *, liquid_mean: float, liquid_std: float,
            liquid_sigma: float, liquid_threshold: float, strength: float, mud: int) -> np.ndarray:
    """Spatter: a thresholded, smoothed Gaussian liquid layer, drawn as shaded pale-turquoise
    water drops (mud=0; strength scales them) or opaque brown mud (mud=1; strength is the
    Gaussian sigma of the mud's edges)."""
    x = np.asarray(image, dtype=np.float32) / 255.0
    liquid = rng.normal(loc=liquid_mean, scale=liquid_std, size=x.shape[:2])
    liquid = gaussian_hw(liquid, liquid_sigma)
    liquid[liquid < liquid_threshold] = 0
    if mud == 0:
        m = _water_mask(liquid)
        peak = m.max()
        if peak > 0:
            m /= peak
            m *= strength
        return to_uint8(x + m[..., np.newaxis] * WATER)
    m = gaussian_hw(np.where(liquid > liquid_threshold, 1, 0).astype(np.float32), strength)
    m[m < 0.8] = 0
    x *= 1 - m[..., np.newaxis]
    return to_uint8(x + MUD * m[..., np.newaxis])
