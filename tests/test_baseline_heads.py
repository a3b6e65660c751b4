"""NormFace (cosine, learned S), CosFace (cosine, margin m) and the --heads head-sets."""

import math

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from robeval.cli import cli
from robeval.models.heads import ClassifierHead
from robeval.runs.naming import run_name
from robeval.stages.reproduce import ReproducePlan
from robeval.stages.train import train
from tests.helpers import tiny_config

H = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # |h| = 5, 1
W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
COS = torch.tensor([[0.6, 0.8, -0.6], [1.0, 0.0, -1.0]])  # cos(h_i, w_c) by hand


def _head(**kw) -> ClassifierHead:
    head = ClassifierHead(2, 3, "learned", "cosine", **kw)
    with torch.no_grad():
        head.weight.copy_(W)
        head.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    return head


def test_cosface_logits_by_hand_margin_in_training_only_and_on_the_true_class():
    head, y, s, m = _head(scale=10.0, margin=0.35), torch.tensor([1, 0]), 10.0, 0.35
    b = torch.tensor([0.1, 0.2, 0.3])
    expected = s * COS + b
    expected[0, 1] = s * (0.8 - m) + 0.2
    expected[1, 0] = s * (1.0 - m) + 0.1
    head.train()
    assert torch.allclose(head(H, y), expected, atol=1e-5)
    assert torch.allclose(head(H), s * COS + b, atol=1e-5)  # no labels: no margin
    head.eval()
    assert torch.allclose(head(H, y), s * COS + b, atol=1e-5)  # evaluation: no margin


def test_normface_scale_is_a_trained_parameter():
    head = _head(scale=4.0, learn_scale=True)
    assert isinstance(head.scale, torch.nn.Parameter)
    assert torch.allclose(head(H), 4.0 * COS + torch.tensor([0.1, 0.2, 0.3]), atol=1e-5)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    F.cross_entropy(head(H), torch.tensor([1, 0])).backward()
    opt.step()
    assert float(head.scale.detach()) != pytest.approx(4.0)


def test_margin_config_checks_and_names():
    from robeval.core.errors import RobevalError
    from robeval.training.config import TrainConfig, with_preset_defaults

    with pytest.raises(RobevalError, match="cosine"):
        with_preset_defaults(TrainConfig(logits="dot", margin=0.2), 32)
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(RobevalError, match="--margin"):
            with_preset_defaults(TrainConfig(logits="cosine", margin=bad), 32)
    names = {run_name(TrainConfig(logits="cosine", scale=10.0, margin=m)) for m in (0.0, 0.2, 0.35)}
    assert len(names) == 3 and any("-m0.35" in n for n in names)


@pytest.mark.parametrize("kw", [dict(learn_scale=True, scale=5.0), dict(margin=0.35, scale=10.0)],
                         ids=["normface", "cosface"])
def test_baseline_heads_train_on_shapes(tmp_path, kw):
    from robeval.runs.model import load_run_model

    torch.set_num_threads(1)
    cfg = tiny_config(head="learned", logits="cosine", arch="tinycnn", epochs=1, max_train=256, **kw)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert 0.0 <= summary["best_val_acc"] <= 1.0
    model, resolved, config = load_run_model(tmp_path / "run")
    assert resolved.margin == kw.get("margin", 0.0) and config["model"]["margin"] == resolved.margin
    if kw.get("learn_scale"):
        assert float(model.head.scale) != pytest.approx(5.0)


def test_heads_paper_plus_baselines_grid():
    def cells(heads):
        plan = ReproducePlan(seeds=(0,), scales=(1.0, 10.0), heads=heads)
        return {(c.head, c.logits, c.init, c.learn_scale, c.margin, c.scale) for c in plan.configs()}

    paper = cells("paper")
    assert paper == {("learned", "dot", "sphere", False, 0.0, None), ("fixed", "dot", "sphere", False, 0.0, None),
                     *{(h, "cosine", "sphere", False, 0.0, s) for h in ("learned", "fixed") for s in (1.0, 10.0)}}
    extra = cells("paper+baselines") - paper
    assert extra == {*{("learned", "cosine", "sphere", True, 0.0, s) for s in (1.0, 10.0)},
                     *{("learned", "cosine", "sphere", False, 0.35, s) for s in (1.0, 10.0)},
                     *{("fixed", "cosine", "hadamard", True, 0.0, s) for s in (1.0, 10.0)}}
    # --extra-heads adds the Hadamard head only once
    plan = ReproducePlan(seeds=(0,), scales=(1.0,), heads="paper+baselines", extra_heads=True)
    names = [run_name(c) for c in plan.configs()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("args,needle", [
    (["train", "--logits", "dot", "--margin", "0.2"], "--margin"),
    (["train", "--logits", "cosine", "--margin", "-1"], "--margin"),
    (["reproduce", "--heads", "nope"], "head-set"),
])
def test_bad_margin_and_heads_one_line_errors(tmp_path, args, needle):
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and needle in errors[0]  # one line saying what was wrong
