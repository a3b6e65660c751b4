"""Models from anywhere, preprocessed as their makers do: for each source, the logits robeval stores
equal those of the maker's own pipeline on the same JPEG and PNG files (timm's create_loader,
torchvision's ImageFolder + weights.transforms(), the user's own transforms for py: code,
RobustBench's load_model / load_cifar10c / clean_accuracy), image for image."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from robeval.cli import cli
from robeval.models.preprocess import Pipeline, explicit_params

TOLERANCE = 1e-5
DOCS = Path(__file__).resolve().parents[1] / "docs" / "import.md"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_files(root: Path, classes: list[str], per_class: int, size: tuple[int, int],
                seed: int = 0) -> Path:
    """root/test/<class>/<NN>.jpg|.png: smooth random pictures of (height, width), JPEG and PNG
    alternating; returns root/test."""
    rng = np.random.default_rng(seed)
    h, w = size
    for c in classes:
        folder = root / "test" / c
        folder.mkdir(parents=True)
        for i in range(per_class):
            small = rng.integers(0, 256, (max(2, h // 6), max(2, w // 6), 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
            if i % 2:
                img.save(folder / f"{i:02d}.jpg", quality=90)
            else:
                img.save(folder / f"{i:02d}.png")
    return root / "test"


def liven(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine values (timm zero-inits the last BN of a block), so
    the logits are not all near zero and a 1e-5 tolerance means something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return net.eval()


def scale_logits(net: nn.Module, layer: nn.Linear, x: torch.Tensor, target: float = 4.0) -> None:
    """Scale the class layer so the largest |logit| on ``x`` is about ``target``."""
    with torch.no_grad():
        peak = net.eval()(x).abs().max().item()
        layer.weight.mul_(target / max(peak, 1e-6))
        layer.bias.mul_(target / max(peak, 1e-6))


def run_import(tmp_path: Path, ckpt: Path, arch: str, dataset: str, *extra: str):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["eval", "--import-checkpoint", str(ckpt), "--arch", arch,
                                      "--dataset", dataset, "--out", str(out), "--head", "learned",
                                      "--quiet", "--no-analyze", *extra])
    return out, result


def stored_logits(out: Path, condition: str = "clean") -> np.ndarray:
    rel = json.loads((out / "eval.json").read_text())["conditions"][condition]["file"]
    with np.load(out / rel) as z:
        return z["logits"]


def assert_same_logits(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Max |difference| within TOLERANCE and the same top-1 for every image; returns the max."""
    assert ours.shape == theirs.shape
    diff = float(np.abs(ours - theirs).max())
    assert diff <= TOLERANCE, f"max |logit difference| {diff:.3g} > {TOLERANCE}"
    assert (ours.argmax(1) == theirs.argmax(1)).all(), "a top-1 prediction differs"
    assert np.abs(theirs).max() > 0.5  # the logits are not all near zero
    print(f"max |logit difference| {diff:.3g} (largest |logit| {np.abs(theirs).max():.3g})")
    return diff


def forward_loader(net: nn.Module, loader) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([net.eval()(batch[0]) for batch in loader]).numpy()


# --- timm --------------------------------------------------------------------------------------


def timm_reference(net, folder: Path) -> np.ndarray:
    """timm's validate.py path (without the CUDA prefetcher): ImageDataset + create_loader with the
    model's resolved data config."""
    from timm.data import ImageDataset, create_loader, resolve_data_config

    cfg = resolve_data_config({}, model=net)
    dataset = ImageDataset(str(folder))
    loader = create_loader(dataset, input_size=cfg["input_size"], batch_size=32, use_prefetcher=False,
                           interpolation=cfg["interpolation"], mean=cfg["mean"], std=cfg["std"],
                           crop_pct=cfg["crop_pct"], crop_mode=cfg["crop_mode"], num_workers=0)
    return forward_loader(net, loader)


