"""Every registered corruption family under every table it has, at the table's native size.

Parametrised over FAMILIES, so a new family is tested the moment it is registered. What is
asserted, per (family, table):
- shape and dtype are kept;
- damage grows with severity. The measure: the mean absolute difference between the corrupted
  and the clean image (grey levels, over every value of 6-8 natural-looking `shapes` images
  scaled to the native size). Severities 4 and 5 together must damage more than 1 and 2 together.
  Hendrycks' tables are not monotone in any one image distance for every family (glass blur
  trades sigma against iterations, fog's plasma draws vary more than its steps, CIFAR motion 3
  and 4 differ by taps under 0.3 %), so a stricter order is not asserted;
- seeded families: the output is the same twice, the same with 1 or 2 worker processes, and the
  same for an image whether it is corrupted alone or in a batch (per-image streams);
- a fast path, where there is one, is judged against the reference by the mean and std of
  (output - input) per channel.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from robeval.corruptions import TABLES, corrupt
from robeval.corruptions.families import FAMILIES, GROUPS, group_families

CASES = [(f, t) for f in FAMILIES for t in FAMILIES.get(f).tables]
# Hendrycks' own tables that are not ordered by pixel damage (the test then asserts that every
# severity damages the image and that the five differ):
# - elastic_transform (make_cifar_c.py, make_tinyimagenet_c.py): severity 1 is the largest affine
#   warp with no elastic field; later severities trade the affine part for the elastic one;
# - frost: x * c0 + frost * c1 with c0 falling and c1 rising: on bright images the change can
#   shrink while the frost gets thicker (and the texture and crop are drawn per image);
# - spatter: severities 1-3 are water drops, 4-5 mud, two different operations.
NOT_ORDERED_BY_DAMAGE = {("elastic_transform", "cifar"), ("elastic_transform", "tinyimagenet"),
                         *(("frost", t) for t in TABLES), *(("spatter", t) for t in TABLES)}
FAST = [(f, t) for f, t in CASES if FAMILIES.get(f).fast is not None]
SEEDED = [f for f in FAMILIES if FAMILIES.get(f).seeded]


def natural(n: int, size: int | tuple[int, int], seed: int = 0) -> np.ndarray:
    """``shapes`` test images (textured backgrounds, edges, flat areas) resized with PIL bicubic."""
    from robeval.data.shapes import generate_shapes

    h, w = (size, size) if isinstance(size, int) else size
    small = generate_shapes(n, seed=seed, split="test").images
    return np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.BICUBIC)) for im in small])


def damage(out: np.ndarray, clean: np.ndarray) -> float:
    return float(np.abs(out.astype(np.int16) - clean.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def clean_by_size():
    cache: dict = {}

    def get(size: int, n: int = 3) -> np.ndarray:
        if (size, n) not in cache:
            cache[size, n] = natural(n, size)
        return cache[size, n]

    return get


@pytest.mark.parametrize("family,table", CASES)
def test_damage_grows_with_severity_at_native_size(family, table, clean_by_size):
    size = TABLES.get(table).native_size
    clean = clean_by_size(size, 6 if size > 100 else 8)
    values = []
    for severity in range(1, 6):
        out, info = corrupt(clean, f"{family}/{severity}@{table}", seed=3)
        assert out.shape == clean.shape and out.dtype == np.uint8
        assert info["table"] == table and info["version"] == FAMILIES.get(family).version
        values.append(damage(out, clean))
    if (family, table) in NOT_ORDERED_BY_DAMAGE:
        assert min(values) > 0.25 and len(set(values)) == 5, (family, table, values)
        return
    assert values[3] + values[4] > values[0] + values[1], (family, table, values)


@pytest.mark.parametrize("family", SEEDED)
def test_seeded_families_repeat_across_runs_workers_and_subsets(family):
    x = natural(6, 32, seed=1)
    a, _ = corrupt(x, f"{family}/3", seed=7)
    b, _ = corrupt(x, f"{family}/3", seed=7, workers=2)
    np.testing.assert_array_equal(a, b)
    alone, _ = corrupt(x[4:5], f"{family}/3", seed=7, indices=[4])
    np.testing.assert_array_equal(alone[0], a[4])
    other, _ = corrupt(x, f"{family}/3", seed=8)
    assert not np.array_equal(other, a)  # the seed matters


@pytest.mark.parametrize("family,table", FAST)
def test_fast_path_matches_reference_statistics(family, table):
    """Per channel, the per-image mean and std of (output - input) under both backends agree
    within 4 standard errors over the images (plus half a grey level): exact for deterministic
    fast paths, a two-sample check for random ones, whose draws differ."""
    size = TABLES.get(table).native_size
    clean = natural(4 if size > 100 else 16, size, seed=2)
    for severity in (1, 5):
        name = f"{family}/{severity}@{table}"
        ref, _ = corrupt(clean, name, backend="reference", seed=5)
        fast, info = corrupt(clean, name, backend="fast", seed=5)
        assert info["backend"] == "fast" and fast.shape == clean.shape and fast.dtype == np.uint8
        for c in range(3):
            d_ref = (ref[..., c].astype(np.float64) - clean[..., c]).reshape(len(clean), -1)
            d_fast = (fast[..., c].astype(np.float64) - clean[..., c]).reshape(len(clean), -1)
            for stat in (np.mean, np.std):
                a, b = stat(d_ref, axis=1), stat(d_fast, axis=1)
                se = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / len(clean))
                assert abs(a.mean() - b.mean()) < 4 * se + 0.5, (name, c, stat.__name__)


def test_groups_partition_the_families():
    by_category = [f for c in ("noise", "blur", "weather", "digital") for f in group_families(c)]
    assert sorted(by_category) == sorted(FAMILIES)
    assert sorted(group_families("standard") + group_families("extra")) == sorted(FAMILIES)
    assert group_families("all") == by_category  # every family, in Hendrycks' category order
    assert set(group_families("study")) == {"impulse_noise", "jpeg_compression", "defocus_blur"}
    assert set(GROUPS) >= {"noise", "blur", "weather", "digital", "standard", "extra", "study", "all"}


def test_every_record_says_where_its_tables_come_from():
    for name in FAMILIES:
        record = FAMILIES.get(name)
        assert record.description and record.sources, name
        assert set(record.tables) <= set(TABLES), name
        assert record.category in ("noise", "blur", "weather", "digital"), name


def test_fast_backend_without_a_fast_path_is_the_reference_and_one_cache_file(tmp_path):
    """--backend fast on a family without a fast path runs (and caches) the reference: one file."""
    from robeval.corruptions.cache import build_cached, cache_path
    from robeval.corruptions.core import CorruptionAtSeverity

    slow = next((f for f in FAMILIES if FAMILIES.get(f).fast is None), None)
    if slow is None:
        pytest.skip("every family has a fast path")
    x = natural(4, 32)
    labels = np.zeros(4, dtype=np.int64)
    ref, _, meta_ref, _ = build_cached(CorruptionAtSeverity(slow, 2), x, labels, root=tmp_path,
                                       dataset="d", split="test", backend="reference")
    fast, _, meta_fast, status = build_cached(CorruptionAtSeverity(slow, 2), x, labels, root=tmp_path,
                                              dataset="d", split="test", backend="fast")
    assert status == "cached" and meta_fast["backend"] == "reference"
    np.testing.assert_array_equal(ref, fast)
    assert cache_path(tmp_path, "d", "test", CorruptionAtSeverity(slow, 2), 32, "fast") == \
        cache_path(tmp_path, "d", "test", CorruptionAtSeverity(slow, 2), 32, "reference")
    assert len(list(tmp_path.rglob("*.npz"))) == 1


def test_a_new_family_version_rebuilds_the_cache(tmp_path, monkeypatch):
    """A corrected formula (version bumped) never reuses the old pixels."""
    import dataclasses

    from robeval.corruptions.cache import build_cached
    from robeval.corruptions.core import CorruptionAtSeverity

    x = natural(3, 32)
    labels = np.zeros(3, dtype=np.int64)
    corruption = CorruptionAtSeverity("defocus_blur", 2)
    kw = {"root": tmp_path, "dataset": "d", "split": "test"}
    build_cached(corruption, x, labels, **kw)
    assert build_cached(corruption, x, labels, **kw)[3] == "cached"
    record = FAMILIES.get("defocus_blur")
    monkeypatch.setitem(FAMILIES._items, "defocus_blur", dataclasses.replace(record, version=record.version + 1))
    assert build_cached(corruption, x, labels, **kw)[3] == "rebuilt: made with other parameters"


def test_docs_tables_are_generated_from_the_registry():
    """docs/corruptions.md holds exactly what the registry says (regenerate with
    `python -m robeval.corruptions.catalog docs/corruptions.md`)."""
    from pathlib import Path

    from robeval.corruptions.catalog import markdown

    docs = (Path(__file__).resolve().parents[1] / "docs" / "corruptions.md").read_text()
    assert markdown() in docs


def test_corrupt_help_lists_every_family_and_group():
    from click.testing import CliRunner

    from robeval.cli import cli

    out = CliRunner().invoke(cli, ["corrupt", "--help"]).output
    for name in FAMILIES:
        assert name in out, name
    for group in GROUPS:
        assert f"corrupt:{group}" in out, group
