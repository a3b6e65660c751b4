"""What the CLI's options accept, so ``robeval.cli`` imports nothing below the stages: the names
each registry-backed option offers (read from the registry that owns them, imported only when an
option is checked or --help lists it, so --help stays fast), which folders are run folders, and
which ``--arch`` spellings name a Python module's factory.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# option choice -> (module, attribute) of the registry or constant that owns it;
# tests/test_registries.py imports each, so a rename cannot drift silently
REGISTRIES: dict[str, tuple[str, str]] = {
    "DATASETS": ("robeval.data", "DATASETS"),
    "ENCODERS": ("robeval.models", "ENCODERS"),
    "MODEL_SOURCES": ("robeval.models.sources", "MODEL_SOURCES"),
    "INITS": ("robeval.models", "INITS"),
    "PRESETS": ("robeval.training.presets", "PRESETS"),
    "HEAD_MODES": ("robeval.models.kinds", "HEAD_MODES"),
    "LOGITS_KINDS": ("robeval.models.kinds", "LOGITS_KINDS"),
    "SCHEDULERS": ("robeval.training.optim", "SCHEDULERS"),
    "PRECISIONS": ("robeval.training.config", "PRECISIONS"),
    "CHECKPOINTS": ("robeval.runs.layout", "CHECKPOINTS"),
    "TABLE_CHOICES": ("robeval.corruptions.tables", "TABLE_CHOICES"),
    "BACKENDS": ("robeval.corruptions.core", "BACKENDS"),
    "MANIFEST_MAKERS": ("robeval.data.gensets", "MANIFEST_MAKERS"),
    "EMBEDDINGS": ("robeval.stages.browse.brain", "METHODS"),
    "LAUNCHERS": ("robeval.stages.launchers", "LAUNCHERS"),
    "HEAD_SETS": ("robeval.stages.headsets", "HEAD_SETS"),
}


def registry_names(registry: str) -> list[str]:
    """The names one registry (a key of REGISTRIES) holds, in its order."""
    module, attr = REGISTRIES[registry]
    obj = getattr(importlib.import_module(module), attr)
    return list(obj.names() if hasattr(obj, "names") else obj)


def is_run(path: str | Path) -> bool:
    """A run folder (what ``robeval eval``, ``analyze`` and ``export`` take)."""
    from robeval.runs import is_run as run_folder

    return run_folder(Path(path))


def is_module_factory(arch: str) -> bool:
    """``package.module:FUNCTION`` (an --arch naming your own code, not ``py:FILE``)."""
    from robeval.models.usercode import is_module_factory as module_factory

    return module_factory(arch)
