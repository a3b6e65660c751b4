"""Layer 1 component, corruptions: Hendrycks' families (one record each in families.py) and any
albumentations transform on uint8 (N, H, W, 3) arrays, with per-resolution tables, two backends
and a verified cache. Imports only ``robeval.core``.

This package imports nothing from robeval.data, robeval.models or robeval.conditions.
"""

from robeval.corruptions.core import (
    BACKENDS,
    FAMILIES,
    Corruption,
    CorruptionAtSeverity,
    CorruptionSpec,
    Spec,
    as_rgb_uint8,
    corrupt,
    parse_name,
    parse_severities,
)
from robeval.corruptions.tables import SEVERITIES, TABLE_CHOICES, TABLES, auto_table, pick_table

__all__ = [
    "BACKENDS", "FAMILIES", "SEVERITIES", "TABLES", "TABLE_CHOICES", "Corruption",
    "CorruptionAtSeverity", "CorruptionSpec", "Spec",
    "as_rgb_uint8", "auto_table", "corrupt", "parse_name", "parse_severities", "pick_table",
]
