"""Models made elsewhere: the authors' checkpoint format and plain state dicts."""

import torch
import torch.nn.functional as F

from robeval.data.shapes import generate_shapes
from robeval.models.encoders import ResNet18
from robeval.runs.model import load_run_model
from robeval.stages.importer import import_run
from robeval.training.augment import to_input


def _authors_files(tmp_path, cosine_scale=None):
    """Files exactly as MLSpeech/FixedClassificationLayer's run_stl.py saves them."""
    torch.manual_seed(0)
    net = ResNet18(32, pool="avg4")  # their EmbeddingResNet's parameter names
    for m in net.modules():  # non-trivial BN statistics, so a wrong mapping shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    emb = F.normalize(torch.randint(-100, 100, (512, 10)).float(), dim=0).requires_grad_(True)
    bias = (torch.ones(10) * 0.01).requires_grad_(True)
    torch.save({"model_state": net.state_dict(), "epoch": 7, "loss": 0.5, "acc": 61.0}, tmp_path / "run.ckpt")
    torch.save(emb, tmp_path / "embedding")
    torch.save(bias, tmp_path / "bias")
    return net.eval(), emb.detach(), bias.detach()


def test_authors_checkpoint_gives_their_logits(tmp_path):
    net, emb, bias = _authors_files(tmp_path)
    run = import_run(tmp_path / "run.ckpt", tmp_path / "imported", dataset="shapes",
                     arch="resnet18-authors", head="fixed", logits="cosine", scale=4.0,
                     embedding=tmp_path / "embedding", bias=tmp_path / "bias")
    model, cfg, config = load_run_model(run)
    model.eval()
    x = to_input(torch.from_numpy(generate_shapes(8, seed=5).images), 0.5, 0.5)
    with torch.no_grad():
        ours = model(x)
        out_pre = net(x)
        theirs = F.normalize(out_pre, dim=1) @ F.normalize(emb, dim=0) * 4.0 + bias  # run_stl.py
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert config["imported"]["embedding"].endswith("embedding") and config["variant"] == "fixed-cosine-S4"


def test_plain_state_dict_with_fc(tmp_path):
    torch.manual_seed(1)
    net = ResNet18(32, pool="global").eval()
    fc = torch.nn.Linear(512, 10)
    torch.save({**net.state_dict(), **{f"fc.{k}": v for k, v in fc.state_dict().items()}}, tmp_path / "m.pt")
    run = import_run(tmp_path / "m.pt", tmp_path / "plain", dataset="shapes", arch="resnet18",
                     head="learned", logits="dot")
    model, _, _ = load_run_model(run)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), fc(net(x)), rtol=1e-4, atol=1e-4)


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    import pytest

    from robeval.core.errors import RobevalError

    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(RobevalError, match="does not fit encoder"):
        import_run(tmp_path / "bad.pt", tmp_path / "x", dataset="shapes", arch="smallcnn",
                   head="learned", logits="dot")


def _plain_state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    net = ResNet18(32, pool="global")
    fc = torch.nn.Linear(512, 10)
    return {**net.state_dict(), "fc.weight": fc.weight.detach(), "fc.bias": fc.bias.detach()}


def test_wrapped_state_dicts_with_module_prefixes_import(tmp_path, data_dir):
    state = _plain_state()
    wrapped = {"net": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}
    torch.save(wrapped, tmp_path / "wrapped.pt")
    out = import_run(tmp_path / "wrapped.pt", tmp_path / "run", dataset="shapes", arch="resnet18",
                     head="learned", logits="dot")
    model, _, _ = load_run_model(out)
    assert torch.equal(model.head.weight, state["fc.weight"])
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])


def test_bad_checkpoints_are_refused_with_what_to_do(tmp_path, data_dir):
    import pytest

    from robeval.core.errors import RobevalError

    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(RobevalError, match="is empty"):
        import_run(tmp_path / "empty.pt", tmp_path / "r1", dataset="shapes", arch="resnet18",
                   head="learned", logits="dot")
    torch.save(ResNet18(32), tmp_path / "whole.pt")  # a pickled nn.Module, never unpickled
    with pytest.raises(RobevalError, match=r"never unpickles.*state_dict\(\)"):
        import_run(tmp_path / "whole.pt", tmp_path / "r2", dataset="shapes", arch="resnet18",
                   head="learned", logits="dot")
    state = _plain_state()
    del state["layer1.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(RobevalError, match=r"1 missing: layer1\.0\.conv1\.weight; 1 unexpected: extra\.weight"):
        import_run(tmp_path / "partial.pt", tmp_path / "r3", dataset="shapes", arch="resnet18",
                   head="learned", logits="dot")
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3"))  # nothing left behind


def test_resize_and_crop_limits_agree():
    """--resize/--crop's CLI range is the importer's (the CLI keeps torch out of --help)."""
    from robeval.cli.study import MAX_SIDE as CLI
    from robeval.stages.importer import MAX_SIDE

    assert CLI == MAX_SIDE
