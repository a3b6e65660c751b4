import numpy as np

from robeval.data import load_split
from robeval.data.shapes import CLASSES, generate_shapes


def test_same_seed_same_bytes_other_seed_other_bytes():
    a = generate_shapes(64, seed=1)
    b = generate_shapes(64, seed=1)
    c = generate_shapes(64, seed=2)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_format_and_classes():
    d = generate_shapes(200, seed=0)
    assert d.images.dtype == np.uint8 and d.images.shape == (200, 32, 32, 3)
    assert d.classes == CLASSES and len(CLASSES) == 10
    assert set(np.unique(d.labels)) == set(range(10))  # 200 draws cover all 10 classes


def test_splits_differ_and_shift_is_another_style():
    train, test = generate_shapes(100, split="train"), generate_shapes(100, split="test")
    assert not np.array_equal(train.images, test.images)
    shift = generate_shapes(500, split="shift", shifted=True)
    clean = generate_shapes(500, split="test")
    # the shifted style draws pastel shapes: their brightest pixels are far less saturated
    sat = lambda im: (im.max(-1).astype(int) - im.min(-1)).mean()  # noqa: E731
    assert sat(shift.images) < sat(clean.images)


def test_registered_splits_load_with_default_sizes(data_dir):
    val = load_split("shapes", "val")
    assert len(val) == 1000 and val.name == "shapes/val"
    again = load_split("shapes", "val")  # second load comes from the cache file
    assert np.array_equal(val.images, again.images)
    assert any(data_dir.rglob("val.npz"))
