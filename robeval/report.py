"""Aggregate runs over seeds: one row per (configuration, condition) with mean, std and n.

    robeval report runs/* --out report/

Runs are grouped by (dataset, arch, head, logits, S, init); seeds are what varies inside a group.
Writes ``report.md``, ``results.csv`` (one row per configuration x condition) and ``results.json``
(the same plus every per-seed value and each run's folder).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.environment import environment
from robeval.errors import RobevalError
from robeval.fileio import read_json, write_json, write_text

GROUP_KEYS = ("dataset", "arch", "head", "logits", "scale", "init")


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
            "variant": config.get("variant", ""),
            "seed": cfg["seed"],
            "config": {k: (cfg[k] if not (k == "scale" and cfg["logits"] == "dot") else None)
                       for k in GROUP_KEYS},
            "best_val_acc": summary.get("best_val_acc"),
            "accuracy": {name: r["accuracy"] for name, r in ev["conditions"].items()},
            "conditions": ev["conditions"],
        })
    return records


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
    for key, members in groups.items():
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
            })
    return rows


def fmt(mean: float | None, std: float | None, n: int) -> str:
    if mean is None:
        return "–"
    s = f"{100 * mean:.2f}"
    s += f" ± {100 * std:.2f}" if std is not None and not math.isnan(std) else ""
    return f"{s} (n={n})"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def pivot_markdown(rows: list[dict]) -> str:
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    variants = list(dict.fromkeys((r["dataset"], r["arch"], r["variant"]) for r in rows))
    cell = {((r["dataset"], r["arch"], r["variant"]), r["condition"]): r for r in rows}
    lines = ["| dataset | arch | head | " + " | ".join(conditions) + " |",
             "|---|---|---|" + "---:|" * len(conditions)]
    for v in variants:
        cells = [fmt(cell[v, c]["mean"], cell[v, c]["std"], cell[v, c]["n"]) if (v, c) in cell else "–"
                 for c in conditions]
        lines.append(f"| {v[0]} | {v[1]} | {v[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def terminal_table(rows: list[dict]) -> str:
    out = [f"{'condition':<26} {'head':<24} {'accuracy % (mean ± std)':>26} {'n':>3}"]
    for cond in dict.fromkeys(r["condition"] for r in rows):
        for r in (r for r in rows if r["condition"] == cond):
            m = f"{100 * r['mean']:.2f}" + (f" ± {100 * r['std']:.2f}" if r["std"] is not None else "")
            out.append(f"{cond:<26} {r['variant']:<24} {m:>26} {r['n']:>3}")
    return "\n".join(out)


CSV_FIELDS = (*GROUP_KEYS, "variant", "condition", "kind", "family", "severity", "n", "mean", "std", "seeds")


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "seeds": " ".join(map(str, r["seeds"]))})
    return buf.getvalue()


def write_report(run_dirs: list[str | Path], out_dir: str | Path) -> list[dict]:
    """Aggregate ``run_dirs`` and write report.md, results.csv and results.json into ``out_dir``."""
    if not run_dirs:
        raise RobevalError("no runs given; pass run folders, e.g. robeval report runs/*")
    records = collect(run_dirs)
    rows = aggregate(records)
    out = Path(out_dir)
    env = environment()
    write_json(out / "results.json", {"rows": rows, "runs": records, "environment": env})
    write_text(out / "results.csv", to_csv(rows))
    md = [
        "# robeval report",
        "",
        f"{len(records)} runs, {len({r['variant'] for r in records})} head variants. "
        "Cells: test accuracy in %, mean ± sample std over seeds (n = number of seeds). "
        "Checkpoints were chosen on a validation split carved from the training data; "
        "the test sets were only evaluated.",
        "",
        pivot_markdown(rows),
        "",
        "## Runs",
        "",
        "| run | head | seed | best val acc |",
        "|---|---|---:|---:|",
        *[f"| {r['run']} | {r['variant']} | {r['seed']} | {_pct(r['best_val_acc'])} |" for r in records],
        "",
        f"robeval {env['libraries'].get('robeval')}, git {env['git_sha']}, torch {env['libraries'].get('torch')}, "
        f"python {env['python']}, {env['time_utc']}",
        "",
    ]
    write_text(out / "report.md", "\n".join(md))
    return rows
