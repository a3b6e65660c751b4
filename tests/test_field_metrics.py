"""The field's metrics on small constructed studies: mCE, relative mCE, mean corruption accuracy
and effective robustness against values computed by hand; a bad CE reference (zero error, a
missing condition) refused with one line and nothing written; released vs generated side by
side; one figure per source with a panel per category; and every metric record (per-condition
and study-level) checked.

The run folders are written with robeval's own writers (config.json, eval.json) and hold no
arrays: the field's metrics read only eval.json's accuracies.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as sstats

from robeval.analysis.condition_metrics import (
    CONDITION_METRICS,
    ConditionMetric,
    Prediction,
    measure_condition,
)
from robeval.analysis.field_metrics import Reference, corruption_errors, fit_logit_line
from robeval.analysis.study_metrics import (
    NotMeasured,
    RunScores,
    StudyContext,
    study_metrics,
)
from robeval.cli import cli
from robeval.core.environment import environment
from robeval.core.errors import RobevalError
from robeval.corruptions.families import group_families
from robeval.models.classifier import ModelConfig
from robeval.runs.config_file import write_config
from robeval.runs.outputs import condition_filename, write_eval_json
from robeval.stages.report import write_report
from tests.helpers import tiny_config

F1, F2 = group_families("standard")[:2]  # two standard families, whichever the registry lists first
DOCS = Path(__file__).resolve().parents[1] / "docs" / "analysis.md"


def fake_run(root: Path, head: str, seed: int, acc: dict[str, float], *, name: str | None = None,
             extra: dict | None = None) -> Path:
    """A run folder as robeval writes it (config.json, eval.json), with the given accuracies."""
    cfg = tiny_config(head=head, logits="dot", seed=seed)
    path = root / (name or f"{head}-dot-{seed}")
    path.mkdir(parents=True)
    write_config(path, cfg, ModelConfig(arch=cfg.arch, num_classes=10, head=head),
                 {"name": "shapes", "classes": [str(i) for i in range(10)], "image_size": 32},
                 environment("cpu"))
    conds = {}
    for cond, a in acc.items():
        if cond == "clean":
            kind, family, severity = "clean", "clean", None
        elif cond.startswith("genset:"):
            kind, family, severity = "generalisation", "genset", None
        else:
            kind, (family, sev) = "corruption", cond.split("/")
            severity = int(sev.split("@")[0])
        conds[cond] = {"accuracy": a, "n": 100, "kind": kind, "family": family, "severity": severity,
                       "params": {}, "file": "eval/" + condition_filename(cond), **(extra or {})}
    write_eval_json(path, {"run": str(path), "variant": None, "checkpoint": "best", "conditions": conds})
    return path


def accs(clean, f1, f2, prefix=""):
    """{clean, F1/1, F1/2, F2/1, F2/2} (prefix 'released:' for the released files)."""
    return {"clean": clean, f"{prefix}{F1}/1": f1[0], f"{prefix}{F1}/2": f1[1],
            f"{prefix}{F2}/1": f2[0], f"{prefix}{F2}/2": f2[1]}


# learned-dot (the default reference) and fixed-dot, two seeds each, two families x 2 severities
LEARNED = [accs(.90, (.80, .60), (.70, .50)), accs(.80, (.70, .50), (.60, .40))]
FIXED = [accs(.95, (.85, .75), (.65, .55)), accs(.85, (.75, .65), (.55, .45))]


@pytest.fixture
def study(tmp_path) -> list[Path]:
    return ([fake_run(tmp_path / "runs", "learned", s, a) for s, a in enumerate(LEARNED)]
            + [fake_run(tmp_path / "runs", "fixed", s, a) for s, a in enumerate(FIXED)])


def field_rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["field"]["rows"]


def one(rows, variant, metric, source="generated", part=""):
    return next(r for r in rows if (r["variant"], r["metric"], r["source"], r["part"])
                == (variant, metric, source, part))


# --- mCE and relative mCE, by hand -----------------------------------------------------------
# reference = learned-dot's mean error over its two seeds:
#   clean (.10 + .20)/2 = .15; F1/1 (.2 + .3)/2 = .25, F1/2 .45; F2/1 .35, F2/2 .55
# fixed-dot seed 0: CE_F1 = (.15 + .25) / (.25 + .45) = 4/7, CE_F2 = (.35 + .45) / (.35 + .55) = 8/9
#   seed 1: CE_F1 = (.25 + .35) / .70 = 6/7, CE_F2 = (.45 + .55) / .90 = 10/9
#   mCE = mean over seeds of (CE_F1 + CE_F2) / 2 = ((4/7 + 8/9) + (6/7 + 10/9)) / 4 = 6/7
# relative, seed 0 (E_clean .05): F1 (.10 + .20) / ((.25-.15) + (.45-.15)) = .3/.4 = 3/4,
#   F2 (.30 + .40) / ((.35-.15) + (.55-.15)) = .7/.6 = 7/6; seed 1 (E_clean .15) gives the same
#   -> relative mCE = (3/4 + 7/6) / 2 = 23/24
# learned-dot against itself: ((6/7 + 8/9) + (8/7 + 10/9)) / 4 = 1 exactly

def test_mce_and_relative_mce_equal_hand_computed_values(study, tmp_path):
    out = tmp_path / "rep"
    write_report(study, out, analyze=False, plots=False)
    rows = field_rows(out)
    mce = one(rows, "fixed-dot", "mce")
    assert mce["mean"] == pytest.approx(6 / 7, abs=1e-12)
    assert mce["values"] == pytest.approx([(4 / 7 + 8 / 9) / 2, (6 / 7 + 10 / 9) / 2], abs=1e-12)
    # two of the 15 standard families: the header says so (not the benchmark's mCE)
    assert mce["normalised_by"] == "normalised by learned-dot's error over 2 of 15 standard families"
    assert one(rows, "fixed-dot", "ce", part=F1)["mean"] == pytest.approx((4 / 7 + 6 / 7) / 2)
    assert one(rows, "fixed-dot", "ce", part=F2)["mean"] == pytest.approx((8 / 9 + 10 / 9) / 2)
    assert one(rows, "fixed-dot", "relative_mce")["mean"] == pytest.approx(23 / 24, abs=1e-12)
    assert one(rows, "learned-dot", "mce")["mean"] == pytest.approx(1.0, abs=1e-12)
    # the t-interval over the two seeds
    half = sstats.t.ppf(0.975, 1) * np.std(mce["values"], ddof=1) / math.sqrt(2)
    assert mce["ci_high"] - mce["mean"] == pytest.approx(half)
    # per family and per severity mean accuracy (fixed-dot): F1 over severities, severity 2 over families
    assert one(rows, "fixed-dot", "family_accuracy", part=F1)["mean"] == pytest.approx((.80 + .70) / 2)
    assert one(rows, "fixed-dot", "severity_accuracy", part="2")["mean"] == pytest.approx((.65 + .55) / 2)
    # the headline names the reference; results.csv carries the same number
    md = (out / "report.md").read_text()
    headline = md.split("## ", 1)[0]
    assert "mCE" in headline and "normalised by learned-dot's error" in headline
    assert f"{100 * 6 / 7:.2f}" in headline
    assert "CE reference: **learned-dot** (the default" in md
    with open(out / "results.csv") as fh:
        table = {r["condition"]: r for r in csv.DictReader(fh) if r["variant"] == "fixed-dot"}
    assert float(table["mce:generated"]["mean"]) == pytest.approx(6 / 7)
    assert table["mce:generated"]["normalised_by"] == (
        "normalised by learned-dot's error over 2 of 15 standard families")
    assert table[f"ce:generated:{F1}"]["family"] == F1


def test_a_folder_of_other_runs_is_a_reference(study, tmp_path):
    """--ce-reference PATH: CE_F1 = Σ E / Σ E_ref with the folder's one run as the reference."""
    ref = fake_run(tmp_path / "zoo", "learned", 7, accs(.50, (.40, .20), (.30, .10)), name="alexnet-ish")
    out = tmp_path / "rep"
    res = CliRunner().invoke(cli, ["report", *map(str, study), "--out", str(out), "--no-analyze",
                                   "--no-plots", "--ce-reference", str(ref.parent)])
    assert res.exit_code == 0, res.output
    rows = field_rows(out)
    # fixed-dot seed 0: F1 (.15 + .25)/(.60 + .80) = .4/1.4, F2 (.35 + .45)/(.70 + .90) = .8/1.6
    #           seed 1: F1 (.25 + .35)/1.4, F2 (.45 + .55)/1.6
    want = ((.4 / 1.4 + .8 / 1.6) / 2 + (.6 / 1.4 + 1.0 / 1.6) / 2) / 2
    assert one(rows, "fixed-dot", "mce")["mean"] == pytest.approx(want, abs=1e-12)
    assert f"normalised by {ref.parent}'s error over 2 of 15 standard families" == \
        one(rows, "fixed-dot", "mce")["normalised_by"]
    assert json.loads((out / "results.json").read_text())["field"]["contexts"][0]["reference_runs"] == [str(ref)]


