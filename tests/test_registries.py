"""Contract tests parametrised over every registry (timm's tests/test_models.py style): a new
record in any registry is tested here without writing a test."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robeval.analysis.metrics import METRICS, Arrays, columns, measure, scalar
from robeval.cli.options import REGISTRY_OPTIONS
from robeval.conditions import SOURCES, available, parse_conditions
from robeval.core.errors import RobevalError
from robeval.corruptions import SEVERITIES, TABLES, corrupt
from robeval.corruptions.families import FAMILIES
from robeval.data import DATASETS, load_split
from robeval.models import ENCODERS, HEAD_MODES, INITS, LOGITS_KINDS, ClassifierHead, build_encoder
from robeval.stages.report.claims import CLAIMS, ClaimInputs
from robeval.stages.report.page import SECTIONS, ReportInputs
from robeval.training.config import TrainConfig, with_preset_defaults
from robeval.training.optim import SCHEDULERS, make_optimizer, make_scheduler
from robeval.training.presets import PRESETS
from tests.official_formats import (
    make_cifar10_tarball,
    make_cifar100_tarball,
    make_stl10_tarball,
    make_tinyimagenet_zip,
    png_bytes,
    random_images,
)

# ---------------------------------------------------------------- models


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_declared_dim_and_sign(name):
    torch.manual_seed(0)
    enc = build_encoder(name, 32).eval()
    with torch.no_grad():
        feats = enc(torch.randn(3, 3, 32, 32))
    assert feats.shape == (3, enc.out_dim)
    assert torch.isfinite(feats).all()
    # features >= 0 exactly when the encoder declares it (the compactness ceiling relies on it)
    assert bool((feats >= 0).all()) == bool(getattr(enc, "nonnegative", False))


HEAD_GRID = [(i, m, k) for i in INITS.names() for m in HEAD_MODES.names() for k in LOGITS_KINDS.names()]


@pytest.mark.parametrize("init,mode,kind", HEAD_GRID)
def test_every_init_head_mode_and_logits_kind(init, mode, kind):
    c, d, scale = 5, 16, 3.0
    head = ClassifierHead(d, c, mode, kind, scale=scale, bias=True, init=init, seed=7)
    again = ClassifierHead(d, c, mode, kind, scale=scale, bias=True, init=init, seed=7)
    assert torch.equal(head.weight, again.weight)  # the seed fixes the draw
    assert torch.allclose(head.weight.norm(dim=1), torch.ones(c), atol=1e-5)
    trainable = {n for n, p in head.named_parameters()}
    assert ("weight" in trainable) == HEAD_MODES.get(mode).trainable
    h = torch.randn(4, d)
    w, b = head.weight.detach(), head.bias.detach()
    if LOGITS_KINDS.get(kind).normalised:
        hand = scale * (h / h.norm(dim=1, keepdim=True)) @ (w / w.norm(dim=1, keepdim=True)).T + b
        assert torch.allclose(head(h), hand, atol=1e-5)
        assert torch.allclose(head(5 * h), head(h), atol=1e-5)  # direction only
    else:
        assert torch.allclose(head(h), h @ w.T + b, atol=1e-5)


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("preset", PRESETS.names())
@pytest.mark.parametrize("mode,kind", [(m, k) for m in HEAD_MODES.names() for k in LOGITS_KINDS.names()])
@pytest.mark.parametrize("size", [32, 64, 96])
def test_every_preset_resolves_for_every_head(preset, mode, kind, size):
    cfg = with_preset_defaults(TrainConfig(head=mode, logits=kind, preset=preset), size)
    assert cfg.epochs >= 1 and cfg.batch_size >= 1 and cfg.lr > 0 and cfg.weight_decay >= 0
    assert cfg.scheduler in SCHEDULERS and 0 <= cfg.crop_padding < size // 2
    assert (cfg.scale is not None) == LOGITS_KINDS.get(kind).uses_scale
    assert PRESETS.get(preset).description


@pytest.mark.parametrize("name", SCHEDULERS.names())
def test_every_scheduler_builds_and_steps_as_declared(name):
    cfg = with_preset_defaults(TrainConfig(scheduler=name, epochs=3), 32)
    model = torch.nn.Linear(4, 2)
    opt = make_optimizer(model, cfg)
    record, sched = make_scheduler(opt, cfg, steps_per_epoch=5)
    assert record.name == name and (sched is None) == (record.steps_on == "never")
    lr0 = opt.param_groups[0]["lr"]
    for _ in range(15 if record.steps_on == "batch" else 6):
        opt.step()
        if record.steps_on == "batch":
            sched.step()
        elif record.steps_on == "val_acc":
            sched.step(0.5)  # no improvement: a plateau schedule must lower the LR
    lr = opt.param_groups[0]["lr"]
    assert math.isfinite(lr) and lr >= 0
    assert (lr < lr0) == (record.steps_on != "never")


# ---------------------------------------------------------------- corruptions


def _test_images(size: int) -> np.ndarray:
    """Smooth gradients plus noise: blur, JPEG and noise all change them measurably."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 255 / size, yy * 255 / size, (xx + yy) * 127 / size], -1)
    return np.clip(base[None] + rng.normal(0, 20, (4, size, size, 3)), 0, 255).astype(np.uint8)


