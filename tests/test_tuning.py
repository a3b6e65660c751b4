"""Per-variant selection of the setting (LR, S) on validation only, and `reproduce --lrs` /
`reproduce --scales` end to end on shapes."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from robeval import runs
from robeval.cli import cli
from robeval.stages.report import paired_rows
from robeval.stages.reproduce import ReproducePlan, reproduce
from robeval.stages.tuning import select_by_validation, setting
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


def _cosine_cells(vals: dict[tuple, float], head: str = "fixed") -> list[tuple[TrainConfig, float]]:
    """(lr, S, seed) -> validation accuracy, as select_by_validation's cells."""
    return [(TrainConfig(head=head, logits="cosine", lr=lr, scale=s, seed=seed), v)
            for (lr, s, seed), v in vals.items()]


def test_s_is_chosen_on_validation_even_when_test_would_pick_another():
    # (lr, S, seed) -> (validation, test): test would pick (0.5, S 1); validation picks (0.1, S 8)
    acc = {(0.1, 1.0, 0): (0.70, 0.80), (0.1, 1.0, 1): (0.72, 0.81), (0.1, 8.0, 0): (0.85, 0.60),
           (0.1, 8.0, 1): (0.83, 0.62), (0.5, 1.0, 0): (0.60, 0.95), (0.5, 1.0, 1): (0.62, 0.94),
           (0.5, 8.0, 0): (0.80, 0.70), (0.5, 8.0, 1): (0.80, 0.71)}
    cells = _cosine_cells({k: v for k, (v, _t) in acc.items()})
    chosen, rows = select_by_validation(cells)
    test_best = max(acc, key=lambda k: acc[k][1])[:2]
    assert test_best == (0.5, 1.0)
    assert {setting(cells[i][0]) for i in chosen} == {(0.1, 8.0)} and len(chosen) == 2  # both seeds
    assert len(rows) == 4 and len({r["family"] for r in rows}) == 1  # one variant, four settings
    assert [(r["lr"], r["scale"]) for r in rows if r["chosen"]] == [(0.1, 8.0)]
    assert {(r["lr"], r["scale"]): round(r["val_mean"], 3) for r in rows}[(0.5, 8.0)] == 0.8


def test_ties_go_to_the_smaller_lr_then_the_smaller_s():
    # every setting ties: (smallest LR, smallest S)
    cells = _cosine_cells({(lr, s, 0): 0.5 for lr in (0.2, 0.1) for s in (8.0, 1.0)})
    chosen, _ = select_by_validation(cells)
    assert [setting(cells[i][0]) for i in chosen] == [(0.1, 1.0)]
    # a smaller LR beats a smaller S: (0.1, S 8) and (0.2, S 1) tie, (0.1, S 8) is kept
    cells = _cosine_cells({(0.1, 8.0, 0): 0.6, (0.2, 1.0, 0): 0.6, (0.1, 1.0, 0): 0.4, (0.2, 8.0, 0): 0.4})
    chosen, _ = select_by_validation(cells)
    assert [setting(cells[i][0]) for i in chosen] == [(0.1, 8.0)]
    # no LR sweep (the preset's LR): a tie between S values keeps the smaller S
    cells = _cosine_cells({(None, 8.0, 0): 0.6, (None, 2.0, 0): 0.6, (None, 1.0, 0): 0.5})
    chosen, _ = select_by_validation(cells)
    assert [setting(cells[i][0]) for i in chosen] == [(None, 2.0)]


