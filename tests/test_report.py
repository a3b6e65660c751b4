"""The report on a tiny real run (shapes, smallcnn, 1 epoch), and its statistics on known records."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as sstats

from robeval.analysis.stats import t_interval
from robeval.cli import cli
from robeval.stages.evaluate import evaluate_run
from robeval.stages.report import aggregate, paired_rows
from robeval.stages.train import train
from robeval.training.config import TrainConfig


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Two real runs (learned and fixed dot, seed 0), evaluated on clean and the shifted set: the
    first through `robeval eval` (which analyses it), the second without analysis."""
    root = tmp_path_factory.mktemp("tiny")
    data = root / "data"
    dirs = []
    for head in ("learned", "fixed"):
        cfg = TrainConfig(head=head, epochs=1, max_train=600, val_fraction=0.05, seed=0)
        run = root / "runs" / f"{head}-dot"
        train(cfg, run, device="cpu", data_dir=str(data), progress=False)
        dirs.append(run)
    res = CliRunner().invoke(cli, ["eval", str(dirs[0]), "--conditions", "clean,genset:shapes-shift",
                                   "--data-dir", str(data), "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "geometry: clean: acc" in res.output and (dirs[0] / "analysis.json").is_file()
    evaluate_run(dirs[1], "clean,genset:shapes-shift", device="cpu", data_dir=str(data), progress=False)
    assert not (dirs[1] / "analysis.json").exists()
    return root, dirs


def test_analyze_command_matches_independent_recomputation(tiny_runs):
    _, dirs = tiny_runs
    res = CliRunner().invoke(cli, ["analyze", str(dirs[0])])
    assert res.exit_code == 0, res.output
    a = json.loads((dirs[0] / "analysis.json").read_text())
    ev = np.load(dirs[0] / "eval" / "clean.npz")
    head = np.load(dirs[0] / "eval" / "head.npz")
    h, w = ev["features"].astype(np.float64), head["weight"].astype(np.float64)
    y, p = ev["labels"], ev["predictions"]
    clean = a["conditions"]["clean"]
    cos = (h / np.linalg.norm(h, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T
    assert clean["compactness"]["predicted"]["mean"] == pytest.approx(cos[np.arange(len(y)), p].mean())
    conf = np.zeros((len(w), len(w)))
    np.add.at(conf, (y, p), 1)
    wc = np.array(a["class_vectors"]["cosine_matrix"])
    off = ~np.eye(len(w), dtype=bool)
    assert clean["spearman"]["rho"] == pytest.approx(sstats.spearmanr(wc[off], conf[off]).statistic)
    means = np.stack([h[y == c].mean(0) for c in range(len(w))])
    ncc = ((h[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert clean["neural_collapse"]["nc4"] == pytest.approx((ncc != ev["logits"].argmax(1)).mean())
    assert clean["compactness"]["ceiling_applies"]  # smallcnn ends with ReLU
    for name in ("class_cosines", "confusion", "spearman", "compactness", "pca"):
        assert (dirs[0] / a["plots"][name]).stat().st_size > 1000


def test_report_on_tiny_real_runs(tiny_runs):
    root, dirs = tiny_runs
    out = root / "report"
    res = CliRunner().invoke(cli, ["report", *map(str, dirs), "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("report.md", "report.html", "results.csv", "paired.csv", "geometry.csv", "results.json"):
        assert (out / f).is_file(), f
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for text in (md, page, (out / "results.json").read_text()):
        assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert "## The paper's claims on these runs" in md and "n = 1: no interval" in md
    assert md.index("| head variant |") < md.index("| # | claim |") < md.index("![")  # answer first
    assert 'src="data:image/png;base64,' in page and 'src="plots/' not in page  # self-contained
    assert (dirs[1] / "analysis.json").is_file()  # report analysed the run it had not seen
    paired = list(csv.DictReader((out / "paired.csv").open()))
    clean = next(r for r in paired if r["condition"] == "clean")
    accs = [json.loads((d / "eval.json").read_text())["conditions"]["clean"]["accuracy"] for d in dirs]
    assert float(clean["mean"]) == pytest.approx(accs[1] - accs[0])
    assert clean["n"] == "1" and clean["ci_low"] == ""
    claims = json.loads((out / "results.json").read_text())["claims"]
    first = claims[0]
    assert "dot" in first["claim"] and first["verdict"].startswith("one seed")


def _record(variant: str, head: str, seed: int, acc: dict) -> dict:
    cfg = {"dataset": "shapes", "arch": "smallcnn", "head": head, "logits": "dot", "scale": None,
           "init": "sphere", "learn_scale": False}
    return {"run": f"r-{variant}-{seed}", "variant": variant, "seed": seed, "config": cfg,
            "accuracy": acc, "conditions": {k: {"kind": "clean"} for k in acc}, "best_val_acc": None}


def test_intervals_and_paired_differences_over_seeds():
    learned = [0.80, 0.82, 0.78]
    fixed = [0.83, 0.84, 0.80]
    recs = [_record("learned-dot", "learned", s, {"clean": a}) for s, a in enumerate(learned)]
    recs += [_record("fixed-dot", "fixed", s, {"clean": a}) for s, a in enumerate(fixed)]
    recs.append(_record("fixed-dot", "fixed", 9, {"clean": 0.5}))  # no learned partner seed
    rows = {r["variant"]: r for r in aggregate(recs)}
    ci = t_interval(learned)
    assert rows["learned-dot"]["ci_low"] == pytest.approx(ci["ci_low"])
    assert rows["learned-dot"]["n"] == 3
    (p,) = paired_rows(recs)
    diffs = np.subtract(fixed, learned)
    assert p["fixed"] == "fixed-dot" and p["learned"] == "learned-dot"
    assert p["n"] == 3 and p["unmatched"] == [9]
    assert p["mean"] == pytest.approx(diffs.mean())
    half = sstats.t.ppf(0.975, 2) * diffs.std(ddof=1) / np.sqrt(3)
    assert p["ci_high"] - p["mean"] == pytest.approx(half)


def test_extra_heads_add_etf_and_hadamard_variants():
    from robeval.runs import run_name
    from robeval.stages.reproduce import ReproducePlan

    base = ReproducePlan(seeds=(0, 1)).configs()
    extra = ReproducePlan(seeds=(0, 1), extra_heads=True).configs()
    assert len(extra) == len(base) + 3 * 2
    added = {(c.head, c.logits, c.init, c.learn_scale) for c in extra[len(base):]}
    assert added == {("fixed", "dot", "simplex-etf", False), ("fixed", "cosine", "simplex-etf", False),
                     ("fixed", "cosine", "hadamard", True)}
    names = [run_name(c) for c in extra]
    assert len(set(names)) == len(names)  # learned-scale runs get their own folder
    assert any(n.endswith("hadamard-learnS-seed1") for n in names)


def test_severity_panel_and_html_are_self_contained(tmp_path):
    from PIL import Image

    from robeval.render import figures
    from robeval.render.document import Cell, to_html, to_markdown

    series = {"learned-dot": [(0, 0.9, 0.88, 0.92), (1, 0.8, 0.77, 0.83)],
              "fixed-dot": [(0, 0.91, None, None), (1, 0.82, None, None)]}
    colours = figures.palette(["learned-dot", "fixed-dot"])
    assert colours["learned-dot"][0] == figures.OKABE_ITO[0] and colours["fixed-dot"][0] == figures.OKABE_ITO[1]
    f = figures.severity_panel(series, colours, tmp_path / "plots" / "sev.png", "t")
    assert Image.open(f).size[0] >= 400  # one family per image, never narrower than the page promises
    blocks = [("h", 1, "a <b>"), ("p", "**Claim 1: x.** `code`"), ("table", ["h"], [["1 | 2"]]),
              ("table", ["v", "acc"], [["x", Cell("72.49", "[71.77, 73.21], n = 3", "hover")]]),
              ("fold", "more", [("img", "plots/sev.png", "severity")])]
    page = to_html(blocks, tmp_path, "t")
    assert "a &lt;b&gt;" in page and "<strong>Claim 1: x.</strong>" in page and "<code>code</code>" in page
    assert page.count("data:image/png;base64,") == 1 and "<details><summary>more</summary>" in page
    assert '<td class="num" title="hover">72.49<small>[71.77, 73.21], n = 3</small></td>' in page
    md = to_markdown(blocks)
    assert "1 \\| 2" in md and "72.49<br><sub>[71.77, 73.21], n = 3</sub>" in md and "|---|---:|" in md


def test_analyze_and_report_errors_are_one_line(tmp_path):
    res = CliRunner().invoke(cli, ["analyze", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "no run folder" in res.output and "Traceback" not in res.output
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"config": {"seed": 0}, "model": {}}))
    res = CliRunner().invoke(cli, ["analyze", str(tmp_path / "run")])
    assert res.exit_code == 1 and "is not a robeval run config" in res.output  # no dataset section


def test_every_figure_draws_nothing_from_no_runs(tmp_path):
    from robeval.stages.report.figures import FIGURES, FigureContext

    ctx = FigureContext([], [], tmp_path, {})
    for fig in FIGURES.records():
        assert fig.draw(ctx) == [], fig.name
