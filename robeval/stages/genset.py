"""The genset stage (``robeval genset list|build|verify|make-manifest``): generalisation sets
built from manifests, over ``robeval.data.gensets`` (the manifests, the builder, the two makers).
Evaluate a built set with ``robeval eval RUN --conditions genset:NAME``.
"""

from __future__ import annotations

import json
from pathlib import Path

from robeval.core.errors import RobevalError
from robeval.core.fileio import write_text
from robeval.data.gensets import build, list_sets, out_paths, verify
from robeval.data.loading import data_root
from robeval.runs.destinations import check_file

__all__ = ["build_set", "list_sets", "make_manifest", "verify"]


def build_set(name: str, data_dir: str | Path | None = None, **options) -> tuple[dict, Path]:
    """Build set NAME (or a manifest .json path): (the builder's summary, the .npz written)."""
    info = build(name, data_dir, **options)
    npz, _ = out_paths(info["name"], data_root(data_dir))
    return info, npz


def make_manifest(kind: str, target: str, *, out: str | Path | None = None, overwrite: bool = False,
                  name: str | None = None, annotations: str | None = None,
                  per_class: int | None = None, seed: int = 0, min_side: float = 0.2,
                  classmap: str | None = None, root: str | None = None, mapping: str | None = None,
                  classes: list[str] | None = None, image_size: int | None = None) -> tuple[Path, dict]:
    """Write a manifest (``openimages``: drawn from Open Images' annotation CSVs; ``files``: over
    a local image tree) to ``out`` (default manifests/gensets/NAME.json): (its path, the manifest).
    A given ``out`` is checked before the work."""
    if out:  # before the work; the default name is known only once the manifest is made
        check_file(out, overwrite=overwrite, suffixes=(".json",))
    if kind == "openimages":
        from robeval.data.gensets.openimages import make_manifest as draw

        if not annotations or not per_class:
            raise RobevalError("openimages needs --annotations DIR and --per-class N")
        data = draw(target, annotations, per_class, seed, name, min_side, classmap)
    elif kind == "files":
        from robeval.data.gensets.files import make_files_manifest

        if not root or not name:
            raise RobevalError("files needs --root DIR and --name NAME")
        data = make_files_manifest(root, target, name, mapping, classes, image_size)
    else:
        raise RobevalError(f"unknown manifest maker {kind!r}; choose openimages or files")
    path = Path(out or Path("manifests") / "gensets" / f"{data['name']}.json")
    check_file(path, overwrite=overwrite, suffixes=(".json",))
    write_text(path, json.dumps(data, indent=1) + "\n")
    return path, data
