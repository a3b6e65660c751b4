"""Property tests (Hypothesis) over the newer inputs whose space is large: sweep files, released
label arrays, import preprocessing, output folders of any content, export file names, Slurm
times, summaries. For any input the code returns a value that obeys its contract or raises the
one user-facing error type; never another exception, and the output rule never writes.

    PYTHONPATH=. pytest -q tests/bad_input/test_edge_properties.py
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from robeval.core.errors import RobevalError
from tests.bad_input.harness import snapshot

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 2**33) | st.floats(allow_nan=True)
                    | st.text(max_size=6), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
ROW = {"dataset": "shapes", "arch": "tinycnn", "head": "learned", "logits": "dot", "init": "sphere",
       "learn_scale": False, "margin": 0.0, "lr": 0.1, "scale": None, "chosen": True, "seeds": [0],
       "val_mean": 0.5}


def _row_variants():
    """A valid row with any one field replaced by any JSON value (or removed)."""
    return st.tuples(st.sampled_from(sorted(ROW)), JSON | st.just("<drop>")).map(
        lambda kv: {k: v for k, v in {**ROW, kv[0]: kv[1]}.items() if v != "<drop>"})


@SETTINGS
@given(st.one_of(JSON, st.dictionaries(st.just("rows"), st.lists(_row_variants() | JSON, max_size=3))))
@example({"rows": [ROW]})
def test_a_sweep_file_is_read_whole_or_refused(obj):
    from robeval.stages.tuning import chosen_runs, read_sweep

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.json"
        path.write_text(json.dumps(obj))
        try:
            rows = read_sweep(path)
        except RobevalError:
            return
        names = chosen_runs(rows)  # every accepted file names its chosen runs without an error
        assert names and all(isinstance(n, str) for n in names)


LABEL_ARRAYS = hnp.arrays(dtype=st.sampled_from([np.uint8, np.int16, np.int64, np.float32, np.float64,
                                                  np.bool_, np.uint64]),
                          shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=25))


@SETTINGS
@given(LABEL_ARRAYS)
@example(np.tile(np.arange(4, dtype=np.uint8), 5))
def test_released_labels_are_integers_in_range_or_refused(labels):
    from robeval.conditions.released import _read_npy

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "fog.npy", np.zeros((20, 8, 8, 3), np.uint8))  # 5 severities x 4 images
        np.save(folder / "labels.npy", labels)
        try:
            images, y, n = _read_npy(folder, "fog", 2, num_classes=10)
        except RobevalError:
            return
    assert n == 4 and images.shape == (4, 8, 8, 3) and y.dtype == np.int64
    assert np.issubdtype(labels.dtype, np.integer) and labels.shape == (20,)
    assert np.array_equal(y, labels[4:8]) and y.min() >= 0 and y.max() < 10


NUMBERISH = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.booleans(),
                      st.text(max_size=3), st.none())


@SETTINGS
@given(st.one_of(NUMBERISH, st.lists(NUMBERISH, max_size=4)), st.one_of(NUMBERISH, st.lists(NUMBERISH, max_size=4)))
def test_import_preprocessing_is_finite_or_refused(mean, std):
    from robeval.stages.importer import explicit_values

    try:
        pre = explicit_values({"mean": mean, "std": std}, {})
    except RobevalError:
        return
    for key in ("mean", "std"):
        values = pre[key] if isinstance(pre[key], list) else [pre[key]]
        assert len(values) in (1, 3) and all(math.isfinite(v) and not isinstance(v, bool) for v in values)
    assert all(v > 0 for v in (pre["std"] if isinstance(pre["std"], list) else [pre["std"]]))


@SETTINGS
@given(st.text(alphabet="0123456789.,-+einfa ", max_size=14))
def test_mean_std_text_parses_to_finite_numbers_or_one_error(text):
    from robeval.cli.options import parse_floats

    try:
        value = parse_floats(None, None, text)
    except click.BadParameter:
        return
    values = value if isinstance(value, list) else [value]
    assert len(values) in (1, 3) and all(math.isfinite(v) for v in values)


ENTRIES = {
    "config.json": lambda p: p.write_text(json.dumps({"config": {}, "model": {}, "dataset": {}})),
    "config.json?": lambda p: p.with_name("config.json").write_text('{"another": "tool"}'),
    "report.md": lambda p: p.write_text("# r"),
    "results.json": lambda p: p.write_text("{}"),
    "runs/": lambda p: p.with_name("runs").mkdir(),
    "report/": lambda p: p.with_name("report").mkdir(),
    "sweep.json": lambda p: p.write_text("{}"),
    ".robeval-output=report": lambda p: p.with_name(".robeval-output").write_text('{"kind": "report"}'),
    ".robeval-output=study": lambda p: p.with_name(".robeval-output").write_text('{"kind": "study"}'),
    ".robeval-output?": lambda p: p.with_name(".robeval-output").write_text("[1"),
    "notes.txt": lambda p: p.write_text("yours"),
}


@SETTINGS
@given(st.sets(st.sampled_from(sorted(ENTRIES)), max_size=5), st.sampled_from(["run", "report", "study"]),
       st.booleans(), st.booleans())
def test_the_output_rule_decides_any_folder_without_writing(entries, kind, overwrite, inside_run):
    from robeval.runs.destinations import check_folder, kind_of

    with tempfile.TemporaryDirectory() as tmp:
        parent = Path(tmp) / "parent"
        parent.mkdir()
        if inside_run:
            ENTRIES["config.json"](parent / "config.json")
        out = parent / "out"
        out.mkdir()
        for name in sorted(entries):
            ENTRIES[name](out / name.rstrip("/?").split("=")[0])
        before = snapshot(Path(tmp))
        try:
            state = check_folder(out, kind, overwrite=overwrite)
        except RobevalError as exc:
            assert str(exc).count("\n") == 0
            state = None
        assert snapshot(Path(tmp)) == before  # the rule only reads
        if state is not None:
            assert not inside_run
            found = kind_of(out)
            if state == "new":
                assert not any(out.iterdir())
            else:
                assert found is not None and found.name == kind and state == ("replace" if overwrite else "same")


@SETTINGS
@given(st.text(alphabet="abc.xlsvparquetCSV/ ", min_size=1, max_size=14), st.sampled_from([None, "csv", "parquet"]))
def test_an_export_name_and_its_format_agree_or_are_refused(name, fmt):
    from robeval.runs.destinations import check_file
    from robeval.stages.export import pick_format

    out = Path("/nonexistent-dir-for-robeval") / name
    try:
        writer = pick_format(out, fmt)
        check_file(out, suffixes=writer.suffixes)
    except RobevalError:
        return
    assert out.suffix.lower() in writer.suffixes and (fmt is None or writer.name == fmt)


@SETTINGS
@given(st.text(alphabet="0123456789:-", max_size=12))
@example("0")
@example("99999999999999999999")
def test_slurm_times_are_whole_minutes_or_refused(text):
    from robeval.cli.cluster import TIME, launch_options

    try:
        opts = launch_options("slurm", slurm_time=text)
    except click.BadParameter:
        assert not TIME.fullmatch(text.strip())
        return
    assert isinstance(opts.slurm.time, int) and opts.slurm.time >= 0
    assert (opts.slurm.time == 0) == (not any(c in "123456789" for c in text)) or not text


@SETTINGS
@given(st.dictionaries(st.sampled_from(["best_val_acc", "imported", "seed"]), JSON, max_size=3))
def test_a_summary_is_read_or_refused(summary):
    from robeval.runs import read_summary

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "summary.json").write_text(json.dumps(summary))
        try:
            got = read_summary(Path(tmp))
        except RobevalError:
            return
    best = got.get("best_val_acc")
    assert (got.get("imported") is True and best is None) or (
        isinstance(best, (int, float)) and not isinstance(best, bool))


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
