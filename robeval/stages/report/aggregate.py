"""Aggregate runs over seeds: one row per (configuration, condition) with mean, std, 95% t-interval, n.

Runs are grouped by (dataset, arch, head, logits, S, init, learn_scale); seeds are what varies
inside a group. Fixed and learned variants are compared by paired differences over the seeds
both have. Nothing here formats or writes files (format.py, page.py do).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis.condition_kinds import condition_kind, summary_kinds
from robeval.analysis.condition_metrics import CONDITION_METRICS
from robeval.analysis.stats import paired_differences, t_interval
from robeval.core.errors import RobevalError
from robeval.runs.outputs import read_eval_json
from robeval.training.optim import PLATEAU_TOLERANCE, within_plateau

GROUP_KEYS = ("dataset", "arch", "head", "logits", "scale", "init", "learn_scale", "margin")
GROUP_DEFAULTS = {"margin": 0.0}
# the per-condition metrics robeval eval writes (one record each, analysis/condition_metrics.py);
# a record's field is absent in runs evaluated before it existed: those runs report without it.
# A row's and a record's "calibration" entry holds all of them (the name they began with). The
# code reads the registry at run time (per_condition_names); this tuple is its state at import.
CALIBRATION_METRICS = tuple(CONDITION_METRICS.names())


def per_condition_names() -> list[str]:
    return CONDITION_METRICS.names()



def collect(run_dirs: list[str | Path]) -> list[dict]:
    """One record per evaluated run: its configuration, seed and per-condition accuracy."""
    records = []
    for run_dir in run_dirs:
        path, config = runs.open_run(run_dir)
        ev = read_eval_json(path)
        if not ev:
            raise _not_evaluated(path)
        cfg = config["config"]
        summary = runs.read_summary(path) if (path / runs.SUMMARY).exists() else {}
        records.append({
            "run": str(path),
            "variant": runs.variant(cfg),
            "seed": cfg["seed"],
            "config": {k: cfg.get(k, False) for k in GROUP_KEYS},  # scale is None where S does not apply
            "best_val_acc": summary.get("best_val_acc"),
            "origin": runs.origin(config),  # None: trained by robeval; else where it was imported from
            # None: trained before robeval recorded it, or imported
            "at_plateau": (summary.get("plateau") or {}).get("at_plateau"),
            # the change of validation accuracy over the last two epochs, so a stricter rule than
            # robeval's 1 pp (the study issue's 0.5 pp, say) can be checked from results.json
            "plateau_change": (summary.get("plateau") or {}).get("last_change"),
            "plateau_tolerance": (summary.get("plateau") or {}).get("tolerance"),
            # an empty condition has no accuracy (NaN in eval.json): left out, shown as "–"
            "accuracy": {name: r["accuracy"] for name, r in ev["conditions"].items()
                         if r.get("accuracy") is not None and math.isfinite(r["accuracy"])},
            "conditions": ev["conditions"],
            "calibration": {name: _calibration_of(r) for name, r in ev["conditions"].items()},
            "train_config": cfg,
        })
        add_summary_conditions(records[-1])
    return records


def rejudge_plateaus(records: list[dict], tolerance: float) -> None:
    """Judge each run's plateau by ``tolerance`` instead of the rule it was trained under (a
    study's stricter 0.5 pp, say), from its recorded last change; runs without one stay unknown."""
    for r in records:
        if r["at_plateau"] is not None:
            r["at_plateau"] = within_plateau(r["plateau_change"], tolerance)
            r["plateau_tolerance"] = tolerance


def plateau_rule(records: list[dict], unsettled_only: bool = False) -> str:
    """The plateau rule(s) the runs were judged by, as "0.5 pp" (robeval's 1 pp unless the
    report was given --plateau-tolerance, or the runs were trained under another)."""
    found = sorted({r.get("plateau_tolerance") or PLATEAU_TOLERANCE for r in records
                    if not unsettled_only or r.get("at_plateau") is False})
    return " or ".join(f"{100 * t:g} pp" for t in found)


