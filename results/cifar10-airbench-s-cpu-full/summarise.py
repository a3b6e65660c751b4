"""Recompute the study's headline numbers from its committed files alone (each run's eval.json
and metrics.jsonl, timings.json), independently of robeval's report code, and print them
as the Markdown tables of README.md:

    python results/cifar10-airbench-s-cpu-full/summarise.py [--check]

Per head variant (mean over seeds, with the 95 % t-interval half-width): clean accuracy, mean
corruption accuracy over the 15 standard families x 5 severities, mCE and relative mCE against
learned-dot (Hendrycks & Dietterich 2019: per family, the sum over severities of the variant's
error over the reference's; relative: the same of the error minus the clean error), the
generalisation set, and effective robustness (Taori et al. 2020: the residual of each run's
logit mean corruption accuracy from a line fitted over every run, logit against logit clean).
Plateau: a run's validation accuracy moved at most 0.5 pp over its last two epochs.
``--check`` also compares mCE and mean corruption accuracy with what robeval's report wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
STANDARD = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
            "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
            "elastic_transform", "pixelate", "jpeg_compression")
SEVERITIES = (1, 2, 3, 4, 5)
GENSET = "genset:tinyimagenet-val-as-cifar10"
REFERENCE = "learned-dot"
PLATEAU_PP = 0.5
SMALLCNN = HERE.parent / "cifar10-smallcnn-cpu" / "results.json"  # the first study (20,000 images)
# an independent small 4-block CNN (8 epochs, 1 seed, the same CIFAR-10 JPEG copy): clean %
INDEPENDENT = {"learned-dot": 79.9, "fixed-dot": 78.5, "learned-cosine-S1": 51.5, "fixed-cosine-S1": 62.8}
# RobustBench's 'Standard' WideResNet-28-10 on CIFAR-10-C (severities 1-5): % accuracy
ROBUSTBENCH_STANDARD = {"clean": 94.78, "mean corruption": 73.46, "impulse_noise": 55.3,
                        "jpeg_compression": 77.6, "defocus_blur": 81.5}


def runs(folder: Path) -> list[dict]:
    """Every evaluated run, from its own eval.json (not the report's results.json, so the figures
    are recomputed from what `robeval eval` measured): run name, head variant, accuracy per condition."""
    out = []
    for path in sorted((folder / "runs").glob("*/eval.json")):
        evaluated = json.loads(path.read_text())
        out.append({"run": path.parent.name, "variant": evaluated["variant"],
                    "accuracy": {k: c["accuracy"] for k, c in evaluated["conditions"].items()}})
    return out


def corruption_accuracy(acc: dict) -> float:
    return float(np.mean([acc[f"{f}/{s}"] for f in STANDARD for s in SEVERITIES]))


def errors(acc: dict) -> dict:
    return {(f, s): 1.0 - acc[f"{f}/{s}"] for f in STANDARD for s in SEVERITIES}


def mce(variant_runs: list[dict], reference_runs: list[dict], relative: bool) -> float:
    """Mean over seeds of each error first (as robeval and RobustBench do), then the CE ratios."""
    def mean_err(rs):
        e = {k: float(np.mean([errors(r["accuracy"])[k] for r in rs])) for k in errors(rs[0]["accuracy"])}
        return e, float(np.mean([1.0 - r["accuracy"]["clean"] for r in rs]))

    (ev, cv), (er, cr) = mean_err(variant_runs), mean_err(reference_runs)
    ces = []
    for f in STANDARD:
        num = sum(ev[(f, s)] - (cv if relative else 0.0) for s in SEVERITIES)
        den = sum(er[(f, s)] - (cr if relative else 0.0) for s in SEVERITIES)
        ces.append(num / den)
    return 100.0 * float(np.mean(ces))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def effective_robustness(all_runs: list[dict]) -> dict[str, float]:
    x = np.array([logit(r["accuracy"]["clean"]) for r in all_runs])
    y = np.array([logit(corruption_accuracy(r["accuracy"])) for r in all_runs])
    slope, intercept = np.polyfit(x, y, 1)
    inv = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    return {r["run"]: float(corruption_accuracy(r["accuracy"]) - inv(slope * xi + intercept))
            for r, xi in zip(all_runs, x, strict=True)}


def interval(values: list[float]) -> str:
    v = np.asarray(values, dtype=float) * 100
    if len(v) < 2:
        return f"{v.mean():.2f}"
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.2f} ± {half:.2f}"


def plateau(run_dir: Path) -> tuple[float, bool]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    change = abs(rows[-1]["val_acc"] - rows[-2]["val_acc"]) * 100
    return change, change <= PLATEAU_PP + 1e-9


# fixed minus learned, matched by seed: the paper's claims compare these (robeval's report pairs the
# same way; cosine also at each head's S chosen on validation: fixed S = 1, learned S = 16)
PAIRS = (("fixed-dot", "learned-dot"), ("fixed-cosine-S1", "learned-cosine-S1"),
         ("fixed-cosine-S1", "learned-cosine-S16"))
MEASURES = {"clean": lambda a: a["clean"], "mean corruption": corruption_accuracy, GENSET: lambda a: a[GENSET]}


def seed_of(run: dict) -> int:
    return int(run["run"].rsplit("-seed", 1)[1])


def matched(by_variant: dict[str, list[dict]], fixed: str, learned: str) -> tuple[dict, dict, list[int]]:
    """Each variant's runs by seed, and the seeds both have."""
    f = {seed_of(r): r for r in by_variant.get(fixed, [])}
    le = {seed_of(r): r for r in by_variant.get(learned, [])}
    return f, le, sorted(f.keys() & le.keys())


