"""The catalogue of corruption families: importing this module registers every family.

One module per Hendrycks category (noise, blur, weather, digital) holds its families, each one
decorated function (family.py). Groups of the ``--conditions`` vocabulary are read from the
records: ``corrupt:noise`` .. ``corrupt:digital`` (a category), ``corrupt:standard`` (the 15
benchmark families), ``corrupt:extra`` (the 4 extras), ``corrupt:study`` (the paper's three,
the default) and ``corrupt:all`` (every registered family).
"""

from __future__ import annotations

from robeval.core.errors import RobevalError
from robeval.corruptions import blur, digital, noise, weather  # noqa: F401  (they register)
from robeval.corruptions.family import CATEGORIES, FAMILIES, CorruptionFamily

STUDY = ("impulse_noise", "jpeg_compression", "defocus_blur")  # the three arXiv 2011.08704 uses


def group_families(group: str) -> list[str]:
    """Family names of ``noise``/``blur``/``weather``/``digital``/``standard``/``extra``/``study``/
    ``all``, in Hendrycks' category order (standard families before extras, then registration)."""
    # category order, the standard families before the extras, then registration order
    records = sorted((FAMILIES.get(n) for n in FAMILIES),
                     key=lambda r: (CATEGORIES.index(r.category), not r.standard))
    if group in CATEGORIES:
        return [r.name for r in records if r.category == group]
    if group == "standard":
        return [r.name for r in records if r.standard]
    if group == "extra":
        return [r.name for r in records if not r.standard]
    if group == "study":
        return [n for n in STUDY if n in FAMILIES]
    if group == "all":
        return [r.name for r in records]
    raise RobevalError(f"unknown corruption group {group!r}; choose one of: {', '.join(GROUPS)}")


GROUPS = (*CATEGORIES, "standard", "extra", "study", "all")
GROUP_HELP = {
    **{c: f"the {c} category" for c in CATEGORIES},
    "standard": "the 15 benchmark families of CIFAR-10-C / ImageNet-C",
    "extra": "the 4 extra families (speckle noise, Gaussian blur, spatter, saturate)",
    "study": "the three families arXiv 2011.08704 reports (the default)",
    "all": "every registered family",
}


def by_category() -> dict[str, list[str]]:
    """{category: family names} in Hendrycks' category order."""
    return {c: group_families(c) for c in CATEGORIES}


__all__ = ["CATEGORIES", "FAMILIES", "GROUPS", "GROUP_HELP", "STUDY", "CorruptionFamily",
           "by_category", "group_families"]
