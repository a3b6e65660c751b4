"""Bad input to the newer features (import, released files, report --sweep, genset, environment,
corrupt options): each is one clear line, exit != 0 and nothing written; and the inputs that are
right but were mishandled (a '~' in $ROBEVAL_DATA, a truncated dataset cache) now just work.

    PYTHONPATH=. pytest -q tests/bad_input/test_edges.py
"""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from robeval.data.shapes import CLASSES
from tests.bad_input.harness import assert_refused, invoke


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _images(root, side: int, classes=CLASSES[:2], n: int = 2) -> None:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An evaluated run, a 64-px generalisation set built for 32-px shapes, a files manifest and
    a sweep folder with a run that was not chosen."""
    root = tmp_path_factory.mktemp("edges")
    mp = pytest.MonkeyPatch()
    mp.setenv("ROBEVAL_DATA", str(root / "data"))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(Tiny()), str(root / "tiny.ts"))
    code, out, exc = invoke(["eval", "--import-checkpoint", root / "tiny.ts", "--arch", "torchscript",
                             "--dataset", "shapes", "--head", "learned", "--out", root / "run",
                             "--conditions", "clean", "--quiet"])
    assert code == 0 and exc is None, out
    _images(root / "big", 64)
    for name, side in (("big64", 64), ("small32", 32)):
        code, out, exc = invoke(["genset", "make-manifest", "files", "--root", root / "big", "--target",
                                 "shapes", "--name", name, "--image-size", side, "--out",
                                 root / f"{name}.json"])
        assert code == 0 and exc is None, out
    code, out, exc = invoke(["genset", "build", root / "big64.json", "--pin", "--quiet"])
    assert code == 0 and exc is None, out
    (root / "study" / "runs").mkdir(parents=True)
    shutil.copytree(root / "run", root / "study" / "runs" / "unchosen",
                    ignore=shutil.ignore_patterns("eval", "eval.json"))
    (root / "study" / "sweep.json").write_text(json.dumps({"rows": []}))
    (root / "text.pt").write_text("not a checkpoint\n")
    from robeval.models import ModelConfig, build_model

    net = build_model(ModelConfig(arch="smallcnn", num_classes=10, image_size=32, head="learned"))
    encoder = {k: v for k, v in net.encoder.state_dict().items()}
    torch.save(encoder, root / "state.pt")  # an encoder without its class layer
    torch.save({"embedding": torch.zeros(3)}, root / "dict.pt")
    torch.save(torch.randn(net.head.weight.shape[1], 10), root / "emb.pt")
    torch.save({**encoder, "fc.weight": torch.full((10, net.head.weight.shape[1]), float("nan")),
                "fc.bias": torch.zeros(10)}, root / "nan.pt")
    bad = Tiny()
    with torch.no_grad():
        bad.fc.weight[0, 0] = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(bad), str(root / "nan.ts"))
    (root / "manifest.json").mkdir()
    yield root
    mp.undo()


def _sweep(tmp, rows) -> str:
    (tmp / "sweep.json").write_text(json.dumps(rows))
    return str(tmp / "sweep.json")


ROW = {"dataset": "shapes", "arch": "tinycnn", "head": "learned", "logits": "dot", "init": "sphere",
       "learn_scale": False, "margin": 0.0, "lr": 0.1, "scale": None, "chosen": True, "seeds": [0],
       "val_mean": 0.5}
IMPORT = ["eval", "--import-checkpoint", "{w}/text.pt", "--dataset", "shapes", "--head", "learned",
          "--out", "{t}/imp"]
CASES = {
    # a text file as the checkpoint, for robeval's encoders and for torchvision's
    "text checkpoint": ([*IMPORT, "--arch", "smallcnn"], "cannot read checkpoint"),
    "text checkpoint torchvision": ([*IMPORT, "--arch", "torchvision:resnet18"], "cannot read checkpoint"),
    "import with an unknown condition": (["eval", "--import-checkpoint", "{w}/tiny.ts", "--arch",
                                          "torchscript", "--dataset", "shapes", "--head", "learned",
                                          "--out", "{t}/imp", "--conditions", "nosuch"], "unknown condition"),
    "resume an imported run": (["train", "--out", "{w}/run", "--resume"], "holds an imported model"),
    "--resize beyond 4096": ([*IMPORT, "--arch", "torchscript", "--resize", "100000"], "0<=x<=4096"),
    "embedding is a dict": (["eval", "--import-checkpoint", "{w}/state.pt", "--arch", "smallcnn",
                             "--dataset", "shapes", "--head", "fixed", "--embedding", "{w}/dict.pt",
                             "--out", "{t}/imp"], "expected one d x C tensor"),
    "bias is a matrix": (["eval", "--import-checkpoint", "{w}/state.pt", "--arch", "smallcnn",
                          "--dataset", "shapes", "--head", "fixed", "--embedding", "{w}/emb.pt",
                          "--bias-file", "{w}/emb.pt", "--out", "{t}/imp"], "expected one tensor of C"),
    "weights hold NaN": (["eval", "--import-checkpoint", "{w}/nan.pt", "--arch", "smallcnn", "--dataset",
                          "shapes", "--head", "learned", "--out", "{t}/imp"], "hold NaN or inf"),
    "TorchScript weights hold NaN": ([*IMPORT[:2], "{w}/nan.ts", *IMPORT[3:], "--arch", "torchscript"],
                                     "hold NaN or inf"),
    # non-finite preprocessing
    **{f"--{k} {v}": ([*IMPORT, "--arch", "torchscript", f"--{k}", v], "finite")
       for k in ("mean", "std") for v in ("nan", "inf", "-inf", "0.5,nan,0.5")},
    # numbers that overflow float32 arithmetic
    **{f"{opt} 1e308": (["train", "--logits", "cosine", opt, "1e308", "--out", "{t}/r"], "<= 1e+06")
       for opt in ("--lr", "-S", "--weight-decay", "--margin")},
    "--lrs with 1e308": (["reproduce", "--lrs", "0.1,1e308", "--out", "{t}/s"], "<= 1e+06"),
    # malformed sweep files
    **{f"sweep {name}": (["report", "{w}/run", "--out", "{t}/rep", "--sweep", rows], "not a reproduce sweep")
       for name, rows in {
           "is a list": [ROW], "without rows": {"note": "x"}, "with no rows": {"rows": []},
           "row lacks keys": {"rows": [{"lr": 0.1}]}, "row is a list": {"rows": [[1, 2]]},
           "lr is text": {"rows": [{**ROW, "lr": "fast"}]}, "seeds are text": {"rows": [{**ROW, "seeds": "0"}]},
           "chosen is text": {"rows": [{**ROW, "chosen": "yes"}]},
           "nothing chosen": {"rows": [{**ROW, "chosen": False}]},
           "val_mean is nan": {"rows": [{**ROW, "val_mean": float("nan")}]}}.items()},
    "sweep run not chosen": (["report", "{w}/study/runs", "--out", "{t}/rep"], "--sweep"),
    # a folder where a manifest file belongs
    "manifest is a folder (build)": (["genset", "build", "{w}/manifest.json"], "is a folder"),
    "manifest is a folder (verify)": (["genset", "verify", "{w}/manifest.json"], "is a folder"),
    "image size out of the manifest's range": (["genset", "make-manifest", "files", "--root", "{w}/big",
                                                "--target", "shapes", "--name", "x", "--image-size",
                                                "2000", "--out", "{t}/x.json"], "8<=x<=1024"),
    # a set of another image size than the model's dataset
    "genset of 64 px for a 32-px model": (["eval", "{w}/run", "--conditions", "genset:big64",
                                          "--no-analyze", "--quiet"], "holds 64x64 images"),
    # corrupt options that no condition uses
    "--severities for FAMILY/S": (["corrupt", "--conditions", "defocus_blur/3", "--severities", "1-2"],
                                  "leave --severities out"),
    "--severities with --preview": (["corrupt", "--preview", "2", "--severities", "3", "--out",
                                     "{t}/p.png"], "--preview draws every severity"),
    "--table for @TABLE": (["corrupt", "--conditions", "defocus_blur/3@cifar", "--table", "imagenet"],
                           "leave --table out"),
    "--table for albu:": (["corrupt", "--conditions", "albu:GaussianBlur(blur_limit=3)", "--table",
                           "cifar"], "leave --table out"),
}


@pytest.mark.parametrize("case", CASES)
def test_edge_refused(case, world, tmp_path):
    args, needle = CASES[case]
    args = [a if not isinstance(a, str) else a.replace("{w}", str(world)).replace("{t}", str(tmp_path))
            for a in args]
    if isinstance(args[-1], (dict, list)):  # a sweep file's contents
        args[-1] = _sweep(tmp_path, args[-1])
    assert_refused(args, world / "run", world / "study", world / "data" / "gensets", tmp_path,
                   needle=needle)


@pytest.mark.parametrize("command", [["train", "--epochs", "1", "--max-train", "64", "--arch", "tinycnn"],
                                     ["corrupt", "--conditions", "defocus_blur/1"]])
def test_dangling_robeval_data_is_one_line(command, tmp_path, monkeypatch):
    (tmp_path / "data").symlink_to(tmp_path / "gone")
    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path / "data"))
    extra = ["--out", tmp_path / "run"] if command[0] == "train" else []
    assert_refused([*command, *extra], tmp_path, needle="which does not exist")


def test_symlink_loop_in_a_genset_folder_is_one_line(world, tmp_path):
    shutil.copytree(world / "big", tmp_path / "imgs")
    code, out, exc = invoke(["genset", "make-manifest", "files", "--root", tmp_path / "imgs", "--target",
                             "shapes", "--name", "looped", "--image-size", "32", "--out",
                             tmp_path / "looped.json"])
    assert code == 0 and exc is None, out
    victim = tmp_path / "imgs" / CLASSES[0] / "0.png"
    victim.unlink()
    victim.symlink_to(victim.name)  # points at itself
    assert_refused(["genset", "build", tmp_path / "looped.json", "--data-dir", tmp_path / "d"],
                   tmp_path, needle="symbolic link loop")


def test_tilde_in_robeval_data_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROBEVAL_DATA", "~/robeval-data")
    monkeypatch.chdir(tmp_path)
    from robeval.data import load_split

    assert len(load_split("shapes", "test")) > 0
    assert (tmp_path / "home" / "robeval-data" / "cache").is_dir() and not (tmp_path / "~").exists()


def test_a_truncated_dataset_cache_is_rebuilt(tmp_path, monkeypatch):
    from robeval.data import load_split
    from robeval.data.loading import cache_file

    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path))
    first = load_split("shapes", "test")
    path = cache_file("shapes", "test")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a zip missing its directory
    again = load_split("shapes", "test")
    assert np.array_equal(again.images, first.images) and np.array_equal(again.labels, first.labels)
    with np.load(path) as z:  # and the cache is whole again
        assert np.array_equal(z["labels"], first.labels)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_root_is_used_without_a_cache(world, tmp_path, monkeypatch):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        monkeypatch.setenv("ROBEVAL_DATA", str(root))
        code, out, exc = invoke(["eval", world / "run", "--conditions", "clean", "--no-analyze", "--quiet"])
        assert code == 0 and exc is None, out
        assert_refused(["corrupt", "--conditions", "defocus_blur/1"], tmp_path, needle="Permission denied")
    finally:
        root.chmod(0o700)


def test_machine_errors_are_one_line_with_what_to_do():
    import errno

    from robeval.cli.options import environment_error

    line = environment_error(PermissionError(errno.EACCES, "Permission denied", "/data/cache"))
    assert line.startswith("/data/cache: Permission denied;") and "--data-dir" in line
    assert "disk is full" in environment_error(OSError(errno.ENOSPC, "No space left on device", "/x"))
    assert environment_error(OSError(errno.ENOENT, "gone", "/x")) is None  # a bug, not the machine
    assert environment_error(KeyError("x")) is None


def test_listed_conditions_follow_the_data_dir(world, tmp_path, monkeypatch):
    """genset:all (and --list-conditions) list the sets built under --data-dir, not the default."""
    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path / "elsewhere"))
    code, out, exc = invoke(["eval", world / "run", "--list-conditions", "--data-dir", world / "data"])
    assert code == 0 and exc is None and "genset:big64" in out, out
    code, out, exc = invoke(["eval", world / "run", "--list-conditions"])
    assert code == 0 and "genset:big64" not in out, out


def test_files_manifest_root_under_the_data_root_from_any_folder(world, tmp_path, monkeypatch):
    """A manifest whose source.root is {data_root}/... builds wherever robeval runs from (the
    tinyimagenet-val-as-cifar10 recipe of docs/datasets.md)."""
    data = tmp_path / "data"
    shutil.copytree(world / "big", data / "extracted" / "imgs")
    manifest = json.loads((world / "small32.json").read_text())
    manifest["source"]["root"] = "{data_root}/extracted/imgs"
    manifest["name"] = "underroot"
    (tmp_path / "underroot.json").write_text(json.dumps(manifest))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("ROBEVAL_DATA", str(data))
    code, out, exc = invoke(["genset", "build", tmp_path / "underroot.json", "--pin", "--quiet"])
    assert code == 0 and exc is None, out
    assert (data / "gensets" / "underroot.npz").is_file()


def test_api_refuses_unknown_conditions_before_writing(world, tmp_path):
    import robeval
    from robeval.core.errors import RobevalError

    with pytest.raises(RobevalError, match="unknown condition"):
        robeval.evaluate(Tiny(), dataset="shapes", out=tmp_path / "api", conditions="clean,nosuch")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("TRUE", True), ("", False),
                                       ("0", False), ("off", False), ("maybe", None), ("2", None)])
def test_on_off_environment_variables(value, on, monkeypatch):
    """ROBEVAL_OFFLINE=true used to be read as off (only "1" counted): a download was tried."""
    from robeval.core.environment import env_flag
    from robeval.core.errors import RobevalError

    monkeypatch.setenv("ROBEVAL_OFFLINE", value)
    if on is None:
        with pytest.raises(RobevalError, match="set it to 1 \\(on\\) or 0 \\(off\\)"):
            env_flag("ROBEVAL_OFFLINE")
    else:
        assert env_flag("ROBEVAL_OFFLINE") is on


def test_an_unreadable_offline_flag_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBEVAL_OFFLINE", "maybe")
    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path / "data"))
    assert_refused(["genset", "build", "cifar10.1-v6"], tmp_path, needle="$ROBEVAL_OFFLINE='maybe'")


@pytest.mark.parametrize("classes, needle", [(["a"] * 10, "distinct"), ([f"c{i}" for i in range(10)], "lacks shapes'"),
                                             ([1] * 10, "distinct")])
def test_api_refuses_class_names_before_writing(classes, needle, world, tmp_path):
    import robeval
    from robeval.core.errors import RobevalError

    with pytest.raises(RobevalError, match=needle):
        robeval.evaluate(Tiny(), dataset="shapes", out=tmp_path / "api", classes=classes)
    assert list(tmp_path.iterdir()) == []
