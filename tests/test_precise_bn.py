"""Precise BatchNorm statistics (training/precise_bn.py): the population estimate is right, only
buffers change (the training trajectory is the same), and configs stored before the option existed
keep the running averages."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from robeval import runs
from robeval.core.errors import RobevalError
from robeval.training.config import TrainConfig, with_preset_defaults
from robeval.training.precise_bn import batchnorm_layers, recompute_bn_stats, sample_indices
from tests.helpers import tiny_config


def _first_bn_net() -> nn.Module:
    """conv -> BN -> ReLU -> BN: the first BN's input does not depend on batch composition."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4))


def test_population_statistics_of_the_first_layer_are_exact():
    net = _first_bn_net()
    images = torch.randint(0, 256, (96, 8, 8, 3), dtype=torch.uint8)
    idx = sample_indices(len(images), 64, seed=1)
    steps = recompute_bn_stats(net, images, idx, 16, 0.5, 0.5, "cpu")
    assert steps == 4
    x = images[idx].permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
    with torch.no_grad():
        h = net[0](x)
    bn = net[1]
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    # law of total variance over equal batches = the variance over all 64 x 8 x 8 values
    assert torch.allclose(bn.running_var, h.var((0, 2, 3)), rtol=2e-3)


def test_only_buffers_change_and_settings_are_restored():
    net = _first_bn_net().eval()
    params = [p.detach().clone() for p in net.parameters()]
    before = [b.running_mean.clone() for b in batchnorm_layers(net)]
    images = torch.randint(0, 256, (40, 8, 8, 3), dtype=torch.uint8)
    recompute_bn_stats(net, images, sample_indices(40, 40, 0), 16, 0.5, 0.5, "cpu")
    assert not net.training  # mode restored
    assert all(torch.equal(p, q) for p, q in zip(params, net.parameters(), strict=True))
    assert all(b.momentum == 0.1 and int(b.num_batches_tracked) == 0 for b in batchnorm_layers(net))
    moved = zip(before, batchnorm_layers(net), strict=True)
    assert all(not torch.equal(m, b.running_mean) for m, b in moved)
    # fewer images than one batch: nothing is used and nothing changes
    kept = [b.running_var.clone() for b in batchnorm_layers(net)]
    assert recompute_bn_stats(net, images, sample_indices(40, 0, 0), 16, 0.5, 0.5, "cpu") == 0
    assert all(torch.equal(k, b.running_var)
               for k, b in zip(kept, batchnorm_layers(net), strict=True))


def test_sample_is_seeded_mixed_and_capped():
    a, b = sample_indices(1000, 100, 3), sample_indices(1000, 100, 3)
    assert torch.equal(a, b) and not torch.equal(a, sample_indices(1000, 100, 4))
    assert not torch.equal(torch.sort(a).values, torch.arange(100))  # not the first 100 images
    assert len(sample_indices(50, 100, 0)) == 50


def test_training_trajectory_is_unchanged_and_validation_uses_the_new_statistics(tmp_path):
    from robeval.stages.train import train

    cfgs = {n: tiny_config(epochs=2, max_train=512, precise_bn_images=n) for n in (0, 512)}
    for n, cfg in cfgs.items():
        train(cfg, tmp_path / str(n), device="cpu", progress=False)
    off = torch.load(tmp_path / "0" / runs.LAST, weights_only=True)["model"]
    on = torch.load(tmp_path / "512" / runs.LAST, weights_only=True)["model"]
    stats = [k for k in off if k.endswith(("running_mean", "running_var"))]
    assert stats and all(not torch.equal(off[k], on[k]) for k in stats)
    assert all(torch.equal(off[k], on[k]) for k in off if k not in stats)  # weights: bit-equal
    rows = [json.loads(x) for x in (tmp_path / "512" / runs.METRICS).read_text().splitlines()]
    assert [("precise_bn_s" in r) for r in rows] == [True, True]


def test_presets_and_configs_stored_before_the_option():
    assert with_preset_defaults(TrainConfig(preset="quick"), 32).precise_bn_images > 0
    for preset in ("cpu", "fast", "authors"):
        assert with_preset_defaults(TrainConfig(preset=preset), 32).precise_bn_images == 0
    old = {k: v for k, v in TrainConfig(preset="quick").to_dict().items() if k != "precise_bn_images"}
    assert with_preset_defaults(TrainConfig.from_dict(old), 32).precise_bn_images == 0
    with pytest.raises(RobevalError, match="precise-bn-images"):
        with_preset_defaults(TrainConfig(precise_bn_images=-1), 32)
