"""Image files -> uint8 RGB arrays: decoding that fails loudly, the square-crop rule, resizing.

The crop rule (used by every generalisation set and by ImageFolder trees of mixed sizes):
with a box, a square of side ``(1 + 2 * margin) * max(box width, box height)`` centred on the
box, at most the image's shorter side, moved to lie inside the image; without a box, the
centred square of side ``min(width, height)``. Then a Lanczos resize to the target size.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DEFAULT_MARGIN = 0.1


class BadImage(ValueError):
    """An image file that is truncated, undecodable or empty."""


def open_image(data: bytes, name: str = "") -> Image.Image:
    """Decode all of ``data`` to an RGB PIL image; truncated or undecodable files, and images
    above PIL's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``), raise BadImage."""
    if not data:
        raise BadImage(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()  # PIL decodes lazily: force it, so a truncated file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"{name}: refused as a possible decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"{name}: cannot decode ({exc})") from None
    return to_rgb(img, name)


def to_rgb(img: Image.Image, name: str = "") -> Image.Image:
    """8-bit RGB. PIL's own convert("RGB") clips 16-bit values at 255 (a white image) and floats
    in [0, 1] to 0 (a black one), so those are scaled here: 16-bit by 1/257, floats in [0, 1] by
    255; floats outside [0, 255] are refused (their range is unknown)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        a = np.asarray(img, dtype=np.float64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise BadImage(f"{name}: 32-bit integer pixels in [{a.min():g}, {a.max():g}]; save it "
                           "as an 8- or 16-bit image")
        return Image.fromarray(np.round(a / 257).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all() or (a.size and (a.min() < 0 or a.max() > 255)):
            raise BadImage(f"{name}: float pixels outside [0, 1] and [0, 255] (or NaN); save it as "
                           "an 8-bit image")
        scale = 255.0 if a.size and a.max() <= 1.0 else 1.0
        return Image.fromarray(np.round(a * scale).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def square_box(width: int, height: int, box: Sequence[float] | None,
               margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """The pixel square (x0, y0, x1, y1) the crop rule takes from a width x height image."""
    short = min(width, height)
    if box is None:
        side = short
        cx, cy = width / 2, height / 2
    else:
        x0, y0, x1, y1 = box
        side = min(short, max(1, round((1 + 2 * margin) * max(x1 - x0, y1 - y0))))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return left, top, left + side, top + side


def crop_resize(img: Image.Image, size: int, box: Sequence[float] | None = None,
                margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Apply the crop rule to ``img`` (box in pixels) and resize to ``size`` x ``size``."""
    if box is None and img.size == (size, size):
        return np.asarray(img, dtype=np.uint8)
    region = img.crop(square_box(img.width, img.height, box, margin))
    if region.size != (size, size):
        region = region.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(region, dtype=np.uint8)


def decode_to_array(data: bytes, name: str = "", size: int | None = None) -> np.ndarray:
    """Decode one file to (H, W, 3) uint8; with ``size``, centre-square-crop and resize to it."""
    img = open_image(data, name)
    if size is None:
        return np.asarray(img, dtype=np.uint8)
    return crop_resize(img, size)


def stack_images(arrays: list[np.ndarray], size: int | None = None) -> np.ndarray:
    """Stack same-sized images; mixed sizes are brought to ``size`` (default: the most common side)."""
    if not arrays:
        return np.zeros((0, size or 32, size or 32, 3), np.uint8)
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1 and (size is None or arrays[0].shape[:2] == (size, size)):
        return np.stack(arrays)
    if size is None:
        sides, counts = np.unique([min(a.shape[:2]) for a in arrays], return_counts=True)
        size = int(sides[np.argmax(counts)])
    return np.stack([a if a.shape[:2] == (size, size) else crop_resize(Image.fromarray(a), size)
                     for a in arrays])
