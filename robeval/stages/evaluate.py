"""Checkpoint x conditions -> one predictions file per condition, plus eval.json.

    robeval eval runs/demo --conditions clean,genset:shapes-shift

``eval/<condition>.npz`` holds ``labels``, ``predictions``, ``logits`` and ``features``
(penultimate, float32) and ``index`` (position in the condition's image set); ``eval/head.npz``
holds the class vectors ``weight`` (C x d), ``bias``, ``scale`` and the head's kind, so analysis
needs nothing but these files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis.condition_metrics import measure_condition
from robeval.analysis.stats import clopper_pearson
from robeval.conditions import ConditionContext, parse_conditions
from robeval.core.environment import environment, pick_device
from robeval.core.errors import RobevalError
from robeval.core.fileio import staged_folder
from robeval.core.progress import progress_bar
from robeval.models.inference import predict
from robeval.runs.model import load_run_model, predict_kwargs
from robeval.runs.outputs import read_eval_json, write_condition, write_eval_json, write_head
from robeval.training.config import TrainConfig


def check_conditions(conditions: str | None, dataset: str, data_dir: str | Path | None = None) -> None:
    """Refuse a bad ``--conditions`` (one RobevalError) before anything is written."""
    parse_conditions(conditions, dataset, data_dir)


def listed_conditions(run_dir: str | Path, data_dir: str | Path | None = None) -> list[str]:
    """The names of every condition available for the run's dataset (``--list-conditions``)."""
    from robeval.conditions import available

    _, config = runs.open_run(Path(run_dir))
    return [c.name for c in available(config["config"]["dataset"], data_dir=data_dir)]


def check_classes(model_classes: list[str], set_classes: list[str], condition: str) -> np.ndarray:
    """Map the set's label indices onto the model's by class name; unknown names are an error."""
    index = {c: i for i, c in enumerate(model_classes)}
    missing = [c for c in set_classes if c not in index]
    if missing:
        raise RobevalError(
            f"condition {condition}: classes {missing[:5]} are not among the model's classes"
        )
    return np.array([index[c] for c in set_classes], dtype=np.int64)


def check_size(images: np.ndarray, ctx: ConditionContext, condition: str) -> None:
    """A condition's images have the size of the dataset's test images (what the model was made
    for): a 64-px set scored by a 32-px model gives a number without meaning (released: refuses
    it too)."""
    want = tuple(ctx.clean_test.images.shape[1:3])
    if len(images) and tuple(images.shape[1:3]) != want:
        raise RobevalError(f"condition {condition} holds {images.shape[1]}x{images.shape[2]} images; "
                           f"{ctx.dataset}'s are {want[0]}x{want[1]}: build the set at that size (a "
                           f"manifest's image_size; genset make-manifest --image-size {want[0]})")


def evaluate_run(
    run_dir: str | Path,
    conditions: str = "all",
    *,
    checkpoint: str = "best",
    device: str = "auto",
    data_dir: str | None = None,
    features: bool = True,
    progress: bool = True,
    model=None,
    corrupt_backend: str = "reference",
) -> dict:
    """Evaluate one finished run on the named conditions; returns the eval.json contents.

    ``model``: an in-memory model to use instead of the run's checkpoint (robeval.evaluate).
    ``corrupt_backend``: how missing corrupted sets are built (``fast``: a family's batched path
    where it has one; each cache file and eval.json's params say which ran)."""
    path, config = runs.open_run(run_dir)
    if not runs.is_finished(path):
        raise RobevalError(f"{path} has not finished training (resume it: robeval train --resume --out {path})")
    device = pick_device(device)
    if model is None:
        model, cfg, _ = load_run_model(path, checkpoint, device)
    else:
        model, cfg = model.to(device), TrainConfig.from_dict(config["config"])
    model_classes = config["dataset"]["classes"]
    chosen = parse_conditions(conditions, cfg.dataset, data_dir)
    ctx = ConditionContext(cfg.dataset, data_dir, seed=0, options={"corrupt_backend": corrupt_backend})
    previous = read_eval_json(path)
    # results of another checkpoint are not mixed in: they describe a different model
    results = dict(previous.get("conditions", {})) if previous.get("checkpoint") == checkpoint else {}
    # everything is written under a staging folder and moved in only when every condition is
    # done, so a failed eval leaves the previous head.npz, condition files and eval.json intact
    with staged_folder(path / runs.EVAL_DIR) as staging:
        _evaluate_into(staging, model, model_classes, chosen, ctx, cfg, device, features, progress,
                       results, path.name)
    out = {
        "run": str(path),
        "variant": config.get("variant"),
        "checkpoint": checkpoint,
        "conditions": results,
        "environment": environment(device),
    }
    write_eval_json(path, out)
    return out


def _evaluate_into(root: Path, model, model_classes: list[str], chosen, ctx, cfg, device: str,
                   features: bool, progress: bool, results: dict, label: str) -> None:
    """Write head.npz and one file per condition into the folder ``root``; fill ``results``."""
    write_head(root, model.head, model_classes, getattr(model.encoder, "nonnegative", False))
    bar = progress_bar(chosen, desc=f"eval {label}", leave=False, disable=not progress)
    for cond in bar:
        bar.set_postfix_str(cond.name)
        t0 = time.time()
        data = cond.build(ctx)
        check_size(data.images, ctx, cond.name)
        labels = check_classes(model_classes, data.classes, cond.name)[data.labels]
        logits, feats = predict(model, data.images, device, features=features, **predict_kwargs(cfg))
        preds = logits.argmax(1)
        arrays = {"labels": labels, "predictions": preds, "logits": logits.astype(np.float32),
                  "index": np.arange(len(labels))}
        if feats is not None:
            arrays["features"] = feats.astype(np.float32)
        rel = write_condition(root, cond.name, arrays)
        correct = int((preds == labels).sum())
        results[cond.name] = {
            "accuracy": correct / len(labels) if len(labels) else float("nan"),
            "n": int(len(labels)),
            # this run's exact binomial 95% interval (test-set sampling only, not seeds)
            "accuracy_ci95": list(clopper_pearson(correct, len(labels))),
            # every per-condition metric record (nll, ece, brier, aurc, ...):
            # robeval/analysis/condition_metrics.py
            **measure_condition(logits, labels),
            "kind": cond.kind,
            "family": cond.family,
            "severity": cond.severity,
            "params": cond.params,
            "file": rel,
            "seconds": round(time.time() - t0, 2),
        }


def accuracy_table(results: dict[str, dict]) -> str:
    rows = [f"{'condition':<28} {'accuracy':>9} {'n':>7}"]
    for name, r in results.items():
        rows.append(f"{name:<28} {100 * r['accuracy']:8.2f}% {r['n']:>7}")
    return "\n".join(rows)
