"""Image files -> uint8 RGB arrays: decoding that fails loudly, the square-crop rule, resizing.

The crop rule (used by every generalisation set and by ImageFolder trees of mixed sizes):
with a box, a square of side ``(1 + 2 * margin) * max(box width, box height)`` centred on the
box, at most the image's shorter side, moved to lie inside the image; without a box, the
centred square of side ``min(width, height)``. Then a Lanczos resize to the target size.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DEFAULT_MARGIN = 0.1


class BadImage(ValueError):
    """An image file that is truncated, undecodable or empty."""


def open_image(data: bytes, name: str = "") -> Image.Image:
    """Decode all of ``data`` to an RGB PIL image; truncated or undecodable files raise BadImage."""
    if not data:
        raise BadImage(f"{name}: empty file")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # PIL decodes lazily: force it, so a truncated file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"{name}: cannot decode ({exc})") from None
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
