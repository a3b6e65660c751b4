"""The one rule for outputs (docs/outputs.md, robeval/runs/destinations.py): robeval writes only
into folders it made or was told to replace, never mixes one output into another's folder, never
replaces an existing file without --overwrite, and a refusal leaves the disk as it was.

    PYTHONPATH=. pytest -q tests/bad_input/test_outputs.py
"""

from __future__ import annotations

import json
import os
import shutil
import warnings

import pytest
import torch
from torch import nn

import robeval
from robeval.core.errors import RobevalError
from tests.bad_input.harness import assert_refused, invoke, snapshot


class Tiny(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class Pair(Tiny):
    def forward(self, x):  # (logits, features), as many research models return
        h = torch.relu(self.conv(x)).mean((2, 3))
        return self.fc(h), h


def _script(net: nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(net), str(path))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An evaluated (imported) run, a report of it, a TorchScript file with 7 outputs and one with
    10, a torchvision state dict: everything the cases below point at."""
    import torchvision

    root = tmp_path_factory.mktemp("outputs")
    mp = pytest.MonkeyPatch()
    mp.setenv("ROBEVAL_DATA", str(root / "data"))
    torch.manual_seed(0)
    robeval.evaluate(Tiny(), dataset="shapes", out=root / "run", analyze=False)
    code, out, exc = invoke(["report", root / "run", "--out", root / "report", "--no-plots"])
    assert code == 0 and exc is None, out
    _script(Tiny(7), root / "seven.ts")
    _script(Tiny(10), root / "ten.ts")
    _script(Pair(10), root / "pair.ts")
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=10).state_dict(), root / "mnv3.pt")
    yield root
    mp.undo()


IMPORT = ["eval", "--import-checkpoint", "{w}/ten.ts", "--arch", "torchscript", "--dataset", "shapes",
          "--head", "learned", "--conditions", "clean", "--quiet"]
TV = ["eval", "--import-checkpoint", "{w}/mnv3.pt", "--arch", "torchvision:mobilenet_v3_small",
      "--dataset", "shapes", "--head", "learned", "--out", "{t}/tv", "--quiet"]
TRAIN = ["train", "--arch", "tinycnn", "--epochs", "1", "--max-train", "64", "--quiet"]

# (args, needle): every case is refused in one line and changes nothing under the world or tmp
CASES = {
    "report into a run": (["report", "{w}/run", "--out", "{w}/run"], "is a run folder"),
    "report inside a run": (["report", "{w}/run", "--out", "{w}/run/report"], "inside the run folder"),
    "report into your folder": (["report", "{w}/run", "--out", "{t}/mine"], "robeval did not write"),
    "report into a study-less runs folder": (["report", "{w}/run", "--out", "{t}/runs"],
                                             "robeval did not write"),
    "export over a file": (["export", "{w}/run", "--out", "{t}/mine/notes.csv"], "pass --overwrite"),
    "export over a pipe": (["export", "{w}/run", "--out", "{t}/pipe.csv", "--overwrite"],
                           "not a plain file"),
    "export over a link": (["export", "{w}/run", "--out", "{t}/link.csv", "--overwrite"],
                           "not a plain file"),
    "export inside a run": (["export", "{w}/run", "--out", "{w}/run/rows.csv"], "inside the run folder"),
    "export csv under .parquet": (["export", "{w}/run", "--format", "csv", "--out", "{t}/x.parquet"],
                                  "must end in .csv"),
    "export of no known extension": (["export", "{w}/run", "--out", "{t}/x.txt"], "or pass --format"),
    "preview over a file": (["corrupt", "--preview", "1", "--conditions", "defocus_blur",
                             "--out", "{t}/mine/p.png"], "pass --overwrite"),
    "preview as jpeg": (["corrupt", "--preview", "1", "--conditions", "defocus_blur", "--out",
                         "{t}/p.jpg"], "must end in .png"),
    "corrupt --overwrite without preview": (["corrupt", "--overwrite"], "is for the --preview image"),
    "manifest over a file": (["genset", "make-manifest", "files", "--root", "{t}/mine", "--target",
                              "cifar10", "--name", "x", "--out", "{t}/mine/m.json"], "pass --overwrite"),
    "import over a run": ([*IMPORT, "--out", "{w}/run"], "pass --overwrite to replace it"),
    "import into a report": ([*IMPORT, "--out", "{w}/report"], "is a report folder"),
    "import inside a run": ([*IMPORT, "--out", "{w}/run/inner"], "inside the run folder"),
    "import --overwrite of your folder": ([*IMPORT, "--out", "{t}/mine", "--overwrite"],
                                          "refusing to delete"),
    "import with 7 outputs": ([*IMPORT[:2], "{w}/seven.ts", *IMPORT[3:], "--out", "{t}/new"],
                              "has 7 outputs"),
    "import into a new nested folder, refused": ([*IMPORT[:2], "{w}/seven.ts", *IMPORT[3:], "--out",
                                                  "{t}/a/b/c"], "has 7 outputs"),
    "torchvision with --logits cosine": ([*TV, "--logits", "cosine", "-S", "5"], "--logits cosine, -S/--scale"),
    "torchvision with --embedding": ([*TV, "--embedding", "{w}/ten.ts"], "--embedding cannot apply"),
    "import options on a run": (["eval", "{w}/run", "--out", "{t}/x", "--std", "2"],
                                "--std, --out only apply with --import-checkpoint"),
    "train into a report": ([*TRAIN, "--out", "{w}/report"], "is a report folder"),
    "train inside a run": ([*TRAIN, "--out", "{w}/run/seed0"], "inside the run folder"),
    "train --overwrite of a foreign config.json": ([*TRAIN, "--out", "{t}/proj", "--overwrite"],
                                                   "is not one robeval wrote"),
    "reproduce into a run": (["reproduce", "--out", "{w}/run", "--seeds", "1"], "is a run folder"),
    "reproduce into a report": (["reproduce", "--out", "{w}/report", "--seeds", "1"], "is a report folder"),
    "reproduce into your folder": (["reproduce", "--out", "{t}/mine", "--seeds", "1"],
                                   "robeval did not write"),
}


@pytest.mark.parametrize("case", CASES)
def test_output_rule(case, world, tmp_path, shared_data):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.csv").write_text("yours\n")
    (tmp_path / "mine" / "p.png").write_bytes(b"yours")
    (tmp_path / "mine" / "m.json").write_text("{}")
    (tmp_path / "link.csv").symlink_to(tmp_path / "mine" / "notes.csv")
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "config.json").write_text('{"another": "tool"}')
    args, needle = CASES[case]
    args = [a.replace("{w}", str(world)).replace("{t}", str(tmp_path)) for a in args]
    assert_refused(args, world / "run", world / "report", tmp_path, needle=needle)
    assert not list(tmp_path.glob(".*incoming")) and not list(world.glob(".*incoming"))


def test_report_refreshes_its_own_folder_and_marks_it(world, tmp_path):
    shutil.copytree(world / "report", tmp_path / "report")
    (tmp_path / "report" / "results.csv").write_text("stale")
    code, out, exc = invoke(["report", world / "run", "--out", tmp_path / "report", "--no-plots"])
    assert code == 0 and exc is None, out
    assert (tmp_path / "report" / "results.csv").read_text() != "stale"
    assert json.loads((tmp_path / "report" / ".robeval-output").read_text())["kind"] == "report"


def test_a_refused_import_leaves_nothing_and_the_fix_works(world, tmp_path):
    args = [a.replace("{w}", str(world)) for a in IMPORT]
    out = tmp_path / "ts"
    code, text, _ = invoke([*args[:2], world / "seven.ts", *args[3:], "--out", out])
    assert code == 1 and "7 outputs" in text
    assert list(tmp_path.iterdir()) == []  # no model.torchscript, no staging folder
    code, text, exc = invoke([*args, "--out", out])  # the corrected command just works
    assert code == 0 and exc is None, text
    before = snapshot(out)
    code, text, _ = invoke([*args, "--out", out])
    assert code == 1 and "pass --overwrite to replace it" in text and "--resume" not in text
    assert snapshot(out) == before
    code, text, exc = invoke([*args, "--out", out, "--overwrite"])
    assert code == 0 and exc is None, text
    # --overwrite with a model that is refused keeps the previous run as it was
    before = snapshot(out)
    code, text, _ = invoke([*args[:2], world / "seven.ts", *args[3:], "--out", out, "--overwrite"])
    assert code == 1 and snapshot(out) == before


def test_a_model_returning_logits_and_features_is_read(world, tmp_path):
    args = [a.replace("{w}", str(world)) for a in IMPORT]
    code, text, exc = invoke([*args[:2], world / "pair.ts", *args[3:], "--out", tmp_path / "pair"])
    assert code == 0 and exc is None, text
    ref = json.loads((tmp_path / "pair" / "eval.json").read_text())["conditions"]["clean"]
    assert 0 <= ref["accuracy"] <= 1 and ref["n"] == 2000


def test_api_overwrite_refuses_a_folder_it_did_not_write(world, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("yours")
    with pytest.raises(RobevalError, match="refusing to delete"):
        robeval.evaluate(Tiny(), dataset="shapes", out=tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "yours"


def test_export_overwrite_and_format_from_the_extension(world, tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "rows.parquet"
    code, text, exc = invoke(["export", world / "run", "--out", out])
    assert code == 0 and exc is None, text
    assert out.read_bytes()[:4] == b"PAR1"  # Parquet's magic, not CSV text
    code, text, exc = invoke(["export", world / "run", "--out", out, "--overwrite"])
    assert code == 0 and exc is None, text
