"""The pixels behind a run's eval outputs, written once as PNG files under the data root.

Eval files keep predictions, logits and features but no pixels, so each condition's image set is
rebuilt through the condition registry (the same seed as ``robeval eval``) and the rows the run
evaluated (the ``index`` array) are written to ``<data root>/browse/<dataset>/<condition>/``.
Files that exist are never rewritten, so a second ``robeval browse`` writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from robeval.conditions import ConditionContext, parse_conditions
from robeval.core.errors import RobevalError
from robeval.core.fileio import atomic_path, slug
from robeval.core.progress import progress_bar
from robeval.data import data_root


def safe_name(name: str) -> str:
    """'defocus_blur/3' -> 'defocus_blur-3'; 'genset:shapes-shift' -> 'genset_shapes-shift'."""
    return slug(name, slash="-")


def image_folder(dataset: str, condition: str, data_dir: str | Path | None = None) -> Path:
    return data_root(data_dir) / "browse" / safe_name(dataset) / safe_name(condition)


def write_pngs(
    dataset: str,
    condition: str,
    indices: np.ndarray,
    data_dir: str | Path | None = None,
    progress: bool = True,
) -> list[Path]:
    """PNG paths for the rows ``indices`` of a condition's image set, writing only missing ones."""
    folder = image_folder(dataset, condition, data_dir)
    paths = [folder / f"{int(i):06d}.png" for i in indices]
    missing = [k for k, p in enumerate(paths) if not p.is_file()]
    if not missing:
        return paths
    cond = parse_conditions(condition, dataset, data_dir)[0]
    images = cond.build(ConditionContext(dataset, data_dir)).images
    if len(indices) and int(np.max(indices)) >= len(images):
        raise RobevalError(
            f"condition {condition!r} now has {len(images)} images but the eval file refers to row "
            f"{int(np.max(indices))}; re-run robeval eval for it"
        )
    for k in progress_bar(missing, desc=f"png {condition}", leave=False, disable=not progress):
        with atomic_path(paths[k]) as tmp:
            Image.fromarray(np.ascontiguousarray(images[int(indices[k])])).save(tmp, format="PNG")
    return paths