def _not_evaluated(path: Path) -> RobevalError:
    """A run without eval results. One of a reproduce sweep (OUT/runs/<run> beside OUT/sweep.json)
    was not chosen on validation: evaluating it on test would be test-set selection."""
    sweep = path.parent.parent / "sweep.json"
    if path.parent.name == "runs" and sweep.is_file():
        return RobevalError(f"{path} has no eval results: it is a run of the sweep {sweep} that was not "
                            f"chosen on validation; report the chosen runs with --sweep {sweep}")
    return RobevalError(f"{path} has no eval results yet; run: robeval eval {path}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _calibration_of(cond: dict) -> dict[str, float]:
    """The per-condition metrics a condition has (none for runs evaluated before they existed)."""
    return {m: float(cond[m]) for m in per_condition_names() if _finite(cond.get(m))}


def _mean_calibration(per_condition: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the conditions, only where every one of them has it."""
    return {m: float(np.mean([c[m] for c in per_condition])) for m in per_condition_names()
            if per_condition and all(m in c for c in per_condition)}


def family_summary(family: str) -> str:
    return f"{family} (mean)"


def add_summary_conditions(record: dict) -> None:
    """Per run, the mean accuracy over each graded family's severities (when it has more than
    one) and, per condition kind with a ``summary`` (corruption, generalisation), over all its
    conditions of that kind (analysis/condition_kinds.py)."""
    families: dict[str, list[float]] = defaultdict(list)
    family_cal: dict[str, list[dict]] = defaultdict(list)
    cal = record.setdefault("calibration", {})
    for name, r in list(record["conditions"].items()):
        if condition_kind(r.get("kind")).graded and r.get("family") and r.get("accuracy") is not None:
            families[r["family"]].append(r["accuracy"])
            family_cal[r["family"]].append(cal.get(name, {}))
    for family, vals in families.items():
        if len(vals) > 1:
            record["accuracy"][family_summary(family)] = float(np.mean(vals))
            cal[family_summary(family)] = _mean_calibration(family_cal[family])
            record["conditions"][family_summary(family)] = {
                "kind": "summary", "family": family, "severity": None, "n_conditions": len(vals)}
    for kind in summary_kinds():
        name = kind.summary
        members = [c for c, r in record["conditions"].items()
                   if r.get("kind") == kind.name and r.get("accuracy") is not None]
        vals = [record["conditions"][c]["accuracy"] for c in members]
        if vals:
            record["accuracy"][name] = float(np.mean(vals))
            cal[name] = _mean_calibration([cal.get(c, {}) for c in members])
            record["conditions"][name] = {"kind": "summary", "family": kind.name, "severity": None,
                                          "n_conditions": len(vals)}


def aggregate(records: list[dict]) -> list[dict]:
    """Group records by configuration and summarise each condition over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        # runs written before a key existed (margin) group with its default
        groups[group_key(r)].append(r)
    rows = []
    for key, members in sorted(groups.items(), key=lambda kv: variant_order(kv[1][0]["config"])):
        seeds = [m["seed"] for m in members]
        if len(set(seeds)) != len(seeds):
            raise _shared_seed(members)
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
                **_summary(vals),
                "calibration": _calibration_summary(members, cond),
            })
    return rows


def _shared_seed(members: list[dict]) -> RobevalError:
    """Two runs of one configuration with one seed would be counted as two seeds: name them."""
    first: dict = {}
    for m in members:
        if m["seed"] in first:
            a, b = first[m["seed"]], m
            break
        first[m["seed"]] = m
    fix = ("import each with its own --seed (the seed it was trained with) to report them over "
           "seeds, or report them separately" if a.get("origin") or b.get("origin")
           else "remove one so the seed is not counted twice")
    return RobevalError(f"{a['run']} and {b['run']} are the same configuration ({a['variant']}) with "
                        f"the same seed {a['seed']}; {fix}")


def _calibration_summary(members: list[dict], cond: str) -> dict[str, dict]:
    """Per per-condition metric the seeds' mean, std, 95% t-interval, n and values; metrics no
    seed has (runs evaluated before they existed) are left out, and the report shows "–"."""
    out = {}
    for m in per_condition_names():
        vals = [r["calibration"][cond][m] for r in members
                if m in r.get("calibration", {}).get(cond, {})]
        if vals:
            s = _summary(vals)
            out[m] = {k: s[k] for k in ("mean", "ci_low", "ci_high", "std", "n", "values", "note")}
    return out


def _summary(values: list[float]) -> dict:
    """n, mean, sample std (ddof 1; None when n = 1), the values and their 95% t-interval."""
    t = t_interval(values)
    return {"n": t["n"], "mean": t["mean"], "std": t["std"], "values": [float(v) for v in values],
            **{k: t[k] for k in ("ci_low", "ci_high", "half_width", "note")}}


def variant_order(cfg: dict) -> tuple:
    """The paper's order: per dataset/arch, logits without S (dot) before cosine, S ascending, learned before fixed,
    the paper's random init before the extra heads."""
    return (str(cfg["dataset"]), str(cfg["arch"]), cfg["scale"] is not None, cfg["scale"] or 0.0,
            cfg["head"] != "learned", cfg["init"] not in ("sphere", "authors"), str(cfg["init"]),
            bool(cfg["learn_scale"]), float(cfg.get("margin") or 0.0))


def group_key(record: dict) -> tuple:
    return tuple(record["config"].get(k, GROUP_DEFAULTS.get(k)) for k in GROUP_KEYS)


def find_partner(fixed: dict, learned_groups: dict[tuple, list[dict]]) -> tuple | None:
    """The learned configuration a fixed one is compared with: same dataset, arch, logits and S
    (cosine), fixed S; the same init if such a run exists, else the default sphere init. With no
    learned run at that S (S chosen per variant on validation, stages/tuning.py, picked another),
    the learned one at its own S: each head at its tuned setting, the S named in the row."""
    cfg = fixed["config"]
    alike = [k for k, m in learned_groups.items()
             if all(m[0]["config"][f] == cfg[f] for f in ("dataset", "arch", "logits"))
             and not m[0]["config"]["learn_scale"] and not m[0]["config"].get("margin")]
    same_s = [k for k in alike if learned_groups[k][0]["config"]["scale"] == cfg["scale"]]
    cands = same_s or alike
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
                "partner_scale": other[0]["config"]["scale"],  # the learned head's S (tuned: may differ)
                "kind": info.get("kind"), "family": info.get("family"), "severity": info.get("severity"),
                **{k: d[k] for k in ("n", "mean", "std", "ci_low", "ci_high", "half_width", "note",
                                     "seeds", "values", "unmatched")},
            })
    return rows