def paired(by_variant: dict[str, list[dict]]) -> None:
    """Fixed minus learned per seed, pp: mean ± 95 % t half-width (n = seeds present in both)."""
    print("\n| fixed − learned (pp, paired by seed) | seeds | " + " | ".join(MEASURES) + " |")
    print("|---|---:|" + "---:|" * len(MEASURES))
    for fixed, learned in PAIRS:
        f, le, seeds = matched(by_variant, fixed, learned)
        if not seeds:
            continue
        cells = [interval([m(f[k]["accuracy"]) - m(le[k]["accuracy"]) for k in seeds]) for m in MEASURES.values()]
        print(f"| {fixed} − {learned} | {len(seeds)} | " + " | ".join(cells) + " |")


PAPER_FAMILIES = ("impulse_noise", "jpeg_compression", "defocus_blur")  # the paper's 3, the first study's


def paper_families(acc: dict) -> float:
    return float(np.mean([acc[f"{f}/{s}"] for f in PAPER_FAMILIES for s in SEVERITIES]))


def spearman(folder: Path, run: str) -> float | None:
    """ρ between cos(w_i, w_j) and the confusions i→j on clean test data, from the run's analysis.json."""
    path = folder / "runs" / run / "analysis.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["conditions"]["clean"]["spearman"]["rho"]


