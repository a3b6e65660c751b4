"""Files from the internet, verified: download with progress and resume, sha256 checks, safe unpacking.

Every file robeval fetches is declared in ``manifests/downloads.json`` (URL, file name, size, sha256)
so a user can fetch it by hand when the machine is offline: ``require`` then names the URL, the file
to place, where, and the hash it must have. ``ROBEVAL_OFFLINE=1`` skips the network attempt.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from robeval.core.environment import env_flag
from robeval.core.errors import RobevalError
from robeval.core.fileio import CHUNK, file_digest
from robeval.core.progress import progress_bar

USER_AGENT = "robeval (+https://github.com/robeval)"


def manifest_dirs() -> list[Path]:
    """Where manifests are looked for: $ROBEVAL_MANIFESTS (os.pathsep list), ./manifests, the repo's."""
    dirs = [Path(p) for p in os.environ.get("ROBEVAL_MANIFESTS", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "manifests", Path(__file__).resolve().parents[2] / "manifests"]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: where it comes from and the bytes it must have."""

    key: str
    url: str | None
    filename: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    note: str = ""

    def describe(self) -> str:
        parts = [f"sha256 {self.sha256}" if self.sha256 else f"md5 {self.md5} (no sha256 recorded)"]
        if self.size:
            parts.append(f"{self.size:,} bytes")
        return ", ".join(parts)


@lru_cache(maxsize=1)
def _download_table() -> dict[str, RemoteFile]:
    for d in manifest_dirs():
        path = d / "downloads.json"
        if path.exists():
            rows = json.loads(path.read_text())["files"]
            return {k: RemoteFile(key=k, **v) for k, v in rows.items()}
    return {}


def remote(key: str) -> RemoteFile:
    table = _download_table()
    if key not in table:
        raise RobevalError(f"no download declared as {key!r} in manifests/downloads.json "
                           f"(known: {', '.join(table) or 'none; is the manifests/ folder present?'})")
    return table[key]


def verify_file(path: Path, rf: RemoteFile, progress: bool = True) -> None:
    """Raise unless ``path`` has the declared hash (sha256, else md5). ROBEVAL_NO_VERIFY=1 skips it."""
    if env_flag("ROBEVAL_NO_VERIFY"):
        return
    algo, want = ("sha256", rf.sha256) if rf.sha256 else ("md5", rf.md5)
    if not want:
        return
    got = file_digest(path, algo, progress)
    if got != want:
        raise RobevalError(
            f"{path}: {algo} is {got}, expected {want} for {rf.url or rf.filename}. The file is damaged "
            f"or a different version: delete it and download it again (or, for a file you made "
            f"yourself in the same format, set ROBEVAL_NO_VERIFY=1)"
        )


def offline_message(rf: RemoteFile, dest: Path, reason: str = "") -> str:
    where = f"download it from {rf.url}" if rf.url else "this file has no public URL"
    why = f" ({reason})" if reason else ""
    return (f"cannot download {rf.filename}{why}. On a machine with internet access, {where} and "
            f"place it at {dest.resolve()} ({rf.describe()}); robeval verifies the hash when it "
            f"reads it.{(' ' + rf.note) if rf.note else ''}")


def fetch_url(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
              progress: bool = True, retries: int = 3, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify, then rename into place.

    Raises ``OSError``/``urllib.error.URLError`` when the network fails after ``retries`` tries,
    and ``RobevalError`` when the bytes do not match the hash.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(retries):
        try:
            _fetch_once(url, part, progress, timeout)
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # range not satisfiable: the part file is already whole (or bad)
                break
            last = exc
            if 400 <= exc.code < 500:
                raise
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        if attempt + 1 < retries:
            time.sleep(min(2**attempt, 8) * 0.5)
    else:
        assert last is not None
        raise last
    for algo, want in (("sha256", sha256), ("md5", md5 if not sha256 else None)):
        if want and (got := file_digest(part, algo)) != want:
            part.unlink(missing_ok=True)
            raise RobevalError(f"{url}: downloaded bytes have {algo} {got}, expected {want}; "
                               f"the partial file was removed, try again")
    os.replace(part, dest)
    return dest


def _fetch_once(url: str, part: Path, progress: bool, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resumed = have and resp.status == 206
        if not resumed:
            have = 0  # the server ignored the range: start over
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with open(part, "ab" if resumed else "wb") as fh, progress_bar(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
            disable=not progress, leave=False,
        ) as bar:
            while block := resp.read(CHUNK):
                fh.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise OSError(f"connection closed after {part.stat().st_size} of {total} bytes")


def candidates(root: Path, filename: str) -> list[Path]:
    """Where a user may have put a file: <root>/downloads/NAME, then <root>/NAME."""
    return [root / "downloads" / filename, root / filename]


def find_local(root: Path, filename: str) -> Path | None:
    return next((p for p in candidates(root, filename) if p.exists()), None)


def require(key: str, root: Path, progress: bool = True) -> Path:
    """The verified local copy of download ``key``: found under the data root, else downloaded."""
    rf = remote(key)
    found = find_local(root, rf.filename)
    if found is not None:
        verify_file(found, rf, progress)
        return found
    dest = candidates(root, rf.filename)[0]
    if not rf.url:
        raise RobevalError(offline_message(rf, dest))
    if env_flag("ROBEVAL_OFFLINE"):
        raise RobevalError(offline_message(rf, dest, "ROBEVAL_OFFLINE=1"))
    try:
        return fetch_url(rf.url, dest, sha256=rf.sha256, md5=rf.md5, progress=progress)
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RobevalError(offline_message(rf, dest, f"no network: {reason}")) from None


def _check_member(name: str, dest: Path) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    target = (dest / pure).resolve()
    if pure.is_absolute() or ".." in pure.parts or not target.is_relative_to(dest.resolve()):
        raise RobevalError(f"refusing to extract {name!r}: it would land outside {dest}")
    return target


def safe_extract(archive: Path, dest: Path, members: set[str] | None = None) -> list[Path]:
    """Unpack a .tar(.gz/.xz/.bz2) or .zip into ``dest``; refuse members that would land outside it.

    Links and device files are refused too. With ``members``, only those names are written. The
    files are unpacked into a staging folder inside ``dest`` and moved into place only when the
    whole archive has been read: a truncated or damaged archive leaves nothing behind.
    """
    created = next((p for p in reversed([dest, *dest.parents]) if not p.exists()), None)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest))
    written: list[Path] = []
    try:
        try:
            _extract(archive, staging, members, written)
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError, OSError) as exc:
            raise RobevalError(f"cannot unpack {archive} ({type(exc).__name__}: {exc}): it is truncated "
                               f"or damaged (download it again), or {dest} is not writable; nothing "
                               "was left unpacked") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created is not None:  # folders made for this archive go too
            shutil.rmtree(created, ignore_errors=True)
        raise
    final = []
    for f in written:
        target = dest / f.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, target)
        final.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return final


def _extract(archive: Path, dest: Path, members: set[str] | None, written: list[Path]) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = _check_member(info.filename, dest)
                if info.is_dir() or (members is not None and info.filename not in members):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written.append(target)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        return
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError as exc:
        raise RobevalError(f"{archive}: not a readable tar or zip archive ({exc})") from None
    with tf:
        for m in tf:
            target = _check_member(m.name, dest)
            if m.isdir() or (members is not None and m.name not in members):
                continue
            if not m.isfile():
                raise RobevalError(f"refusing to extract {m.name!r} from {archive}: not a regular file")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            assert src is not None
            written.append(target)
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
