"""Foreign models (torchvision:, timm:, torchscript, robeval.evaluate) evaluated on shapes: logits
equal their own forward pass with the same preprocessing, features are the final Linear's input,
and the geometry is computed from that Linear's weight."""

import json
import sys
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import robeval
from robeval.cli import cli
from robeval.core.errors import RobevalError
from robeval.data import load_split
from robeval.models.inference import to_input
from robeval.models.sources import build_source, find_head_layer

N = 128  # images compared with the plain forward pass


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _import(tmp_path, ckpt, arch, *extra):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["eval", "--import-checkpoint", str(ckpt), "--arch", arch,
                                      "--dataset", "shapes", "--out", str(out), "--conditions", "clean",
                                      "--quiet", *extra])
    return out, result


def _plain(net, mean, std, size=None):
    """The model's own forward pass on the first N shapes test images."""
    x = to_input(torch.from_numpy(load_split("shapes", "test").images[:N]), mean, std)
    if size is not None:
        resize, crop = size
        x = nn.functional.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
        top = (resize - crop) // 2
        x = x[..., top:top + crop, top:top + crop]
    seen = []
    _, layer = find_head_layer(net)
    hook = None if isinstance(net, torch.jit.ScriptModule) else \
        layer.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].flatten(1)))
    with torch.no_grad():
        logits = net.eval()(x)
    if hook:
        hook.remove()
    return logits.numpy(), (seen[0].numpy() if seen else None), layer


def _check_run(out, net, mean, std, size=None, features=True):
    logits, feats, layer = _plain(net, mean, std, size)
    with np.load(out / "eval" / "clean.npz") as z:
        np.testing.assert_allclose(z["logits"][:N], logits, atol=1e-5, rtol=0)
        if features:
            np.testing.assert_allclose(z["features"][:N], feats, atol=1e-5, rtol=0)
        else:
            assert "features" not in z.files
    with np.load(out / "eval" / "head.npz") as z:
        np.testing.assert_array_equal(z["weight"], layer.weight.detach().numpy())
        np.testing.assert_array_equal(z["bias"], layer.bias.detach().numpy())
    if features:  # the geometry: class-vector cosines from the Linear's weight
        analysis = json.loads((out / "analysis.json").read_text())
        w = layer.weight.detach().double().numpy()
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        np.testing.assert_allclose(analysis["class_vectors"]["cosine_matrix"], w @ w.T, atol=1e-6)


def test_torchvision_resnet18_imports_with_its_own_preprocessing(tmp_path):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    torch.save(net.state_dict(), tmp_path / "r18.pt")
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    out, result = _import(tmp_path, tmp_path / "r18.pt", "torchvision:resnet18", "--head", "learned",
                          "--mean", ",".join(map(str, mean)), "--std", ",".join(map(str, std)))
    assert result.exit_code == 0, result.output
    assert "normalising with mean=0.4914,0.4822,0.4465, std=0.247,0.243,0.261" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["mean"] == mean and config["imported"]["preprocess"]["params"]["std"] == std
    assert config["foreign"]["preprocess"] == {"name": "explicit", "params": {
        "mean": mean, "std": std, "resize": None, "crop": None}}
    assert config["foreign"]["head_layer"] == "fc" and config["config"]["head"] == "learned"
    _check_run(out, net, mean, std)


def test_timm_model_uses_its_pretrained_config(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model("test_efficientnet", pretrained=False, num_classes=10)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "eff.pt")
    # resize/crop given small (timm's 168 -> 160 would cost CPU time); mean/std come from timm
    out, result = _import(tmp_path, tmp_path / "eff.pt", "timm:test_efficientnet", "--head", "learned",
                          "--resize", "40", "--crop", "36")
    assert result.exit_code == 0, result.output
    mean, std = list(net.pretrained_cfg["mean"]), list(net.pretrained_cfg["std"])
    pre = json.loads((out / "config.json").read_text())["imported"]["preprocess"]
    assert pre["name"] == "explicit"  # --resize/--crop given: the explicit pipeline, timm filling in
    pre = pre["params"]
    assert (pre["mean"], pre["std"], pre["resize"], pre["crop"]) == (mean, std, 40, 36)
    assert json.loads((out / "config.json").read_text())["foreign"]["head_layer"] == "classifier"
    _check_run(out, net, mean, std, size=(40, 36))
    from robeval.models.sources import _timm_preprocessing

    assert _timm_preprocessing(net)["crop"] == 160 and _timm_preprocessing(net)["resize"] == 168


