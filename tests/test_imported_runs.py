"""Imported runs (a torchvision state dict, a TorchScript file, ``robeval.evaluate``) go through
analyze, report and export like runs robeval trained, and the report says which were imported and
from what (docs/import.md). A summary.json with ``best_val_acc: null`` is damaged for a trained
run, not for an imported one.

    PYTHONPATH=. pytest -q tests/test_imported_runs.py
"""

from __future__ import annotations

import csv
import json
import warnings

import pytest
import torch
from torch import nn

import robeval
from tests.bad_input.harness import assert_refused, invoke


class TinyNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Three imported runs on shapes, each evaluated on clean."""
    import torchvision

    root = tmp_path_factory.mktemp("imported")
    mp = pytest.MonkeyPatch()
    mp.setenv("ROBEVAL_DATA", str(root / "data"))
    torch.manual_seed(0)
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=10).state_dict(), root / "mnv3.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(TinyNet()), str(root / "net.ts"))
    common = ["--dataset", "shapes", "--head", "learned", "--conditions", "clean", "--quiet"]
    for ckpt, arch, name in (("mnv3.pt", "torchvision:mobilenet_v3_small", "tv"),
                             ("net.ts", "torchscript", "ts")):
        code, out, exc = invoke(["eval", "--import-checkpoint", root / ckpt, "--arch", arch,
                                 "--out", root / "runs" / name, *common])
        assert code == 0 and exc is None, out
    robeval.evaluate(TinyNet(), dataset="shapes", out=root / "runs" / "api", analyze=False)
    yield root
    mp.undo()


def test_imported_runs_are_reported_with_their_origin(imported):
    runs = imported / "runs"
    code, out, exc = invoke(["report", runs, "--out", imported / "rep", "--no-plots"])
    assert code == 0 and exc is None, out
    md = (imported / "rep" / "report.md").read_text()
    assert "3 of 3 runs were imported" in md
    assert f"torchvision:mobilenet_v3_small from {imported / 'mnv3.pt'}" in md
    assert f"torchscript from {imported / 'net.ts'}" in md
    assert "robeval.evaluate(tests.test_imported_runs.TinyNet)" in md
    origins = {r["run"]: r["origin"] for r in json.loads((imported / "rep" / "results.json").read_text())["runs"]}
    assert all(origins.values()) and len(origins) == 3


def test_imported_runs_analyze_and_export(imported):
    runs = imported / "runs"
    code, out, exc = invoke(["analyze", runs / "tv", runs / "api", "--no-plots"])
    assert code == 0 and exc is None, out
    assert (runs / "api" / "analysis.json").is_file()
    code, out, exc = invoke(["export", runs, "--out", imported / "rows.csv"])
    assert code == 0 and exc is None, out
    with open(imported / "rows.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["run"] for r in rows} == {str(runs / n) for n in ("api", "ts", "tv")}
    assert len(rows) == 3 * 2000  # shapes' test set, once per run


def test_a_trained_summary_without_best_val_acc_is_still_damaged(imported, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(imported / "runs" / "ts", run)
    summary = json.loads((run / "summary.json").read_text())
    del summary["imported"]  # now it claims to be trained here, and has no validation accuracy
    (run / "summary.json").write_text(json.dumps(summary))
    assert_refused(["report", run, "--out", tmp_path / "rep"], tmp_path, needle="no best_val_acc")


def test_two_imports_of_one_configuration_need_their_own_seeds(imported, tmp_path):
    import shutil

    for name in ("a", "b"):
        shutil.copytree(imported / "runs" / "ts", tmp_path / name)
    line = assert_refused(["report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "rep"],
                          tmp_path)
    assert "same seed 0" in line and "--seed" in line
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    config["config"]["seed"] = 1  # what `robeval eval --import-checkpoint ... --seed 1` writes
    (tmp_path / "b" / "config.json").write_text(json.dumps(config))
    code, out, exc = invoke(["report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "rep",
                             "--no-plots"])
    assert code == 0 and exc is None, out
    assert "n = 2" in (tmp_path / "rep" / "report.md").read_text()


def test_a_run_named_twice_is_read_once(imported, tmp_path):
    runs = imported / "runs"
    code, out, exc = invoke(["export", runs / "ts", f"{runs}/ts/", runs, "--out", tmp_path / "x.csv"])
    assert code == 0 and exc is None, out
    assert "6000 rows from 3 runs" in out
