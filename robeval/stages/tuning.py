"""Per-variant tuning on validation: the *setting* (learning rate, and S for heads whose logits
use one) chosen per head variant by the mean best validation accuracy over its seeds. The test
set and every other condition are never read to choose; reproduce evaluates the chosen runs only.

    robeval reproduce --lrs 0.02,0.05,0.1,0.2,0.5 --scales 1,5,10,20,40

S is part of the setting, not of the variant: a cosine head at S = 1 and at S = 10 compete for
one chosen run per seed, as the paper's "grid search for the best S" did, but on validation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from robeval.core.errors import RobevalError
from robeval.core.fileio import read_json
from robeval.models.kinds import LOGITS_KINDS
from robeval.runs.naming import run_name, variant
from robeval.training.config import TrainConfig

# what makes a head variant; lr and scale are its tuned setting
VARIANT_KEYS = ("dataset", "arch", "head", "logits", "init", "learn_scale", "margin")

Setting = tuple[float | None, float | None]  # (lr, S); None: the preset's LR / logits without S


def variant_key(cfg: TrainConfig) -> tuple:
    return tuple(getattr(cfg, k) for k in VARIANT_KEYS)


def setting(cfg: TrainConfig) -> Setting:
    """(lr, S); S is None for logits without a scale (dot), whatever ``scale`` holds, and 1.0 for
    a cosine head left at its default."""
    uses_scale = LOGITS_KINDS.get(cfg.logits).uses_scale
    return cfg.lr, ((1.0 if cfg.scale is None else float(cfg.scale)) if uses_scale else None)


def tie_order(s: Setting) -> tuple:
    """Ascending: smaller LR first, then smaller S (None, the preset's value, first)."""
    return tuple((v is not None, v or 0.0) for v in s)


def setting_label(lr: float | None, scale: float | None) -> str:
    """'LR 0.1, S 8', 'LR 0.1' (no S), 'S 8' (the preset's LR), or '' (nothing swept)."""
    return ", ".join(([f"LR {lr:g}"] if lr is not None else []) + ([f"S {scale:g}"] if scale is not None else []))


def select_by_validation(cells: list[tuple[TrainConfig, float]]) -> tuple[list[int], list[dict]]:
    """(indices of the chosen cells, one sweep row per variant and setting).

    ``cells`` are (config, best validation accuracy). Per variant, the setting (lr, S) with the
    highest mean over seeds wins; a tie goes to the smaller LR, then the smaller S. Only
    validation accuracy is read.
    """
    groups: dict[tuple, dict[Setting, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for i, (cfg, val) in enumerate(cells):
        groups[variant_key(cfg)][setting(cfg)].append((i, val))
    chosen, rows = [], []
    for key, by_setting in groups.items():
        means = {s: float(np.mean([v for _, v in members])) for s, members in by_setting.items()}
        ordered = sorted(by_setting, key=tie_order)
        best = max(ordered, key=lambda s: means[s])  # max keeps the first of equals: the tie order
        for s in ordered:
            members = by_setting[s]
            cfg = cells[members[0][0]][0]
            rows.append({**dict(zip(VARIANT_KEYS, key, strict=True)), "variant": variant(cfg),
                         "family": variant(cfg, with_scale=False), "lr": s[0], "scale": s[1],
                         "val_mean": means[s], "val_values": [v for _, v in members],
                         "seeds": [cells[i][0].seed for i, _ in members], "n": len(members),
                         "chosen": s == best})
        chosen += [i for i, _ in by_setting[best]]
    return sorted(chosen), rows


ROW_KEYS = (*VARIANT_KEYS, "lr", "scale", "chosen", "seeds", "val_mean")


def _number(v, none_ok: bool = False) -> bool:
    return (v is None and none_ok) or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                       and math.isfinite(v))


def _row_problem(r) -> str | None:
    """What is wrong with one sweep row, or None."""
    if not isinstance(r, dict):
        return f"a row is a JSON {type(r).__name__}, not an object"
    missing = [k for k in ROW_KEYS if k not in r]
    if missing:
        return f"a row lacks {', '.join(missing)}"
    if not all(isinstance(r[k], str) for k in ("dataset", "arch", "head", "logits", "init")):
        return "dataset, arch, head, logits and init must be text"
    if not (_number(r["lr"], True) and _number(r["scale"], True) and _number(r["val_mean"])
            and _number(r["margin"]) and isinstance(r["learn_scale"], bool)):
        return "lr, scale (numbers or null), val_mean, margin (numbers), learn_scale (true/false)"
    if not isinstance(r["chosen"], bool):
        return "chosen must be true or false"
    if not (isinstance(r["seeds"], list) and r["seeds"]
            and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**31 for x in r["seeds"])):
        return "seeds must be a non-empty list of seeds (integers)"
    return None


def read_sweep(path: str | Path) -> list[dict]:
    """The rows of a reproduce OUT/sweep.json (for ``robeval report --sweep``), each checked."""
    obj = read_json(path)
    rows = obj.get("rows") if isinstance(obj, dict) else None
    problem = ("it has no list of rows" if not isinstance(rows, list) or not rows
               else next((p for p in map(_row_problem, rows) if p), None))
    if problem is None and not any(r["chosen"] for r in rows):
        problem = "no row is chosen"
    if problem:
        raise RobevalError(f"{path} is not a reproduce sweep.json: {problem}; use the sweep.json "
                           "reproduce wrote (OUT/sweep.json)")
    return rows


def reported_runs(dirs: list[Path], rows: list[dict]) -> list[Path]:
    """The runs ``robeval report --sweep`` reports: a run of the sweep only when its setting was
    chosen on validation; runs that are not the sweep's (a longer study trained at the chosen
    settings) are all kept, so the report shows both the tuning table and the study."""
    every, keep = _run_names(rows), chosen_runs(rows)
    return [d for d in dirs if d.name in keep or d.name not in every]


def _run_names(rows: list[dict]) -> set[str]:
    """The run folder names of ``rows``' settings (reproduce's names: runs.naming.run_name)."""
    return {run_name({**{k: r[k] for k in VARIANT_KEYS}, "lr": r["lr"], "scale": r["scale"], "seed": seed})
            for r in rows for seed in r["seeds"]}


def chosen_runs(rows: list[dict]) -> set[str]:
    """The run folder names of the chosen settings (reproduce's names: runs.naming.run_name)."""
    return _run_names([r for r in rows if r["chosen"]])
