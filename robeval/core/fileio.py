"""Atomic file writes: every file is written to a temporary name and renamed into place.

A crash, Ctrl-C or kill -9 therefore never leaves a half-written file that looks whole. The
readers (``read_json``, ``read_npz``) turn a damaged file (empty, truncated, a folder, another
format, missing arrays) into a RobevalError that names the file, never a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robeval.core.errors import RobevalError
from robeval.core.progress import progress_bar

CHUNK = 1 << 20  # bytes read or copied at a time

# mkstemp creates files readable by their owner only; finished files get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_creatable(path: str | os.PathLike, what: str, probe_existing: bool = True) -> None:
    """Refuse, before any work, a ``path`` that cannot be created or written: its nearest existing
    folder is probed with a temporary folder (made and removed again, so nothing stays). Catches
    a parent that is a file, a read-only or virtual file system (/proc) and missing permissions."""
    p = Path(path).absolute()
    if p.is_dir() and not probe_existing:
        return  # e.g. a read-only data root that already holds everything
    if p.is_dir():
        probe_in = p
    else:
        probe_in = next((a for a in p.parents if a.exists()), Path("/"))
        if not probe_in.is_dir():
            raise RobevalError(f"{what} {path}: {probe_in} is a file, not a folder; choose another path")
    try:
        Path(tempfile.mkdtemp(prefix=".robeval-probe-", dir=probe_in)).rmdir()
    except OSError as exc:
        raise RobevalError(f"{what} {path} cannot be written ({exc.strerror or exc}); choose another "
                           "path") from None


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; when the block succeeds, move everything in it into
    ``out`` (replacing entries of the same name). A failure leaves ``out`` as it was. The folder
    has a fixed name (``.<out>.incoming``), so one left by a kill -9 is cleared by the next try."""
    out = Path(out)
    staging = out.parent / f".{out.name}.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        out.mkdir(exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def new_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; when the block succeeds, it becomes ``out``
    (an existing ``out`` is removed first: the caller checked that it may be replaced). A failure
    leaves nothing: not the staging folder, not a parent folder made for it, and ``out`` as it
    was. Imports build their run folder this way, so a refused import leaves no half folder."""
    out = Path(out)
    made = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    staging = out.parent / f".{out.name}.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for p in made:  # innermost first; only folders this call made, and only when empty
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike, kind: type | None = None) -> Any:
    """The parsed file; with ``kind`` (dict, list) the top level must be of that type."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, "JSON", exc) from None
    if kind is not None and not isinstance(obj, kind):
        raise RobevalError(f"{path} holds a JSON {type(obj).__name__}, not the {kind.__name__} "
                           "robeval writes there; re-create it with the command that wrote it")
    return obj


def _damaged(path: str | os.PathLike, kind: str, exc: BaseException) -> RobevalError:
    """The one message for a file that cannot be read: what it is instead, and what to do."""
    p = Path(path)
    reason = ("a folder" if p.is_dir() else "empty" if p.is_file() and p.stat().st_size == 0
              else f"{type(exc).__name__}: {exc}")
    return RobevalError(f"{path} cannot be read as {kind} ({reason}); it is damaged: re-create it "
                        "with the command that wrote it")


def read_npz(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of an .npz (never unpickled), checked for the ``required`` names."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise _damaged(path, ".npz", exc) from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise RobevalError(f"{path} lacks the array(s) {', '.join(missing)} (it holds "
                           f"{', '.join(arrays) or 'none'}); re-create it with the command that wrote it")
    return arrays


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an uncompressed .npz atomically (np.savez appends .npz to names without it)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """Append one JSON line; a torn last line is dropped by ``read_jsonl``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(obj, default=_json_default) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    rows = []
    if not Path(path).exists():
        return rows
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line torn by a crash: everything after it is untrusted
    return rows


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def file_digest(path: str | os.PathLike, algo: str = "sha256", progress: bool = False) -> str:
    """Hex digest of a file read in chunks (a progress bar for large files when asked)."""
    h = hashlib.new(algo)
    size = os.path.getsize(path)
    with open(path, "rb") as fh, progress_bar(total=size, unit="B", unit_scale=True, leave=False,
                                      desc=f"{algo} {Path(path).name}",
                                      disable=not progress or size < 64 * CHUNK) as bar:
        while block := fh.read(CHUNK):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def bytes_digest(data: bytes, algo: str = "sha256") -> str:
    """Hex digest of bytes in memory (downloaded or read files)."""
    return hashlib.new(algo, data).hexdigest()


def array_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """The one hash of an image set: sha256 of the uint8 images (C order) then the labels as
    int64 little-endian. Manifests record it as ``built_sha256``; the corruption cache records the
    clean source's as ``source_sha256``."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return h.hexdigest()


def slug(text: str, slash: str = "_") -> str:
    """A file-name-safe form: every run of other characters becomes '_' ('/' becomes ``slash``).

    'defocus_blur/3' -> 'defocus_blur_3' (or 'defocus_blur-3' with slash='-')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("/", slash)).strip("_")
