"""Output and data paths that cannot be written: a parent that is a file, a virtual file system
(/proc refuses new entries even to root), $ROBEVAL_DATA pointing at a file. Each is refused when
the command line is parsed, in one line, before any training or building.

    PYTHONPATH=. pytest -q tests/bad_input/test_paths.py
"""

from __future__ import annotations

import pytest

from tests.bad_input.harness import assert_refused

TRAIN = ["train", "--arch", "tinycnn", "--epochs", "1", "--max-train", "64", "--quiet"]
COMMANDS = {
    "train --out": lambda bad, tmp: TRAIN + ["--out", bad],
    "train --data-dir": lambda bad, tmp: TRAIN + ["--out", tmp / "run", "--data-dir", bad],
    "reproduce --out": lambda bad, tmp: ["reproduce", "--seeds", "1", "--epochs", "1", "--out", bad],
    "report --out": lambda bad, tmp: ["report", tmp / "run", "--out", bad],
    "corrupt --data-dir": lambda bad, tmp: ["corrupt", "--conditions", "defocus_blur/1", "--data-dir", bad],
    "corrupt --preview --out": lambda bad, tmp: ["corrupt", "--preview", "2", "--out", f"{bad}.png"],
    "export --out": lambda bad, tmp: ["export", tmp / "run", "--out", f"{bad}.csv"],
    "genset build --data-dir": lambda bad, tmp: ["genset", "build", "shapes-shift", "--data-dir", bad],
    "eval --import-checkpoint --out": lambda bad, tmp: ["eval", "--import-checkpoint", tmp / "m.pt",
                                                       "--dataset", "shapes", "--arch", "smallcnn",
                                                       "--head", "learned", "--out", bad],
}
PLACES = {"under-a-file": lambda tmp: tmp / "afile" / "sub", "in-proc": lambda tmp: "/proc/robeval-test-out"}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("command", COMMANDS)
def test_unwritable_path_is_refused_at_once(command, place, tmp_path, shared_data):
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "m.pt").write_bytes(b"")
    bad = PLACES[place](tmp_path)
    line = assert_refused(COMMANDS[command](bad, tmp_path), tmp_path)
    assert "is a file, not a folder" in line or "cannot be written" in line


@pytest.mark.parametrize("value", ["afile", "afile/sub", "/proc/robeval-test-data"])
def test_robeval_data_that_cannot_be_a_folder_is_refused(value, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("a file")
    monkeypatch.setenv("ROBEVAL_DATA", value if value.startswith("/") else str(tmp_path / value))
    line = assert_refused(TRAIN + ["--out", tmp_path / "run"], tmp_path, needle="$ROBEVAL_DATA")
    assert "is a file" in line or "cannot be written" in line
