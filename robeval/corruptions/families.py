"""Corruption families: one ``CorruptionFamily`` record each, with everything robeval needs.

A record holds the parameter names, one row of 5 values (severities 1-5) per resolution table
(tables.py: ``cifar`` 32 px, ``tinyimagenet`` 64 px, ``imagenet`` 224 px), the reference function
(Hendrycks' formula, one uint8 H x W x 3 image at a time), an optional batched torch function
for ``--backend fast`` (within 1 grey level of the reference), and whether it draws random
numbers (then it gets a per-image generator seeded from (seed, condition, image index)).

Adding a family is one record here: ``--conditions corrupt:all``, ``robeval corrupt``, the cache,
the report and tests/test_registries.py all read FAMILIES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry
from robeval.corruptions import reference

Reference = Callable[[np.ndarray, dict, "np.random.Generator | None"], np.ndarray]
Fast = Callable[[Any, dict, Any], Any]  # (uint8 N x H x W x 3 tensor, params, per-image keys)


@dataclass(frozen=True)
class CorruptionFamily:
    name: str
    keys: tuple[str, ...]  # parameter names, in the order of a table row's tuples
    tables: dict[str, tuple]  # table name -> values for severities 1..5
    reference: Reference
    fast: Fast | None = None
    seeded: bool = False
    description: str = ""

    def params(self, table: str, severity: int) -> dict:
        """The parameters of one severity under one table, as written into sidecars."""
        if table not in self.tables:
            raise RobevalError(f"corruption {self.name!r} has no values for table {table!r} "
                               f"(it has {', '.join(self.tables)})")
        value = self.tables[table][severity - 1]
        values = value if isinstance(value, tuple) else (value,)
        return dict(zip(self.keys, values, strict=True))


FAMILIES: Registry[CorruptionFamily] = Registry("corruption")


def register_family(family: CorruptionFamily) -> CorruptionFamily:
    FAMILIES.add(family.name, family)
    return family


def _fast_impulse(x, p: dict, keys):
    from robeval.corruptions import fast

    return fast.impulse_noise(x, p["amount"], keys)


def _fast_defocus(x, p: dict, keys):
    from robeval.corruptions import fast

    return fast.defocus_blur(x, p["radius"], p["alias_blur"])


# Hendrycks & Dietterich's own tables: make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py
register_family(CorruptionFamily(
    "impulse_noise", ("amount",),
    {"cifar": (.01, .02, .03, .05, .07), "tinyimagenet": (.01, .02, .05, .08, .14),
     "imagenet": (.03, .06, .09, .17, .27)},
    lambda im, p, rng: reference.impulse_noise(im, p["amount"], rng), _fast_impulse, seeded=True,
    description="salt & pepper on single channel values; amount = share of values replaced"))
register_family(CorruptionFamily(
    "jpeg_compression", ("quality",),
    {"cifar": (80, 65, 58, 50, 40), "tinyimagenet": (65, 58, 50, 40, 25),
     "imagenet": (25, 18, 15, 10, 7)},
    lambda im, p, rng: reference.jpeg_compression(im, p["quality"]),
    description="PIL JPEG encode/decode at the given quality"))
register_family(CorruptionFamily(
    "defocus_blur", ("radius", "alias_blur"),
    {"cifar": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
     "tinyimagenet": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
     "imagenet": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))},
    lambda im, p, rng: reference.defocus_blur(im, p["radius"], p["alias_blur"]), _fast_defocus,
    description="anti-aliased disk kernel (radius, Gaussian alias sigma), per channel"))
