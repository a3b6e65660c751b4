"""The corruption-family record and the decorator that makes one: a family is one function.

Each Hendrycks category has one module (noise.py, blur.py, weather.py, digital.py); in it each
family is one decorated reference function with its three tables and, where it has one, its
batched fast path beside it::

    @corruption(category="noise", params=("amount",),
                cifar=(.01, .02, .03, .05, .07), tinyimagenet=(.01, .02, .05, .08, .14),
                imagenet=(.03, .06, .09, .17, .27), seeded=True, fast=impulse_noise_fast,
                sources="make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py: s&p ...")
    def impulse_noise(image, rng, *, amount):
        \"\"\"Salt & pepper on single channel values.\"\"\"
        ...

The reference function takes one uint8 H x W x 3 image and the parameters of one severity as
keyword arguments (seeded families also get a numpy Generator as ``rng``) and returns uint8 H x W
x 3. The fast function takes a uint8 (N, H, W, 3) torch tensor, the per-image 32-bit random-stream
keys (``stream_keys``, an int64 tensor from seeding.image_stream_keys) and the same keyword
arguments. ``version`` goes into every cache request: bump it when a formula changes, and old
cached pixels are rebuilt, not reused.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry

CATEGORIES = ("noise", "blur", "weather", "digital")  # Hendrycks & Dietterich's four, in their order
TABLE_NAMES = ("cifar", "tinyimagenet", "imagenet")  # tables.py describes each

Reference = Callable[..., np.ndarray]
Fast = Callable[..., Any]


@dataclass(frozen=True)
class CorruptionFamily:
    """One corruption family: its formula, its tables and how it is seeded."""

    name: str
    category: str  # one of CATEGORIES
    param_names: tuple[str, ...]  # the order of a table row's tuples
    tables: dict[str, tuple]  # table name -> values for severities 1..5
    reference: Reference
    fast: Fast | None = None
    seeded: bool = False
    standard: bool = True  # one of the 15 benchmark families (False: one of the 4 extras)
    version: int = 1  # part of the cache key: bump it when the formula changes
    description: str = ""
    sources: str = ""  # where each table comes from, and where the scripts differ

    def params(self, table: str, severity: int) -> dict:
        """The parameters of one severity under one table, as written into sidecars."""
        if table not in self.tables:
            raise RobevalError(f"corruption {self.name!r} has no values for table {table!r} "
                               f"(it has {', '.join(self.tables)})")
        value = self.tables[table][severity - 1]
        values = value if isinstance(value, tuple) else (value,)
        return dict(zip(self.param_names, values, strict=True))

    def apply(self, image: np.ndarray, params: dict, rng: np.random.Generator | None) -> np.ndarray:
        """The reference formula on one image."""
        if self.seeded:
            return self.reference(image, rng, **params)
        return self.reference(image, **params)

    def backend(self, requested: str) -> str:
        """The backend that really runs: ``fast`` only where this family has a fast path."""
        return "fast" if requested == "fast" and self.fast is not None else "reference"


FAMILIES: Registry[CorruptionFamily] = Registry("corruption")


def corruption(*, category: str, params: tuple[str, ...], cifar: tuple | None = None,
               tinyimagenet: tuple | None = None, imagenet: tuple | None = None,
               seeded: bool = False, fast: Fast | None = None, standard: bool = True,
               version: int = 1, sources: str = "", name: str | None = None
               ) -> Callable[[Reference], Reference]:
    """Register the decorated reference function as a family named after it."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; one of {CATEGORIES}")
    tables = {t: v for t, v in zip(TABLE_NAMES, (cifar, tinyimagenet, imagenet), strict=True)
              if v is not None}
    for table, values in tables.items():
        if len(values) != 5:
            raise ValueError(f"table {table!r} needs 5 severities, got {len(values)}")

    def register(fn: Reference) -> Reference:
        doc = inspect.getdoc(fn) or ""
        FAMILIES.add(CorruptionFamily(
            name or fn.__name__, category, tuple(params), tables, fn, fast, seeded, standard,
            version, doc.split("\n\n")[0].replace("\n", " "), sources))
        return fn

    return register
