"""Condition kinds, logits-kind labels and head-sets are records: every one registered is checked,
and a kind or head-set added in a test reaches the report, the CLI and the grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from robeval.analysis.condition_kinds import CONDITION_KINDS, ConditionKind, condition_kind
from robeval.cli import cli
from robeval.conditions import SOURCES, Condition, ConditionSource
from robeval.data import ImageSet
from robeval.models.kinds import LOGITS_KINDS, LogitsKind, logits_label
from robeval.runs.outputs import EvalOutputs
from robeval.stages.headsets import HEAD_SETS, HeadSet, HeadVariant, head_grid
from robeval.stages.reproduce import ReproducePlan
from robeval.training.config import TrainConfig, with_preset_defaults

# ---------------------------------------------------------------- condition kinds


@pytest.mark.parametrize("name", CONDITION_KINDS.names())
def test_every_condition_kind_record_is_complete(name):
    kind = CONDITION_KINDS.get(name)
    assert kind.name == name and kind.label
    assert kind.split in ("test", None)
    assert condition_kind(name) is kind
    if kind.headline:
        assert kind.headline_row == (kind.summary or name)
    rows = EvalOutputs("x:y", {"kind": name}, *[np.zeros(1)] * 4, None)
    assert rows.source == (kind.split or "x:y")


def test_summary_rows_and_ranks_are_distinct():
    kinds = CONDITION_KINDS.records()
    summaries = [k.summary for k in kinds if k.summary]
    assert len(set(summaries)) == len(summaries)
    assert len({k.rank for k in kinds}) == len(kinds)


def test_an_unknown_kind_on_disk_reads_as_custom():
    assert condition_kind("from-a-newer-robeval") is CONDITION_KINDS.get("custom")
    assert condition_kind(None) is CONDITION_KINDS.get("custom")
    rows = EvalOutputs("odd", {"kind": "from-a-newer-robeval"}, *[np.zeros(1)] * 4, None)
    assert rows.source == "test"


# ---------------------------------------------------------------- logits kinds


@pytest.mark.parametrize("name", LOGITS_KINDS.names())
def test_every_logits_kind_has_a_label_and_preset_numbers(name):
    kind = LOGITS_KINDS.get(name)
    assert kind.label(2.0) == (f"{name} S = 2" if kind.uses_scale else name)
    assert logits_label(name, 2.0 if kind.uses_scale else None) == kind.label(2.0)
    assert kind.weight_decay >= 0 and kind.small_scale_lr > 0
    for preset in ("authors", "quick", "fast", "cpu"):
        cfg = with_preset_defaults(TrainConfig(logits=name, preset=preset), 32)
        assert cfg.weight_decay == kind.weight_decay


def test_presets_read_the_logits_kinds_numbers():
    """The authors' protocol and the quick preset's per-head LRs, as the docstrings state them."""
    def filled(preset, head, logits, scale=None):
        cfg = with_preset_defaults(TrainConfig(head=head, logits=logits, preset=preset, scale=scale), 32)
        return cfg.lr, cfg.weight_decay

    assert filled("authors", "learned", "dot") == (0.001, 5e-4)
    assert filled("authors", "fixed", "dot") == (0.1, 5e-4)
    assert filled("authors", "learned", "cosine") == (0.1, 0.0)
    assert filled("quick", "fixed", "cosine", 1.0) == (0.5, 0.0)
    assert filled("quick", "fixed", "cosine", 10.0) == (0.1, 0.0)
    assert filled("cpu", "learned", "dot") == (0.1, 5e-4)


def test_an_unregistered_logits_kind_keeps_its_name_and_s():
    assert logits_label("arcface", 30.0) == "arcface S = 30"
    assert logits_label("arcface", None) == "arcface"


# ---------------------------------------------------------------- head-sets


@pytest.mark.parametrize("name", HEAD_SETS.names())
def test_every_head_set_resolves_and_its_variants_parse_back(name):
    grid = HEAD_SETS.get(name).grid()
    assert grid and head_grid(name) == grid and HEAD_SETS.get(name).description
    assert head_grid(",".join(v.name for v in grid)) == grid  # each variant by its name
    assert len(set(grid)) == len(grid)


def test_heads_paper_is_the_default_grid_and_extra_heads_is_paper_extra():
    default = ReproducePlan(seeds=(0,)).configs()
    assert ReproducePlan(seeds=(0,), heads="paper").configs() == default
    old = ReproducePlan(seeds=(0,), extra_heads=True).configs()
    assert ReproducePlan(seeds=(0,), heads="paper,extra").configs() == old
    assert len(old) == len(default) + len(HEAD_SETS.get("extra").variants)


def test_paper_grid_takes_the_plans_init_and_sets_combine_in_order():
    grid = head_grid("paper,fixed-cosine-hadamard-learnS,paper", init="authors")
    assert [v.name for v in grid] == ["learned-dot-authors", "fixed-dot-authors",
                                      "learned-cosine-authors", "fixed-cosine-authors",
                                      "fixed-cosine-hadamard-learnS"]
    assert head_grid("paper+baselines") == head_grid("paper,baselines")


def test_deprecated_grid_names_read_head_sets():
    from robeval.stages.reproduce import EXTRA_HEADS, PAPER_GRID

    assert PAPER_GRID == tuple((v.head, v.logits) for v in HEAD_SETS.get("paper").variants)
    assert EXTRA_HEADS[-1] == ("fixed", "cosine", "hadamard", True)


@pytest.fixture
def captured_plan(monkeypatch):
    """The plan `robeval reproduce` builds, kept instead of trained (the grid is what is under
    test; training it is tests/test_reproduce.py's)."""
    from robeval.stages import reproduce as stage

    plans = []

    def keep(plan, *args, **kwargs):
        plans.append(plan)
        return {"pending": 0, "submitted": 0, "logs": "-", "failed": {}}  # the CLI stops there

    monkeypatch.setattr(stage, "reproduce", keep)
    return plans


def _grid(plan) -> list:
    return [(c.head, c.logits, c.init, c.learn_scale, c.margin) for c in plan.configs()]


def test_extra_heads_flag_says_the_new_spelling_once_and_gives_the_same_grid(captured_plan, tmp_path):
    runner = CliRunner()
    old = runner.invoke(cli, ["reproduce", "--extra-heads", "--out", str(tmp_path / "a")])
    new = runner.invoke(cli, ["reproduce", "--heads", "paper,extra", "--out", str(tmp_path / "b")])
    assert old.exit_code == 0 and new.exit_code == 0, old.output + new.output
    lines = [line for line in old.stderr.splitlines() if "deprecated" in line]
    assert len(lines) == 1 and "--heads paper,extra" in lines[0]
    assert "deprecated" not in new.stderr
    assert _grid(captured_plan[0]) == _grid(captured_plan[1])
    assert ("fixed", "cosine", "simplex-etf", False, 0.0) in _grid(captured_plan[1])


@pytest.fixture
def my_head_set():
    head_set = HEAD_SETS.add(HeadSet("etf-only", (HeadVariant("fixed", "dot", "simplex-etf"),),
                                     "a head-set registered by a test"))
    yield head_set
    HEAD_SETS.remove("etf-only")


def test_a_head_set_added_is_listed_in_help_and_accepted(my_head_set, captured_plan, tmp_path):
    runner = CliRunner()
    assert "etf-only" in runner.invoke(cli, ["reproduce", "--help"]).output
    res = runner.invoke(cli, ["reproduce", "--heads", "paper,etf-only", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert _grid(captured_plan[0])[-1] == ("fixed", "dot", "simplex-etf", False, 0.0)
    res = runner.invoke(cli, ["reproduce", "--heads", "paper,etf-onl", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "etf-only" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------- a new kind in the report


def _scaled_dot(h, w, scale):
    return scale * (h @ w.t())


@pytest.fixture
def new_kinds():
    """An ``adversarial`` condition kind with its condition source, and a ``scaled`` logits kind
    (S x dot product), registered for one test and removed after it."""
    kind = CONDITION_KINDS.add(ConditionKind("adversarial", "attacks", "attacks (mean)", rank=5,
                                             headline=True, members="attacks"))
    logits = LOGITS_KINDS.add(LogitsKind("scaled", _scaled_dot, uses_scale=True, normalised=False,
                                         weight_decay=5e-4))

    def inverted(ctx) -> ImageSet:
        clean = ctx.clean_test
        return replace(clean, images=255 - clean.images, name="adv:invert")

    SOURCES.add(ConditionSource("adv", lambda ds: [Condition("adv:invert", "adversarial", inverted,
                                                             family="invert")]))
    yield kind, logits
    SOURCES.remove("adv")
    LOGITS_KINDS.remove("scaled")
    CONDITION_KINDS.remove("adversarial")


def test_a_new_condition_and_logits_kind_are_labelled_from_their_records(new_kinds, tmp_path, data_dir):
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.report import write_report
    from robeval.stages.train import train

    dirs = []
    for head in ("learned", "fixed"):
        cfg = TrainConfig(head=head, logits="scaled", scale=2.0, epochs=1, max_train=256,
                          val_fraction=0.1, seed=0)
        run = tmp_path / "runs" / head
        train(cfg, run, device="cpu", data_dir=str(data_dir), progress=False)
        evaluate_run(run, "clean,adv:invert", device="cpu", data_dir=str(data_dir), progress=False)
        dirs.append(run)
    write_report(dirs, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    headline = next(line for line in text.splitlines() if line.startswith("| head variant"))
    assert "attacks" in headline  # the kind's label heads its column
    assert "mean of 1 attacks" in text  # ... and says what its mean is over
    assert "attacks (mean)" in text  # its summary row, in the accuracy table
    assert "scaled S = 2" in text  # the logits kind's label, in the class-vector figure caption
    assert "cosine S = 2" not in text
