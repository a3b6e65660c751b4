"""robeval export: one row per (run, condition, image) from what robeval eval stored, CSV and
Parquet alike, and bad inputs refused before anything is written."""

import json
import os
import shutil
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from robeval import runs
from robeval.cli import cli
from robeval.cli.export import EXPORT_FORMATS
from robeval.core.errors import RobevalError
from robeval.stages.evaluate import evaluate_run
from robeval.stages.export import COLUMNS, FORMATS, export
from robeval.stages.train import train
from tests.helpers import tiny_config

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def runs_dirs(tmp_path_factory):
    """fixed-dot evaluated with features on clean and the shifted set; learned cosine S = 5
    evaluated on clean without features."""
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("export")
    a, b = root / "fixed-dot-0", root / "learned-cosine-3"
    train(tiny_config(head="fixed", logits="dot", epochs=1, max_train=256), a, progress=False)
    evaluate_run(a, "clean,genset:shapes-shift", progress=False)
    train(tiny_config(logits="cosine", scale=5.0, epochs=1, max_train=256, seed=3), b, progress=False)
    evaluate_run(b, "clean", progress=False, features=False)
    return a, b


def invoke(*args):
    result = CliRunner().invoke(cli, [str(x) for x in args])
    return result.exit_code, result.output  # stdout and stderr together


def _ev(run):
    return json.loads((run / runs.EVAL_JSON).read_text())["conditions"]


def test_rows_recompute_from_the_stored_outputs(runs_dirs, tmp_path):
    a, _ = runs_dirs
    out = tmp_path / "a.csv"
    code, output = invoke("export", a, "--out", out)
    assert code == 0, output
    df = pd.read_csv(out)
    ev = _ev(a)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == sum(c["n"] for c in ev.values()) == 4000
    assert f"{len(df)} rows from 1 runs" in output
    assert (df["variant"] == "fixed-dot").all() and (df["seed"] == 0).all() and (df["run"] == str(a)).all()
    assert df["correct"].dtype == bool
    assert (df["correct"] == (df["label"] == df["prediction"])).all()
    with np.load(a / "eval" / "head.npz") as h:
        w = torch.from_numpy(h["weight"]).double()
    for cond, info in ev.items():
        rows = df[df["condition"] == cond]
        with np.load(a / info["file"]) as z:
            logits, labels, preds = z["logits"], z["labels"], z["predictions"]
            feats, index = torch.from_numpy(z["features"]).double(), z["index"]
        assert np.array_equal(rows["label"], labels) and np.array_equal(rows["prediction"], preds)
        assert np.array_equal(rows["index"], index)
        assert rows["correct"].mean() == pytest.approx(info["accuracy"])
        conf = torch.from_numpy(logits).double().softmax(1).max(1).values.numpy()
        np.testing.assert_allclose(rows["confidence"], conf, rtol=1e-12, atol=1e-15)
        p, t = torch.from_numpy(preds).long(), torch.from_numpy(labels).long()
        np.testing.assert_allclose(rows["cos_pred"], F.cosine_similarity(feats, w[p], dim=1), atol=1e-9)
        np.testing.assert_allclose(rows["cos_true"], F.cosine_similarity(feats, w[t], dim=1), atol=1e-9)
        assert (rows["cos_pred"] >= rows["cos_true"] - 1e-12)[rows["correct"]].all()


def test_csv_and_parquet_read_back_as_the_same_frame(runs_dirs, tmp_path):
    pytest.importorskip("pyarrow")
    a, b = runs_dirs
    for fmt in FORMATS:
        code, output = invoke("export", a, b, "--format", fmt, "--out", tmp_path / f"all.{fmt}")
        assert code == 0, output
    from_csv = pd.read_csv(tmp_path / "all.csv", float_precision="round_trip")
    from_parquet = pd.read_parquet(tmp_path / "all.parquet")
    assert len(from_parquet) == 4000 + _ev(b)["clean"]["n"]
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_exact=True, check_dtype=False)
    assert str(from_parquet["correct"].dtype) == "bool" and str(from_parquet["seed"].dtype) == "int64"


