"""A manifest over local files: an ImageFolder tree plus a class mapping.

    robeval genset make-manifest files --root DIR --target cifar10 --map map.csv --name stl-as-cifar

``DIR/<folder>/<image>``; ``map.csv`` has columns ``folder,class`` (a folder mapped to an empty
class is left out), so images of one dataset can be relabelled into another's classes. Without a
map, folder names must be class names of the target. Labels index the target's class list (or
``--classes``), never the folders' sort order; each file's sha256 is recorded.
"""

from __future__ import annotations

import csv
from pathlib import Path

from robeval.core.errors import RobevalError
from robeval.core.fileio import file_digest
from robeval.core.progress import progress_bar
from robeval.data.gensets.manifest import FORMAT, validate
from robeval.data.imagefolder import is_image
from robeval.data.loading import DATASETS


def _known(target: str) -> tuple[list[str] | None, int]:
    """The target's classes (when the dataset fixes them) and image size, from its DatasetRecord."""
    record = DATASETS.get(target) if target in DATASETS else None
    if record is None:
        return None, 32
    return (list(record.classes) if record.classes else None), (record.image_size or 32)


def read_map(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or set(reader.fieldnames) != {"folder", "class"}:
            raise RobevalError(f"{path}: needs exactly the columns folder,class (found {reader.fieldnames})")
        rows = list(reader)
    out: dict[str, str] = {}
    for r in rows:
        if r["folder"] in out:
            raise RobevalError(f"{path}: folder {r['folder']!r} is mapped twice")
        out[r["folder"]] = (r["class"] or "").strip()
    return out


def make_files_manifest(root: str | Path, target: str, name: str, mapping: str | Path | None = None,
                        classes: list[str] | None = None, image_size: int | None = None,
                        progress: bool = True) -> dict:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise RobevalError(f"--root {root} is not a folder")
    known_classes, known_size = _known(target)
    classes = classes or known_classes
    if not classes:
        known = [n for n in DATASETS.names() if DATASETS.get(n).classes]
        raise RobevalError(f"give --classes for target {target!r} (known: {', '.join(known)})")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    fmap = read_map(Path(mapping)) if mapping else {f: f for f in folders}
    unknown = sorted({c for c in fmap.values() if c and c not in classes})
    if unknown:
        raise RobevalError(f"classes {unknown[:5]} are not among the {target} classes {classes}")
    unmapped = [f for f in folders if f not in fmap]
    if unmapped:
        raise RobevalError(f"folders {unmapped[:5]} are not in the map; map them to a class or to "
                           f"an empty class to leave them out")
    files = [(f, p) for f in folders if fmap[f] for p in sorted((root / f).iterdir())
             if p.is_file() and is_image(p.name)]
    items = []
    for folder, p in progress_bar(files, desc="hash", disable=not progress, leave=False):
        cls = fmap[folder]
        items.append({"id": f"{folder}/{p.name}", "path": f"{folder}/{p.name}",
                      "label": classes.index(cls), "class": cls, "sha256": file_digest(p)})
    if not items:
        raise RobevalError(f"found no images in the mapped folders of {root} (looked for "
                           "ROOT/<folder>/<image> files such as .png or .jpg)")
    used = sorted({it["class"] for it in items}, key=classes.index)
    data = {
        "format": FORMAT, "name": name, "target": target,
        "description": f"local images from {root} relabelled into {target} classes",
        "classes": used, "image_size": image_size or known_size,
        # absolute: a relative root would be read against the manifest's folder, not the cwd
        "source": {"kind": "files", "root": str(Path(root).absolute())}, "items": items,
        "built_sha256": None,
    }
    for it in items:  # labels index the set's own class list (a subset of the target's)
        it["label"] = used.index(it["class"])
    validate(data, name)
    return data