FAMILY_TABLES = [(f, t) for f in FAMILIES.names() for t in TABLES.names()]


@pytest.mark.parametrize("family,table", FAMILY_TABLES)
def test_every_family_and_table(family, table):
    record = FAMILIES.get(family)
    assert len(record.tables[table]) == len(SEVERITIES)
    assert set(record.params(table, 3)) == set(record.param_names)
    size = TABLES.get(table).min_size if table != "cifar" else 32
    images = _test_images(max(size, 32))
    out, info = corrupt(images, f"{family}/3@{table}", seed=1)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert not np.array_equal(out, images)
    assert info["params"] == record.params(table, 3)
    again, _ = corrupt(images, f"{family}/3@{table}", seed=1)
    np.testing.assert_array_equal(out, again)  # seeded: the same call gives the same pixels
    other, _ = corrupt(images, f"{family}/3@{table}", seed=2)
    assert (not np.array_equal(out, other)) == record.seeded
    if record.fast is None:
        return
    fast, _ = corrupt(images, f"{family}/3@{table}", seed=1, backend="fast")
    assert fast.dtype == np.uint8 and fast.shape == images.shape
    if record.seeded:  # other random numbers, same distribution: the share of changed values
        changed = lambda x: (x != images).mean()  # noqa: E731
        assert abs(changed(fast) - changed(out)) < 0.02
    else:
        assert np.abs(fast.astype(int) - out.astype(int)).max() <= 1


# ---------------------------------------------------------------- analysis


def _no_nan(x) -> bool:
    if isinstance(x, dict):
        return all(_no_nan(v) for v in x.values())
    if isinstance(x, list | tuple):
        return all(_no_nan(v) for v in x)
    if isinstance(x, float):
        return math.isfinite(x)
    return True


def _degenerate(case: str) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    c, d, n = (12, 4, 40) if case == "C>d" else (4, 8, 40)
    w = rng.standard_normal((c, d))
    feats = np.abs(rng.standard_normal((n, d)))
    labels = rng.integers(0, c, n)
    if case == "one class":
        labels = np.zeros(n, dtype=np.int64)
    if case == "collapsed":
        feats = np.ones((n, d))
    logits = feats @ w.T
    arrays = {"labels": labels, "predictions": logits.argmax(1), "logits": logits, "features": feats}
    head = {"weight": w, "bias": np.zeros(c), "scale": 1.0, "logits": "dot", "train": "learned",
            "nonnegative": True, "classes": [str(i) for i in range(c)]}
    return arrays, head


@pytest.mark.parametrize("case", ["one class", "collapsed", "C>d"])
@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_on_degenerate_inputs(name, case):
    arrays, head = _degenerate(case)
    metric = METRICS.get(name)
    result = metric.compute(Arrays.from_outputs(arrays, head["weight"].shape[0]), head, True)
    assert _no_nan(result)
    full = measure(arrays, head, full=True)
    for column in metric.columns:
        value = scalar(full, metric, column)
        assert value is None or (isinstance(value, int | float) and math.isfinite(value))
    assert all(metric.definitions.values())


def test_metric_columns_are_unique_and_labelled_ones_have_formats():
    keys = [c.key for _, c in columns()]
    assert len(keys) == len(set(keys))
    for _, c in columns():
        format(0.5, c.fmt)