@pytest.mark.parametrize("name, expect", [
    ("resnet10t", {"interpolation": "bicubic", "crop_pct": 0.875, "mean": [0.485, 0.456, 0.406]}),
    ("test_vit.r160_in1k", {"interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}),
])
def test_timm_model_gets_timms_own_eval_transform(tmp_path, data_dir, name, expect):
    timm = pytest.importorskip("timm")
    folder = write_files(tmp_path / "tree", ["cat", "dog"], 3, (48, 64))
    torch.manual_seed(0)
    net = liven(timm.create_model(name, pretrained=False, num_classes=2))
    scale_logits(net, net.get_classifier(), torch.randn(4, 3, 160, 160))
    torch.save(net.state_dict(), tmp_path / "m.pt")
    out, result = run_import(tmp_path, tmp_path / "m.pt", f"timm:{name}",
                             f"imagefolder:{tmp_path / 'tree'}", "--conditions", "clean")
    assert result.exit_code == 0, result.output
    assert "timm's eval transform" in result.output
    record = json.loads((out / "config.json").read_text())["foreign"]["preprocess"]
    assert record["name"] == "timm" and record["version"].startswith("timm ")
    assert expect.items() <= record["params"].items()
    assert_same_logits(stored_logits(out), timm_reference(net, folder))
    again = CliRunner().invoke(cli, ["eval", str(out), "--conditions", "clean", "--quiet", "--no-analyze"])
    assert again.exit_code == 0, again.output  # the recorded pipeline rebuilds
    assert_same_logits(stored_logits(out), timm_reference(net, folder))


def test_tagged_timm_name_selects_that_tags_config():
    pytest.importorskip("timm")
    from timm.models import get_pretrained_cfg

    from robeval.models.sources import build_source

    net = build_source("timm:resnet18.tv_in1k", 10)  # no download: pretrained=False
    pipe = Pipeline.from_option("timm", net)
    tag = get_pretrained_cfg("resnet18.tv_in1k")
    assert (pipe.params["interpolation"], pipe.params["crop_pct"]) == (tag.interpolation, tag.crop_pct)
    other = Pipeline.from_option("timm:resnet18.a1_in1k")  # another tag, another config
    assert (other.params["interpolation"], other.params["crop_pct"]) == ("bicubic", 0.95)
    assert pipe.params["crop_pct"] != other.params["crop_pct"]


def test_the_explicit_tensor_pipeline_is_not_timms():
    """Why the timm pipeline exists: robeval's bilinear tensor resize of the same values differs
    from timm's bicubic PIL resize by far more than the tolerance."""
    pytest.importorskip("timm")
    rng = np.random.default_rng(1)
    images = np.stack([np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
                                  .resize((32, 32), Image.Resampling.BICUBIC)) for _ in range(4)])
    timm_pipe = Pipeline("timm", {"input_size": [3, 48, 48], "interpolation": "bicubic",
                                  "mean": [0.5] * 3, "std": [0.5] * 3, "crop_pct": 0.875,
                                  "crop_mode": "center"})
    explicit = Pipeline("explicit", explicit_params([0.5] * 3, [0.5] * 3, 54, 48))
    a, b = timm_pipe.to_input(images), explicit.to_input(images)
    assert a.shape == b.shape == (4, 3, 48, 48)
    assert (a - b).abs().max() > 1e-2


# --- torchvision -------------------------------------------------------------------------------


def test_torchvision_weights_enum_transforms(tmp_path, data_dir):
    import torchvision
    from torchvision.models import get_weight

    folder = write_files(tmp_path / "tree", ["cat", "dog"], 3, (40, 56))
    torch.manual_seed(0)
    net = liven(torchvision.models.mobilenet_v3_small(num_classes=2))
    scale_logits(net, net.classifier[3], torch.randn(4, 3, 224, 224))
    torch.save(net.state_dict(), tmp_path / "m.pt")
    enum = "ResNet50_Weights.IMAGENET1K_V2"
    out, result = run_import(tmp_path, tmp_path / "m.pt", "torchvision:mobilenet_v3_small",
                             f"imagefolder:{tmp_path / 'tree'}", "--preprocess", f"torchvision:{enum}",
                             "--conditions", "clean")
    assert result.exit_code == 0, result.output
    assert f"{enum}.transforms()" in result.output
    record = json.loads((out / "config.json").read_text())["foreign"]["preprocess"]
    assert record["name"] == "torchvision" and record["params"]["weights"] == enum
    assert record["params"]["resize_size"] == [232] and record["params"]["crop_size"] == [224]
    reference = torchvision.datasets.ImageFolder(str(folder), transform=get_weight(enum).transforms())
    loader = torch.utils.data.DataLoader(reference, batch_size=32)
    assert_same_logits(stored_logits(out), forward_loader(net, loader))


# --- your own code -----------------------------------------------------------------------------


def docs_model_file() -> str:
    """The CIFAR-stem ResNet-18 file exactly as docs/import.md shows it."""
    match = re.search(r"```python\n(# cifar_resnet\.py.*?)```", DOCS.read_text(), re.S)
    assert match, "docs/import.md lost its cifar_resnet.py example"
    return match.group(1)


def test_py_model_from_the_docs_example(tmp_path, data_dir, monkeypatch):
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    code = tmp_path / "code"
    code.mkdir()
    (code / "cifar_resnet.py").write_text(docs_model_file())
    folder = write_files(tmp_path / "tree", ["cat", "dog"], 3, (32, 32))
    monkeypatch.syspath_prepend(str(code))
    import cifar_resnet  # the user's own module

    torch.manual_seed(0)
    net = liven(cifar_resnet.build(2))
    scale_logits(net, net.fc, torch.randn(4, 3, 32, 32))
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "m.pt")
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    user_pipeline = T.Compose([T.ToTensor(), T.Normalize(mean, std)])  # the maker is the user
    reference = forward_loader(net, torch.utils.data.DataLoader(ImageFolder(str(folder), user_pipeline),
                                                                batch_size=32))
    flags = ["--arch-kwargs", '{"num_classes": 2}', "--mean", ",".join(map(str, mean)),
             "--std", ",".join(map(str, std)), "--conditions", "clean"]
    out, result = run_import(tmp_path, tmp_path / "m.pt", f"py:{code / 'cifar_resnet.py'}:build",
                             f"imagefolder:{tmp_path / 'tree'}", *flags)
    assert result.exit_code == 0, result.output
    foreign = json.loads((out / "config.json").read_text())["foreign"]
    assert foreign["kwargs"] == {"num_classes": 2} and foreign["head_layer"] == "fc"
    assert foreign["arch"] == f"py:{code / 'cifar_resnet.py'}:build" and len(foreign["code_sha256"]) == 64
    assert_same_logits(stored_logits(out), reference)
    with np.load(out / "eval" / "head.npz") as z:  # the geometry reads the user's own fc layer
        np.testing.assert_array_equal(z["weight"], net.fc.weight.detach().numpy())
    monkeypatch.chdir(tmp_path)  # eval later, from elsewhere: rebuilt from the recorded file
    again = CliRunner().invoke(cli, ["eval", str(out), "--conditions", "clean", "--quiet", "--no-analyze"])
    assert again.exit_code == 0, again.output
    assert_same_logits(stored_logits(out), reference)
    out2, result = run_import(tmp_path / "m", tmp_path / "m.pt", "cifar_resnet:build",
                              f"imagefolder:{tmp_path / 'tree'}", *flags)
    assert result.exit_code == 0, result.output  # the importable-module spelling
    assert_same_logits(stored_logits(out2), reference)


