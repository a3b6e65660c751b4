"""Released corruption benchmarks (CIFAR-10-C / -100-C .npy stacks, Tiny-ImageNet-C folders) as
``released:`` conditions, on small files written in exactly those layouts for the embedded
``shapes`` data (a benchmark record is added for it here; the real ones key cifar10, cifar100 and
tinyimagenet)."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from robeval.conditions import parse_conditions, released
from robeval.core.errors import RobevalError
from robeval.data import load_split
from robeval.models.inference import predict
from robeval.runs.model import load_run_model, predict_kwargs
from robeval.stages.evaluate import evaluate_run
from robeval.stages.train import train
from tests.helpers import tiny_config

N = 40  # images per severity: not the clean test size, so nothing may assume it


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("released") / "run"
    train(tiny_config(epochs=1, max_train=256), out, progress=False)
    return out


@pytest.fixture
def bench(monkeypatch):
    """A released benchmark for shapes: npy layout, archive declared as cifar10-c's."""
    monkeypatch.setattr(released, "BENCHMARKS", type(released.BENCHMARKS)("released benchmark"))
    record = released.ReleasedBenchmark("shapes", "SHAPES-C", "npy", "cifar10-c")
    released.BENCHMARKS.add(record)
    return record


def _write_npy(folder, corruptions=("impulse_noise", "jpeg_compression"), n=N, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.tile(rng.integers(0, 10, n), 5).astype(np.uint8)  # as released: repeated per severity
    for c in corruptions:
        np.save(folder / f"{c}.npy", rng.integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", labels)
    return labels


def test_npy_layout_evaluated_block_by_severity(run, bench, data_dir):
    labels = _write_npy(data_dir / "SHAPES-C")
    names = [c.name for c in parse_conditions("released:all", "shapes")]
    assert names == [f"released:{c}/{s}" for c in ("impulse_noise", "jpeg_compression") for s in range(1, 6)]
    out = evaluate_run(run, "released:impulse_noise/3", device="cpu", progress=False)
    row = out["conditions"]["released:impulse_noise/3"]
    assert row["kind"] == "corruption" and row["family"] == "released:impulse_noise" and row["severity"] == 3
    assert row["n"] == N and row["params"]["n_per_severity"] == N
    assert row["params"]["file"].endswith("SHAPES-C/impulse_noise.npy")
    # the accuracy is that of severity 3's block, recomputed with a plain forward
    block = np.load(data_dir / "SHAPES-C" / "impulse_noise.npy")[2 * N:3 * N]
    model, cfg, _ = load_run_model(run, "best", "cpu")
    logits, _ = predict(model, block, "cpu", **predict_kwargs(cfg))
    expected = float((logits.argmax(1) == labels[2 * N:3 * N]).mean())
    assert row["accuracy"] == pytest.approx(expected, abs=1e-12)
    stored = np.load(run / row["file"])
    assert np.array_equal(stored["labels"], labels[2 * N:3 * N])
    torch.testing.assert_close(torch.from_numpy(stored["logits"]), torch.from_numpy(logits.astype(np.float32)))


@pytest.mark.parametrize("damage, message", [
    (lambda f: np.save(f / "impulse_noise.npy", np.zeros((5 * N + 1, 32, 32, 3), np.uint8)), "5 equal severity blocks"),
    (lambda f: np.save(f / "labels.npy", np.zeros(3 * N, np.uint8)), "must match"),
    (lambda f: (f / "labels.npy").unlink(), "labels.npy is missing"),
    (lambda f: np.save(f / "impulse_noise.npy", np.zeros((5 * N, 32, 32, 3), np.float32)), "uint8"),
    (lambda f: (f / "impulse_noise.npy").write_bytes(b"\x93NUMPY garbage"), "not a readable .npy"),
    (lambda f: np.save(f / "labels.npy", np.full(5 * N, 10, np.uint8)), "labels outside"),
    (lambda f: np.save(f / "impulse_noise.npy", np.zeros((5 * N, 16, 16, 3), np.uint8)), "16x16"),
    (lambda f: np.save(f / "labels.npy", np.full(5 * N, 4.7)), r"labels.npy holds float64 \(200,\); .* integer"),
    (lambda f: np.save(f / "labels.npy", np.zeros((5 * N, 1), np.int64)), r"labels.npy holds int64 \(200, 1\)"),
    (lambda f: (f / "labels.npy").write_bytes(b"\x93NUMPY garbage"), r"labels.npy: not a readable .npy"),
], ids=["rows", "labels-length", "no-labels", "float", "garbage", "label-range", "size", "float-labels",
        "labels-column", "garbage-labels"])
def test_bad_released_files_refused(bench, data_dir, damage, message):
    _write_npy(data_dir / "SHAPES-C")
    damage(data_dir / "SHAPES-C")
    (cond,) = parse_conditions("released:impulse_noise/1", "shapes")
    from robeval.conditions import ConditionContext

    with pytest.raises(RobevalError, match=message):
        cond.build(ConditionContext("shapes"))


def test_released_all_reads_the_data_dir(bench, tmp_path, monkeypatch):
    """released:all lists the files under --data-dir, like released:NAME reads them from there."""
    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path / "default"))
    _write_npy(tmp_path / "given" / "SHAPES-C", corruptions=("fog",))
    names = [c.name for c in parse_conditions("released:all", "shapes", tmp_path / "given")]
    assert names == [f"released:fog/{s}" for s in range(1, 6)]
    with pytest.raises(RobevalError, match="no conditions of this group here"):
        parse_conditions("released:all", "shapes")  # the default root has none