# ---------------------------------------------------------------- data and conditions


def _archive(make, filename: str, key: str):
    """A fixture that writes a dataset's official archive and declares it as the download."""

    def write(data_dir, tmp_path, declare, name):
        dl = data_dir / "downloads"
        dl.mkdir(parents=True, exist_ok=True)
        make(dl / filename)
        declare(key, dl / filename)
        return name

    return write


def _image_tree(data_dir, tmp_path, declare, name):
    root = tmp_path / "tree"
    for split in ("train", "test"):
        for i, cls in enumerate(["a", "b"] * 2):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            (root / split / cls / f"{i}.png").write_bytes(png_bytes(random_images(1, 32, i)[0]))
    return f"imagefolder:{root}"


def _embedded(data_dir, tmp_path, declare, name):
    return name


# dataset -> writes small files in its official format and returns the name to load
DATASET_FIXTURES = {
    "cifar10": _archive(make_cifar10_tarball, "cifar-10-python.tar.gz", "cifar10-python"),
    "cifar100": _archive(make_cifar100_tarball, "cifar-100-python.tar.gz", "cifar100-python"),
    "stl10": _archive(make_stl10_tarball, "stl10_binary.tar.gz", "stl10-binary"),
    "tinyimagenet": _archive(lambda p: make_tinyimagenet_zip(p, ["n01", "n02"]), "tiny-imagenet-200.zip",
                             "tinyimagenet"),
    "imagefolder": _image_tree,
    "shapes": _embedded,
    "shapes-shift": _embedded,
}


def _fixture(name: str, data_dir, tmp_path, declare):
    if name not in DATASET_FIXTURES:
        pytest.fail(f"dataset {name!r} has no offline fixture here: add one in the official format")
    return DATASET_FIXTURES[name](data_dir, tmp_path, declare, name)


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_record_matches_what_loads(name, data_dir, tmp_path, declare):
    record = DATASETS.get(name)
    loadable = _fixture(name, data_dir, tmp_path, declare)
    for split in record.splits:
        data = load_split(loadable, split)
        assert data.images.dtype == np.uint8 and data.images.shape[-1] == 3 and len(data) > 0
        if name != "imagefolder":  # an image folder's size and classes are the folder's own
            assert data.image_size == record.image_size
        if name in ("shapes", "shapes-shift"):  # fixtures elsewhere carry only some classes
            assert len(data.classes) == record.num_classes


@pytest.mark.parametrize("group", SOURCES.names())
def test_every_condition_source_resolves_its_group(group):
    listed = available("shapes", group)
    if not listed:  # e.g. released: no CIFAR-10-C for shapes; naming the group is then an error
        with pytest.raises(RobevalError, match="has no conditions of this group"):
            parse_conditions(f"{group}:all", "shapes")
    elif SOURCES.get(group).subgroups is None:
        assert [c.name for c in parse_conditions(f"{group}:all", "shapes")] == [c.name for c in listed]
    else:  # corrupt: `all` lists the default subgroup (corrupt:study), GROUP:all every family
        assert {c.name for c in listed} <= {c.name for c in parse_conditions(f"{group}:all", "shapes")}
    assert SOURCES.get(group).description


@pytest.mark.parametrize("option", REGISTRY_OPTIONS)
def test_every_cli_choice_comes_from_an_existing_registry(option):
    names = option.names()  # imports the module named in cli/options.py: a rename fails here
    assert names and all(isinstance(n, str) for n in names)


# ---------------------------------------------------------------- report records


@pytest.mark.parametrize("claim", CLAIMS.records(), ids=lambda c: c.name)
def test_every_claim_judges_empty_inputs(claim):
    lines, verdict = claim.judge(ClaimInputs([], [], []))
    assert lines == [] and verdict.startswith("not measured")


@pytest.mark.parametrize("section", SECTIONS.records(), ids=lambda s: s.name)
def test_every_section_returns_blocks(section):
    env = {"git_sha": "x", "python": "3", "platform": "p", "libraries": {}, "time_utc": "t"}
    x = ReportInputs([], [], [], env, [], [], [], [])
    blocks = section.blocks(x)
    assert isinstance(blocks, list) and all(isinstance(b, tuple) and b for b in blocks)