def comparison(by_variant: dict[str, list[dict]], folder: Path) -> None:
    """This study beside the first CPU study (same measures: its corruption mean is over the
    paper's 3 families), the independent small CNN and RobustBench Standard."""
    first, first_paired = {}, {}
    if SMALLCNN.exists():
        old = json.loads(SMALLCNN.read_text())
        for r in old["rows"]:
            first[(r["variant"], r["condition"])] = 100 * r["mean"]
        for r in old["paired"]:
            first_paired[(r["logits"], r["scale"], r["condition"])] = 100 * r["mean"]
    here_of = {"clean": lambda a: a["clean"], "corruptions (mean)": paper_families,
               "generalisation (mean)": lambda a: a[GENSET]}
    print("\n| head variant | clean % here | first CPU study | independent 4-block CNN "
          "| 3 paper families % here | first CPU study | genset % here | first CPU study "
          "| Spearman ρ here (clean) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    for v, rs in sorted(by_variant.items()):
        here = {k: 100 * np.mean([m(r["accuracy"]) for r in rs]) for k, m in here_of.items()}
        rhos = [x for x in (spearman(folder, r["run"]) for r in rs) if x is not None]
        rho = f"{np.mean(rhos):.2f}" if rhos and v.startswith("learned") else "–"
        print(f"| {v} | {here['clean']:.2f} | {fmt(first.get((v, 'clean')))} | {INDEPENDENT.get(v, '–')} "
              f"| {here['corruptions (mean)']:.2f} | {fmt(first.get((v, 'corruptions (mean)')))} "
              f"| {here['generalisation (mean)']:.2f} | {fmt(first.get((v, 'generalisation (mean)')))} | {rho} |")
    print("\n| fixed − learned, pp (mean over seeds) | clean here | first CPU study | 3 families here "
          "| first CPU study | genset here | first CPU study |\n|---|---:|---:|---:|---:|---:|---:|")
    for fixed, learned in PAIRS:
        f, le, seeds = matched(by_variant, fixed, learned)
        if not seeds or learned.endswith("S16"):  # the first study paired S = 16 with S = 16 only
            continue
        logits, scale = ("dot", None) if fixed.endswith("dot") else ("cosine", 1.0)
        cells = []
        for k, m in here_of.items():
            cells += [f"{100 * np.mean([m(f[s]['accuracy']) - m(le[s]['accuracy']) for s in seeds]):+.2f}",
                      fmt(first_paired.get((logits, scale, k)))]
        print(f"| {fixed} − {learned} | " + " | ".join(cells) + " |")
    ref = by_variant.get(REFERENCE)
    if ref:
        fam = {f: 100 * np.mean([np.mean([r["accuracy"][f"{f}/{s}"] for s in SEVERITIES]) for r in ref])
               for f in PAPER_FAMILIES}
        here = {"clean": 100 * np.mean([r["accuracy"]["clean"] for r in ref]),
                "mean corruption": 100 * np.mean([corruption_accuracy(r["accuracy"]) for r in ref]), **fam}
        print(f"\n| % accuracy | {REFERENCE} here | RobustBench Standard (WRN-28-10) |\n|---|---:|---:|")
        for k, val in ROBUSTBENCH_STANDARD.items():
            print(f"| {k} | {here[k]:.2f} | {val:.2f} |")


def run_seconds(folder: Path) -> None:
    """Each stage's time from the run files themselves, whatever session it ran in: training wall
    per run (summary.json, summed over resumptions; one torch thread a run, so its CPU time plus
    whatever it waited while the machine was shared), the sweep's the same way, and evaluation
    as the sum of eval.json's per-condition seconds; runs set aside for a longer schedule
    count on rows of their own. Two runs share the two cores, so a stage's wall time is about half its sum."""
    def train_wall(s: dict) -> float:
        return s["train_wall_s"]

    def seconds_of_eval(e: dict) -> float:
        return sum(c["seconds"] for c in e["conditions"].values())

    def total(pattern: str, seconds) -> tuple[int, float]:
        files = sorted(folder.glob(pattern))
        return len(files), sum(seconds(json.loads(f.read_text())) for f in files)

    rows = {"sweep (train)": total("sweep-runs/*/summary.json", train_wall),
            "train": total("runs/*/summary.json", train_wall),
            # runs a longer schedule replaced (run_study.py LONGER): spent, not reported
            "train, set aside": total("runs-*-epochs/*/summary.json", train_wall),
            "eval": total("runs/*/eval.json", seconds_of_eval),
            "eval, set aside": total("runs-*-epochs/*/eval.json", seconds_of_eval)}
    print("\n| stage (run files) | runs | run-hours | hours of the 2 cores |\n|---|---:|---:|---:|")
    for stage, (n, secs) in rows.items():
        print(f"| {stage} | {n} | {secs / 3600:.2f} | {secs / 7200:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=HERE)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    everything = runs(args.folder)
    variants = list(dict.fromkeys(r["variant"] for r in everything))
    by_variant = {v: [r for r in everything if r["variant"] == v] for v in variants}
    er = effective_robustness(everything)
    print("| head variant | seeds | clean % | mean corruption acc. % | mCE % | relative mCE % | "
          f"{GENSET} % | effective robustness pp |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for v, rs in by_variant.items():
        print(f"| {v} | {len(rs)} | {interval([r['accuracy']['clean'] for r in rs])} "
              f"| {interval([corruption_accuracy(r['accuracy']) for r in rs])} "
              f"| {mce(rs, by_variant[REFERENCE], False):.1f} | {mce(rs, by_variant[REFERENCE], True):.1f} "
              f"| {interval([r['accuracy'][GENSET] for r in rs])} "
              f"| {interval([er[r['run']] for r in rs])} |")
    print("\n| run | clean % | val change over the last two epochs, pp | at plateau (≤ 0.5 pp) |")
    print("|---|---:|---:|---|")
    for r in everything:
        change, ok = plateau(args.folder / "runs" / r["run"])
        print(f"| {r['run']} | {100 * r['accuracy']['clean']:.2f} | {change:.2f} | {'yes' if ok else 'NO'} |")
    paired(by_variant)
    comparison(by_variant, args.folder)
    run_seconds(args.folder)
    timings = args.folder / "timings.json"
    if timings.exists():
        print("\n| stage (driver's commands.jsonl) | wall h | CPU h | commands |\n|---|---:|---:|---:|")
        for stage, t in json.loads(timings.read_text()).items():
            print(f"| {stage} | {t['wall_s'] / 3600:.2f} | {t['cpu_s'] / 3600:.2f} | {t['commands']} |")
    if args.check:
        field = (json.loads((args.folder / "results.json").read_text()).get("field") or {}).get("rows", [])
        print("\n| head variant | metric | recomputed here | robeval's report |\n|---|---|---:|---:|")
        for v, rs in by_variant.items():
            mine = {"mce": mce(rs, by_variant[REFERENCE], False),
                    "mean_corruption_accuracy": 100 * np.mean([corruption_accuracy(r["accuracy"]) for r in rs])}
            for metric, value in mine.items():
                theirs = [r["mean"] for r in field if r.get("metric") == metric and r.get("variant") == v
                          and r.get("part", "") == "" and r.get("mean") is not None]
                shown = ", ".join(f"{100 * x:.2f}" if abs(x) < 5 else f"{x:.2f}" for x in theirs) or "–"
                print(f"| {v} | {metric} | {value:.2f} | {shown} |")

if __name__ == "__main__":
    main()
