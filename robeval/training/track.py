"""The geometry over training: per-epoch class-vector cosines, compactness, NC1, margin, W movement.

    robeval train --dataset shapes --arch tinycnn --out runs/demo            # tracked (default)
    robeval train --dataset shapes --arch tinycnn --out runs/demo --no-track

Each epoch's metrics.jsonl row gains the ``TRACKED`` fields, computed on a fixed subset of the
validation split (up to ``SUBSET`` images drawn by the run's seed, the same every epoch) from the
features and logits of the validation pass train already makes (no extra forward pass). The
definitions are the analysis module's (analysis/geometry.py, analysis/collapse.py), so a value
logged here equals the one recomputed from a saved checkpoint on the same subset.
"""

from __future__ import annotations

import numpy as np
import torch

from robeval.analysis.collapse import neural_collapse
from robeval.analysis.geometry import compactness, separability

SUBSET = 500  # images of the validation split tracked each epoch

# field -> what it is (docs/analysis.md repeats these)
TRACKED = {
    "track_cos_mean": "mean off-diagonal cosine between class vectors",
    "track_cos_max": "largest off-diagonal cosine between class vectors",
    "track_compactness": "mean cos(h, w_pred) on the tracked subset",
    "track_nc1": "NC1 = Tr(Sigma_W Sigma_B^+)/K on the tracked subset",
    "track_margin": "mean true logit minus the largest other logit",
    "track_w_move": "||W_t - W_{t-1}||_F / ||W_{t-1}||_F (0 for a fixed head)",
}


def subset_indices(n_val: int, seed: int, size: int = SUBSET) -> np.ndarray:
    """The tracked validation images: a seeded, sorted draw of min(size, n_val) indices."""
    rng = np.random.default_rng([seed, 13])
    return np.sort(rng.choice(n_val, size=min(size, n_val), replace=False))


def head_weight(model) -> np.ndarray:
    """The class vectors W (C x d) as float64."""
    return model.head.weight.detach().float().cpu().numpy().astype(np.float64)


def geometry_row(features: np.ndarray, labels: np.ndarray, logits: np.ndarray, weight: np.ndarray,
                 previous: np.ndarray | None, learned: bool) -> dict:
    """The tracked fields for one epoch; ``previous`` is W at the end of the last epoch (or start)."""
    sep = separability(features, labels, weight, logits)
    comp = compactness(features, weight, labels, logits.argmax(1))
    nc = neural_collapse(features, labels, logits, weight)
    move = 0.0
    if learned and previous is not None:
        base = float(np.linalg.norm(previous))
        move = float(np.linalg.norm(weight - previous) / base) if base > 0 else None
    return {"track_cos_mean": sep["class_vectors"]["mean_cos"],
            "track_cos_max": sep["class_vectors"]["max_cos"],
            "track_compactness": comp["predicted"]["mean"],
            "track_nc1": nc["nc1"], "track_margin": sep["margin_logit"], "track_w_move": move}


def is_learned(model) -> bool:
    """Whether the head's class vectors are trained (a Parameter, not a buffer)."""
    return isinstance(model.head.weight, torch.nn.Parameter) and model.head.weight.requires_grad
