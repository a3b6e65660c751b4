import json

from robeval import runs
from robeval.runs import run_name
from robeval.stages.reproduce import PAPER_GRID, ReproducePlan, reproduce


def test_reproduce_grid_in_two_workers_then_skips_finished(tmp_path):
    plan = ReproducePlan(seeds=(0,), epochs=1, max_train=256, conditions="clean")
    result = reproduce(plan, tmp_path / "study", devices=["cpu", "cpu"], progress=False)
    run_dirs = sorted((tmp_path / "study" / "runs").iterdir())
    assert len(run_dirs) == len(PAPER_GRID)
    assert all(runs.is_finished(d) and (d / runs.EVAL_JSON).exists() for d in run_dirs)
    variants = {r["variant"] for r in result["rows"]}
    assert variants == {"learned-dot", "fixed-dot", "learned-cosine-S1", "fixed-cosine-S1"}
    assert (tmp_path / "study" / "report" / "report.md").exists()

    stamps = {d: (d / runs.BEST).stat().st_mtime_ns for d in run_dirs}
    again = reproduce(plan, tmp_path / "study", progress=False)  # nothing left to do
    assert all((d / runs.BEST).stat().st_mtime_ns == stamps[d] for d in run_dirs)
    assert again["timings"]["train_s"] < 5

    # a new condition is evaluated without retraining
    plan.conditions = "clean,genset:shapes-shift"
    reproduce(plan, tmp_path / "study", progress=False)
    ev = json.loads((run_dirs[0] / runs.EVAL_JSON).read_text())
    assert set(ev["conditions"]) == {"clean", "genset:shapes-shift"}
    assert all((d / runs.BEST).stat().st_mtime_ns == stamps[d] for d in run_dirs)


def test_plan_spans_encoders_scales_and_seeds():
    plan = ReproducePlan(archs=("smallcnn", "resnet18"), seeds=(0, 1, 2), scales=(1.0, 10.0))
    cfgs = plan.configs()
    # per encoder: 2 dot variants + 2 cosine variants x 2 scales, each over 3 seeds
    assert len(cfgs) == 2 * (2 + 2 * 2) * 3
    names = {run_name(c) for c in cfgs}
    assert len(names) == len(cfgs)  # every cell has its own run folder
    assert {c.arch for c in cfgs} == {"smallcnn", "resnet18"}
    assert {c.scale for c in cfgs if c.logits == "cosine"} == {1.0, 10.0}


def test_printed_summary_says_how_many_seeds_each_wide_interval_needs(tmp_path):
    """Two seeds give wide intervals; every claim line in results.json that says how many seeds
    its effect would need is printed under its verdict, with the note on what the number means."""
    from click.testing import CliRunner

    from robeval.cli import cli

    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["reproduce", "--seeds", "2", "--epochs", "1", "--max-train", "256",
                                      "--conditions", "clean", "--no-track", "--workers", "1",
                                      "--quiet", "--out", str(out), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    claims = json.loads((out / "report" / "results.json").read_text())["claims"]
    needs = [line for c in claims for line in c["seeds_needed"]]
    assert needs  # n = 2 intervals (t = 12.7) span 0
    assert all(f"        {line}\n" in result.output for line in needs)
    assert any("seeds for its 95% interval to exclude 0" in line for line in needs)
    assert "seeds needed: where an interval spans 0" in result.output
