"""Aggregate runs over seeds: one row per (configuration, condition) with mean, std, 95% t-interval, n.

    robeval report runs/* --out report/

Runs are grouped by (dataset, arch, head, logits, S, init, learn_scale); seeds are what varies
inside a group. Fixed and learned variants are compared by paired differences over the seeds
both have. Writes ``report.md`` and ``report.html`` (self-contained), ``results.csv`` (one row per
configuration x condition), ``paired.csv`` (fixed - learned), ``geometry.csv`` (per run),
``results.json`` (every number, per-seed values, claims, run configs, versions) and ``plots/``.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis.stats import paired_differences, t_interval
from robeval.environment import environment
from robeval.errors import RobevalError
from robeval.fileio import read_json

GROUP_KEYS = ("dataset", "arch", "head", "logits", "scale", "init", "learn_scale")
SUMMARY_KINDS = {"corruption": "corruptions (mean)", "generalisation": "generalisation (mean)"}


def collect(run_dirs: list[str | Path]) -> list[dict]:
    """One record per evaluated run: its configuration, seed and per-condition accuracy."""
    records = []
    for run_dir in run_dirs:
        path, config = runs.open_run(run_dir)
        if not (path / runs.EVAL_JSON).exists():
            raise RobevalError(f"{path} has no eval results yet; run: robeval eval {path}")
        cfg = config["config"]
        summary = read_json(path / runs.SUMMARY) if (path / runs.SUMMARY).exists() else {}
        ev = read_json(path / runs.EVAL_JSON)
        records.append({
            "run": str(path),
            "variant": config.get("variant", "") + ("-learnS" if cfg.get("learn_scale") else ""),
            "seed": cfg["seed"],
            "config": {k: (cfg.get(k, False) if not (k == "scale" and cfg["logits"] == "dot") else None)
                       for k in GROUP_KEYS},
            "best_val_acc": summary.get("best_val_acc"),
            # an empty condition has no accuracy (NaN in eval.json): left out, shown as "–"
            "accuracy": {name: r["accuracy"] for name, r in ev["conditions"].items()
                         if r.get("accuracy") is not None and math.isfinite(r["accuracy"])},
            "conditions": ev["conditions"],
            "train_config": cfg,
        })
        add_summary_conditions(records[-1])
    return records


def add_summary_conditions(record: dict) -> None:
    """Per run, the mean accuracy over its corruption and over its generalisation conditions."""
    for kind, name in SUMMARY_KINDS.items():
        vals = [r["accuracy"] for r in record["conditions"].values()
                if r.get("kind") == kind and r.get("accuracy") is not None]
        if vals:
            record["accuracy"][name] = float(np.mean(vals))
            record["conditions"][name] = {"kind": "summary", "family": kind, "severity": None,
                                          "n_conditions": len(vals)}


def summarise(values: list[float]) -> dict:
    """Mean, sample standard deviation (ddof=1; None when n = 1) and n."""
    arr = np.asarray(values, dtype=float)
    n = len(arr)
    return {
        "n": n,
        "mean": float(arr.mean()) if n else None,
        "std": float(arr.std(ddof=1)) if n > 1 else None,
        "values": arr.tolist(),
    }


def aggregate(records: list[dict]) -> list[dict]:
    """Group records by configuration and summarise each condition over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[tuple(r["config"][k] for k in GROUP_KEYS)].append(r)
    rows = []
    for key, members in sorted(groups.items(), key=lambda kv: variant_order(kv[1][0]["config"])):
        seeds = [m["seed"] for m in members]
        if len(set(seeds)) != len(seeds):
            raise RobevalError(
                f"two runs of the same configuration share a seed ({members[0]['variant']}, seeds {seeds}); "
                "remove one so seeds are not counted twice"
            )
        conditions = [c for m in members for c in m["accuracy"]]
        for cond in dict.fromkeys(conditions):
            vals = [m["accuracy"][cond] for m in members if cond in m["accuracy"]]
            info = next(m["conditions"][cond] for m in members if cond in m["conditions"])
            rows.append({
                **dict(zip(GROUP_KEYS, key, strict=True)),
                "variant": members[0]["variant"],
                "condition": cond,
                "kind": info.get("kind"),
                "family": info.get("family"),
                "severity": info.get("severity"),
                "seeds": [m["seed"] for m in members if cond in m["accuracy"]],
                **summarise(vals),
                **{k: v for k, v in t_interval(vals).items() if k in CI_KEYS},
            })
    return rows


CI_KEYS = ("ci_low", "ci_high", "half_width", "note")


def variant_order(cfg: dict) -> tuple:
    """The paper's order: per dataset/arch, dot before cosine, S ascending, learned before fixed,
    the paper's random init before the extra heads."""
    return (str(cfg["dataset"]), str(cfg["arch"]), cfg["logits"] != "dot", cfg["scale"] or 0.0,
            cfg["head"] != "learned", cfg["init"] not in ("sphere", "authors"), str(cfg["init"]),
            bool(cfg["learn_scale"]))


def group_key(record: dict) -> tuple:
    return tuple(record["config"][k] for k in GROUP_KEYS)


