"""``imagefolder:PATH``: your own images as ``PATH/<split>/<class>/<file>``.

Splits are ``train`` and ``test`` (a ``val/`` folder serves as ``test`` when there is no
``test/``; validation for training is carved from train). Class order is ``PATH/classes.txt``
(one name a line) when present, else the sorted train folder names (torchvision's rule; the test
folder's where there is no ``train/``, which serves eval and corrupt but not training); the
names are kept, so evaluation matches classes by name. The train split is put in a fixed
seeded order (seed 0) so ``--max-train N`` takes a mix of classes, not the first few folders.
Images of mixed sizes are centre-square-cropped and resized to the most common side.
The same reader takes such a tree packed in a tar archive (``cifar10-jpeg.tar.xz``).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from robeval.core.errors import RobevalError
from robeval.core.progress import progress_bar
from robeval.data.base import ImageSet
from robeval.data.images import IMAGE_EXTENSIONS, BadImage, decode_to_array, stack_images
from robeval.data.loading import DatasetRecord, register_dataset

ORDER_SEED = 0


def is_image(name: str) -> bool:
    base = PurePosixPath(name).name
    return not base.startswith(".") and PurePosixPath(base).suffix.lower() in IMAGE_EXTENSIONS


def split_folder(root: Path, split: str) -> Path:
    for name in ([split, "val"] if split == "test" else [split]):
        if (root / name).is_dir():
            return root / name
    have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    raise RobevalError(f"{root}: no {split}/ folder (found: {', '.join(have) or 'nothing'}); "
                       f"an image folder needs {root}/train/<class>/<image> and {root}/test/...")


def folder_classes(root: Path) -> list[str]:
    listed = root / "classes.txt"
    if listed.exists():
        names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        if len(set(names)) != len(names):
            raise RobevalError(f"{listed}: duplicate class names")
        return names
    # train/ names the classes; a folder with only test/ (or val/) serves eval and corrupt
    only_test = not (root / "train").is_dir() and any((root / n).is_dir() for n in ("test", "val"))
    source = split_folder(root, "test" if only_test else "train")
    names = sorted(p.name for p in source.iterdir() if p.is_dir())
    if not names:
        raise RobevalError(f"{source} has no class folders")
    return names


def assemble(pairs: Iterable[tuple[str, str, bytes]], classes: list[str], name: str,
             shuffle: bool, size: int | None = None, progress: bool = True,
             total: int | None = None) -> ImageSet:
    """(file name, class name, bytes) -> ImageSet; undecodable files are an error naming them."""
    index = {c: i for i, c in enumerate(classes)}
    arrays, labels, bad, unknown = [], [], [], set()
    for fname, cls, data in progress_bar(pairs, desc=f"decode {name}", total=total, leave=False,
                                 disable=not progress, unit="img"):
        if cls not in index:
            unknown.add(cls)
            continue
        try:
            arrays.append(decode_to_array(data, fname))
        except BadImage as exc:
            bad.append(str(exc))
            continue
        labels.append(index[cls])
    if unknown:
        raise RobevalError(f"{name}: class folders {sorted(unknown)[:5]} are not among the classes "
                           f"{classes[:10]}{'...' if len(classes) > 10 else ''}")
    if bad:
        raise RobevalError(f"{name}: {len(bad)} image(s) cannot be decoded, e.g. {bad[:3]}; "
                           f"remove or replace them")
    if not labels:
        raise RobevalError(f"{name}: no images found")
    images, labels_arr = stack_images(arrays, size), np.asarray(labels, np.int64)
    if shuffle:
        order = np.random.default_rng(ORDER_SEED).permutation(len(labels_arr))
        images, labels_arr = images[order], labels_arr[order]
    return ImageSet(images, labels_arr, list(classes), name)


def iter_folder(folder: Path) -> Iterator[tuple[str, str, bytes]]:
    for cls_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(cls_dir.iterdir()):
            if f.is_file() and is_image(f.name):
                yield str(f), cls_dir.name, f.read_bytes()


def load_folder_split(root: Path, split: str, progress: bool = True) -> ImageSet:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise RobevalError(f"imagefolder: {root} is not a folder")
    classes = folder_classes(root)
    folder = split_folder(root, split)
    total = sum(1 for p in folder.glob("*/*") if p.is_file() and is_image(p.name))
    return assemble(iter_folder(folder), classes, f"imagefolder:{root}/{split}",
                    shuffle=split == "train", progress=progress, total=total)


def iter_tar_split(archive: Path, split: str) -> Iterator[tuple[str, str, bytes]]:
    """Members ``<top>/<split>/<class>/<file>`` of a tar archive, streamed in archive order."""
    seen = False
    with tarfile.open(archive, "r:*") as tf:
        for m in tf:
            parts = PurePosixPath(m.name).parts
            inside = len(parts) == 4 and parts[1] == split
            if not inside:
                if seen and len(parts) >= 2 and parts[1] != split:
                    return  # archives sorted by name: this split is over
                continue
            seen = True
            if m.isfile() and is_image(m.name):
                fh = tf.extractfile(m)
                assert fh is not None
                yield m.name, parts[2], fh.read()


def load_tar_split(archive: Path, split: str, classes: list[str], name: str,
                   progress: bool = True, total: int | None = None) -> ImageSet:
    try:
        return assemble(iter_tar_split(archive, split), classes, name, shuffle=split == "train",
                        progress=progress, total=total)
    except tarfile.TarError as exc:
        raise RobevalError(f"{archive}: damaged archive ({exc}); replace it") from None


def _load(name: str, split: str, root: Path) -> ImageSet:
    if ":" not in name or not name.split(":", 1)[1]:
        raise RobevalError("give the folder: --dataset imagefolder:PATH (PATH/train/<class>/<image>)")
    return load_folder_split(Path(name.split(":", 1)[1]), split)


register_dataset(DatasetRecord(
    "imagefolder", _load, splits=("train", "test"), image_size=0, num_classes=0,
    description="your images: imagefolder:PATH with PATH/{train,test}/<class>/<image>",
))
