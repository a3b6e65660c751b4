"""Progress bars (tqdm) that one switch silences: ``--quiet`` on any command, or
``ROBEVAL_QUIET=1`` in the environment (inherited by worker processes)."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm

ENV = "ROBEVAL_QUIET"


def set_quiet(quiet: bool = True) -> None:
    """Silence every bar in this process and in the processes it starts."""
    if quiet:
        os.environ[ENV] = "1"
    else:
        os.environ.pop(ENV, None)


def is_quiet() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def progress_bar(*args: Any, disable: bool = False, **kwargs: Any) -> tqdm:
    """``tqdm(...)``, disabled when asked or when robeval is quiet."""
    return tqdm(*args, disable=disable or is_quiet(), **kwargs)
