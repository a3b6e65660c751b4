import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
# the CLI's last-resort handler re-raises, so the bad-input tests see every unhandled exception
os.environ["ROBEVAL_DEBUG"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An isolated data root for each test."""
    root = tmp_path / "data"
    monkeypatch.setenv("ROBEVAL_DATA", str(root))
    return root


@pytest.fixture(autouse=True)
def _not_quiet(monkeypatch):
    """`--quiet` run in-process sets ROBEVAL_QUIET for the process: undo it after each test."""
    monkeypatch.delenv("ROBEVAL_QUIET", raising=False)


@pytest.fixture
def declare(monkeypatch):
    """Point a declared download at a fixture's hash (as if it were the official file)."""
    import dataclasses

    from robeval.data import download
    from tests.official_formats import sha256

    table = dict(download._download_table())

    def set_hash(key: str, path) -> None:
        table[key] = dataclasses.replace(table[key], sha256=sha256(path), md5=None, size=None)

    monkeypatch.setattr(download, "_download_table", lambda: table)
    return set_hash
