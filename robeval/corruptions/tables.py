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
from robeval.core.registry import Registry

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Table:
    """A resolution table; each family's record (families.py) holds its row for this table."""

    name: str
    native_size: int  # the image size the table was made for
    min_size: int  # smaller images are refused: the blur kernel would cover most of the image
    source: str

    def params(self, family: str, severity: int) -> dict:
        """The parameters of one (corruption, severity), as written into sidecars."""
        from robeval.corruptions.families import FAMILIES

        check_severity(severity)
        return FAMILIES.get(family).params(self.name, severity)


TABLES: Registry[Table] = Registry("corruption table")
TABLES.add(Table("cifar", 32, 16, "Hendrycks & Dietterich, CIFAR-10-C (make_cifar_c.py)"))
TABLES.add(Table("tinyimagenet", 64, 32,
                 "Hendrycks & Dietterich, Tiny-ImageNet-C (make_tinyimagenet_c.py)"))
TABLES.add(Table("imagenet", 224, 32,
                 "Hendrycks & Dietterich, ImageNet-C = imagecorruptions 1.1.2 = imgaug imgcorruptlike"))
TABLE_CHOICES = (*TABLES, "auto")


def check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise RobevalError(f"severity must be an integer 1-5, got {severity!r}")
    return severity


def auto_table(image_size: int) -> str:
    """The table whose native size is nearest on a log scale (32 -> cifar, 64 and 96 -> tinyimagenet,
    >= 128 -> imagenet). Blur radii are in pixels, so the ratio of sizes is what matters: 96 px is
    1.5x Tiny ImageNet's size but 2.3x smaller than ImageNet's."""
    smallest = min(t.min_size for t in TABLES.records())
    if image_size < smallest:
        raise RobevalError(f"images of {image_size} px are smaller than any corruption table supports "
                           f"(>= {smallest} px); upsample them first")
    return min(TABLES.records(), key=lambda t: abs(math.log(image_size / t.native_size))).name


def pick_table(name: str, image_size: int) -> Table:
    """Resolve ``auto`` and check that the images are large enough for the table."""
    if name == "auto":
        name = auto_table(image_size)
    if name not in TABLES:
        raise RobevalError(f"unknown table {name!r}; choose one of: {', '.join(TABLE_CHOICES)}")
    table = TABLES.get(name)
    if image_size < table.min_size:
        raise RobevalError(f"table {name!r} needs images of at least {table.min_size} px, got "
                           f"{image_size} px; use --table cifar or auto")
    return table
