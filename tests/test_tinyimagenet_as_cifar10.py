"""The committed generalisation set tinyimagenet-val-as-cifar10: its class map, and its rebuild
from the real Tiny ImageNet val files (the JPEG copy) to the pinned built_sha256."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

from robeval.data.gensets import build
from robeval.data.gensets.manifest import validate
from tests.helpers import real_data

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "manifests" / "gensets" / "tinyimagenet-val-as-cifar10.json"
MAP = MANIFEST.with_name("tinyimagenet-val-as-cifar10-map.csv")
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_manifest_follows_its_class_map():
    data = json.loads(MANIFEST.read_text())
    validate(data, MANIFEST.name)
    with open(MAP, newline="") as fh:
        folder_class = {r["folder"]: r["class"] for r in csv.DictReader(fh)}
    assert len(folder_class) == 200  # every Tiny ImageNet class is decided, most as "leave out"
    mapped = {f: c for f, c in folder_class.items() if c}
    assert set(mapped.values()) <= set(CIFAR10) and len(mapped) == 22
    assert data["built_sha256"] and len(data["items"]) == 50 * len(mapped)
    for item in data["items"]:
        folder = item["path"].split("/")[0]
        assert mapped[folder] == item["class"] == data["classes"][item["label"]]


def test_rebuild_from_the_real_files_matches_the_pinned_hash(tmp_path):
    with tarfile.open(real_data("tinyimagenet200-val-jpeg.tar.xz")) as tf:
        tf.extractall(tmp_path, filter="data")
    info = build(str(MANIFEST), tmp_path / "data", root=str(tmp_path / "tinyimagenet200" / "val"),
                 progress=False)
    assert info["n"] == 1100 and info["matches_manifest"] is True
