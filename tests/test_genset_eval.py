"""`robeval eval --conditions genset:NAME`: a manifest-built set scored by class name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robeval.conditions import parse_conditions
from robeval.core.errors import RobevalError
from robeval.data.shapes import generate_shapes
from robeval.stages.evaluate import evaluate_run
from robeval.stages.train import train
from robeval.training.config import TrainConfig
from tests.official_formats import png_bytes

CLASSES = ["circle", "square", "triangle"]


def shapes_tree(root: Path, n: int, split: str, seed: int) -> None:
    data = generate_shapes(n, seed=seed, split=split)
    for i, (img, lab) in enumerate(zip(data.images, data.labels, strict=True)):
        cls = data.classes[lab]
        if cls in CLASSES:
            (root / cls).mkdir(parents=True, exist_ok=True)
            (root / cls / f"{i:04d}.png").write_bytes(png_bytes(img))


@pytest.fixture
def run_and_manifests(tmp_path, data_dir, monkeypatch):
    tree = tmp_path / "shapes3"
    shapes_tree(tree / "train", 400, "train", 0)
    shapes_tree(tree / "test", 60, "test", 0)
    shapes_tree(tmp_path / "other", 60, "val", 1)  # images the set is made of
    cfg = TrainConfig(dataset=f"imagefolder:{tree}", epochs=1, batch_size=32)
    train(cfg, tmp_path / "run", device="cpu", progress=False)
    manifests = tmp_path / "manifests" / "gensets"
    manifests.mkdir(parents=True)
    monkeypatch.setenv("ROBEVAL_MANIFESTS", str(manifests.parent))
    return tmp_path, manifests


def write_manifest(manifests: Path, root: Path, name: str, classes: list[str], folder_class: dict) -> int:
    import hashlib

    items = []
    for folder, cls in folder_class.items():
        for p in sorted((root / folder).glob("*.png")):
            items.append({"id": f"{folder}/{p.name}", "path": f"{folder}/{p.name}",
                          "label": classes.index(cls), "class": cls,
                          "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    m = {"format": "robeval-genset-1", "name": name, "target": "shapes3", "classes": classes,
         "image_size": 32, "source": {"kind": "files", "root": str(root)}, "items": items}
    (manifests / f"{name}.json").write_text(json.dumps(m))
    return len(items)


def test_subset_genset_is_scored_by_class_name(run_and_manifests):
    tmp, manifests = run_and_manifests
    # a set of two of the model's three classes, listed in another order than the model's
    n = write_manifest(manifests, tmp / "other", "two-shapes", ["square", "circle"],
                       {"circle": "circle", "square": "square"})
    out = evaluate_run(tmp / "run", "clean,genset:two-shapes", progress=False)
    res = out["conditions"]["genset:two-shapes"]
    assert res["n"] == n and res["kind"] == "generalisation"
    z = np.load(tmp / "run" / res["file"])
    model_classes = json.loads((tmp / "run" / "config.json").read_text())["dataset"]["classes"]
    assert model_classes == CLASSES
    got = sorted({model_classes[i] for i in z["labels"]})
    assert got == ["circle", "square"]  # labels mapped onto the model's indices by name
    assert res["accuracy"] == pytest.approx(float((z["labels"] == z["predictions"]).mean()))
    assert (tmp / "data" / "gensets" / "two-shapes.npz").exists()  # built on first use


def test_genset_with_unknown_class_is_an_error(run_and_manifests):
    tmp, manifests = run_and_manifests
    write_manifest(manifests, tmp / "other", "bad-classes", ["circle", "banana"],
                   {"circle": "circle", "square": "banana"})
    with pytest.raises(RobevalError, match="banana.*not among the model's classes"):
        evaluate_run(tmp / "run", "genset:bad-classes", progress=False)


def test_unknown_genset_name_is_a_clear_error(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("ROBEVAL_MANIFESTS", str(tmp_path))
    (cond,) = parse_conditions("genset:nope", "shapes")  # existence is checked under the eval's data root
    from robeval.conditions import ConditionContext

    with pytest.raises(RobevalError, match="genset:nope is not built.*no generalisation set 'nope'"):
        cond.build(ConditionContext("shapes", data_dir))
    with pytest.raises(RobevalError, match="unknown condition 'genset:Bad Name'"):
        parse_conditions("genset:Bad Name", "shapes")
    assert [c.name for c in parse_conditions("genset:all", "shapes")] == ["genset:shapes-shift"]
