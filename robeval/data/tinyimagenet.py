"""Tiny ImageNet (200 classes, 64 px) from the official ``tiny-imagenet-200.zip``.

Layout: ``train/<wnid>/images/*.JPEG`` (train, 100,000), ``val/images`` with
``val/val_annotations.txt`` (our ``test``, 10,000: the official test set has no labels),
``wnids.txt`` and ``words.txt``. Classes are the sorted wnids (torchvision's ImageFolder
order); their names are the first name in ``words.txt`` (a repeated name gets its wnid added).
An extracted ``tiny-imagenet-200/`` folder (in ``downloads/`` or the data root) is read as is.
When neither is there, ``tinyimagenet200-val-jpeg.tar.xz`` (an offline JPEG copy of val,
declared in manifests/downloads.json) gives the test split only.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from robeval.core.errors import RobevalError
from robeval.data.base import ImageSet
from robeval.data.download import find_local, remote, require, verify_file
from robeval.data.imagefolder import assemble, is_image
from robeval.data.loading import DatasetRecord, register_dataset


def class_names(wnids: list[str], words_text: str) -> list[str]:
    words = {}
    for line in words_text.splitlines():
        if "\t" in line:
            wnid, names = line.split("\t", 1)
            words[wnid.strip()] = names.split(",")[0].strip()
    first = [words.get(w, w) for w in wnids]
    return [f"{n} ({w})" if first.count(n) > 1 else n for n, w in zip(first, wnids, strict=True)]


def parse_annotations(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) >= 2:
            out[cols[0].strip()] = cols[1].strip()
    return out


class _DirReader:
    """zipfile-like access to an extracted ``tiny-imagenet-200/`` folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def namelist(self) -> list[str]:
        base = self.folder.parent
        return [p.relative_to(base).as_posix() for p in self.folder.rglob("*") if p.is_file()]

    def read(self, name: str) -> bytes:
        try:
            return (self.folder.parent / name).read_bytes()
        except FileNotFoundError:
            raise KeyError(name) from None

    def __enter__(self) -> _DirReader:
        return self

    def __exit__(self, *exc) -> None:
        pass


def _pairs(zf, names: list[str], top: str, split: str) -> Iterator[tuple[str, str, bytes]]:
    if split == "train":
        for name in sorted(names):
            parts = PurePosixPath(name).parts[len(PurePosixPath(top).parts):]
            if len(parts) == 4 and parts[0] == "train" and parts[2] == "images" and is_image(name):
                yield name, parts[1], zf.read(name)
    else:
        ann = parse_annotations(zf.read(f"{top}val/val_annotations.txt").decode())
        for fname in sorted(ann, key=lambda f: (len(f), f)):
            yield fname, ann[fname], zf.read(f"{top}val/images/{fname}")


def load_official(archive: Path, split: str) -> ImageSet:
    """From ``tiny-imagenet-200.zip`` or its extracted ``tiny-imagenet-200/`` folder."""
    try:
        with (_DirReader(archive) if archive.is_dir() else zipfile.ZipFile(archive)) as zf:
            names = zf.namelist()
            top = next((n[: -len("wnids.txt")] for n in names if n.endswith("wnids.txt")), None)
            if top is None:
                raise RobevalError(f"{archive}: no wnids.txt; is this tiny-imagenet-200.zip?")
            wnids = sorted(w.strip() for w in zf.read(f"{top}wnids.txt").decode().split() if w.strip())
            classes = class_names(wnids, zf.read(f"{top}words.txt").decode())
            by_wnid = dict(zip(wnids, classes, strict=True))
            pairs = ((f, by_wnid.get(w, w), d) for f, w, d in _pairs(zf, names, top, split))
            total = 500 * len(wnids) if split == "train" else 50 * len(wnids)
            data = assemble(pairs, classes, f"tinyimagenet/{split}", shuffle=split == "train",
                            total=total)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise RobevalError(f"{archive}: damaged or not the official layout ({exc})") from None
    data.meta["wnids"] = wnids
    return data


def load_val_tarball(archive: Path) -> ImageSet:
    """The offline copy: tinyimagenet200/{wnids.txt, words.txt, val/<wnid>/val_N.JPEG}."""
    with tarfile.open(archive, "r:*") as tf:
        texts, pairs = {}, []
        for m in tf:
            parts = PurePosixPath(m.name).parts
            fh = tf.extractfile(m) if m.isfile() else None
            if fh is None:
                continue
            if parts[-1] in ("wnids.txt", "words.txt"):
                texts[parts[-1]] = fh.read().decode()
            elif len(parts) == 4 and parts[1] == "val" and is_image(m.name):
                pairs.append((m.name, parts[2], fh.read()))
    wnids = sorted(texts["wnids.txt"].split())
    classes = class_names(wnids, texts.get("words.txt", ""))
    by_wnid = dict(zip(wnids, classes, strict=True))
    data = assemble(((f, by_wnid.get(w, w), d) for f, w, d in pairs), classes,
                    "tinyimagenet/test", shuffle=False, total=len(pairs))
    data.meta.update(wnids=wnids, source="tinyimagenet200-val-jpeg")
    return data


def load_tinyimagenet(name: str, split: str, root: Path) -> ImageSet:
    official = remote("tinyimagenet")
    val_copy = remote("tinyimagenet-val-jpeg")
    if find_local(root, official.filename) is None:
        for folder in (root / "downloads" / "tiny-imagenet-200", root / "tiny-imagenet-200"):
            if (folder / "wnids.txt").exists():
                return load_official(folder, split)  # extracted by hand: not hash-checked
        if split == "test" and (alt := find_local(root, val_copy.filename)) is not None:
            verify_file(alt, val_copy)
            return load_val_tarball(alt)
    return load_official(require("tinyimagenet", root), split)


register_dataset(DatasetRecord(
    "tinyimagenet", load_tinyimagenet, image_size=64, num_classes=200,
    description="Tiny ImageNet, 100k train / 10k val as test, 64 px (tiny-imagenet-200.zip)",
))
