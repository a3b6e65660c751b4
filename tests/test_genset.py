"""Generalisation sets: manifests checked, built from official-format files, verified, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from robeval.cli import cli
from robeval.core.errors import RobevalError
from robeval.core.fileio import array_sha256
from robeval.data import gensets
from robeval.data.gensets.manifest import validate
from robeval.data.images import square_box
from tests.official_formats import (
    jpeg_bytes,
    make_cifar101,
    make_openimages_csvs,
    png_bytes,
    random_images,
    sha256,
)

REPO_MANIFESTS = Path(__file__).resolve().parents[1] / "manifests" / "gensets"


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    folder = tmp_path / "manifests"
    (folder / "gensets").mkdir(parents=True)
    monkeypatch.setenv("ROBEVAL_MANIFESTS", str(folder))
    monkeypatch.setenv("ROBEVAL_OFFLINE", "1")
    return folder / "gensets"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.output


def cifar101_manifest(data_dir: Path, manifests: Path, n: int = 20) -> tuple[Path, np.ndarray]:
    data, labels = make_cifar101(data_dir / "downloads", n)
    m = json.loads((REPO_MANIFESTS / "cifar10.1-v6.json").read_text())
    m["name"] = "c101-fixture"
    for role, path in (("data", data), ("labels", labels)):
        m["source"][role].pop("md5", None)
        m["source"][role]["sha256"] = sha256(path)
    out = manifests / "c101-fixture.json"
    out.write_text(json.dumps(m))
    return out, np.load(data)


def test_cifar101_build_pin_verify(data_dir, manifests):
    path, images = cifar101_manifest(data_dir, manifests)
    code, out = run("genset", "build", "c101-fixture", "--pin", "--quiet")
    assert code == 0, out
    assert "20 images" in out
    built = gensets.load_built("c101-fixture", build_missing=False)
    np.testing.assert_array_equal(built.images, images)
    assert built.labels.tolist() == [i % 10 for i in range(20)] and built.classes[0] == "airplane"
    pinned = json.loads(path.read_text())["built_sha256"]
    assert pinned == array_sha256(built.images, built.labels)
    code, out = run("genset", "verify", "c101-fixture", "--quiet")
    assert code == 0 and "built file: matches" in out and "manifest built_sha256: matches" in out
    code, out = run("genset", "list")
    assert "c101-fixture" in out and "yes" in out
    # the source changes: build and verify fail and say so
    np.save(data_dir / "downloads" / "cifar10.1_v6_data.npy", images[::-1].copy())
    code, out = run("genset", "verify", "c101-fixture", "--quiet")
    assert code == 1 and "hash mismatch" in out


def test_real_cifar101_manifests_offline(data_dir, manifests):
    code, out = run("genset", "build", "cifar10.1-v6")
    assert code == 1
    assert "raw.githubusercontent.com/modestyachts/CIFAR-10.1/master/datasets/cifar10.1_v6_data.npy" in out
    assert "2997188e5816f5bd545dc77771b6227828c28146049fcecf3fa10775474cacc6" in out
    assert "Traceback" not in out
    make_cifar101(data_dir / "downloads", 21, version="v4")
    code, out = run("genset", "build", "cifar10.1-v4")  # the published sha256 is declared
    assert code == 1 and "hash mismatch" in out and "5aaedc268df8f4cf" in out


@pytest.mark.parametrize("version,n", [("v6", 2000), ("v4", 2021)])
def test_cifar101_pins_the_published_sha256(version, n):
    m = json.loads((REPO_MANIFESTS / f"cifar10.1-{version}.json").read_text())
    for role in ("data", "labels"):
        source_file = m["source"][role]
        assert len(source_file["sha256"]) == 64 and source_file["shape"][0] == n
        # the published byte counts are those of .npy files holding these arrays (128-byte header)
        itemsize = 1 if role == "data" else 4
        assert source_file["size"] == 128 + n * itemsize * (32 * 32 * 3 if role == "data" else 1)


def test_cifar101_copy_with_other_bytes_is_named_and_can_be_accepted(data_dir, manifests):
    """A file of the published shape and dtype but other bytes (an older download) is named as
    such, refused without --accept-arrays (nothing written) and built with it."""
    import shutil

    shutil.copy(REPO_MANIFESTS / "cifar10.1-v6.json", manifests / "cifar10.1-v6.json")
    data, _ = make_cifar101(data_dir / "downloads", 2000)
    code, out = run("genset", "build", "cifar10.1-v6", "--quiet")
    assert code == 1 and "--accept-arrays" in out and "shape (2000, 32, 32, 3)" in out
    assert "2997188e5816f5bd" in out and "Traceback" not in out
    assert not (data_dir / "gensets").exists() or not any((data_dir / "gensets").iterdir())
    code, out = run("genset", "build", "cifar10.1-v6", "--accept-arrays", "--quiet")
    assert code == 0, out
    assert "accepted by their arrays" in out and "cifar10.1_v6_data.npy" in out
    np.testing.assert_array_equal(gensets.load_built("cifar10.1-v6", build_missing=False).images,
                                  np.load(data))
    # a file whose array does not fit stays a plain hash mismatch, flag or not
    make_cifar101(data_dir / "downloads", 20)
    code, out = run("genset", "build", "cifar10.1-v6", "--accept-arrays", "--quiet")
    assert code == 1 and "hash mismatch" in out


def write_tree(root: Path, folders: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    imgs = {}
    rng = np.random.default_rng(seed)
    for folder, n in folders.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = random_images(1, 40, int(rng.integers(1 << 30)))[0]
            (root / folder / f"{i}.png").write_bytes(png_bytes(img))
            imgs[f"{folder}/{i}.png"] = img
    return imgs


def files_manifest(tmp_path: Path, manifests: Path) -> Path:
    root = tmp_path / "images"
    write_tree(root, {"kitty": 3, "plane": 2, "other": 2})
    mapping = tmp_path / "map.csv"
    mapping.write_text("folder,class\nkitty,cat\nplane,airplane\nother,\n")
    code, out = run("genset", "make-manifest", "files", "--root", str(root), "--target", "cifar10",
                    "--map", str(mapping), "--name", "mine", "--out", str(manifests / "mine.json"))
    assert code == 0, out
    return manifests / "mine.json"


def test_files_manifest_relabels_and_builds(tmp_path, data_dir, manifests):
    path = files_manifest(tmp_path, manifests)
    m = json.loads(path.read_text())
    assert m["classes"] == ["airplane", "cat"]  # target order, only the classes present
    assert {(it["id"], it["label"], it["class"]) for it in m["items"]} >= {("kitty/0.png", 1, "cat")}
    assert len(m["items"]) == 5  # 'other' mapped to nothing: left out
    m["items"][0]["sha256"] = m["items"][0]["sha256"].upper()  # hand-written: either case works
    path.write_text(json.dumps(m))
    code, out = run("genset", "build", "mine", "--quiet")
    assert code == 0, out
    built = gensets.load_built("mine", build_missing=False)
    assert built.images.shape == (5, 32, 32, 3)  # 40 px centre-square resized to cifar10's 32
    assert sorted(built.labels.tolist()) == [0, 0, 1, 1, 1]


def test_hash_mismatch_names_items(tmp_path, data_dir, manifests):
    files_manifest(tmp_path, manifests)
    (tmp_path / "images" / "kitty" / "1.png").write_bytes(png_bytes(random_images(1, 40, 99)[0]))
    code, out = run("genset", "build", "mine")
    assert code == 1 and "1 item(s) do not match their hash" in out and "kitty/1.png" in out


def test_truncated_image_fails_or_is_skipped_and_reported(tmp_path, data_dir, manifests):
    path = files_manifest(tmp_path, manifests)
    bad = tmp_path / "images" / "kitty" / "2.png"
    bad.write_bytes(jpeg_bytes(random_images(1, 40, 1)[0])[:200])
    m = json.loads(path.read_text())
    for it in m["items"]:
        if it["id"] == "kitty/2.png":
            it["sha256"] = sha256(bad)  # the hash matches: only decoding can catch it
    path.write_text(json.dumps(m))
    code, out = run("genset", "build", "mine")
    assert code == 1 and "truncated or cannot be decoded" in out and "kitty/2.png" in out
    code, out = run("genset", "build", "mine", "--skip-bad", "--quiet")
    assert code == 0 and "skipped 1" in out and "kitty/2.png" in out
    sidecar = json.loads((data_dir / "gensets" / "mine.json").read_text())
    assert sidecar["n"] == 4 and "kitty/2.png" in sidecar["skipped"][0]


def _base_files_manifest() -> dict:
    return {"format": "robeval-genset-1", "name": "x", "target": "cifar10",
            "classes": ["cat", "dog"], "image_size": 32, "source": {"kind": "files", "root": "."},
            "items": [{"id": "a", "path": "a.png", "label": 0, "class": "cat", "sha256": "0" * 64},
                      {"id": "b", "path": "b.png", "label": 1, "class": "dog", "sha256": "1" * 64}]}


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["items"][0].pop("sha256"), "missing field"),
    (lambda m: m["items"][0].update(colour="red"), "unknown field"),
    (lambda m: m.update(extra=1), "unknown field"),
    (lambda m: m["items"][1].update(id="a"), "duplicate item ids"),
    (lambda m: m["items"][1].update(label=2), "outside the class list"),
    (lambda m: m["items"][1].update(**{"class": "cat"}), "but class says"),
    (lambda m: m.update(items=[]), "empty"),
    (lambda m: m["items"][0].update(path="../../etc/passwd"), "outside the manifest's root"),
    (lambda m: m["items"][0].update(path="/etc/passwd"), "outside the manifest's root"),
    (lambda m: m["items"][0].update(box=[5, 5, 1, 1]), "box must be"),
    (lambda m: m["items"][0].update(box=[0, 0, float("nan"), 5]), "finite"),
    (lambda m: m["items"][0].update(box=[0, 0, 1e308, float("inf")]), "finite"),
    (lambda m: m["items"][0].update(box=[0, 0, True, 5]), "finite"),
    (lambda m: m.update(items={"a": m["items"][0]}), "empty"),
    (lambda m: m.update(classes=["cat", "cat"]), "duplicate class names"),
    (lambda m: m["items"][0].update(sha256="xyz"), "not a lowercase hex digest"),
    (lambda m: m["source"].update(kind="ftp"), "source.kind"),
])
def test_bad_manifests_are_clear_errors(edit, message):
    m = copy.deepcopy(_base_files_manifest())
    validate(m)  # the base is valid
    edit(m)
    with pytest.raises(RobevalError, match=message):
        validate(m)


def test_symlink_out_of_root_is_refused(tmp_path, data_dir, manifests):
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(random_images(1, 32, 0)[0]))
    (root / "a.png").symlink_to(secret)
    m = _base_files_manifest()
    m["items"] = m["items"][:1]
    m["items"][0]["sha256"] = sha256(secret)
    m["source"]["root"] = str(root)
    (manifests / "x.json").write_text(json.dumps(m))
    code, out = run("genset", "build", "x")
    assert code == 1 and "resolves outside the root" in out


def test_square_crop_rule():
    assert square_box(200, 100, [50, 20, 90, 60]) == (46, 16, 94, 64)  # 1.2 x 40 = 48 px square
    assert square_box(200, 100, [0, 0, 200, 20]) == (50, 0, 150, 100)  # capped at the short side
    assert square_box(100, 100, [90, 90, 100, 100]) == (88, 88, 100, 100)  # moved inside
    assert square_box(300, 100, None) == (100, 0, 200, 100)


STL_MIDS = {"cat": "/m/01yrx", "dog": "/m/0bt9lr", "ship": "/m/019jd"}


def openimages_fixture(tmp_path: Path) -> tuple[Path, Path, dict]:
    """Two usable images per STL-10 class; plus a group box, a tiny box, a rotated image,
    an image with two target classes, and a 'Ship' (not boxable) box: all left out."""
    ann, imgdir = tmp_path / "oi", tmp_path / "oi-images"
    imgdir.mkdir(parents=True)
    classes = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    import csv

    rows = list(csv.DictReader(open(REPO_MANIFESTS.parent / "openimages-classmap.csv")))
    mid_of = {r["class"]: r["mid"] for r in rows if r["target"] == "stl10" and r["use"] == "1"}
    boxes, images = [], {}
    rng = np.random.default_rng(0)
    for c in classes:
        for k in range(2):
            iid = f"{c[:3]}{k:013d}"[:16]
            img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
            data = jpeg_bytes(img)
            (imgdir / f"{iid}.jpg").write_bytes(data)
            images[iid] = (f"https://farm.example/{iid}.jpg", data)
            boxes.append((iid, mid_of[c], 0.1, 0.6, 0.2, 0.9))
    boxes += [("grp0000000000000", mid_of["cat"], 0.1, 0.9, 0.1, 0.9),
              ("tiny000000000000", mid_of["dog"], 0.1, 0.15, 0.1, 0.9),
              ("rot0000000000000", mid_of["dog"], 0.1, 0.9, 0.1, 0.9),
              ("two0000000000000", mid_of["dog"], 0.1, 0.9, 0.1, 0.9),
              ("two0000000000000", mid_of["cat"], 0.1, 0.9, 0.1, 0.9),
              ("shp0000000000000", "/m/06q74", 0.1, 0.9, 0.1, 0.9)]
    for iid in ("grp0000000000000", "tiny000000000000", "rot0000000000000", "two0000000000000",
                "shp0000000000000"):
        images[iid] = (f"https://farm.example/{iid}.jpg", b"unused")
    make_openimages_csvs(ann, boxes, images, rotation={"rot0000000000000": "90"})
    text = (ann / "validation-annotations-bbox.csv").read_text().splitlines()
    text = [line.replace(",0,0,0,0,0", ",0,0,1,0,0") if line.startswith("grp") else line for line in text]
    (ann / "validation-annotations-bbox.csv").write_text("\n".join(text) + "\n")
    return ann, imgdir, images


def test_openimages_make_manifest_and_build(tmp_path, data_dir, manifests):
    ann, imgdir, images = openimages_fixture(tmp_path)
    out = manifests / "openimages-stl10.json"
    code, msg = run("genset", "make-manifest", "openimages", "--target", "stl10", "--annotations",
                    str(ann), "--per-class", "2", "--seed", "0", "--out", str(out))
    assert code == 0, msg
    m = json.loads(out.read_text())
    ids = {it["id"] for it in m["items"]}
    assert len(m["items"]) == 20 and not ids & {"grp0000000000000", "tiny000000000000",
                                                  "rot0000000000000", "two0000000000000"}
    item = m["items"][0]
    assert item["box"] == [0.1, 0.2, 0.6, 0.9] and item["url"].startswith("https://farm.example/")
    assert item["md5"] and item["sha256"] is None  # md5 from OriginalMD5 until --pin
    # offline and the originals are not in place: one clear error naming the folder
    code, msg = run("genset", "build", "openimages-stl10")
    assert code == 1 and "could not be read or downloaded" in msg and "<id>.jpg" in msg
    code, msg = run("genset", "build", "openimages-stl10", "--images", str(imgdir), "--pin", "--quiet")
    assert code == 0, msg
    built = gensets.load_built("openimages-stl10", build_missing=False)
    assert built.images.shape == (20, 96, 96, 3) and np.bincount(built.labels).tolist() == [2] * 10
    pinned = json.loads(out.read_text())
    assert all(it["sha256"] for it in pinned["items"]) and pinned["built_sha256"]
    # fewer candidates than asked: the error names the classes
    code, msg = run("genset", "make-manifest", "openimages", "--target", "stl10", "--annotations",
                    str(ann), "--per-class", "3", "--out", str(tmp_path / "y.json"))
    assert code == 1 and "airplane (2)" in msg


def test_openimages_csv_missing_column(tmp_path, manifests):
    ann = tmp_path / "oi"
    ann.mkdir()
    (ann / "train-annotations-bbox.csv").write_text("ImageID,LabelName,XMin\nabc,/m/01yrx,0.1\n")
    (ann / "train-images-boxable-with-rotation.csv").write_text("ImageID,OriginalURL,OriginalMD5\n")
    code, msg = run("genset", "make-manifest", "openimages", "--target", "stl10", "--annotations",
                    str(ann), "--per-class", "1", "--out", str(tmp_path / "z.json"))
    assert code == 1 and "missing column(s)" in msg and "Traceback" not in msg


def test_built_sets_join_genset_all_for_their_target(tmp_path, data_dir, manifests):
    from robeval.conditions import parse_conditions

    path = files_manifest(tmp_path, manifests)
    with pytest.raises(RobevalError, match="no conditions of this group"):  # not built: no download
        parse_conditions("genset:all", "cifar10")  # and no silent no-op either
    assert [c.name for c in parse_conditions("genset:mine", "cifar10")] == ["genset:mine"]  # named: allowed
    run("genset", "build", str(path), "--quiet")
    assert [c.name for c in parse_conditions("genset:all", "cifar10")] == ["genset:mine"]
    assert "genset:mine" not in [c.name for c in parse_conditions("genset:all", "shapes")]


def test_deeply_nested_manifest_is_a_clear_error(tmp_path):
    from robeval.data.gensets.manifest import load_manifest

    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(RobevalError, match="nested too deeply"):
        load_manifest(path)


def test_box_outside_the_image_is_refused(tmp_path, data_dir, manifests):
    path = files_manifest(tmp_path, manifests)
    m = json.loads(path.read_text())
    m["items"][0]["box"] = [0, 0, 1e6, 20]  # the images are 40 px
    path.write_text(json.dumps(m))
    code, out = run("genset", "build", "mine")
    assert code == 1 and "reaches outside" in out and "Traceback" not in out
    assert not (data_dir / "gensets" / "mine.npz").exists()


def test_make_manifest_image_size_range_is_the_manifests():
    """--image-size takes exactly the range a manifest allows (it was 8-4096 against 8-1024)."""
    from robeval.cli.data import IMAGE_SIZES as CLI_SIZES
    from robeval.data.gensets.manifest import IMAGE_SIZES

    assert CLI_SIZES == IMAGE_SIZES