# --- RobustBench -------------------------------------------------------------------------------

RB_ENTRY = "cifar10/corruptions/Hendrycks2020AugMix_WRN"  # a WRN-40-2 (2.2 M parameters)


def robustbench_or_skip():
    from robeval.core.errors import RobevalError
    from robeval.models.robustbench_zoo import robustbench

    try:
        return robustbench()
    except RobevalError as exc:
        pytest.skip(f"robustbench is not installed ({exc})")


def robustbench_checkpoint(rb, path: Path) -> nn.Module:
    """Random weights saved as the AugMix training script saves them: DataParallel's ``module.``
    keys under ``state_dict``, without the mu/sigma buffers (RobustBench loads it non-strictly)."""
    torch.manual_seed(0)
    dataset, threat, name = RB_ENTRY.split("/")
    net = rb.zoo[rb.Dataset(dataset)][rb.Threat(threat)][name]["model"]()
    liven(net)
    scale_logits(net, net.fc, torch.rand(4, 3, 32, 32))
    state = {f"module.{k}": v for k, v in net.state_dict().items() if k not in ("mu", "sigma")}
    torch.save({"epoch": 100, "state_dict": state, "best_acc": 0.0}, path)
    return net


def robustbench_load(rb, checkpoint: Path, tmp: Path) -> nn.Module:
    """RobustBench's own load_model, reading the file from a model folder in its layout."""
    dataset, threat, name = RB_ENTRY.split("/")
    target = tmp / dataset / threat / f"{name}.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(checkpoint.read_bytes())
    return rb.utils.load_model(name, model_dir=str(tmp), dataset=dataset, threat_model=threat)


CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_robustbench_zoo_model_on_image_files(tmp_path, data_dir):
    rb = robustbench_or_skip()
    from robustbench.loaders import default_loader

    folder = write_files(tmp_path / "tree", CIFAR10, 2, (32, 32))
    robustbench_checkpoint(rb, tmp_path / "rb.pt")
    model = robustbench_load(rb, tmp_path / "rb.pt", tmp_path / "models")
    dataset, threat, name = RB_ENTRY.split("/")
    prepr = rb.data.get_preprocessing(rb.Dataset(dataset), rb.Threat(threat), name, None)
    files = sorted(folder.glob("*/*"))
    with torch.no_grad():  # RobustBench's loader and preprocessing, file by file
        reference = model(torch.stack([prepr(default_loader(str(f))) for f in files])).numpy()
    out, result = run_import(tmp_path, tmp_path / "rb.pt", f"robustbench:{RB_ENTRY}",
                             f"imagefolder:{tmp_path / 'tree'}", "--conditions", "clean")
    assert result.exit_code == 0, result.output
    assert "RobustBench's preprocessing" in result.output and "[0, 1]" in result.output
    record = json.loads((out / "config.json").read_text())["foreign"]["preprocess"]
    assert record["name"] == "robustbench" and record["params"]["preprocessing"] is None
    assert_same_logits(stored_logits(out), reference)
    again = CliRunner().invoke(cli, ["eval", str(out), "--conditions", "clean", "--quiet", "--no-analyze"])
    assert again.exit_code == 0, again.output  # rebuilt from the zoo entry and the run's checkpoint
    assert_same_logits(stored_logits(out), reference)


