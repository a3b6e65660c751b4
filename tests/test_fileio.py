"""Atomic writes: all or nothing, and finished files get the usual permissions."""

import os

import pytest

from robeval.core.fileio import atomic_path, read_json, write_json, write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text('{"v": 2, "trunc')
        raise RuntimeError("crash mid-write")
    assert read_json(path) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_finished_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        import importlib

        import robeval.core.fileio as fileio

        importlib.reload(fileio)  # the module reads the umask once
        fileio.write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
        importlib.reload(fileio)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    write_text(tmp_path / "b.txt", "x")
    assert (tmp_path / "b.txt").read_text() == "x"


def test_staged_folder_publishes_only_on_success(tmp_path):
    from robeval.core.fileio import staged_folder

    out = tmp_path / "report"
    (out / "plots").mkdir(parents=True)
    (out / "report.md").write_text("old")
    (out / "plots" / "old.png").write_text("old plot")
    with pytest.raises(RuntimeError):
        with staged_folder(out) as staging:
            (staging / "report.md").write_text("half")
            raise RuntimeError("a damaged run")
    assert (out / "report.md").read_text() == "old" and (out / "plots" / "old.png").exists()
    with staged_folder(out) as staging:
        (staging / "plots").mkdir()
        (staging / "plots" / "new.png").write_text("new plot")
        (staging / "report.md").write_text("new")
    assert (out / "report.md").read_text() == "new"
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["new.png"]  # the folder is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder left
