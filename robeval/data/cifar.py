"""CIFAR-10 and CIFAR-100 from the official ``cifar-*-python.tar.gz`` (pickled batches).

Read straight from the tarball (no extraction); the pickles are opened with an unpickler that
accepts only the numpy types the official files contain, so a hostile file cannot run code.
CIFAR-10 also loads from ``cifar10-jpeg.tar.xz`` (an ImageFolder tree ``cifar10/{train,test}/
<class>/NNNN.jpg``, JPEG q75 re-encodings) when the official tarball is absent: put either in
``<data root>/downloads/``. An extracted ``cifar-10-batches-py/`` / ``cifar-100-python/`` folder
(torchvision's layout) in ``downloads/`` or the data root is read when no tarball is there.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from robeval.core.errors import RobevalError
from robeval.data.base import ImageSet
from robeval.data.download import find_local, remote, require, verify_file
from robeval.data.imagefolder import load_tar_split
from robeval.data.loading import DatasetRecord, register_dataset

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def unpickle(data: bytes, member: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise RobevalError(f"{member}: not a CIFAR python batch ({exc})") from None
    if not isinstance(obj, dict):
        raise RobevalError(f"{member}: not a CIFAR python batch (a {type(obj).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_members(archive: Path, names: set[str]) -> dict[str, dict]:
    """Unpickle the tar members whose base names are in ``names`` (one pass over the archive)."""
    out: dict[str, dict] = {}
    try:
        with tarfile.open(archive, "r:*") as tf:
            for m in tf:
                base = PurePosixPath(m.name).name
                if m.isfile() and base in names:
                    fh = tf.extractfile(m)
                    assert fh is not None
                    out[base] = unpickle(fh.read(), m.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RobevalError(f"{archive}: damaged archive ({exc}); delete it and download it again") from None
    missing = names - set(out)
    if missing:
        raise RobevalError(f"{archive}: members {sorted(missing)} are missing; is this the official archive?")
    return out


def read_folder(folder: Path, names: set[str]) -> dict[str, dict]:
    """The same batches from an already extracted folder (torchvision's layout)."""
    missing = sorted(n for n in names if not (folder / n).is_file())
    if missing:
        raise RobevalError(f"{folder}: missing {missing}; is this an extracted official archive?")
    return {n: unpickle((folder / n).read_bytes(), str(folder / n)) for n in names}


def extracted(root: Path, dirname: str) -> Path | None:
    """``<root>/downloads/<dirname>`` or ``<root>/<dirname>``: an extracted copy (not hash-checked)."""
    return next((d for d in (root / "downloads" / dirname, root / dirname) if d.is_dir()), None)


def batches_to_set(batches: list[dict], label_key: str, classes: list[str], name: str) -> ImageSet:
    try:
        data = np.concatenate([np.asarray(b["data"], np.uint8) for b in batches])
        labels = np.concatenate([np.asarray(b[label_key], np.int64) for b in batches])
    except KeyError as exc:
        raise RobevalError(f"{name}: batch lacks the key {exc}") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise RobevalError(f"{name}: expected rows of 3072 bytes, got shape {data.shape}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # planar RGB rows -> HWC
    return ImageSet(images, labels, classes, name, {"source": "cifar-python"})


def _names(meta: dict, key: str) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]


def load_cifar10(name: str, split: str, root: Path) -> ImageSet:
    official = remote("cifar10-python")
    jpeg = remote("cifar10-jpeg")
    if find_local(root, official.filename) is None and (alt := find_local(root, jpeg.filename)):
        verify_file(alt, jpeg)
        total = 50_000 if split == "train" else 10_000
        data = load_tar_split(alt, split, CIFAR10_CLASSES, f"cifar10/{split}", total=total)
        data.meta["source"] = "cifar10-jpeg"
        return data
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    wanted = set(files) | {"batches.meta"}
    if find_local(root, official.filename) is None and (folder := extracted(root, "cifar-10-batches-py")):
        got = read_folder(folder, wanted)
    else:
        got = read_members(require("cifar10-python", root), wanted)
    classes = _names(got["batches.meta"], "label_names")
    return batches_to_set([got[f] for f in files], "labels", classes, f"cifar10/{split}")


def load_cifar100(name: str, split: str, root: Path) -> ImageSet:
    if find_local(root, remote("cifar100-python").filename) is None and (
            folder := extracted(root, "cifar-100-python")):
        got = read_folder(folder, {split, "meta"})
    else:
        got = read_members(require("cifar100-python", root), {split, "meta"})
    classes = _names(got["meta"], "fine_label_names")
    return batches_to_set([got[split]], "fine_labels", classes, f"cifar100/{split}")


register_dataset(DatasetRecord(
    "cifar10", load_cifar10, image_size=32, num_classes=10, classes=tuple(CIFAR10_CLASSES),
    description="CIFAR-10, 50k/10k, 32 px (cifar-10-python.tar.gz, or cifar10-jpeg.tar.xz)",
))
register_dataset(DatasetRecord(
    "cifar100", load_cifar100, image_size=32, num_classes=100,
    description="CIFAR-100 (fine labels), 50k/10k, 32 px (cifar-100-python.tar.gz)",
))
