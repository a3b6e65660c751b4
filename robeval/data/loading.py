"""Dataset registry and the on-disk cache under the data root.

A source is a function ``(name, split, data_root) -> ImageSet`` (``name`` carries any ``:ARG``). ``load_split`` caches what it returns
as one ``.npz`` per split under ``<data_dir>/<name>/`` so the second load is fast.
Data root: ``--data-dir``, else ``$ROBEVAL_DATA``, else ``./datasets``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robeval.core.errors import RobevalError
from robeval.core.fileio import check_creatable, write_npz
from robeval.core.registry import Registry
from robeval.data.base import ImageSet

Loader = Callable[[str, str, Path], ImageSet]  # (name, split, data_root)


@dataclass(frozen=True)
class DatasetRecord:
    name: str
    load: Loader
    splits: tuple[str, ...] = ("train", "test")
    image_size: int = 32
    num_classes: int = 10
    description: str = ""
    cache: bool = True
    classes: tuple[str, ...] | None = None  # in label order, when fixed by the dataset itself


DatasetSpec = DatasetRecord  # deprecated: the old name, kept for one release
DATASETS: Registry[DatasetRecord] = Registry("dataset")


def register_dataset(record: DatasetRecord) -> DatasetRecord:
    DATASETS.add(record)
    return record


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $ROBEVAL_DATA, else ./datasets; a path that is a file is an error."""
    # '~' is the home folder, as a shell would read it (not a folder named '~' in the cwd)
    root = Path(data_dir or os.environ.get("ROBEVAL_DATA") or "datasets").expanduser()
    where = "--data-dir" if data_dir else "$ROBEVAL_DATA" if os.environ.get("ROBEVAL_DATA") else "the data root"
    if root.is_symlink() and not root.exists():
        raise RobevalError(f"{where} {root} is a symbolic link to {os.readlink(root)}, which does not "
                           "exist; create that folder or point the data root elsewhere")
    if root.exists() and not root.is_dir():
        raise RobevalError(f"{where} {root} is a file, not a folder; point it at a folder")
    if not root.exists():  # it will be created: refuse now a place where it cannot be
        check_creatable(root, where)
    return root


def dataset_record(name: str) -> DatasetRecord:
    """The record for ``name``; ``imagefolder:PATH`` style names resolve by the part before ':'."""
    return DATASETS.get(name.split(":", 1)[0])


def cache_file(name: str, split: str, data_dir: str | os.PathLike | None = None) -> Path:
    safe = name.replace(":", "_").replace("/", "_")
    return data_root(data_dir) / "cache" / safe / f"{split}.npz"


def load_split(name: str, split: str, data_dir: str | os.PathLike | None = None) -> ImageSet:
    """Load one split of a registered dataset, from the cache when it is there."""
    record = dataset_record(name)
    if split not in record.splits:
        raise RobevalError(f"dataset {name!r} has no split {split!r} (it has {', '.join(record.splits)})")
    path = cache_file(name, split, data_dir)
    if record.cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return ImageSet(z["images"], z["labels"], [str(c) for c in z["classes"]], f"{name}/{split}")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            _drop_damaged(path)  # a damaged cache is rebuilt, never trusted
    data = record.load(name, split, data_root(data_dir))
    data.name = f"{name}/{split}"
    if record.cache:
        try:
            write_npz(path, images=data.images, labels=data.labels, classes=np.array(data.classes))
        except OSError:
            pass  # a read-only data root: the split is used as loaded, only not cached
    return data


def _drop_damaged(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise RobevalError(f"the dataset cache {path} is damaged and cannot be removed "
                           f"({exc.strerror or exc}); delete it and run again (it is rebuilt)") from None
