"""Calibration in the report: seed means of eval.json's nll/ece/brier/aurc, the CSV columns, the
section and figures, and runs evaluated before the fields existed."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from robeval import runs
from robeval.stages.evaluate import evaluate_run
from robeval.stages.report import write_report
from robeval.stages.report.aggregate import CALIBRATION_METRICS
from robeval.stages.train import train
from tests.helpers import tiny_config

CONDITIONS = "clean,defocus_blur/1,defocus_blur/3,genset:shapes-shift"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """fixed-dot over seeds 0 and 1, learned-dot seed 0: 1 epoch on 256 shapes images, evaluated
    on clean, two severities of one corruption and the shifted set."""
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("cal")
    data = str(root / "data")
    dirs = []
    for head, seed in (("fixed", 0), ("fixed", 1), ("learned", 0)):
        run = root / "runs" / f"{head}-dot-{seed}"
        train(tiny_config(head=head, logits="dot", epochs=1, max_train=256, seed=seed), run,
              progress=False, data_dir=data)
        evaluate_run(run, CONDITIONS, progress=False, data_dir=data)
        dirs.append(run)
    return dirs


@pytest.fixture(scope="module")
def report(evaluated, tmp_path_factory):
    out = tmp_path_factory.mktemp("calrep") / "report"
    rows = write_report(evaluated, out)
    return rows, out


def _ev(run) -> dict:
    return json.loads((run / runs.EVAL_JSON).read_text())["conditions"]


def _row(rows, variant, condition):
    return next(r for r in rows if r["variant"] == variant and r["condition"] == condition)


def test_seed_means_equal_the_runs_eval_json(evaluated, report):
    rows, _ = report
    fixed = [_ev(r) for r in evaluated[:2]]
    for cond in ("clean", "defocus_blur/3", "genset:shapes-shift"):
        for m in CALIBRATION_METRICS:
            vals = [e[cond][m] for e in fixed]
            got = _row(rows, "fixed-dot", cond)["calibration"][m]
            assert got["n"] == 2
            assert got["mean"] == pytest.approx(np.mean(vals), abs=1e-12)
            assert got["std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-12)
            assert got["ci_low"] < got["mean"] < got["ci_high"] or vals[0] == vals[1]
    # the family and corruption means: per seed over the severities, then over seeds
    per_seed = [np.mean([e["defocus_blur/1"]["ece"], e["defocus_blur/3"]["ece"]]) for e in fixed]
    for summary in ("defocus_blur (mean)", "corruptions (mean)"):
        assert _row(rows, "fixed-dot", summary)["calibration"]["ece"]["mean"] == pytest.approx(
            np.mean(per_seed), abs=1e-12)
    gen = _row(rows, "fixed-dot", "generalisation (mean)")["calibration"]["ece"]
    assert gen["mean"] == pytest.approx(np.mean([e["genset:shapes-shift"]["ece"] for e in fixed]))
    # one seed: a mean and no interval
    one = _row(rows, "learned-dot", "clean")["calibration"]["ece"]
    assert one["n"] == 1 and one["ci_low"] is None
    assert one["mean"] == pytest.approx(_ev(evaluated[2])["clean"]["ece"])


def test_results_csv_and_json_carry_calibration(report):
    rows, out = report
    with open(out / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    for m in CALIBRATION_METRICS:
        for s in ("mean", "ci_low", "ci_high", "std", "n"):
            assert f"{m}_{s}" in table[0]
    by = {(r["variant"], r["condition"]): r for r in table}
    clean = _row(rows, "fixed-dot", "clean")["calibration"]
    assert float(by[("fixed-dot", "clean")]["ece_mean"]) == pytest.approx(clean["ece"]["mean"])
    assert int(by[("fixed-dot", "clean")]["aurc_n"]) == 2
    assert by[("learned-dot", "clean")]["ece_ci_low"] == ""  # n = 1: no interval
    saved = json.loads((out / "results.json").read_text())["rows"]
    assert saved[0]["calibration"]["ece"]["mean"] == pytest.approx(rows[0]["calibration"]["ece"]["mean"])


def test_report_page_has_the_calibration_section_and_figures(report):
    rows, out = report
    md = (out / "report.md").read_text()
    assert "## Calibration" in md
    assert "ECE is top-label, 15 equal-width confidence bins; AURC ranks by max-softmax confidence" in md
    section = md.split("## Calibration", 1)[1].split("\n## ", 1)[0]
    assert f"{_row(rows, 'fixed-dot', 'clean')['calibration']['nll']['mean']:.3f}" in section
    assert "corruptions (mean)" in section and "generalisation (mean)" in section
    # one ECE figure per dataset/arch (a panel per corruption category), no per-family images
    fig = out / "plots" / "shapes-smallcnn-ece.png"
    assert fig.is_file() and fig.stat().st_size > 1000
    assert "plots/shapes-smallcnn-ece.png" in section
    assert not (out / "plots" / "shapes-smallcnn-ece-defocus_blur.png").exists()


def _strip_calibration(src, dst):
    """A copy of a run as robeval wrote it before eval.json had calibration fields."""
    shutil.copytree(src, dst)
    ev = json.loads((dst / runs.EVAL_JSON).read_text())
    for cond in ev["conditions"].values():
        for m in CALIBRATION_METRICS:
            cond.pop(m, None)
    (dst / runs.EVAL_JSON).write_text(json.dumps(ev))
    return dst


def test_old_eval_json_without_calibration_still_reports(evaluated, tmp_path):
    old = [_strip_calibration(r, tmp_path / r.name) for r in evaluated[:2]]
    rows = write_report(old, tmp_path / "old", analyze=False, plots=False)
    assert all(r["calibration"] == {} for r in rows)
    assert _row(rows, "fixed-dot", "clean")["n"] == 2  # accuracy is unaffected
    with open(tmp_path / "old" / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert all(r["ece_mean"] == "" and r["nll_n"] == "" for r in table)
    section = (tmp_path / "old" / "report.md").read_text().split("## Calibration", 1)[1].split("\n## ", 1)[0]
    assert "–" in section and "re-run" in section
    # one old seed beside a new one: calibration counts only the seed that has it
    mixed = write_report([evaluated[0], old[1]], tmp_path / "mixed", analyze=False, plots=False)
    clean = _row(mixed, "fixed-dot", "clean")
    assert clean["n"] == 2 and clean["calibration"]["ece"]["n"] == 1
    assert clean["calibration"]["ece"]["mean"] == pytest.approx(_ev(evaluated[0])["clean"]["ece"])


def test_stored_ece_equals_torchmetrics_on_the_runs_logits(evaluated):
    """End to end: eval.json's ECE against torchmetrics on the logits robeval eval stored."""
    tm = pytest.importorskip("torchmetrics.classification")
    run = evaluated[0]
    ev = _ev(run)
    for cond in ("clean", "defocus_blur/3"):
        with np.load(run / ev[cond]["file"]) as z:
            logits, labels = torch.from_numpy(z["logits"]).double(), torch.from_numpy(z["labels"])
        metric = tm.MulticlassCalibrationError(num_classes=logits.shape[1], n_bins=15, norm="l1")
        assert ev[cond]["ece"] == pytest.approx(float(metric(logits.softmax(1), labels)), abs=1e-6)
