"""Weather families (Hendrycks & Dietterich's third category), one decorated function each."""

from __future__ import annotations
