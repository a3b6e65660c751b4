"""Damaged archives: truncated .tar.gz/.tar.xz and a .zip with a damaged member are refused in one
line (once click's bare "Aborted!", from an EOFError), and nothing is left unpacked.

    PYTHONPATH=. pytest -q tests/bad_input/test_archives.py
"""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
import pytest

from robeval.core.errors import RobevalError
from robeval.data.download import safe_extract
from tests.bad_input.harness import assert_refused

FILES = {"stl10_binary/train_X.bin": 200_000, "stl10_binary/train_y.bin": 5_000,
         "stl10_binary/test_X.bin": 200_000, "stl10_binary/test_y.bin": 5_000}


def tar_bytes(mode: str) -> bytes:
    """An archive of incompressible members (so a cut lands inside a member's data)."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, size in FILES.items():
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def damaged_zip() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, size in FILES.items():
            zf.writestr(name, rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    data = bytearray(buf.getvalue())
    data[300:400] = bytes(100)  # inside the first member's compressed data
    return bytes(data)


CUTS = {"tar.gz-cut": lambda: tar_bytes("w:gz")[:250_000], "tar.xz-cut": lambda: tar_bytes("w:xz")[:250_000],
        "tar-cut": lambda: tar_bytes("w")[:250_000], "tar.gz-header-only": lambda: tar_bytes("w:gz")[:40],
        "zip-damaged": damaged_zip}


@pytest.mark.parametrize("kind", CUTS)
def test_damaged_archive_unpacks_nothing(kind, tmp_path):
    archive = tmp_path / "a.bin"
    archive.write_bytes(CUTS[kind]())
    dest = tmp_path / "out"
    with pytest.raises(RobevalError, match="truncated or damaged|not a readable"):
        safe_extract(archive, dest)
    assert list(dest.rglob("*")) == []  # no member, no folder, no staging folder


def test_whole_archive_unpacks_every_member(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_bytes("w:gz"))
    written = safe_extract(archive, tmp_path / "out")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in written) == sorted(FILES)
    assert all(p.stat().st_size == FILES[str(p.relative_to(tmp_path / "out"))] for p in written)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["stl10_binary"]


@pytest.mark.parametrize("kind", ["tar.gz-cut", "tar.gz-header-only"])
def test_truncated_dataset_archive_is_one_line(kind, tmp_path, monkeypatch):
    """train --dataset stl10 on a truncated official-name archive (checksum check off, as a user
    with their own copy would have it): one error line naming the archive, nothing unpacked."""
    root = tmp_path / "data"
    (root / "downloads").mkdir(parents=True)
    (root / "downloads" / "stl10_binary.tar.gz").write_bytes(CUTS[kind]())
    monkeypatch.setenv("ROBEVAL_DATA", str(root))
    monkeypatch.setenv("ROBEVAL_NO_VERIFY", "1")
    line = assert_refused(["train", "--dataset", "stl10", "--out", tmp_path / "run"], tmp_path)
    assert "stl10_binary.tar.gz" in line and ("truncated or damaged" in line or "not a readable" in line)