@pytest.mark.parametrize("break_it, words", [
    (lambda a: a.update({f"{F1}/1": 1.0, f"{F1}/2": 1.0}), ["zero error", f"{F1} (1-2)"]),
    (lambda a: a.pop(f"{F2}/2"), [f"has no condition {F2}/2"]),
], ids=["zero-error", "missing-condition"])
def test_a_bad_reference_is_one_line_and_writes_nothing(study, tmp_path, break_it, words):
    acc = accs(.50, (.40, .20), (.30, .10))
    break_it(acc)
    ref = fake_run(tmp_path / "zoo", "learned", 7, acc, name="ref-run")
    out = tmp_path / "rep"
    with pytest.raises(RobevalError) as exc:
        write_report(study, out, analyze=False, plots=False, ce_reference=str(ref.parent))
    text = str(exc.value)
    assert "\n" not in text and str(ref) in text and all(w in text for w in words), text
    assert not out.exists()
    res = CliRunner().invoke(cli, ["report", *map(str, study), "--out", str(out), "--no-plots",
                                   "--no-analyze", "--ce-reference", str(ref.parent)])
    assert res.exit_code == 1 and "Traceback" not in res.output and words[0] in res.output
    assert not out.exists()


def test_zero_error_and_missing_conditions_in_the_arithmetic():
    """The arithmetic itself never divides by zero: it raises the same clear error."""
    acc = {(F1, 1): .8, (F1, 2): .6}
    zero = Reference("ref", ("runs/r0",), {(F1, 1): 0.0, (F1, 2): 0.0}, 0.0)
    with pytest.raises(RobevalError, match="zero error"):
        corruption_errors(acc, .9, zero, [F1])
    lacking = Reference("ref", ("runs/r0", "runs/r1"), {(F1, 1): .3}, .1, {(F1, 2): "runs/r1"})
    with pytest.raises(RobevalError, match=f"run runs/r1 has no condition {F1}/2"):
        corruption_errors(acc, .9, lacking, [F1])
    # a reference that does not degrade (errors = its clean error): relative CE is undefined, mCE is not
    flat = Reference("ref", ("runs/r0",), {(F1, 1): .9, (F1, 2): .9}, .9)
    got = corruption_errors(acc, .9, flat, [F1])
    assert got["mce"] == pytest.approx((.2 + .4) / 1.8) and got["relative_mce"] is None
    assert "has none on" in got["relative_note"]


