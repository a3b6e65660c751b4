"""Per-epoch geometry tracking (robeval/training/track.py) written by train into metrics.jsonl."""

import json
import math

import numpy as np
import pytest

from robeval import runs
from robeval.analysis.collapse import neural_collapse
from robeval.models.inference import predict
from robeval.runs.model import load_run_model, predict_kwargs
from robeval.stages.train import load_train_val, train
from robeval.training import track
from tests.helpers import tiny_config


def _rows(out):
    return [json.loads(line) for line in (out / runs.METRICS).read_text().splitlines() if line]


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("track") / "learned"
    train(tiny_config(max_train=256, epochs=2), out, progress=False)
    return out


def test_rows_have_finite_tracked_fields(learned_run):
    rows = _rows(learned_run)
    assert len(rows) == 2
    for row in rows:
        for key in track.TRACKED:
            assert math.isfinite(row[key]), key
        assert row["track_w_move"] > 0  # a learned head moves


def test_nc1_matches_checkpoint_recompute(learned_run):
    model, cfg, _ = load_run_model(learned_run, "last")
    _, val = load_train_val(cfg, None)
    idx = track.subset_indices(len(val), cfg.seed)
    logits, feats = predict(model, val.images[idx], "cpu", features=True, **predict_kwargs(cfg))
    nc = neural_collapse(feats, val.labels[idx], logits, track.head_weight(model))["nc1"]
    assert abs(nc - _rows(learned_run)[-1]["track_nc1"]) < 1e-5 * max(1.0, abs(nc))


def test_fixed_head_zero_movement_and_no_track(tmp_path):
    out = tmp_path / "fixed"
    train(tiny_config(max_train=128, epochs=1, head="fixed", logits="cosine"), out, progress=False)
    assert _rows(out)[0]["track_w_move"] == 0.0
    out2 = tmp_path / "off"
    train(tiny_config(max_train=128, epochs=1, track=False), out2, progress=False)
    assert not any(k in _rows(out2)[0] for k in track.TRACKED)
    assert json.loads((out2 / runs.CONFIG).read_text())["config"]["track"] is False


def test_subset_fixed_by_seed():
    assert np.array_equal(track.subset_indices(1000, 3), track.subset_indices(1000, 3))
    assert len(track.subset_indices(100, 3)) == 100


def test_reproduce_passes_no_track_to_every_cell():
    from robeval.stages.reproduce import ReproducePlan

    assert all(c.track for c in ReproducePlan().configs())
    off = ReproducePlan(track=False, heads="paper+baselines").configs()
    assert off and not any(c.track for c in off)


def test_report_plots_the_tracked_geometry(learned_run, tmp_path):
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.report import write_report
    from robeval.stages.report.figures import TRACKED

    assert set(TRACKED) == set(track.TRACKED)  # every tracked field has a panel
    untracked = tmp_path / "untracked"
    train(tiny_config(max_train=256, epochs=1, head="fixed", track=False), untracked, progress=False)
    for run in (learned_run, untracked):
        evaluate_run(run, "clean", device="cpu", progress=False)
    write_report([learned_run], tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "-tracking.png" in md and "geometry over training" in md
    assert list((tmp_path / "rep" / "plots").glob("*-tracking.png"))
    write_report([untracked], tmp_path / "rep2")
    assert "-tracking.png" not in (tmp_path / "rep2" / "report.md").read_text()