def test_robustbench_released_files_match_clean_accuracy(tmp_path, data_dir, declare):
    """CIFAR-10-C-format files: robeval's released: condition gives RobustBench's logits (its
    load_cifar10c) image for image, and the accuracy its clean_accuracy reports."""
    rb = robustbench_or_skip()
    from tests.official_formats import make_cifar10_tarball

    tarball = data_dir / "downloads" / "cifar-10-python.tar.gz"
    tarball.parent.mkdir(parents=True)
    make_cifar10_tarball(tarball, per_batch=4)
    declare("cifar10-python", tarball)
    n = 24
    rng = np.random.default_rng(3)
    folder = data_dir / "CIFAR-10-C"
    folder.mkdir()
    # smooth pictures, 5 severities stacked; labels repeated per severity as released
    small = rng.integers(0, 256, (5 * n, 8, 8, 3), dtype=np.uint8)
    images = np.stack([np.asarray(Image.fromarray(a).resize((32, 32), Image.Resampling.BICUBIC))
                       for a in small])
    np.save(folder / "gaussian_noise.npy", images)
    np.save(folder / "labels.npy", np.tile(rng.integers(0, 10, n), 5).astype(np.uint8))
    robustbench_checkpoint(rb, tmp_path / "rb.pt")
    out, result = run_import(tmp_path, tmp_path / "rb.pt", f"robustbench:{RB_ENTRY}", "cifar10",
                             "--conditions", "released:gaussian_noise/1")
    assert result.exit_code == 0, result.output
    model = robustbench_load(rb, tmp_path / "rb.pt", tmp_path / "models")
    # severity 1 is the first block: RobustBench's loader (it assumes 10,000 images per severity,
    # so with these small files only severity 1 is its block)
    x, y = rb.data.load_cifar10c(n_examples=n, severity=1, data_dir=str(data_dir),
                                 corruptions=["gaussian_noise"])
    with torch.no_grad():
        reference = model(x).numpy()
    assert_same_logits(stored_logits(out, "released:gaussian_noise/1"), reference)
    ours = json.loads((out / "eval.json").read_text())["conditions"]["released:gaussian_noise/1"]
    assert ours["n"] == n
    assert ours["accuracy"] == rb.utils.clean_accuracy(model, x, y, batch_size=10)


# --- the Python API ----------------------------------------------------------------------------


def test_python_api_takes_the_same_pipeline_names(tmp_path, data_dir):
    timm = pytest.importorskip("timm")
    import robeval

    folder = write_files(tmp_path / "tree", ["cat", "dog"], 2, (40, 40))
    torch.manual_seed(0)
    net = liven(timm.create_model("test_vit.r160_in1k", pretrained=False, num_classes=2))
    scale_logits(net, net.get_classifier(), torch.randn(2, 3, 160, 160))
    robeval.evaluate(net, dataset=f"imagefolder:{tmp_path / 'tree'}", out=tmp_path / "api",
                     preprocess="timm", analyze=False)
    assert_same_logits(stored_logits(tmp_path / "api"), timm_reference(net, folder))
    config = json.loads((tmp_path / "api" / "config.json").read_text())
    assert config["foreign"]["preprocess"]["name"] == "timm"


# --- bad input ---------------------------------------------------------------------------------