def test_dot_heads_ignore_the_scales():
    plan = ReproducePlan(seeds=(0, 1), scales=(1.0, 8.0), lrs=(0.1, 0.2))
    cfgs = plan.configs()
    dot = [c for c in cfgs if c.logits == "dot"]
    assert len(dot) == 2 * 2 * 2 and {setting(c)[1] for c in dot} == {None}  # 2 heads x 2 LRs x 2 seeds
    vals = {("learned", 0.1): 0.3, ("learned", 0.2): 0.6, ("fixed", 0.1): 0.7, ("fixed", 0.2): 0.2}
    cells = [(c, vals.get((c.head, c.lr), 0.5) + 0.01 * (c.scale or 0)) for c in cfgs]
    chosen, rows = select_by_validation(cells)
    dot_rows = [r for r in rows if r["logits"] == "dot"]
    assert len(dot_rows) == 4 and all(r["scale"] is None and r["n"] == 2 for r in dot_rows)
    picked = {(cells[i][0].head, cells[i][0].logits, setting(cells[i][0])) for i in chosen}
    assert {p for p in picked if p[1] == "dot"} == {("learned", "dot", (0.2, None)), ("fixed", "dot", (0.1, None))}
    # cosine: the same base values, +0.08 at S 8: each keeps S 8 at its best LR
    assert {p for p in picked if p[1] == "cosine"} == {("learned", "cosine", (0.2, 8.0)),
                                                      ("fixed", "cosine", (0.1, 8.0))}
    assert setting(TrainConfig(logits="dot", scale=8.0, lr=0.1)) == (0.1, None)  # a stray S is not one


