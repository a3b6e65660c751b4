"""Named parameter tables per resolution, and the rule that picks one by image size.

Corruption strength is in pixels, so one table cannot fit every resolution: ImageNet-C's defocus
radius 3 (its mildest) is harsher on a 32-px image than CIFAR-10-C's severity 5. Each table is
Hendrycks' own for its dataset (``make_cifar_c.py``, ``make_tinyimagenet_c.py``,
``make_imagenet_c.py``; the last is what ``imagecorruptions`` and imgaug's ``imgcorruptlike`` use).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from robeval.core.errors import RobevalError

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Table:
    name: str
    native_size: int  # the image size the table was made for
    min_size: int  # smaller images are refused: the blur kernel would cover most of the image
    impulse_noise: tuple[float, ...]  # s&p amount: share of channel values replaced
    jpeg_compression: tuple[int, ...]  # PIL JPEG quality
    defocus_blur: tuple[tuple[float, float], ...]  # (disk radius, alias Gaussian sigma)
    source: str

    def params(self, family: str, severity: int) -> dict:
        """The parameters of one (corruption, severity), as written into sidecars."""
        check_severity(severity)
        if family not in FAMILY_KEYS:
            raise RobevalError(f"unknown corruption {family!r}; choose one of: {', '.join(FAMILY_KEYS)}")
        value = getattr(self, family)[severity - 1]
        keys = FAMILY_KEYS[family]
        values = value if isinstance(value, tuple) else (value,)
        return dict(zip(keys, values, strict=True))


FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "impulse_noise": ("amount",),
    "jpeg_compression": ("quality",),
    "defocus_blur": ("radius", "alias_blur"),
}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("cifar", 32, 16, (.01, .02, .03, .05, .07), (80, 65, 58, 50, 40),
              ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
              "Hendrycks & Dietterich, CIFAR-10-C (make_cifar_c.py)"),
        Table("tinyimagenet", 64, 32, (.01, .02, .05, .08, .14), (65, 58, 50, 40, 25),
              ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
              "Hendrycks & Dietterich, Tiny-ImageNet-C (make_tinyimagenet_c.py)"),
        Table("imagenet", 224, 32, (.03, .06, .09, .17, .27), (25, 18, 15, 10, 7),
              ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
              "Hendrycks & Dietterich, ImageNet-C = imagecorruptions 1.1.2 = imgaug imgcorruptlike"),
    )
}
TABLE_CHOICES = (*TABLES, "auto")


def check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise RobevalError(f"severity must be an integer 1-5, got {severity!r}")
    return severity


def auto_table(image_size: int) -> str:
    """The table whose native size is nearest on a log scale (32 -> cifar, 64 and 96 -> tinyimagenet,
    >= 128 -> imagenet). Blur radii are in pixels, so the ratio of sizes is what matters: 96 px is
    1.5x Tiny ImageNet's size but 2.3x smaller than ImageNet's."""
    if image_size < TABLES["cifar"].min_size:
        raise RobevalError(f"images of {image_size} px are smaller than any corruption table supports "
                           f"(>= {TABLES['cifar'].min_size} px); upsample them first")
    return min(TABLES.values(), key=lambda t: abs(math.log(image_size / t.native_size))).name


def pick_table(name: str, image_size: int) -> Table:
    """Resolve ``auto`` and check that the images are large enough for the table."""
    if name == "auto":
        name = auto_table(image_size)
    if name not in TABLES:
        raise RobevalError(f"unknown table {name!r}; choose one of: {', '.join(TABLE_CHOICES)}")
    table = TABLES[name]
    if image_size < table.min_size:
        raise RobevalError(f"table {name!r} needs images of at least {table.min_size} px, got "
                           f"{image_size} px; use --table cifar or auto")
    return table
