"""Contract tests over every entry of the registries test_registries.py does not cover: model
sources, preprocessing pipelines, launchers, head-sets, genset builders, released benchmarks,
built-in generalisation sets, output kinds, study metrics and export formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robeval.analysis.study_metrics import STUDY_METRICS
from robeval.conditions.genset import BUILTIN_GENSETS
from robeval.conditions.released import BENCHMARKS
from robeval.core.errors import RobevalError
from robeval.data import DATASETS, gensets, load_split
from robeval.data.download import remote
from robeval.data.gensets.build import BUILDERS
from robeval.models.kinds import HEAD_MODES, LOGITS_KINDS
from robeval.models.preprocess import PIPELINES, Pipeline
from robeval.models.sources import MODEL_SOURCES
from robeval.runs.destinations import OUTPUT_KINDS, kind_of, mark
from robeval.stages.export import FORMATS, export, pick_format
from robeval.stages.headsets import HEAD_SETS
from robeval.stages.launchers.base import LAUNCHERS, LaunchOptions
from tests.official_formats import make_cifar101, png_bytes, random_images, sha256

REPO = Path(__file__).resolve().parents[1]


def _one_line_error(fn) -> str:
    with pytest.raises(RobevalError) as err:
        fn()
    message = str(err.value)
    assert message and "\n" not in message.strip()
    return message


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("name", MODEL_SOURCES.names())
def test_every_model_source_refuses_an_unknown_arg_in_one_line(name):
    source = MODEL_SOURCES.get(name)
    assert source.description
    _one_line_error(lambda: source.build("no-such-model-xyz", 3, {}))


@pytest.mark.parametrize("name", PIPELINES.names())
def test_every_pipeline_refuses_an_unknown_arg_in_one_line(name):
    assert PIPELINES.get(name).description
    _one_line_error(lambda: Pipeline.from_option(f"{name}:no-such-thing"))


# ---------------------------------------------------------------- stages


# option sets each meant for one launcher only: every launcher refuses at least one of them
FOREIGN_OPTIONS = [(LaunchOptions(wait=False), None), (LaunchOptions(retry_failed=True), None),
                   (LaunchOptions(), ["cpu", "cpu"])]


@pytest.mark.parametrize("name", LAUNCHERS.names())
def test_every_launcher_checks_options_with_one_line_errors(name):
    launcher = LAUNCHERS.get(name)
    assert launcher.summary and isinstance(launcher.remote, bool)
    refused = 0
    for options, devices in FOREIGN_OPTIONS:
        try:
            launcher.check(options, devices)
        except RobevalError as exc:  # anything else is a bug, not bad input
            assert str(exc) and "\n" not in str(exc).strip()
            refused += 1
    assert refused, f"{name} accepts every other launcher's options"


@pytest.mark.parametrize("name", HEAD_SETS.names())
def test_every_head_set_names_valid_distinct_variants(name):
    record = HEAD_SETS.get(name)
    grid = record.grid()
    assert record.description and grid
    assert all(s in HEAD_SETS for s in record.sets)
    for v in grid:
        assert v.head in HEAD_MODES and v.logits in LOGITS_KINDS
        assert v.margin == 0 or LOGITS_KINDS.get(v.logits).normalised  # CosFace: cosine only
    assert len(set(grid)) == len(grid)


@pytest.mark.parametrize("name", FORMATS.names())
def test_every_export_format_writes_rows_under_its_suffixes(name, tiny_study, tmp_path):
    fmt = FORMATS.get(name)
    try:
        fmt.check()
    except RobevalError as exc:
        pytest.skip(str(exc))  # an optional writer (pyarrow) not installed here
    for suffix in fmt.suffixes:
        assert pick_format(tmp_path / f"x{suffix}", None) is fmt
    out = tmp_path / f"rows{fmt.suffixes[0]}"
    result = export([tiny_study[0]], out, fmt=name, conditions="clean")
    evaluated = json.loads((tiny_study[0] / "eval.json").read_text())["conditions"]["clean"]["n"]
    assert result["rows"] == evaluated and out.stat().st_size > 0


@pytest.mark.parametrize("name", OUTPUT_KINDS.names())
def test_every_output_kind_is_recognised_by_its_own_rule(name, tiny_study, tmp_path):
    kind = OUTPUT_KINDS.get(name)
    assert kind.what and kind.made_by
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not kind.recognise(empty) and kind_of(empty) is None
    if kind.marked:
        mark(empty, name)
        assert kind.recognise(empty) and kind_of(empty) is kind
    else:  # recognised by what its maker writes: a real run folder
        assert kind_of(tiny_study[0]) is kind


# ---------------------------------------------------------------- data and conditions


def _npy_manifest(root: Path, manifests: Path) -> None:
    data, labels = make_cifar101(root / "downloads", 2)
    m = json.loads((REPO / "manifests" / "gensets" / "cifar10.1-v6.json").read_text())
    for role, path in (("data", data), ("labels", labels)):
        m["source"][role].pop("md5", None)
        m["source"][role]["sha256"] = sha256(path)
    m["name"] = "two-npy"
    (manifests / "two-npy.json").write_text(json.dumps(m))


def _items_manifest(kind: str, root: Path, manifests: Path) -> None:
    """Two PNGs (official files: any image; openimages: <ImageID>.jpg in the images folder)."""
    folder = root / "downloads" / "openimages" if kind == "openimages" else root / "two"
    folder.mkdir(parents=True)
    items = []
    for i, cls in enumerate(["cat", "dog"]):
        data = png_bytes(random_images(1, 40, i)[0])
        iid = f"{i:016d}"
        (folder / (f"{iid}.jpg" if kind == "openimages" else f"{i}.png")).write_bytes(data)
        item = {"id": iid, "label": i, "class": cls, "sha256": sha256_bytes(data)}
        item |= ({"url": f"https://example.org/{iid}.jpg", "box": [0.0, 0.0, 1.0, 1.0]}
                 if kind == "openimages" else {"path": f"{i}.png"})
        items.append(item)
    source = {"kind": kind} | ({"root": str(folder)} if kind == "files" else {})
    m = {"format": "robeval-genset-1", "name": f"two-{kind}", "target": "cifar10",
         "classes": ["cat", "dog"], "image_size": 32, "source": source, "items": items}
    (manifests / f"two-{kind}.json").write_text(json.dumps(m))


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# one two-item set per builder kind, in that kind's official source format
GENSET_FIXTURES = {
    "npy": lambda root, manifests: _npy_manifest(root, manifests),
    "files": lambda root, manifests: _items_manifest("files", root, manifests),
    "openimages": lambda root, manifests: _items_manifest("openimages", root, manifests),
}


@pytest.mark.parametrize("kind", BUILDERS.names())
def test_every_genset_builder_builds_two_items_from_local_files(kind, data_dir, tmp_path, monkeypatch):
    manifests = tmp_path / "manifests" / "gensets"
    manifests.mkdir(parents=True)
    monkeypatch.setenv("ROBEVAL_MANIFESTS", str(manifests.parent))
    monkeypatch.setenv("ROBEVAL_OFFLINE", "1")
    if kind not in GENSET_FIXTURES:
        pytest.fail(f"genset builder {kind!r} has no fixture here: add one in its source format")
    GENSET_FIXTURES[kind](data_dir, manifests)
    sidecar = gensets.build(f"two-{kind}", data_dir)
    built = gensets.load_built(f"two-{kind}", data_dir, build_missing=False)
    assert built.images.shape == (2, 32, 32, 3) and built.images.dtype == np.uint8
    assert sorted(built.labels.tolist()) == [0, 1] and sidecar


@pytest.mark.parametrize("name", BENCHMARKS.names())
def test_every_released_benchmark_is_declared_for_a_dataset(name):
    bench = BENCHMARKS.get(name)
    assert bench.dataset in DATASETS and bench.layout in {"npy", "folders"}
    rf = remote(bench.download)  # declared in manifests/downloads.json, with a hash
    assert rf.url and rf.filename and (rf.sha256 or rf.md5)


@pytest.mark.parametrize("name", BUILTIN_GENSETS.names())
def test_every_builtin_genset_loads_with_its_datasets_classes(name, data_dir):
    g = BUILTIN_GENSETS.get(name)
    shifted, clean = load_split(g.source, "test"), load_split(g.dataset, "test")
    assert len(shifted) > 0 and shifted.classes == clean.classes
    assert shifted.image_size == clean.image_size


@pytest.mark.parametrize("name", STUDY_METRICS.names())
def test_every_study_metric_is_described(name):
    m = STUDY_METRICS.get(name)
    assert m.label and m.definition and m.formula and m.unit in {"%", "pp"}
    assert m.needs in (None, "reference", "fit") and m.kinds