def test_reproduce_scales_sweep_evaluates_the_chosen_s_only(tmp_path, data_dir):
    study = tmp_path / "study"
    out = CliRunner().invoke(cli, ["reproduce", "--seeds", "1", "--epochs", "1", "--max-train", "256",
                                   "--conditions", "clean", "--scales", "1,8", "--workers", "1",
                                   "--device", "cpu", "--quiet", "--out", str(study)])
    assert out.exit_code == 0, out.output
    sweep = json.loads((study / "sweep.json").read_text())["rows"]
    assert sweep == json.loads((study / "report" / "results.json").read_text())["sweep"]
    rows = json.loads((study / "report" / "results.json").read_text())["rows"]
    run_dirs = sorted((study / "runs").iterdir())
    assert len(run_dirs) == 2 + 2 * 2  # dot heads once, cosine heads at each S
    assert len([d for d in run_dirs if (d / runs.EVAL_JSON).exists()]) == 4  # one per variant
    for r in (r for r in sweep if r["chosen"] and r["scale"] is not None):
        assert f"{r['family']} (S {r['scale']:g})" in out.output  # the CLI names the choice
    for row in sweep:
        folder = study / "runs" / f"shapes-tinycnn-{row['variant']}-seed0"
        val = json.loads((folder / runs.SUMMARY).read_text())["best_val_acc"]
        assert row["val_mean"] == val and (folder / runs.EVAL_JSON).exists() == row["chosen"]
    for family in {r["family"] for r in sweep}:
        mine = [r for r in sweep if r["family"] == family]
        assert sum(r["chosen"] for r in mine) == 1
        assert max(mine, key=lambda r: (r["val_mean"], -(r["scale"] or 0)))["chosen"]
    chosen_cos = {r["variant"] for r in sweep if r["chosen"] and r["logits"] == "cosine"}
    assert {r["variant"] for r in rows if r["logits"] == "cosine"} == chosen_cos

    md = (study / "report" / "report.md").read_text()
    assert "Tuning: S per head variant, chosen on validation" in md
    assert "only validation accuracy was read" in md and "smaller LR, then the smaller S" in md
    header = next(line for line in md.splitlines() if "val % at S 1" in line)
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[-4:] == ["val % at S 1", "val % at S 8", "chosen LR", "chosen S"]
    for r in (r for r in sweep if r["logits"] == "cosine" and r["chosen"]):
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| shapes | tinycnn | {r['family']} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        star = cols.index(f"val % at S {r['scale']:g}")
        assert "★" in cells[star] and "★" not in cells[{3: 4, 4: 3}[star]]  # not in the other S
        assert cells[-1] == f"{r['scale']:g}" and cells[-2] == "preset"

    # `robeval report` reads the sweep back: the same tuning table, the chosen runs only
    again = CliRunner().invoke(cli, ["report", str(study / "runs"), "--sweep", str(study / "sweep.json"),
                                     "--no-plots", "--out", str(tmp_path / "rep")])
    assert again.exit_code == 0, again.output
    res = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert res["sweep"] == sweep and {r["run"].split("/")[-1] for r in res["runs"]} == {
        d.name for d in run_dirs if (d / runs.EVAL_JSON).exists()}
    assert "Tuning: S per head variant, chosen on validation" in (tmp_path / "rep" / "report.md").read_text()
    # a run trained after the sweep (another name) is reported beside the chosen ones, not dropped
    chosen_dir = next(d for d in run_dirs if (d / runs.EVAL_JSON).exists())
    shutil.copytree(chosen_dir, tmp_path / "later" / "longer-run-seed0")
    cfg_file = tmp_path / "later" / "longer-run-seed0" / runs.CONFIG
    cfg = json.loads(cfg_file.read_text())
    cfg["config"]["seed"] = cfg["model"]["seed"] = 7  # another seed of the same setting
    cfg_file.write_text(json.dumps(cfg))
    unchosen = [d for d in run_dirs if not (d / runs.EVAL_JSON).exists()]
    later = CliRunner().invoke(cli, ["report", str(study / "runs"), str(tmp_path / "later"), "--sweep",
                                     str(study / "sweep.json"), "--no-plots", "--out", str(tmp_path / "rep2")])
    assert later.exit_code == 0, later.output
    names = {r["run"].split("/")[-1] for r in json.loads((tmp_path / "rep2" / "results.json").read_text())["runs"]}
    assert "longer-run-seed0" in names and not names & {d.name for d in unchosen}
    bad = CliRunner().invoke(cli, ["report", str(study / "runs"), "--sweep", str(study / "report" / "results.json"),
                                   "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "is not a reproduce sweep.json" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists()


def test_reproduce_help_says_s_is_chosen_with_the_lr():
    out = CliRunner().invoke(cli, ["reproduce", "--help"])
    assert out.exit_code == 0
    text = " ".join(out.output.split())
    assert "S is chosen per cosine variant on validation together with the LR" in text


def _cos_record(head: str, scale: float, seed: int, acc: float) -> dict:
    cfg = {"dataset": "shapes", "arch": "tinycnn", "head": head, "logits": "cosine", "scale": scale,
           "init": "sphere", "learn_scale": False, "margin": 0.0}
    return {"run": f"r-{head}-{scale:g}-{seed}", "variant": f"{head}-cosine-S{scale:g}", "seed": seed,
            "config": cfg, "accuracy": {"clean": acc}, "conditions": {"clean": {"kind": "clean"}},
            "best_val_acc": None}


def test_fixed_and_learned_are_paired_at_their_own_chosen_s():
    # tuning kept S 8 for the fixed head and S 1 for the learned one: still one paired row
    recs = [_cos_record("fixed", 8.0, s, a) for s, a in ((0, 0.9), (1, 0.8))]
    recs += [_cos_record("learned", 1.0, s, a) for s, a in ((0, 0.5), (1, 0.6))]
    (p,) = paired_rows(recs)
    assert (p["fixed"], p["learned"], p["scale"], p["partner_scale"]) == (
        "fixed-cosine-S8", "learned-cosine-S1", 8.0, 1.0)
    assert round(p["mean"], 6) == 0.3
    # a learned run at the same S is preferred when there is one
    recs += [_cos_record("learned", 8.0, s, 0.7) for s in (0, 1)]
    assert {(r["fixed"], r["learned"]) for r in paired_rows(recs)} == {("fixed-cosine-S8", "learned-cosine-S8")}


def test_learned_scale_variants_choose_their_starting_s():
    cfgs = ReproducePlan(seeds=(0,), scales=(1.0, 8.0), heads="paper+baselines").configs()
    # validation favours S 8 for NormFace, S 1 for everything else
    cells = [(c, 0.6 if (c.learn_scale and c.head == "learned") == (c.scale == 8.0) else 0.4) for c in cfgs]
    chosen, rows = select_by_validation(cells)
    by_family = {}
    for r in rows:
        by_family.setdefault(r["family"], []).append(r)
    assert {f: [r["scale"] for r in rs if r["chosen"]] for f, rs in by_family.items()} == {
        "learned-dot": [None], "fixed-dot": [None], "learned-cosine": [1.0], "fixed-cosine": [1.0],
        "learned-cosine-learnS": [8.0], "learned-cosine-m0.35": [1.0], "fixed-cosine-hadamard-learnS": [1.0]}
    assert len(chosen) == len(by_family)  # one run per variant (one seed)
