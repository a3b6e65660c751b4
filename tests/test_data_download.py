"""Downloads over a real local HTTP server (resume, verification, failures) and safe extraction."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from robeval.core.errors import RobevalError
from robeval.data import download
from robeval.data.download import RemoteFile, fetch_url, offline_message, safe_extract

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file with Range support; /cut sends half and closes; counts requests."""

    ranges: list[str | None] = []

    def do_GET(self):  # noqa: N802
        type(self).ranges.append(self.headers.get("Range"))
        if self.path == "/missing":
            self.send_error(404)
            return
        start = 0
        if (rng := self.headers.get("Range")) and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.ranges = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_verifies(server, tmp_path):
    out = fetch_url(f"{server}/file", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert out.read_bytes() == PAYLOAD and not (tmp_path / "f.bin.part").exists()


def test_download_resumes_a_partial_file(server, tmp_path):
    part = tmp_path / "f.bin.part"
    part.write_bytes(PAYLOAD[:300_000])
    fetch_url(f"{server}/file", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert RangeHandler.ranges == ["bytes=300000-"]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_download_resumes_after_a_dropped_connection(server, tmp_path):
    # /cut always drops half-way: each retry resumes from where the last one stopped
    with pytest.raises(OSError):
        fetch_url(f"{server}/cut", tmp_path / "f.bin", sha256=SHA, progress=False, retries=2)
    have = (tmp_path / "f.bin.part").stat().st_size
    assert len(PAYLOAD) // 2 <= have < len(PAYLOAD)
    assert RangeHandler.ranges[1] is not None and RangeHandler.ranges[1].startswith("bytes=")
    fetch_url(f"{server}/file", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_download_hash_mismatch_removes_the_file(server, tmp_path):
    with pytest.raises(RobevalError, match="expected 000"):
        fetch_url(f"{server}/file", tmp_path / "f.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_require_without_network_names_url_place_and_hash(tmp_path, monkeypatch):
    rf = RemoteFile("thing", "http://127.0.0.1:9/thing.tar.gz", "thing.tar.gz", sha256="ab" * 32)
    monkeypatch.setattr(download, "_download_table", lambda: {"thing": rf})
    with pytest.raises(RobevalError) as err:
        download.require("thing", tmp_path, progress=False)
    msg = str(err.value)
    assert "no network" in msg and rf.url in msg and "ab" * 32 in msg
    assert str((tmp_path / "downloads" / "thing.tar.gz").resolve()) in msg
    assert "\n" not in msg  # one message


def test_offline_message_for_a_file_without_url():
    rf = RemoteFile("x", None, "x.tar.xz", sha256="cd" * 32, note="Copy it from shared/data/.")
    msg = offline_message(rf, Path("/data/downloads/x.tar.xz"))
    assert "no public URL" in msg and "cd" * 32 in msg and "shared/data" in msg


def _tar(path: Path, members: list[tarfile.TarInfo]) -> None:
    with tarfile.open(path, "w") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)


def _member(name: str, kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.linkname = link
    m.size = 1 if kind == tarfile.REGTYPE else 0
    return m


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_safe_extract_refuses_escaping_tar_members(tmp_path, name):
    archive = tmp_path / "a.tar"
    _tar(archive, [_member("ok/fine.txt"), _member(name)])
    with pytest.raises(RobevalError, match="outside"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_refuses_links(tmp_path):
    archive = tmp_path / "a.tar"
    _tar(archive, [_member("top/link", tarfile.SYMTYPE, "/etc/passwd")])
    with pytest.raises(RobevalError, match="not a regular file"):
        safe_extract(archive, tmp_path / "out")


def test_safe_extract_zip(tmp_path):
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("d/a.txt", "a")
        zf.writestr("d/b.txt", "b")
    assert sorted(p.name for p in safe_extract(good, tmp_path / "o1", members={"d/a.txt"})) == ["a.txt"]
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../zipslip.txt", "x")
    with pytest.raises(RobevalError, match="outside"):
        safe_extract(bad, tmp_path / "o2")
    assert not list(tmp_path.parent.glob("zipslip.txt"))