def test_conditions_subset_and_runs_without_features(runs_dirs, tmp_path):
    a, b = runs_dirs
    out = tmp_path / "clean.csv"
    code, output = invoke("export", a, b, "--conditions", "clean", "--out", out)
    assert code == 0, output
    df = pd.read_csv(out)
    assert set(df["condition"]) == {"clean"}
    assert len(df) == _ev(a)["clean"]["n"] + _ev(b)["clean"]["n"]
    mine = df[df["run"] == str(b)]
    assert mine["cos_pred"].isna().all() and mine["cos_true"].isna().all()
    assert df[df["run"] == str(a)]["cos_pred"].notna().all()
    assert mine["variant"].nunique() == 1 and (mine["seed"] == 3).all()
    assert "evaluated without features" in output


def test_export_formats_match_the_registry():
    assert EXPORT_FORMATS == tuple(FORMATS)


def _refused(tmp_path, code, output, needle, out):
    assert code != 0, output
    assert "Traceback" not in output and needle in output, output
    assert len(output.strip().splitlines()) == 1 or code == 2, output
    assert not out.exists()
    assert not [p for p in out.parent.glob(".*.tmp")] if out.parent.is_dir() else True


@pytest.mark.parametrize("case", ["not-evaluated", "unknown-condition", "unknown-format", "missing-dir",
                                  "out-is-folder", "empty-conditions", "no-pyarrow"])
def test_bad_inputs_are_refused_with_one_line(runs_dirs, tmp_path, monkeypatch, case):
    a, _ = runs_dirs
    out = tmp_path / "x.csv"
    if case == "not-evaluated":
        bare = tmp_path / "bare"
        shutil.copytree(a, bare, ignore=shutil.ignore_patterns("eval", runs.EVAL_JSON))
        args, needle = (bare, "--out", out), "has no eval outputs; run `robeval eval"
    elif case == "unknown-condition":
        args, needle = (a, "--conditions", "clean,nosuch", "--out", out), "has no condition 'nosuch'"
    elif case == "unknown-format":
        args, needle = (a, "--format", "xlsx", "--out", out), "'xlsx' is not one of 'csv', 'parquet'"
    elif case == "missing-dir":
        out = tmp_path / "nope" / "x.csv"
        args, needle = (a, "--out", out), "does not exist"
    elif case == "out-is-folder":
        (tmp_path / "d").mkdir()
        out = tmp_path / "d" / "inner.csv"
        args, needle = (a, "--out", tmp_path), "is a directory"  # click's Path(dir_okay=False)
    elif case == "empty-conditions":
        args, needle = (a, "--conditions", ",", "--out", out), "--conditions is empty"
    else:
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
        out = tmp_path / "x.parquet"
        args, needle = (a, "--format", "parquet", "--out", out), "pip install robeval[export]"
    code, output = invoke("export", *args)
    _refused(tmp_path, code, output, needle, out)
    if case in ("unknown-format", "out-is-folder"):
        assert code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_unwritable_folder_is_refused(runs_dirs, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = invoke("export", runs_dirs[0], "--out", locked / "x.csv")
        _refused(tmp_path, code, output, "is not writable", locked / "x.csv")
    finally:
        locked.chmod(0o700)


def test_a_failed_write_leaves_nothing(runs_dirs, tmp_path):
    """A condition file gone missing mid-plan: refused before the output is begun."""
    a, _ = runs_dirs
    broken = tmp_path / "broken"
    shutil.copytree(a, broken)
    (broken / _ev(a)["genset:shapes-shift"]["file"]).unlink()
    out = tmp_path / "x.csv"
    with pytest.raises(RobevalError, match="is missing; re-run `robeval eval"):
        export([broken], out)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(RobevalError, match="is a folder"):  # the stage checks it too
        export([a], tmp_path)
