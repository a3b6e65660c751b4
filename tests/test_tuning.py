"""Per-variant LR selection on validation only, and `reproduce --lrs` end to end on shapes."""

from __future__ import annotations

import json

from robeval import runs
from robeval.stages.reproduce import ReproducePlan, reproduce
from robeval.stages.tuning import select_by_validation
from robeval.training.config import TrainConfig


def test_selection_reads_validation_even_when_test_would_pick_otherwise():
    # (lr, seed) -> (validation accuracy, test accuracy): on test, LR 0.5 would win; on validation 0.1
    runs_ = {(0.1, 0): (0.80, 0.60), (0.1, 1): (0.82, 0.61), (0.5, 0): (0.75, 0.90), (0.5, 1): (0.70, 0.91)}
    cells = [(TrainConfig(head="fixed", logits="cosine", scale=1.0, lr=lr, seed=s), val)
             for (lr, s), (val, _test) in runs_.items()]
    chosen, rows = select_by_validation(cells)
    test_best = max(runs_, key=lambda k: runs_[k][1])[0]
    assert test_best == 0.5 and {cells[i][0].lr for i in chosen} == {0.1}
    assert [(r["lr"], r["chosen"], round(r["val_mean"], 3)) for r in rows] == [(0.1, True, 0.81),
                                                                              (0.5, False, 0.725)]


def test_selection_is_per_variant_and_ties_keep_the_smaller_lr():
    cells = [(TrainConfig(head=h, logits="dot", lr=lr, seed=0), v)
             for h, lr, v in (("learned", 0.1, 0.5), ("learned", 0.2, 0.5), ("fixed", 0.1, 0.4),
                              ("fixed", 0.2, 0.6))]
    chosen, _ = select_by_validation(cells)
    assert {(cells[i][0].head, cells[i][0].lr) for i in chosen} == {("learned", 0.1), ("fixed", 0.2)}


def test_reproduce_sweep_evaluates_the_chosen_runs_only(tmp_path, data_dir):
    plan = ReproducePlan(archs=("tinycnn",), seeds=(0,), epochs=1, max_train=256, conditions="clean",
                         lrs=(0.01, 0.3))
    result = reproduce(plan, tmp_path / "study", device="cpu", progress=False)
    run_dirs = sorted((tmp_path / "study" / "runs").iterdir())
    assert len(run_dirs) == 8  # 4 head variants x 2 learning rates, every one trained
    evaluated = [d for d in run_dirs if (d / runs.EVAL_JSON).exists()]
    assert len(evaluated) == 4
    for row in result["sweep"]:
        folder = tmp_path / "study" / "runs" / f"shapes-tinycnn-{row['variant']}-lr{row['lr']:g}-seed0"
        val = json.loads((folder / runs.SUMMARY).read_text())["best_val_acc"]
        assert row["val_mean"] == val and (folder / runs.EVAL_JSON).exists() == row["chosen"]
    for variant in {r["variant"] for r in result["sweep"]}:
        mine = [r for r in result["sweep"] if r["variant"] == variant]
        assert max(mine, key=lambda r: (r["val_mean"], -r["lr"]))["chosen"]
    md = (tmp_path / "study" / "report" / "report.md").read_text()
    assert "chosen on validation" in md and "val % at LR 0.01" in md and "val % at LR 0.3" in md
