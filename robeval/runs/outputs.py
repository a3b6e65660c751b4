"""The one reader and writer of a run's eval outputs: ``eval/<condition>.npz``, ``eval/head.npz``
and ``eval.json`` (written by ``robeval eval``; read by analyze, report and browse).

    eval/<condition>.npz   labels, predictions, logits (N x C), index, features (N x d, optional)
    eval/head.npz          weight (C x d), bias, scale, logits kind, head mode ("train"),
                           nonnegative_features, classes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robeval.analysis.condition_kinds import condition_kind
from robeval.core.errors import RobevalError
from robeval.core.fileio import read_json, read_npz, slug, write_json, write_npz
from robeval.runs.layout import EVAL_DIR, EVAL_JSON, open_run

HEAD_FILE = "head.npz"


def condition_filename(name: str) -> str:
    """'defocus_blur/3' -> 'defocus_blur-3.npz'; 'genset:x' -> 'genset_x.npz'."""
    return slug(name, slash="-") + ".npz"


@dataclass
class EvalOutputs:
    """One condition's rows as robeval eval stored them."""

    name: str
    info: dict  # the condition's entry in eval.json (kind, family, severity, ...)
    labels: np.ndarray
    predictions: np.ndarray
    logits: np.ndarray
    index: np.ndarray
    features: np.ndarray | None

    @property
    def source(self) -> str:
        """Which image set the rows index: the kind's ``split`` (the clean test set, for clean
        and corrupted conditions), or for a kind with a set of its own (a generalisation set)
        the condition's name."""
        return condition_kind(self.info.get("kind")).split or self.name

    def arrays(self) -> dict[str, np.ndarray]:
        """labels, predictions, logits (and features when stored), as the metrics take them."""
        out = {"labels": self.labels, "predictions": self.predictions, "logits": self.logits}
        if self.features is not None:
            out["features"] = self.features
        return out


def write_head(eval_dir: Path, head, classes: list[str], nonnegative: bool) -> None:
    """``eval/head.npz`` in ``eval_dir``: the class vectors and what kind of head they belong to."""
    write_npz(
        eval_dir / HEAD_FILE,
        weight=head.weight.detach().float().cpu().numpy(),
        bias=head.bias.detach().float().cpu().numpy(),
        scale=np.float32(float(head.scale)),
        logits=np.array(head.logits_kind),
        train=np.array(head.train_mode),
        nonnegative_features=np.array(bool(nonnegative)),
        classes=np.array(classes),
    )


def write_condition(eval_dir: Path, name: str, arrays: dict[str, np.ndarray]) -> str:
    """``eval/<condition>.npz`` in ``eval_dir``; returns its path relative to the run folder (for
    eval.json), where the file lives once the eval folder is in place."""
    write_npz(eval_dir / condition_filename(name), **arrays)
    return f"{EVAL_DIR}/{condition_filename(name)}"


def read_eval_json(path: Path) -> dict:
    """eval.json, or {} when the run has not been evaluated; a damaged one is a RobevalError."""
    f = path / EVAL_JSON
    if not f.exists():
        return {}
    data = read_json(f, dict)
    conditions = data.get("conditions")
    if not isinstance(conditions, dict) or not all(
            isinstance(r, dict) and isinstance(r.get("file"), str) for r in conditions.values()):
        raise RobevalError(f"{f} is not the eval.json robeval writes (no conditions with their "
                           f"files); re-run `robeval eval {path}`")
    return data


def write_eval_json(path: Path, data: dict) -> None:
    write_json(path / EVAL_JSON, data)


def read_eval(run_dir: str | Path) -> tuple[Path, dict, dict]:
    """(run folder, config.json, eval.json), or a RobevalError that says which command to run."""
    path, config = open_run(run_dir)
    if not (path / EVAL_JSON).is_file() or not (path / EVAL_DIR / HEAD_FILE).is_file():
        raise RobevalError(f"{path} has no eval outputs; run `robeval eval {path}` first")
    return path, config, read_eval_json(path)


def load_head(path: Path) -> dict:
    """The class vectors (float64) and the head's kind from ``eval/head.npz``."""
    head_file = path / EVAL_DIR / HEAD_FILE
    if not head_file.exists():
        raise RobevalError(f"{path} has no {EVAL_DIR}/{HEAD_FILE}; run: robeval eval {path}")
    z = read_npz(head_file, ("weight", "bias", "scale", "logits", "train", "nonnegative_features",
                             "classes"))
    if z["weight"].ndim != 2 or z["bias"].shape != z["weight"].shape[:1]:
        raise RobevalError(f"{head_file}: weight {z['weight'].shape} and bias {z['bias'].shape} are "
                           f"not a C x d matrix and C biases; re-run `robeval eval {path}`")
    return {
        "weight": z["weight"].astype(np.float64), "bias": z["bias"].astype(np.float64),
        "scale": float(z["scale"]), "logits": str(z["logits"]), "train": str(z["train"]),
        "nonnegative": bool(z["nonnegative_features"]), "classes": [str(c) for c in z["classes"]],
    }


def load_condition(path: Path, name: str, info: dict) -> EvalOutputs:
    """One evaluated condition's arrays, as eval.json's entry ``info`` points to them."""
    file = path / info.get("file", "")
    if not file.is_file():
        raise RobevalError(f"{file} is missing; re-run `robeval eval {path} --conditions {name}`")
    z = read_npz(file, ("labels", "predictions", "logits"))
    n = len(z["labels"])
    shapes = [z[k].shape[:1] for k in ("predictions", "logits", "index", "features") if k in z]
    if z["logits"].ndim != 2 or any(s != (n,) for s in shapes):
        raise RobevalError(f"{file}: its arrays disagree in length or shape (labels {n}); it is "
                           f"damaged: re-run `robeval eval {path} --conditions {name}`")
    return EvalOutputs(name, info, z["labels"], z["predictions"], z["logits"],
                       z["index"] if "index" in z else np.arange(n), z.get("features"))


def has_features(run_dir: str | Path) -> bool:
    """True when the run was evaluated with features (analysis has something to measure)."""
    path = Path(run_dir)
    if not (path / EVAL_JSON).exists() or not (path / EVAL_DIR / HEAD_FILE).exists():
        return False
    for info in read_eval_json(path).get("conditions", {}).values():
        f = path / info.get("file", "")
        if f.is_file():
            return "features" in read_npz(f)
    return False
