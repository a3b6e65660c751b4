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


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """A real, tiny study trained once per session (tinycnn on shapes, 1 epoch, 256 images): the
    paper's 2 x 2 at S = 1 plus one extra fixed head, evaluated with features on clean, the
    shifted set and one corruption, and analysed. Tests that change runs copy them first."""
    from robeval.stages.analyze import analyze_run
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.train import train
    from robeval.training.config import TrainConfig

    root = tmp_path_factory.mktemp("tiny-study")
    data = str(root / "data")
    heads = [dict(head="learned", logits="dot"), dict(head="fixed", logits="dot"),
             dict(head="learned", logits="cosine", scale=1.0), dict(head="fixed", logits="cosine", scale=1.0),
             dict(head="fixed", logits="dot", init="simplex-etf")]
    dirs = []
    for i, head in enumerate(heads):
        cfg = TrainConfig(arch="tinycnn", epochs=1, max_train=256, val_fraction=0.1, seed=0, **head)
        run = root / "runs" / f"run{i}"
        train(cfg, run, device="cpu", data_dir=data, progress=False)
        evaluate_run(run, "clean,genset:shapes-shift,gaussian_noise/3", device="cpu", data_dir=data,
                     progress=False)
        analyze_run(run, plots=i == 0)
        dirs.append(run)
    return dirs
