"""Corruptions without real data: tables, bad input, seeding, cache, albumentations, CLI, eval wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from robeval.cli import cli
from robeval.core.errors import RobevalError
from robeval.corruptions import (
    SEVERITIES,
    as_rgb_uint8,
    auto_table,
    corrupt,
    parse_name,
    parse_severities,
)
from robeval.corruptions.cache import build_cached, cache_path


def images(n=24, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("size,table", [(16, "cifar"), (32, "cifar"), (64, "tinyimagenet"),
                                        (96, "tinyimagenet"), (128, "imagenet"), (224, "imagenet")])
def test_auto_table_by_resolution(size, table):
    assert auto_table(size) == table
    _, info = corrupt(images(2, size), "defocus_blur/1")
    assert info["table"] == table and info["table_requested"] == "auto"


@pytest.mark.parametrize("bad", [
    lambda: corrupt(images(), "defocus/3"),                      # unknown corruption
    lambda: corrupt(images(), "defocus_blur/6"),                 # severity outside 1-5
    lambda: corrupt(images(), "defocus_blur/0"),
    lambda: corrupt(images(), "defocus_blur/x"),
    lambda: corrupt(images(), "defocus_blur/3@mnist"),           # unknown table
    lambda: corrupt(images(), "nonsense"),
    lambda: corrupt(images(2, 24), "defocus_blur/1@imagenet"),   # smaller than the table supports
    lambda: corrupt(images(2, 8), "impulse_noise/1"),            # smaller than any table
    lambda: corrupt(images().astype(np.float32), "impulse_noise/1"),  # not uint8
    lambda: corrupt(images()[..., :2], "impulse_noise/1"),
    lambda: corrupt(images(), "impulse_noise/1", backend="gpu"),
    lambda: parse_severities("1-7"),
    lambda: parse_severities("a"),
])
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(RobevalError):
        bad()


def test_grayscale_is_repeated_to_rgb():
    gray = images()[..., 0]
    rgb = as_rgb_uint8(gray)
    assert rgb.shape == (*gray.shape, 3) and (rgb[..., 1] == gray).all()
    out, _ = corrupt(gray, "jpeg_compression/2")
    assert out.shape == rgb.shape


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_impulse_seeded_per_image_index(backend):
    x = images(40)
    full, _ = corrupt(x, "impulse_noise/4", backend=backend, seed=3)
    again, _ = corrupt(x, "impulse_noise/4", backend=backend, seed=3)
    other, _ = corrupt(x, "impulse_noise/4", backend=backend, seed=4)
    np.testing.assert_array_equal(full, again)
    assert (full != other).any()
    # A subset, in another order and batch size, gives the same pixels for the same indices.
    idx = np.array([37, 2, 19, 5])
    sub, _ = corrupt(x[idx], "impulse_noise/4", backend=backend, seed=3, indices=idx, batch_size=3)
    np.testing.assert_array_equal(sub, full[idx])
    # Different images get different noise (no stream shared between images).
    same = np.zeros_like(x)
    noise, _ = corrupt(same, "impulse_noise/4", backend=backend, seed=3)
    assert (noise[0] != noise[1]).any()


def test_workers_do_not_change_pixels():
    x = images(130)
    one, _ = corrupt(x, "impulse_noise/2", workers=1)
    two, _ = corrupt(x, "impulse_noise/2", workers=2)
    np.testing.assert_array_equal(one, two)


def test_fast_impulse_fraction_and_values():
    x = np.full((200, 32, 32, 3), 128, np.uint8)
    for amount_sev, amount in ((1, 0.01), (5, 0.07)):
        out, _ = corrupt(x, f"impulse_noise/{amount_sev}", backend="fast")
        changed = out != 128
        assert abs(changed.mean() - amount) < 5 * np.sqrt(amount / x.size)
        assert abs((out == 255).sum() / changed.sum() - 0.5) < 0.05  # salt and pepper, equal odds
        # flips spread over the whole image, also its last values (the geometric gaps reach the end)
        assert changed[:, -4:].mean() > amount / 2


def test_cache_reuses_and_rebuilds(tmp_path):
    x, labels = images(30), np.arange(30) % 10
    corruption = parse_name("defocus_blur/2")
    kw = {"root": tmp_path, "dataset": "toy", "split": "test"}
    out, lab, meta, status = build_cached(corruption, x, labels, **kw)
    assert status == "built"
    path = cache_path(tmp_path, "toy", "test", corruption, 32, "reference")
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["table"] == "cifar" and side["params"] == {"radius": 0.4, "alias_blur": 0.5}
    assert side["sha256"] and side["libraries"]["numpy"] and side["backend"] == "reference"
    assert build_cached(corruption, x, labels, **kw)[3] == "cached"
    path.write_bytes(path.read_bytes()[:1000])  # truncated by hand
    again = build_cached(corruption, x, labels, **kw)
    assert again[3].startswith("rebuilt") and "sha256" in again[3]
    np.testing.assert_array_equal(again[0], out)
    assert build_cached(corruption, x, labels, **kw, seed=5)[3].startswith("rebuilt: made with other")
    assert build_cached(corruption, x[::-1].copy(), labels, **kw)[3].startswith("rebuilt")  # other source
    assert not list(tmp_path.rglob("*.tmp"))


def test_albumentations_conditions(tmp_path):
    name = "albu:GaussNoise(std_range=(0.1, 0.1))"
    x = images(6)
    a, info = corrupt(x, name, seed=1)
    b, _ = corrupt(x, name, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a != x).any() and info["params"]["albumentations"][0]["transform"] == "GaussNoise"
    sub, _ = corrupt(x[[4]], name, seed=1, indices=[4])
    np.testing.assert_array_equal(sub[0], a[4])
    yml = tmp_path / "mine.yaml"
    yml.write_text("name: blurry\ntransforms:\n  - Defocus: {radius: [2, 2]}\n  - 'GaussNoise(std_range=(0.05, 0.05))'\n")
    corruption = parse_name(f"albu:{yml}")
    assert corruption.name == "albu:blurry" and len(corruption.transforms) == 2
    assert corrupt(x, corruption)[0].shape == x.shape
    for bad in ["albu:NoSuchTransform()", "albu:GaussNoise(std_range=(2, 0.1))", "albu:GaussNoise(foo=1)",
                "albu:GaussNoise(std_range=__import__('os'))", "albu:GaussNoise(", f"albu:{tmp_path}/x.yaml"]:
        with pytest.raises(RobevalError):
            parse_name(bad)


def test_conditions_registry_builds_on_demand(data_dir):
    from robeval.conditions import ConditionContext, parse_conditions
    from robeval.corruptions.families import FAMILIES

    names = [c.name for c in parse_conditions("corrupt:all", "shapes")]
    assert len(names) == len(SEVERITIES) * len(FAMILIES.names()) and "defocus_blur/3" in names
    assert [c.name for c in parse_conditions("corrupt:study", "shapes")] == [
        f"{f}/{s}" for f in ("impulse_noise", "jpeg_compression", "defocus_blur") for s in range(1, 6)]
    cond = parse_conditions("defocus_blur/3@imagenet,albu:GaussNoise(std_range=(0.1,0.1))", "shapes")
    assert cond[0].params["table"] == "imagenet" and cond[0].severity == 3
    with pytest.raises(RobevalError):
        parse_conditions("defocus_blur/9", "shapes")
    ctx = ConditionContext("shapes", data_dir)
    built = parse_conditions("jpeg_compression/5", "shapes")[0].build(ctx)
    assert built.meta["params"] == {"quality": 40} and len(built) == len(ctx.clean_test)
    assert list((data_dir / "corruptions").rglob("jpeg_compression-5.json"))


def test_cli_corrupt_and_preview(data_dir, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["corrupt", "--conditions", "impulse_noise", "--severities", "2",
                              "--backend", "fast", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "impulse_noise/2" in res.output and "built" in res.output
    res = runner.invoke(cli, ["corrupt", "--conditions", "impulse_noise", "--severities", "2",
                              "--backend", "fast", "--quiet"])
    assert "cached" in res.output
    png = tmp_path / "grid.png"
    res = runner.invoke(cli, ["corrupt", "--preview", "2", "--out", str(png), "--conditions",
                              "defocus_blur,impulse_noise"])
    assert res.exit_code == 0, res.output
    from PIL import Image

    grid = Image.open(png)
    assert grid.width > 6 * 96 and grid.height > 2 * 2 * 96
    res = runner.invoke(cli, ["corrupt", "--conditions", "defocus_blur/7"])
    assert res.exit_code == 1 and "severity" in res.output and "Traceback" not in res.output


def test_fast_geometric_gaps_are_exact_at_table_boundaries():
    import torch

    from robeval.corruptions import noise

    for amount in (0.01, 0.05, 0.27):
        table = torch.from_numpy(noise._gap_table(amount))
        inner = table[1:-1]
        u = torch.cat([inner - 1, inner, torch.randint(0, 2**32, (5000,))]).clamp(0, 2**32 - 1)
        expected = torch.searchsorted(inner, u, right=True) + 1
        assert torch.equal(noise._gaps(u, amount, table), expected)


def test_fast_cpu_grouping_does_not_change_pixels(monkeypatch):
    from robeval.corruptions import kernels, noise

    x = images(30)
    whole = {f: corrupt(x, f"{f}/5", backend="fast")[0] for f in ("impulse_noise", "defocus_blur")}
    monkeypatch.setattr(noise, "CPU_DRAWS", 300)  # a few images per group
    monkeypatch.setattr(kernels, "CPU_PIXELS", 4000)
    for family, expected in whole.items():
        np.testing.assert_array_equal(corrupt(x, f"{family}/5", backend="fast")[0], expected)


def test_conditions_built_in_parallel_equal_one_worker(tmp_path, monkeypatch):
    """corrupt --workers 2 runs whole conditions in parallel: the same files, byte for byte."""
    from robeval.stages.corrupt import corrupt_dataset

    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path / "shared"))
    got = {}
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        rows = corrupt_dataset("shapes", "test", "impulse_noise,defocus_blur/2", [1, 3],
                               workers=workers, data_dir=root, progress=False)
        assert [r["status"] for r in rows] == ["built"] * 3
        got[workers] = {r["condition"]: np.load(r["path"])["images"] for r in rows}
    assert got[1].keys() == got[2].keys() == {"impulse_noise/1", "impulse_noise/3", "defocus_blur/2"}
    for name, images in got[1].items():
        np.testing.assert_array_equal(images, got[2][name])
