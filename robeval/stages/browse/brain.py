"""FiftyOne Brain results from robeval's own outputs: nothing is recomputed by a model.

Mistakenness and hardness read the logits stored in ``prediction.logits``; the embeddings map
reduces the stored penultimate features. ``compute_visualization`` is always given those features,
because without them the Brain would download its default model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from robeval.core.errors import RobevalError
from robeval.runs.outputs import load_condition

BRAIN_KEYS = ("mistakenness", "hardness", "features")
METHODS = ("pca", "tsne", "umap", "none")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise RobevalError(f"unknown embeddings method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "umap" and importlib.util.find_spec("umap") is None:
        raise RobevalError("--embeddings umap needs umap-learn (pip install umap-learn); "
                           "use --embeddings pca or tsne")


def stored_features(flat: Any, path: Path, evaluated: dict) -> np.ndarray | None:
    """Each sample's penultimate features, in the order of ``flat``; None if any are missing."""
    conditions = flat.values("condition")
    rows = flat.values("source_index")
    by_condition: dict[str, tuple[dict[int, int], np.ndarray]] = {}
    for name in set(conditions):
        out = load_condition(path, name, evaluated[name])
        if out.features is None:
            return None
        by_condition[name] = ({int(i): k for k, i in enumerate(out.index)}, out.features)
    out_rows = []
    for name, i in zip(conditions, rows, strict=True):
        where, feats = by_condition[name]
        out_rows.append(feats[where[int(i)]])
    return np.stack(out_rows).astype(np.float32)


def drop_brain_runs(dataset: Any) -> None:
    for key in BRAIN_KEYS:
        if key in dataset.list_brain_runs():
            dataset.delete_brain_run(key)


def run_brain(dataset: Any, path: Path, evaluated: dict, method: str = "pca",
              progress: bool = True, echo=print) -> list[str]:
    """Recompute the Brain runs over every slice; returns the brain keys written."""
    import fiftyone.brain as fob

    drop_brain_runs(dataset)
    flat = dataset.select_group_slices()
    fob.compute_mistakenness(flat, "prediction", label_field="ground_truth", use_logits=True,
                             progress=progress)
    fob.compute_hardness(flat, "prediction", progress=progress)
    done = ["mistakenness", "hardness"]
    if method == "none":
        return done
    feats = stored_features(flat, path, evaluated)
    if feats is None:
        echo("no stored features (eval was run with --no-features): no embeddings map")
        return done
    fob.compute_visualization(flat, embeddings=feats, method=method, brain_key="features",
                              num_dims=2, seed=0, progress=progress)
    return [*done, "features"]
