"""The released corruption benchmarks as conditions: ``released:impulse_noise/3``.

Most papers and RobustBench report on Hendrycks & Dietterich's files, not on corruptions they
generate; these conditions read them as they extract under the data root:

    <data root>/CIFAR-10-C/<corruption>.npy + labels.npy      (5 severities stacked, uint8 NHWC)
    <data root>/CIFAR-100-C/<corruption>.npy + labels.npy
    <data root>/Tiny-ImageNet-C/<corruption>/<severity>/<wnid>/*.JPEG

Where only the archive is there (``CIFAR-10-C.tar`` under the data root or its ``downloads/``),
it is checked against manifests/downloads.json (``ROBEVAL_NO_VERIFY=1`` skips that) and unpacked
first. The images per severity are counted from the files, never assumed: a ``.npy`` whose rows
do not split into 5 equal blocks, or whose labels disagree with it, is refused. Each condition
records its origin (benchmark, file, images per severity, sha256 of the images read) in eval.json.

    robeval eval RUN --conditions released:all
    robeval eval RUN --conditions released:impulse_noise/3,impulse_noise/3   # beside generated
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robeval.conditions.base import Condition, ConditionContext, ConditionSource, register_source
from robeval.core.errors import RobevalError
from robeval.core.fileio import array_sha256
from robeval.core.registry import Registry
from robeval.data import ImageSet
from robeval.data.loading import data_root

#: the 15 benchmark corruptions, then the 4 extra ones the archives also hold
STANDARD = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
            "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
            "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class ReleasedBenchmark:
    """One released benchmark: its folder under the data root, its layout and its archive."""

    dataset: str  # the clean dataset it corrupts
    folder: str
    layout: str  # "npy" (stacked severities) or "folders" (<corruption>/<severity>/<wnid>/)
    download: str  # key in manifests/downloads.json

    @property
    def name(self) -> str:
        """Registered under the dataset it corrupts."""
        return self.dataset


BENCHMARKS: Registry[ReleasedBenchmark] = Registry("released benchmark")
for _b in (ReleasedBenchmark("cifar10", "CIFAR-10-C", "npy", "cifar10-c"),
           ReleasedBenchmark("cifar100", "CIFAR-100-C", "npy", "cifar100-c"),
           ReleasedBenchmark("tinyimagenet", "Tiny-ImageNet-C", "folders", "tinyimagenet-c")):
    BENCHMARKS.add(_b)


def benchmark_dir(bench: ReleasedBenchmark, data_dir: str | Path | None, *, unpack: bool) -> Path | None:
    """The extracted folder; with ``unpack``, a verified archive found locally is unpacked first."""
    from robeval.data.download import find_local, remote, safe_extract, verify_file

    root = data_root(data_dir)
    folder = root / bench.folder
    if folder.is_dir():
        return folder
    try:
        rf = remote(bench.download)
    except RobevalError:
        return None
    archive = find_local(root, rf.filename)
    if archive is None or not unpack:
        return None
    verify_file(archive, rf)
    safe_extract(archive, root)
    if not folder.is_dir():
        raise RobevalError(f"{archive} holds no {bench.folder}/ folder; is it the released archive?")
    return folder


def _present(bench: ReleasedBenchmark, folder: Path) -> list[str]:
    names = STANDARD + EXTRA
    if bench.layout == "npy":
        return [n for n in names if (folder / f"{n}.npy").is_file()]
    return [n for n in names if (folder / n).is_dir()]


def _load(path: Path, **kwargs) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False, **kwargs)
    except (OSError, ValueError, EOFError) as exc:
        raise RobevalError(f"{path}: not a readable .npy array ({exc}); extract the archive "
                           "again") from None


def _read_npy(folder: Path, corruption: str, severity: int, num_classes: int) -> tuple[np.ndarray, np.ndarray, int]:
    path, labels_path = folder / f"{corruption}.npy", folder / "labels.npy"
    if not labels_path.is_file():
        raise RobevalError(f"{labels_path} is missing: the released benchmark ships it beside the .npy files")
    images = _load(path, mmap_mode="r")
    labels = _load(labels_path)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise RobevalError(f"{path} holds {images.dtype} {tuple(images.shape)}; the released layout "
                           "is uint8 (5 x N, H, W, 3)")
    total = len(images)
    if total == 0 or total % len(SEVERITIES):
        raise RobevalError(f"{path} holds {total} images: not 5 equal severity blocks")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise RobevalError(f"{labels_path} holds {labels.dtype} {tuple(labels.shape)}; the released "
                           "layout is one integer class index per image, shape (5 x N,)")
    if labels.shape != (total,):
        raise RobevalError(f"{labels_path} holds {labels.shape[0]} labels, "
                           f"{path.name} {total} images: they must match")
    n = total // len(SEVERITIES)
    block = slice((severity - 1) * n, severity * n)
    y = labels[block].astype(np.int64)
    if y.min() < 0 or y.max() >= num_classes:
        raise RobevalError(f"{labels_path} has labels outside 0..{num_classes - 1}")
    return np.array(images[block]), y, n  # a copy: the memmap is read-only


def _read_folders(folder: Path, corruption: str, severity: int, classes: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    from PIL import Image

    base = folder / corruption / str(severity)
    if not base.is_dir():
        raise RobevalError(f"{base} is missing: expected <corruption>/<severity>/<wnid>/*.JPEG")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in index)
    if unknown:
        raise RobevalError(f"{base} has class folders not in the dataset: {', '.join(unknown[:3])}")
    images, labels = [], []
    for wnid in classes:
        for f in sorted((base / wnid).glob("*.JPEG")) if (base / wnid).is_dir() else []:
            try:
                with Image.open(f) as im:
                    images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            except (OSError, ValueError) as exc:
                raise RobevalError(f"{f} cannot be read as an image ({exc}); extract the archive "
                                   "again") from None
            labels.append(index[wnid])
    if not images:
        raise RobevalError(f"{base} holds no .JPEG images")
    if len({a.shape for a in images}) != 1:
        raise RobevalError(f"{base}: images of different sizes")
    return np.stack(images), np.asarray(labels, dtype=np.int64), len(images)


def _condition(bench: ReleasedBenchmark, corruption: str, severity: int) -> Condition:
    params: dict = {"source": "released", "benchmark": bench.folder}

    def build(ctx: ConditionContext) -> ImageSet:
        folder = benchmark_dir(bench, ctx.data_dir, unpack=True)
        if folder is None:
            raise RobevalError(f"{bench.folder}/ is not under the data root {data_root(ctx.data_dir)}: "
                               f"extract the released archive there (manifests/downloads.json: {bench.download})")
        classes = list(ctx.clean_test.classes)
        if bench.layout == "npy":
            images, labels, n = _read_npy(folder, corruption, severity, len(classes))
            file = folder / f"{corruption}.npy"
        else:
            images, labels, n = _read_folders(folder, corruption, severity, classes)
            file = folder / corruption / str(severity)
        if images.shape[1:3] != ctx.clean_test.images.shape[1:3]:
            raise RobevalError(f"{file} holds {images.shape[1]}x{images.shape[2]} images; "
                               f"{ctx.dataset} is {ctx.clean_test.images.shape[1]} px")
        params.update(file=str(file), n_per_severity=n, sha256=array_sha256(images, labels))
        return ImageSet(images, labels, classes, f"{ctx.dataset}/released/{corruption}/{severity}",
                        dict(params))

    return Condition(f"released:{corruption}/{severity}", "corruption", build,
                     family=f"released:{corruption}", severity=severity, params=params)


def released_conditions(dataset: str, data_dir: str | Path | None = None) -> list[Condition]:
    """Every corruption x severity of the dataset's released benchmark found under the data root."""
    if dataset not in BENCHMARKS:
        return []
    bench = BENCHMARKS.get(dataset)
    folder = benchmark_dir(bench, data_dir, unpack=False)
    if folder is None:
        return []
    return [_condition(bench, c, s) for c in _present(bench, folder) for s in SEVERITIES]


_NAME = re.compile(r"released:([a-z_]+)/([0-9]+)")


def released_parser(name: str, dataset: str) -> Condition | None:
    """``released:CORRUPTION/SEVERITY`` for a dataset with a released benchmark."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    corruption, severity = m.group(1), int(m.group(2))
    if dataset not in BENCHMARKS:
        raise RobevalError(f"{dataset!r} has no released corruption benchmark "
                           f"(there are: {', '.join(BENCHMARKS.get(d).folder for d in BENCHMARKS.names())})")
    if corruption not in STANDARD + EXTRA:
        raise RobevalError(f"unknown released corruption {corruption!r}; known: {', '.join(STANDARD + EXTRA)}")
    if severity not in SEVERITIES:
        raise RobevalError(f"released severity {severity} is not in 1-5")
    return _condition(BENCHMARKS.get(dataset), corruption, severity)


register_source(ConditionSource(
    "released", released_conditions, released_parser,
    "the released CIFAR-10-C / CIFAR-100-C / Tiny-ImageNet-C files under the data root",
    reads_data_root=True))
