"""Layer 3, shared contract: the ``--conditions`` vocabulary and its sources.

``base`` holds Condition, ConditionContext and the SOURCES registry; ``grammar`` the one
``--conditions`` parser (``parse_conditions``) every verb uses; importing this package registers
the sources in order: ``clean``, ``genset`` (generalisation sets) and ``corrupt`` (corruption
families, albumentations transforms) and ``released`` (CIFAR-10-C and other released benchmark
files).

May import the components (data, corruptions) and ``core``; never ``runs``, ``stages`` or ``cli``.
"""

from robeval.conditions import (  # noqa: F401  (registers the sources, in order)
    clean,
    corrupt,  # noqa: F401, I001
    genset,
    released,
)
from robeval.conditions.base import (
    SOURCES,
    Condition,
    ConditionContext,
    ConditionSource,
    available,
    register_source,
    split_names,
)
from robeval.conditions.grammar import Word, accepted, parse_conditions, parse_words

resolve = parse_conditions  # deprecated: the old name of parse_conditions, kept for one release

__all__ = [
    "SOURCES", "Condition", "ConditionContext", "ConditionSource", "Word", "accepted", "available",
    "parse_conditions", "parse_words", "register_source", "resolve", "split_names",
]
