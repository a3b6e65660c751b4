"""The corrupted-set cache: one ``.npz`` (uint8 images + labels) per (dataset, split, table,
backend, condition) and a sidecar JSON that says how it was made and holds its sha256.

A file is reused only when its sidecar asks for exactly the same thing (parameters, table, backend,
seed, the sha256 of the clean images) and the file's bytes still hash to the recorded sha256;
anything else (truncated, edited, other parameters) is rebuilt. Both files are written atomically,
the npz first, so a crash between them leaves an npz without a sidecar, which is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from robeval.core.environment import environment
from robeval.core.fileio import array_sha256, file_digest, read_json, slug, write_json, write_npz
from robeval.corruptions.albu import AlbuCorruption
from robeval.corruptions.core import Corruption, as_rgb_uint8, corrupt
from robeval.corruptions.families import FAMILIES

# 2: source_sha256 is fileio.array_sha256 (the manifests' built_sha256); 3: the request holds the
# family's version and the backend that really ran. Older files are rebuilt on first use, since
# their request no longer matches.
FORMAT = 3


def _safe(text: str) -> str:
    return slug(text) or "x"


def cache_path(root: str | Path, dataset: str, split: str, corruption: Corruption, image_size: int,
               backend: str) -> Path:
    """``<root>/corruptions/<dataset>/<split>/<table>/<backend>/<family>-<severity>.npz``
    (albumentations conditions: ``.../albu/<name>-<digest>.npz``)."""
    base = Path(root) / "corruptions" / _safe(dataset) / _safe(split)
    if isinstance(corruption, AlbuCorruption):
        return base / "albu" / f"{_safe(corruption.name[len('albu:'):])[:60]}-{corruption.digest()}.npz"
    table, _ = corruption.table_params(image_size)
    return base / table / corruption.backend(backend) / f"{corruption.family}-{corruption.severity}.npz"


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _request(corruption: Corruption, image_size: int, backend: str, seed: int, source: str, n: int) -> dict:
    """What a cached file must have been made with to be reused: the table and effective backend
    are resolved here, once, before the path; ``version`` is the family's formula version."""
    if isinstance(corruption, AlbuCorruption):
        table, params, backend, version = None, corruption.params(), "albumentations", None
    else:
        table, params = corruption.table_params(image_size)
        backend, version = corruption.backend(backend), FAMILIES.get(corruption.family).version
    return {"format": FORMAT, "family": corruption.family, "severity": corruption.severity, "table": table,
            "params": params, "backend": backend, "version": version, "seed": int(seed),
            "source_sha256": source, "n": n}


def check(path: Path, request: dict, verify_bytes: bool = True) -> str | None:
    """None if ``path`` is a valid cache entry for ``request``, else why it is not.
    ``verify_bytes=False`` leaves the sha256 of the file to the reader (``load`` checks it on the
    bytes it reads, so a cached set is read from disk once, not twice)."""
    side = sidecar_path(path)
    if not path.exists():
        return "missing"
    if not side.exists():
        return "no sidecar"
    try:
        meta = read_json(side)
    except (OSError, ValueError):
        return "unreadable sidecar"
    if json.loads(json.dumps(request)) != meta.get("request"):
        return "made with other parameters"
    if verify_bytes and file_digest(path) != meta.get("sha256"):
        return "sha256 mismatch (truncated or changed)"
    return None


class _Changed(ValueError):
    """The file's bytes no longer hash to the sidecar's sha256."""


def load(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Images, labels and sidecar of a cache entry, its bytes checked against the sidecar's
    sha256 as they are read (one read of the file)."""
    meta = read_json(sidecar_path(path))
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise _Changed(path)
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return z["images"], z["labels"], meta


def build_cached(corruption: Corruption, images: np.ndarray, labels: np.ndarray, *, root: str | Path,
                 dataset: str, split: str, backend: str = "reference", seed: int = 0,
                 workers: int = 1, device: str = "cpu", progress: bool = False,
                 source: str | None = None) -> tuple[np.ndarray, np.ndarray, dict, str]:
    """The corrupted set from the cache, built (or rebuilt) when it is missing or invalid.

    Returns (images, labels, sidecar, status) with status ``cached``, ``built`` or ``rebuilt: why``.
    """
    images = as_rgb_uint8(images)
    size = min(images.shape[1:3])
    source = source or array_sha256(images, labels)
    request = _request(corruption, size, backend, seed, source, len(images))
    path = cache_path(root, dataset, split, corruption, size, backend)
    problem = check(path, request, verify_bytes=False)
    if problem is None:
        try:
            out, out_labels, meta = load(path)
            return out, out_labels, meta, "cached"
        except _Changed:
            problem = "sha256 mismatch (truncated or changed)"
        except (OSError, ValueError, KeyError):
            problem = "unreadable npz"
    t0 = time.time()
    out, info = corrupt(images, corruption, backend=backend, seed=seed, workers=workers, device=device,
                        progress=progress)
    write_npz(path, images=out, labels=np.asarray(labels, dtype=np.int64))
    meta = {
        **info, "request": request, "dataset": dataset, "split": split, "n": len(out),
        "image_shape": list(out.shape[1:]), "file": path.name, "sha256": file_digest(path),
        "bytes": path.stat().st_size, "seconds": round(time.time() - t0, 3),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
    }
    write_json(sidecar_path(path), meta)
    return out, np.asarray(labels, dtype=np.int64), meta, "built" if problem == "missing" else f"rebuilt: {problem}"