def test_archive_checked_then_unpacked(bench, data_dir, tmp_path, monkeypatch):
    staged = tmp_path / "staged"
    _write_npy(staged / "SHAPES-C", corruptions=("fog",))
    data_dir.mkdir(parents=True)
    with tarfile.open(data_dir / "CIFAR-10-C.tar", "w") as tf:  # the declared archive's name
        tf.add(staged / "SHAPES-C", arcname="SHAPES-C")
    (cond,) = parse_conditions("released:fog/2", "shapes")
    from robeval.conditions import ConditionContext

    with pytest.raises(RobevalError, match="sha256"):  # not the published file
        cond.build(ConditionContext("shapes"))
    assert not (data_dir / "SHAPES-C").exists()
    monkeypatch.setenv("ROBEVAL_NO_VERIFY", "1")
    data = cond.build(ConditionContext("shapes"))
    assert len(data) == N and (data_dir / "SHAPES-C" / "fog.npy").is_file()


def test_folder_layout(data_dir, monkeypatch):
    record = released.ReleasedBenchmark("shapes", "SHAPES-C", "folders", "cifar10-c")
    monkeypatch.setattr(released, "BENCHMARKS", type(released.BENCHMARKS)("released benchmark"))
    released.BENCHMARKS.add(record)
    classes = load_split("shapes", "test").classes
    rng = np.random.default_rng(1)
    want = []
    for label in (0, 3, 3, 7):
        folder = data_dir / "SHAPES-C" / "motion_blur" / "4" / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"{len(want)}.JPEG", quality=100)
        want.append(label)
    (cond,) = parse_conditions("released:motion_blur/4", "shapes")
    from robeval.conditions import ConditionContext

    data = cond.build(ConditionContext("shapes"))
    assert sorted(data.labels.tolist()) == want and data.images.shape == (4, 32, 32, 3)
    assert cond.params["n_per_severity"] == 4
    (data_dir / "SHAPES-C" / "motion_blur" / "4" / "n99999999").mkdir()
    with pytest.raises(RobevalError, match="not in the dataset"):
        cond.build(ConditionContext("shapes"))


@pytest.mark.parametrize("name, message", [
    ("released:nosuch/3", "unknown released corruption"),
    ("released:fog/6", "not in 1-5"),
])
def test_bad_names(bench, name, message):
    with pytest.raises(RobevalError, match=message):
        parse_conditions(name, "shapes")


def test_no_benchmark_for_dataset():
    with pytest.raises(RobevalError, match="no released corruption benchmark"):
        parse_conditions("released:fog/3", "shapes-shift")


def test_declared_archives():
    from robeval.data.download import remote

    for key in ("cifar10-c", "cifar100-c", "tinyimagenet-c"):
        rf = remote(key)
        assert rf.md5 and len(rf.md5) == 32 and rf.filename.endswith(".tar")
    assert remote("cifar10-c").sha256 and remote("cifar10-c").size == 2_918_471_680
