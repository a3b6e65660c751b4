"""Per-variant tuning on validation: the value of a swept option (the learning rate) chosen per
head variant by the mean best validation accuracy over its seeds. The test set and every other
condition are never read to choose; reproduce evaluates the chosen runs only.

    robeval reproduce --lrs 0.02,0.05,0.1,0.2,0.5
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from robeval.runs.naming import variant
from robeval.training.config import TrainConfig

VARIANT_KEYS = ("dataset", "arch", "head", "logits", "scale", "init", "learn_scale", "margin")


def variant_key(cfg: TrainConfig) -> tuple:
    return tuple(getattr(cfg, k) for k in VARIANT_KEYS)


def select_by_validation(cells: list[tuple[TrainConfig, float]]) -> tuple[list[int], list[dict]]:
    """(indices of the chosen cells, one sweep row per variant and LR).

    ``cells`` are (config, best validation accuracy). Per variant, the LR with the highest mean
    over seeds wins; a tie goes to the smaller LR. Only validation accuracy is read.
    """
    groups: dict[tuple, dict[float, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for i, (cfg, val) in enumerate(cells):
        groups[variant_key(cfg)][cfg.lr].append((i, val))
    chosen, rows = [], []
    for key, by_lr in groups.items():
        means = {lr: float(np.mean([v for _, v in members])) for lr, members in by_lr.items()}
        best = max(sorted(means), key=lambda lr: means[lr])  # sorted: ties keep the smaller LR
        for lr in sorted(by_lr):
            members = by_lr[lr]
            cfg = cells[members[0][0]][0]
            rows.append({**dict(zip(VARIANT_KEYS, key, strict=True)), "variant": variant(cfg),
                         "lr": lr, "val_mean": means[lr], "val_values": [v for _, v in members],
                         "seeds": [cells[i][0].seed for i, _ in members], "n": len(members),
                         "chosen": lr == best})
        chosen += [i for i, _ in by_lr[best]]
    return sorted(chosen), rows