def test_mean_corruption_accuracy_needs_every_standard_condition(tmp_path):
    standard = group_families("standard")
    full = {"clean": .9, **{f"{f}/{s}": .5 + .01 * i + .002 * s for i, f in enumerate(standard)
                            for s in range(1, 6)}}
    want = np.mean([v for k, v in full.items() if k != "clean"])  # equal weights over all of them
    partial = {k: v for k, v in full.items() if not k.startswith(f"{standard[-1]}/")}
    dirs = [fake_run(tmp_path / "runs", "fixed", 0, full), fake_run(tmp_path / "runs", "fixed", 1, partial)]
    out = tmp_path / "rep"
    write_report(dirs[:1], out, analyze=False, plots=False)
    assert one(field_rows(out), "fixed-dot", "mean_corruption_accuracy")["mean"] == pytest.approx(want)
    write_report(dirs[1:], out, analyze=False, plots=False)
    row = one(field_rows(out), "fixed-dot", "mean_corruption_accuracy")
    assert row["mean"] is None and f"missing 5: {standard[-1]} (1-5)" in row["note"]
    md = (out / "report.md").read_text()
    assert f"missing 5: {standard[-1]} (1-5)" in md
    assert "no mCE: this study has no learned-dot variant" in md and "--ce-reference VARIANT" in md


