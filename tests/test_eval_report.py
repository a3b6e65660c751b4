import csv
import json

import numpy as np
import pytest
import torch

from robeval import runs
from robeval.analysis.stats import t_interval
from robeval.runs.outputs import condition_filename
from robeval.stages.evaluate import evaluate_run
from robeval.stages.report import aggregate, write_report
from robeval.stages.train import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def evaluated_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("evr")
    out = []
    for seed in (0, 1):
        run = root / f"fixed-dot-{seed}"
        train(tiny_config(head="fixed", logits="dot", epochs=1, max_train=256, seed=seed), run, progress=False)
        evaluate_run(run, "clean,genset:shapes-shift", progress=False)
        out.append(run)
    return out


def test_eval_outputs_have_one_row_per_image(evaluated_runs):
    run = evaluated_runs[0]
    ev = json.loads((run / runs.EVAL_JSON).read_text())
    assert set(ev["conditions"]) == {"clean", "genset:shapes-shift"}
    for name, n_expected in (("clean", 2000), ("genset:shapes-shift", 2000)):
        with np.load(run / "eval" / condition_filename(name)) as z:
            n = len(z["labels"])
            assert n == n_expected == ev["conditions"][name]["n"]
            assert z["predictions"].shape == (n,) and z["logits"].shape == (n, 10)
            assert z["features"].shape == (n, 128)
            assert np.array_equal(z["predictions"], z["logits"].argmax(1))
            assert ev["conditions"][name]["accuracy"] == pytest.approx((z["predictions"] == z["labels"]).mean())


def test_eval_logits_match_the_saved_head(evaluated_runs):
    """Stored logits equal the head applied to stored features: the files are self-consistent."""
    run = evaluated_runs[0]
    with np.load(run / "eval" / "head.npz") as h, np.load(run / "eval" / "clean.npz") as z:
        logits = z["features"] @ h["weight"].T + h["bias"]
        np.testing.assert_allclose(logits, z["logits"], rtol=1e-4, atol=1e-4)
        state = torch.load(run / runs.BEST, weights_only=True)["model"]
        assert np.array_equal(h["weight"], state["head.weight"].numpy())


def test_seed_summary_arithmetic():
    s = t_interval([0.5, 0.7, 0.9])
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.7)
    assert s["std"] == pytest.approx(0.2)  # sample std (ddof=1) of 0.5, 0.7, 0.9
    one = t_interval([0.42])
    assert one["n"] == 1 and one["mean"] == pytest.approx(0.42) and one["std"] is None


def test_report_groups_seeds(evaluated_runs, tmp_path):
    rows = write_report(evaluated_runs, tmp_path / "rep")
    clean = [r for r in rows if r["condition"] == "clean"]
    assert len(clean) == 1 and clean[0]["n"] == 2 and clean[0]["seeds"] == [0, 1]
    accs = [json.loads((r / runs.EVAL_JSON).read_text())["conditions"]["clean"]["accuracy"]
            for r in evaluated_runs]
    assert clean[0]["mean"] == pytest.approx(np.mean(accs))
    assert clean[0]["std"] == pytest.approx(np.std(accs, ddof=1))
    with open(tmp_path / "rep" / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    by_condition = {r["condition"]: r for r in table}
    assert set(by_condition) == {"clean", "genset:shapes-shift", "generalisation (mean)"}
    # the summary row averages the (single) generalisation set per seed: the same numbers
    assert float(by_condition["generalisation (mean)"]["mean"]) == pytest.approx(
        float(by_condition["genset:shapes-shift"]["mean"]))
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"{100 * np.mean(accs):.2f}" in md and ", n = 2" in md


def test_report_refuses_duplicate_seeds(evaluated_runs):
    from robeval.core.errors import RobevalError
    from robeval.stages.report import collect

    records = collect([evaluated_runs[0], evaluated_runs[0]])
    with pytest.raises(RobevalError, match="same seed"):
        aggregate(records)


def test_eval_builds_with_the_chosen_corruption_backend(evaluated_runs, tmp_path, monkeypatch):
    """eval --corrupt-backend fast reaches the families' fast paths (the option was read but
    never set before); a family without one is built and cached once, by the reference."""
    from click.testing import CliRunner

    from robeval.cli import cli

    monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path))
    res = CliRunner().invoke(cli, ["eval", str(evaluated_runs[0]), "--conditions",
                                   "impulse_noise/2,jpeg_compression/2", "--corrupt-backend", "fast",
                                   "--no-features", "--quiet"])
    assert res.exit_code == 0, res.output
    built = sorted(p.relative_to(tmp_path / "corruptions").as_posix()
                   for p in tmp_path.rglob("*.npz") if "corruptions" in p.parts)
    assert built == ["shapes/test/cifar/fast/impulse_noise-2.npz",
                     "shapes/test/cifar/reference/jpeg_compression-2.npz"]
    params = json.loads((evaluated_runs[0] / "eval.json").read_text())["conditions"]
    assert params["impulse_noise/2"]["params"]["table"] == "cifar"