def find_partner(fixed: dict, learned_groups: dict[tuple, list[dict]]) -> tuple | None:
    """The learned configuration a fixed one is compared with: same dataset, arch, logits and S
    (cosine), fixed S; the same init if such a run exists, else the default sphere init."""
    cfg = fixed["config"]
    cands = [k for k, m in learned_groups.items()
             if all(m[0]["config"][f] == cfg[f] for f in ("dataset", "arch", "logits", "scale"))
             and not m[0]["config"]["learn_scale"]]
    for init in (cfg["init"], "sphere"):
        for k in cands:
            if learned_groups[k][0]["config"]["init"] == init:
                return k
    return cands[0] if cands else None


def paired_rows(records: list[dict]) -> list[dict]:
    """fixed - learned accuracy per condition over matching seeds, with a 95% t-interval."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[group_key(r)].append(r)
    learned = {k: m for k, m in groups.items() if m[0]["config"]["head"] == "learned"}
    rows = []
    for members in sorted(groups.values(), key=lambda m: variant_order(m[0]["config"])):
        if members[0]["config"]["head"] != "fixed":
            continue
        partner = find_partner(members[0], learned)
        if partner is None:
            continue
        other = learned[partner]
        conds = [c for c in members[0]["accuracy"] if any(c in o["accuracy"] for o in other)]
        for cond in conds:
            a = {m["seed"]: m["accuracy"][cond] for m in members if cond in m["accuracy"]}
            b = {o["seed"]: o["accuracy"][cond] for o in other if cond in o["accuracy"]}
            info = members[0]["conditions"].get(cond, {})
            d = paired_differences(a, b)
            rows.append({
                "dataset": members[0]["config"]["dataset"], "arch": members[0]["config"]["arch"],
                "fixed": members[0]["variant"], "learned": other[0]["variant"], "condition": cond,
                **{k: members[0]["config"][k] for k in ("logits", "scale", "init", "learn_scale")},
                "kind": info.get("kind"), "family": info.get("family"), "severity": info.get("severity"),
                **{k: d[k] for k in ("n", "mean", "std", "ci_low", "ci_high", "half_width", "note",
                                     "seeds", "values", "unmatched")},
            })
    return rows


def fmt(mean: float | None, std: float | None, n: int, ci: tuple | None = None) -> str:
    """'85.20 ± 1.10 [83.47, 86.93] (n=3)'; the interval only when given."""
    if mean is None:
        return "–"
    s = f"{100 * mean:.2f}"
    s += f" ± {100 * std:.2f}" if std is not None and not math.isnan(std) else ""
    if ci is not None and ci[0] is not None:
        s += f" [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"
    return f"{s} (n={n})"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def pivot_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per (dataset, arch, head variant), one column per condition."""
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    variants = list(dict.fromkeys((r["dataset"], r["arch"], r["variant"]) for r in rows))
    cell = {((r["dataset"], r["arch"], r["variant"]), r["condition"]): r for r in rows}
    out = []
    for v in variants:
        cells = []
        for c in conditions:
            r = cell.get((v, c))
            cells.append(fmt(r["mean"], r["std"], r["n"], (r.get("ci_low"), r.get("ci_high")))
                         if r else "–")
        out.append([v[0], v[1], v[2], *cells])
    return ["dataset", "arch", "head", *conditions], out


def pivot_markdown(rows: list[dict]) -> str:
    headers, body = pivot_table(rows)
    lines = ["| " + " | ".join(headers) + " |", "|---|---|---|" + "---:|" * (len(headers) - 3)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def terminal_table(rows: list[dict]) -> str:
    out = [f"{'condition':<26} {'head':<30} {'accuracy % (mean ± std)':>24} {'95% t-interval':>17} {'n':>3}"]
    for cond in dict.fromkeys(r["condition"] for r in rows):
        for r in (r for r in rows if r["condition"] == cond):
            m = f"{100 * r['mean']:.2f}" + (f" ± {100 * r['std']:.2f}" if r["std"] is not None else "")
            ci = (f"[{100 * r['ci_low']:.2f}, {100 * r['ci_high']:.2f}]" if r.get("ci_low") is not None
                  else "–")
            out.append(f"{cond:<26} {r['variant']:<30} {m:>24} {ci:>17} {r['n']:>3}")
    return "\n".join(out)


CSV_FIELDS = (*GROUP_KEYS, "variant", "condition", "kind", "family", "severity", "n", "mean", "std",
              "ci_low", "ci_high", "seeds")
PAIRED_FIELDS = ("dataset", "arch", "fixed", "learned", "condition", "kind", "family", "severity",
                 "n", "mean", "std", "ci_low", "ci_high", "seeds", "note")


def to_csv(rows: list[dict], fields: tuple[str, ...] = CSV_FIELDS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        row = {k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()}
        writer.writerow(row)
    return buf.getvalue()


def write_report(run_dirs: list[str | Path], out_dir: str | Path, *, analyze: bool = True,
                 plots: bool = True) -> list[dict]:
    """Aggregate ``run_dirs`` and write the report files into ``out_dir`` (see the module doc).

    With ``analyze``, runs evaluated with features whose analysis.json is missing or older than
    eval.json are analysed first (robeval analyze), so geometry and claims are never stale.
    """
    from robeval.report_build import build_report

    if not run_dirs:
        raise RobevalError("no runs given; pass run folders, e.g. robeval report runs/*")
    records = collect(run_dirs)
    rows = aggregate(records)
    build_report(records, rows, paired_rows(records), Path(out_dir), environment(),
                 analyze=analyze, plots=plots)
    return rows