# --- effective robustness, by hand -------------------------------------------------------------
# clean accuracies σ(x) at x = 0, 1, 2, 3; OOD accuracies σ(−1 + 0.5 x + e) with e = (d, −d, −d, d):
# e sums to 0 and is orthogonal to x, so least squares gives exactly a = −1, b = 0.5, and each run's
# effective robustness is σ(−1 + 0.5 x + e) − σ(−1 + 0.5 x).

def sigma(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_effective_robustness_equals_hand_computed_residuals(tmp_path):
    d = 0.2
    x, e = [0, 1, 2, 3], [d, -d, -d, d]
    heads = ["fixed", "learned", "learned", "fixed"]  # fixed-dot: runs 0 and 3, learned-dot: 1 and 2
    seeds = [0, 0, 1, 1]
    dirs = [fake_run(tmp_path / "runs", h, s, {"clean": sigma(xi), "genset:a": sigma(-1 + .5 * xi + ei)})
            for h, s, xi, ei in zip(heads, seeds, x, e, strict=True)]
    out = tmp_path / "rep"
    write_report(dirs, out, analyze=False, plots=False)
    saved = json.loads((out / "results.json").read_text())["field"]
    fit = saved["contexts"][0]["fit"]
    assert fit["intercept"] == pytest.approx(-1, abs=1e-9) and fit["slope"] == pytest.approx(.5, abs=1e-9)
    er = [sigma(-1 + .5 * xi + ei) - sigma(-1 + .5 * xi) for xi, ei in zip(x, e, strict=True)]
    fixed = one(saved["rows"], "fixed-dot", "effective_robustness", source="genset:a")
    learned = one(saved["rows"], "learned-dot", "effective_robustness", source="genset:a")
    assert fixed["values"] == pytest.approx([er[0], er[3]], abs=1e-9)
    assert learned["mean"] == pytest.approx((er[1] + er[2]) / 2, abs=1e-9)
    assert fixed["mean"] > 0 > learned["mean"]
    assert fixed["normalised_by"] == "residual from the logit fit over 4 runs"
    half = sstats.t.ppf(0.975, 1) * np.std([er[0], er[3]], ddof=1) / math.sqrt(2)
    assert fixed["ci_low"] == pytest.approx(fixed["mean"] - half)
    md = (out / "report.md").read_text()
    assert "residual from the logit fit over 4 runs" in md and "effective robustness" in md


def test_effective_robustness_needs_three_distinct_clean_accuracies(tmp_path):
    dirs = [fake_run(tmp_path / "runs", "fixed", s, {"clean": .8, "genset:a": .5 + .1 * s}) for s in range(2)]
    dirs.append(fake_run(tmp_path / "runs", "learned", 0, {"clean": .7, "genset:a": .4}))
    out = tmp_path / "rep"
    write_report(dirs, out, analyze=False, plots=False)
    saved = json.loads((out / "results.json").read_text())["field"]
    assert not [r for r in saved["rows"] if r["metric"] == "effective_robustness"]
    assert "at least 3 runs with distinct clean accuracies; 2 distinct" in saved["contexts"][0]["fit_note"]
    assert "at least 3 runs with distinct clean accuracies" in (out / "report.md").read_text()
    with pytest.raises(ValueError, match="at least 3"):
        fit_logit_line({"a": (.5, .4), "b": (.6, .5), "c": (1.0, .9)})  # 100% has no logit


# --- released vs generated, figures -------------------------------------------------------------

def test_released_beside_generated_and_one_figure_per_category(tmp_path):
    ece = {"ece": 0.1, "nll": 1.0, "brier": 0.5, "aurc": 0.3}
    dirs = []
    for s in range(2):
        a = {**accs(.9, (.8 - .01 * s, .6), (.7, .5)), **accs(.9, (.75, .62), (.7, .45), "released:")}
        dirs.append(fake_run(tmp_path / "runs", "fixed", s, a, extra=ece))
    out = tmp_path / "rep"
    write_report(dirs, out, analyze=False)
    saved = json.loads((out / "results.json").read_text())["field"]
    side = {(r["family"], r["severity"]): r for r in saved["released_vs_generated"]}
    assert set(side) == {(F1, 1), (F1, 2), (F2, 1), (F2, 2)}
    assert side[(F1, 1)]["difference"]["mean"] == pytest.approx(((.80 - .75) + (.79 - .75)) / 2)
    assert side[(F2, 2)]["difference"]["values"] == pytest.approx([.05, .05])
    assert side[(F1, 1)]["generated"]["mean"] == pytest.approx(.795)
    md = (out / "report.md").read_text()
    assert "Released vs generated corruptions, side by side" in md and "generated − released" in md
    # the generated and released corruptions are separate sources: mCA and mCE never mix them
    assert {c["source"] for c in saved["contexts"]} == {"generated", "released"}
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    for name in ("severity", "severity-released", "ece", "ece-released"):
        assert f"shapes-smallcnn-{name}.png" in plots, plots
    families = [f for f in group_families("all")]
    assert not [p for p in plots if any(f in p for f in families)], plots  # no per-family image
    assert "plots/shapes-smallcnn-severity.png" in md and "a panel per category" in md


# --- every metric record ------------------------------------------------------------------------

def _predictions(seed: int = 0, n: int = 200, c: int = 5) -> Prediction:
    g = np.random.default_rng(seed)
    logits = g.normal(size=(n, c)) * 3
    labels = g.integers(0, c, n)
    labels[: n // 2] = logits[: n // 2].argmax(1)
    return Prediction.of(logits, labels)


@pytest.mark.parametrize("name", CONDITION_METRICS.names())
def test_every_condition_metric_record(name):
    m = CONDITION_METRICS.get(name)
    assert m.name == name and m.label and m.definition and m.formula and isinstance(m.higher_is_better, bool)
    p = _predictions()
    value = m.compute(p)
    assert isinstance(value, float) and math.isfinite(value)
    # a perfect, confident classifier is at least as good as a random one by the metric's own sense
    perfect = Prediction.of(np.eye(5)[p.labels] * 30.0, p.labels)
    better = m.compute(perfect)
    assert (better >= value) if m.higher_is_better else (better <= value)
    assert measure_condition(p.logits, p.labels)[name] == pytest.approx(value)
    docs = DOCS.read_text()
    assert f"`{name}`" in docs and f"`{m.formula}`" in docs  # docs/analysis.md gives each formula


def test_a_new_condition_metric_is_one_record(monkeypatch, study, tmp_path):
    """Registered once, it is measured by eval's function, averaged, shown and written to CSV;
    runs evaluated before it existed (as these) report "–"."""
    top2 = ConditionMetric("top2_error", "top-2 error", "share of images whose class is not "
                           "among the two highest logits", "(1/n) Σ 1[y ∉ top2(z)]",
                           lambda p: float(np.mean([y not in np.argsort(z)[-2:]
                                                    for z, y in zip(p.logits, p.labels, strict=True)])),
                           higher_is_better=False)
    monkeypatch.setitem(CONDITION_METRICS._items, top2.name, top2)
    assert "top2_error" in measure_condition(*(lambda p: (p.logits, p.labels))(_predictions()))
    out = tmp_path / "rep"
    rows = write_report(study, out, analyze=False, plots=False)
    assert all("top2_error" not in r["calibration"] for r in rows)  # not in these old eval.json
    section = (out / "report.md").read_text().split("## Calibration", 1)[1].split("\n## ", 1)[0]
    assert "top-2 error" in section and "–" in section
    with open(out / "results.csv") as fh:
        assert "top2_error_mean" in next(csv.reader(fh))


def _context(**kw) -> StudyContext:
    ref = Reference("ref", ("r",), {(F1, s): .5 for s in (1, 2)} | {(F2, s): .6 for s in (1, 2)}, .2)
    fit = fit_logit_line({"a": (.6, .3), "b": (.7, .4), "c": (.8, .45)})
    return StudyContext("generated", "corruption", (F1, F2), (1, 2), reference=ref, fit=fit,
                        ood_conditions=((F1, 1), (F1, 2)), **kw)


@pytest.mark.parametrize("name", [m.name for m in study_metrics()])
def test_every_study_metric_record(name):
    m = next(m for m in study_metrics() if m.name == name)
    assert m.label and m.definition and m.formula and m.unit in ("%", "pp")
    assert isinstance(m.higher_is_better, bool) and m.needs in (None, "reference", "fit")
    run = RunScores("r1", "fixed-dot", 0, .9, {(F1, 1): .8, (F1, 2): .6, (F2, 1): .7, (F2, 2): .5})
    ctx = _context()
    got = m.per_run(run, ctx)
    assert got and all(isinstance(v, float) and math.isfinite(v) for v in got.values())
    assert (set(got) == {""}) == (not m.parts)
    if m.normalised_by:
        assert m.normalised_by(ctx)  # a normalised number says by what
    if m.needs:  # without its reference or fit it is not measured, and says why
        with pytest.raises(NotMeasured):
            m.per_run(run, StudyContext("generated", "corruption", (F1, F2), (1, 2)))
    docs = DOCS.read_text()
    assert f"`{name}`" in docs and m.label in docs and f"`{m.formula}`" in docs


def test_the_fit_can_be_over_other_runs(tmp_path):
    """--er-fit PATH: the line is fitted on a folder of other runs (here exactly on the line
    logit(OOD) = −1 + 0.5 logit(clean)), and the study's runs are read against it."""
    zoo = [fake_run(tmp_path / "zoo", "learned", s, {"clean": sigma(x), "genset:a": sigma(-1 + .5 * x)})
           for s, x in enumerate((-1.0, 0.5, 2.0))]
    study = [fake_run(tmp_path / "runs", "fixed", s, {"clean": c, "genset:a": o})
             for s, (c, o) in enumerate(((.7, .45), (.8, .5)))]
    out = tmp_path / "rep"
    res = CliRunner().invoke(cli, ["report", *map(str, study), "--out", str(out), "--no-analyze",
                                   "--no-plots", "--er-fit", str(zoo[0].parent)])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "results.json").read_text())["field"]
    assert sorted(saved["contexts"][0]["fit"]["runs"]) == sorted(map(str, zoo))
    want = [o - sigma(-1 + .5 * math.log(c / (1 - c))) for c, o in ((.7, .45), (.8, .5))]
    row = one(saved["rows"], "fixed-dot", "effective_robustness", source="genset:a")
    assert row["values"] == pytest.approx(want, abs=1e-9)
    assert row["normalised_by"] == "residual from the logit fit over 3 runs"


@pytest.mark.parametrize("option, value, words", [
    ("--ce-reference", "nonsense", ["neither a head variant of this study", "fixed-dot"]),
    ("--er-fit", "nowhere", ["--er-fit 'nowhere' is neither 'study' nor a folder"]),
])
def test_an_unknown_reference_or_fit_is_one_line(study, tmp_path, option, value, words):
    out = tmp_path / "rep"
    res = CliRunner().invoke(cli, ["report", *map(str, study), "--out", str(out), "--no-analyze",
                                   "--no-plots", option, value])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert all(w in res.output for w in words), res.output
    assert not out.exists()


def test_no_reference_means_no_mce_and_says_how(study, tmp_path):
    out = tmp_path / "rep"
    write_report(study, out, analyze=False, plots=False, ce_reference="none")
    rows = field_rows(out)
    assert not [r for r in rows if r["metric"] in ("ce", "mce", "relative_mce")]
    md = (out / "report.md").read_text()
    assert "no mCE (--ce-reference none)" in md and "--ce-reference PATH" in md
    assert "no reference" in md.split("## ", 1)[0]  # the headline's mCE column says why it is empty
