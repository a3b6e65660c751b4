"""Small files in the exact official formats, made by the data tests (not a test module).

cifar-10-python / cifar-100-python: tar.gz of Python-2-style pickles (bytes keys, protocol 2,
``data`` (N, 3072) uint8 planar RGB rows, ``labels`` / ``fine_labels`` lists). STL-10:
``stl10_binary/{train,test}_{X,y}.bin`` (column-major uint8 planes, labels 1..10). Tiny ImageNet:
``tiny-imagenet-200/{wnids.txt,words.txt,train/<wnid>/images/*.JPEG,val/images,val/val_annotations.txt}``.
CIFAR-10.1: ``cifar10.1_v6_data.npy`` (N, 32, 32, 3) uint8 and ``_labels.npy``.
Open Images: ``*-annotations-bbox.csv`` and ``*-images-with-rotation.csv`` with the official columns.
"""

from __future__ import annotations

import csv
import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def random_images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def to_rows(images: np.ndarray) -> np.ndarray:
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # HWC -> planar RGB rows


def make_cifar10_tarball(path: Path, per_batch: int = 6, seed: int = 0) -> dict:
    """cifar-10-python.tar.gz with 5 train batches and a test batch; returns the arrays."""
    rng = np.random.default_rng(seed)
    out = {"train": [], "train_labels": [], "test": None, "test_labels": None}
    with tarfile.open(path, "w:gz") as tf:
        meta = {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_cases_per_batch": per_batch}
        _add(tf, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            imgs = random_images(per_batch, 32, int(rng.integers(1 << 30)))
            labels = [int(x) for x in rng.integers(0, 10, per_batch)]
            batch = {b"batch_label": name.encode(), b"labels": labels, b"data": to_rows(imgs),
                     b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
            _add(tf, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
            if name == "test_batch":
                out["test"], out["test_labels"] = imgs, labels
            else:
                out["train"].append(imgs)
                out["train_labels"] += labels
    out["train"] = np.concatenate(out["train"])
    return out


def make_cifar100_tarball(path: Path, n: int = 8, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    fine = [f"class_{i:02d}" for i in range(100)]
    out = {}
    with tarfile.open(path, "w:gz") as tf:
        meta = {b"fine_label_names": [f.encode() for f in fine],
                b"coarse_label_names": [f"super_{i}".encode() for i in range(20)]}
        _add(tf, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
        for split in ("train", "test"):
            imgs = random_images(n, 32, int(rng.integers(1 << 30)))
            labels = [int(x) for x in rng.integers(0, 100, n)]
            batch = {b"filenames": [b"x.png"] * n, b"batch_label": split.encode(),
                     b"fine_labels": labels, b"coarse_labels": [lab // 5 for lab in labels],
                     b"data": to_rows(imgs)}
            _add(tf, f"cifar-100-python/{split}", pickle.dumps(batch, protocol=2))
            out[split], out[f"{split}_labels"] = imgs, labels
    return out, fine


def make_stl10_tarball(path: Path, n_train: int = 5, n_test: int = 4, seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    out = {}
    with tarfile.open(path, "w:gz") as tf:
        _add(tf, "stl10_binary/class_names.txt", ("\n".join(names) + "\n").encode())
        for split, n in (("train", n_train), ("test", n_test)):
            imgs = random_images(n, 96, int(rng.integers(1 << 30)))
            labels = rng.integers(1, 11, n).astype(np.uint8)
            _add(tf, f"stl10_binary/{split}_X.bin", imgs.transpose(0, 3, 2, 1).tobytes())  # (N,C,W,H)
            _add(tf, f"stl10_binary/{split}_y.bin", labels.tobytes())
            out[split], out[f"{split}_labels"] = imgs, labels.astype(np.int64) - 1
        _add(tf, "stl10_binary/unlabeled_X.bin", random_images(2, 96, 0).transpose(0, 3, 2, 1).tobytes())
    return out


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(img: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def make_tinyimagenet_zip(path: Path, wnids: list[str], per_class: int = 2, seed: int = 3) -> dict:
    """tiny-imagenet-200.zip layout; PNG payloads under .JPEG names keep pixels exact."""
    rng = np.random.default_rng(seed)
    top = "tiny-imagenet-200/"
    train, val, ann = {}, [], []
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(top + "wnids.txt", "\n".join(wnids) + "\n")
        words = [f"{w}\tname of {w}, other name" for w in wnids] + ["n99999999\tunused synset"]
        zf.writestr(top + "words.txt", "\n".join(words) + "\n")
        for w in wnids:
            zf.writestr(f"{top}train/{w}/{w}_boxes.txt", "")
            for i in range(per_class):
                img = random_images(1, 64, int(rng.integers(1 << 30)))[0]
                zf.writestr(f"{top}train/{w}/images/{w}_{i}.JPEG", png_bytes(img))
                train[(w, i)] = img
        for i in range(len(wnids) * per_class):
            w = wnids[int(rng.integers(len(wnids)))]
            img = random_images(1, 64, int(rng.integers(1 << 30)))[0]
            zf.writestr(f"{top}val/images/val_{i}.JPEG", png_bytes(img))
            ann.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
            val.append((w, img))
        zf.writestr(top + "val/val_annotations.txt", "\n".join(ann) + "\n")
    return {"train": train, "val": val}


def make_cifar101(folder: Path, n: int = 20, seed: int = 4, version: str = "v6") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"cifar10.1_{version}_data.npy"
    labels = folder / f"cifar10.1_{version}_labels.npy"
    np.save(data, random_images(n, 32, seed))
    np.save(labels, (np.arange(n) % 10).astype(np.int64))
    return data, labels


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def make_openimages_csvs(folder: Path, boxes: list[tuple[str, str, float, float, float, float]],
                         images: dict[str, tuple[str, bytes]],
                         rotation: dict[str, str] | None = None) -> None:
    """Official V4 columns; boxes are (ImageID, MID, XMin, XMax, YMin, YMax); images id -> (url, bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "validation-annotations-bbox.csv",
              ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
               "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"],
              [[i, "xclick", mid, 1, x0, x1, y0, y1, 0, 0, 0, 0, 0] for i, mid, x0, x1, y0, y1 in boxes])
    import base64

    rows = []
    for image_id, (url, data) in sorted(images.items()):
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        rows.append([image_id, "validation", url, "https://flickr/x", "cc-by-2.0", "", "a", "t",
                     "1000", md5, url, (rotation or {}).get(image_id, "0")])
    write_csv(folder / "validation-images-with-rotation.csv",
              ["ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL",
               "Author", "Title", "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation"], rows)