class Tiny(nn.Module):
    """A small CNN whose class layer sits in ``classifier.1`` (after a dropout)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(self.body(x))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated upstream
def test_torchscript_file_gives_logits_and_class_vectors(tmp_path):
    torch.manual_seed(0)
    scripted = torch.jit.script(Tiny())
    torch.jit.save(scripted, str(tmp_path / "tiny.ts"))
    out, result = _import(tmp_path, tmp_path / "tiny.ts", "torchscript", "--head", "fixed")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["foreign"]["head_layer"] == "classifier.1"
    _check_run(out, scripted, 0.5, 0.5, features=False)  # hooks do not fire in TorchScript
    again = CliRunner().invoke(cli, ["eval", str(out), "--conditions", "clean", "--quiet"])
    assert again.exit_code == 0, again.output  # the run folder rebuilds from its own copy
    detected, result = _import(tmp_path / "x", tmp_path / "tiny.ts", "smallcnn", "--head", "fixed")
    assert result.exit_code == 0 and "imported torchscript" in result.output, result.output


def test_python_api_on_any_module(tmp_path):
    torch.manual_seed(0)
    net = Tiny()
    mean, std = (0.3, 0.4, 0.5), (0.2, 0.2, 0.3)
    result = robeval.evaluate(net, dataset="shapes", conditions="clean", out=tmp_path / "api",
                              mean=mean, std=std)
    assert result["conditions"]["clean"]["n"] == len(load_split("shapes", "test").labels)
    assert "analysis" in result
    _check_run(tmp_path / "api", net, list(mean), list(std))
    with pytest.raises(RobevalError, match="cannot rebuild"):  # a run folder from a Python module
        from robeval.runs.model import load_run_model

        load_run_model(tmp_path / "api")


def test_bad_inputs_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(RobevalError, match="no classification model 'resnet9000'"):
        build_source("torchvision:resnet9000", 10)
    with pytest.raises(RobevalError, match="is not a Linear layer"):
        find_head_layer(Tiny(), "body.0")
    torch.save(Tiny().state_dict(), tmp_path / "t.pt")
    _, result = _import(tmp_path, tmp_path / "t.pt", "torchvision:resnet18")
    assert result.exit_code != 0 and "--head learned" in result.output
    assert len(result.output.strip().splitlines()) == 1
    _, result = _import(tmp_path, tmp_path / "t.pt", "torchvision:resnet18", "--head", "learned")
    assert result.exit_code != 0 and "missing" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # nothing half-written
    monkeypatch.setitem(sys.modules, "timm", None)  # as if timm were not installed
    _, result = _import(tmp_path, tmp_path / "t.pt", "timm:resnet18", "--head", "learned")
    assert result.exit_code != 0 and "pip install 'robeval[timm]'" in result.output
    _, result = _import(tmp_path, tmp_path / "t.pt", "torchvision:resnet18", "--head", "learned",
                        "--mean", "1,2")
    assert result.exit_code != 0 and "1 or 3 numbers" in result.output


def test_imagefolder_import_knows_its_image_size_and_corruption_params(tmp_path, data_dir):
    from PIL import Image

    shapes = load_split("shapes", "test")
    root = tmp_path / "tree"
    for split in ("train", "test"):
        for i in range(20):
            folder = root / split / shapes.classes[shapes.labels[i]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(shapes.images[i]).save(folder / f"{i:03d}.png")
    out = tmp_path / "folder-run"
    result = robeval.evaluate(Tiny(len(set(shapes.labels[:20].tolist()))), dataset=f"imagefolder:{root}",
                              conditions="clean,impulse_noise/2", out=out, analyze=False)
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["image_size"] == 32 and config["model"]["image_size"] == 32
    params = result["conditions"]["impulse_noise/2"]["params"]
    assert params["table"] == "cifar" and len(params) > 1  # the 32 px table, with its values


def test_safetensors_and_torchscript_hint(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    from robeval.models.checkpoint import load_checkpoint

    torch.manual_seed(0)
    net = Tiny()
    safetensors.save_file(net.state_dict(), str(tmp_path / "tiny.safetensors"))
    loaded = load_checkpoint(tmp_path / "tiny.safetensors")
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())
    with warnings.catch_warnings():  # torch.jit is deprecated upstream
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(tmp_path / "tiny.ts"))
    with pytest.raises(RobevalError, match="--arch torchscript"):
        load_checkpoint(tmp_path / "tiny.ts")


def test_preprocessing_precedence():
    from robeval.stages.importer import explicit_values, preprocess_line

    timm_cfg = {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6], "resize": 236, "crop": 224}
    assert explicit_values({}, {}) == {"mean": 0.5, "std": 0.5, "resize": None, "crop": None}
    pre = explicit_values({"std": 0.25, "resize": 0, "crop": 0}, timm_cfg)  # 0: no resize/crop
    assert pre == {"mean": [0.1, 0.2, 0.3], "std": 0.25, "resize": None, "crop": None}
    line = preprocess_line(explicit_values({}, timm_cfg))
    assert line == ("normalising with mean=0.1,0.2,0.3, std=0.4,0.5,0.6, resize shorter side to 236, "
                    "centre crop 224")