def one_line_error(result, *phrases: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def test_bad_user_code_and_names_are_one_line_errors(tmp_path, data_dir):
    torch.save(nn.Linear(4, 10).state_dict(), tmp_path / "m.pt")
    code = tmp_path / "models.py"
    code.write_text("import torch\n"
                    "def build(num_classes=10):\n    return torch.nn.Linear(4, num_classes)\n"
                    "def broken(**kw):\n    raise ValueError('no such depth')\n"
                    "def not_a_module(**kw):\n    return 'a string'\n")
    (tmp_path / "raises.py").write_text("raise ImportError('needs mylib')\n")
    cases = [
        (f"py:{tmp_path / 'missing.py'}:build", [], ["no such file"]),
        (f"py:{code}:nothing", [], ["no callable 'nothing'", "build"]),
        (f"py:{tmp_path / 'raises.py'}:build", [], ["raised ImportError: needs mylib", "fix the file"]),
        (f"py:{code}:broken", [], ["raised ValueError: no such depth", "--arch-kwargs"]),
        (f"py:{code}:not_a_module", [], ["returned a str, not a torch nn.Module"]),
        (f"py:{code}:build", ["--arch-kwargs", "[10]"], ["takes a JSON object", "num_classes"]),
        (f"py:{code}:build", ["--arch-kwargs", "{num_classes: 10}"], ["is not JSON"]),
        (f"py:{code}:build", ["--arch-kwargs", '{"num_classes": 3}'], ["does not fit", "shape mismatch"]),
        ("no_such_module_xyz:build", [], ["no Python module 'no_such_module_xyz'"]),
        ("torchvision:resnet18", ["--preprocess", "torchvision:ResNet50_Weights.BOGUS"],
         ["no weights enum 'ResNet50_Weights.BOGUS'", "IMAGENET1K_V2"]),
        ("torchvision:resnet18", ["--preprocess", "timm", "--mean", "0.5"], ["--mean belongs to the explicit"]),
        ("torchvision:resnet18", ["--preprocess", "timm"], ["needs a timm model", "timm:resnet50.a1_in1k"]),
    ]
    if "timm" in sys.modules or _has("timm"):
        cases.append(("timm:resnet18.bogus_tag", [], ["no pretrained tag 'bogus_tag'", "a1_in1k"]))
    for i, (arch, extra, phrases) in enumerate(cases):
        out = tmp_path / f"r{i}"
        result = CliRunner().invoke(cli, ["eval", "--import-checkpoint", str(tmp_path / "m.pt"), "--arch",
                                          arch, "--dataset", "shapes", "--out", str(out), "--head",
                                          "learned", "--quiet", *extra])
        one_line_error(result, *phrases)
        assert not out.exists(), arch  # nothing written


def test_bad_robustbench_names_are_one_line_errors(tmp_path, data_dir, monkeypatch):
    torch.save({"x": torch.zeros(1)}, tmp_path / "m.pt")

    def run(arch):
        return CliRunner().invoke(cli, ["eval", "--import-checkpoint", str(tmp_path / "m.pt"), "--arch",
                                        arch, "--dataset", "shapes", "--out", str(tmp_path / "r"),
                                        "--head", "learned", "--quiet"])

    if _has("robustbench"):
        one_line_error(run("robustbench:cifar10/corruptions/NoSuchModel"),
                       "no model 'NoSuchModel'", "(17 in all")
        one_line_error(run("robustbench:cifar10/corruptions/Standad"), "include: Standard")
        one_line_error(run("robustbench:cifar10/corruptions/Diffenderfer2021Winning_LRR_CARD_Deck"),
                       "ensemble")
        one_line_error(run("robustbench:mnist/Linf/Standard"), "no dataset 'mnist'")
        one_line_error(run(f"robustbench:{RB_ENTRY}"), "does not fit")  # keys of another network
    monkeypatch.setitem(sys.modules, "robustbench.utils", None)  # as if robustbench were absent
    one_line_error(run("robustbench:cifar10/corruptions/Standard"), "pip install 'robeval[robustbench]'",
                   "--no-deps robustbench==1.1.1")
    assert not (tmp_path / "r").exists()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_runs_imported_before_pipelines_read_as_explicit(tmp_path, data_dir):
    """A config.json without foreign.preprocess (written before pipelines were recorded) rebuilds
    the explicit pipeline from config.mean/std and foreign.resize/crop."""
    import torchvision

    from robeval.runs.model import load_run_model

    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "m.pt")
    out, result = run_import(tmp_path, tmp_path / "m.pt", "torchvision:resnet18", "shapes",
                             "--mean", "0.3", "--std", "0.2", "--conditions", "clean")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    del config["foreign"]["preprocess"]
    config["foreign"].update(resize=40, crop=36)
    (out / "config.json").write_text(json.dumps(config))
    model, _, _ = load_run_model(out)
    assert model.pipeline.record() == {"name": "explicit", "params": explicit_params(0.3, 0.2, 40, 36)}
    x = model.prepare_input(np.zeros((2, 32, 32, 3), np.uint8), "cpu")
    assert x.shape == (2, 3, 36, 36) and torch.allclose(x, torch.full_like(x, -1.5))


def test_preprocess_is_refused_for_robevals_own_encoders(tmp_path, data_dir):
    torch.save({"x": torch.zeros(1)}, tmp_path / "m.pt")
    result = CliRunner().invoke(cli, ["eval", "--import-checkpoint", str(tmp_path / "m.pt"), "--arch",
                                      "smallcnn", "--dataset", "shapes", "--out", str(tmp_path / "r"),
                                      "--head", "learned", "--preprocess", "timm", "--quiet"])
    one_line_error(result, "--preprocess and --arch-kwargs apply to imported networks")
    assert not (tmp_path / "r").exists()
