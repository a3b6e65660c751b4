"""STL-10 from the official ``stl10_binary.tar.gz``: labelled train 5,000 / test 8,000, 96 px.

The binaries hold images as uint8 planes in column-major order ((N, 3, 96, 96) read as
(N, C, W, H)) and labels 1..10. Only the labelled files are extracted (safely) to
``<data root>/extracted/stl10/``; the 2.6 GB unlabelled file is skipped. An already
extracted ``stl10_binary/`` folder in ``<data root>/downloads/`` is used as is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robeval.core.errors import RobevalError
from robeval.data.base import ImageSet
from robeval.data.download import require, safe_extract
from robeval.data.loading import DatasetRecord, register_dataset

SIZE = 96
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "class_names.txt"]


def binary_folder(root: Path) -> Path:
    for d in (root / "downloads" / "stl10_binary", root / "stl10_binary",
              root / "extracted" / "stl10" / "stl10_binary"):
        if all((d / f).exists() for f in FILES[:4]):
            return d
    archive = require("stl10-binary", root)
    dest = root / "extracted" / "stl10"
    safe_extract(archive, dest, members={f"stl10_binary/{f}" for f in FILES})
    out = dest / "stl10_binary"
    missing = [f for f in FILES[:4] if not (out / f).exists()]
    if missing:
        raise RobevalError(f"{archive}: has no stl10_binary/{missing[0]}; is this the official archive?")
    return out


def read_split(folder: Path, split: str) -> ImageSet:
    raw = np.fromfile(folder / f"{split}_X.bin", dtype=np.uint8)
    labels = np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
    per = 3 * SIZE * SIZE
    if raw.size % per or raw.size // per != len(labels):
        raise RobevalError(f"{folder}/{split}_X.bin: {raw.size} bytes is not {len(labels)} images "
                           f"of 3x{SIZE}x{SIZE} (truncated?)")
    images = raw.reshape(-1, 3, SIZE, SIZE).transpose(0, 3, 2, 1).copy()  # (N,C,W,H) -> (N,H,W,C)
    names_file = folder / "class_names.txt"
    classes = ([n.strip() for n in names_file.read_text().splitlines() if n.strip()]
               if names_file.exists() else list(CLASSES))
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise RobevalError(f"{folder}/{split}_y.bin: labels must be 1..{len(classes)}")
    return ImageSet(images, labels, classes, f"stl10/{split}", {"source": "stl10_binary"})


def load_stl10(name: str, split: str, root: Path) -> ImageSet:
    return read_split(binary_folder(root), split)


register_dataset(DatasetRecord(
    "stl10", load_stl10, image_size=SIZE, num_classes=10, classes=tuple(CLASSES),
    description="STL-10 labelled, 5k/8k, 96 px (stl10_binary.tar.gz)",
))
