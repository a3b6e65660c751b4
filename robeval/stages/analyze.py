"""One run's geometry from its eval files: ``robeval analyze RUN`` -> analysis.json + plots/.

Reads only ``eval/head.npz`` (class vectors) and ``eval/<condition>.npz`` (labels, predictions,
logits, features) -- the files ``robeval eval`` writes -- so every number can be recomputed from
them. The first condition (``clean`` when evaluated) gets full matrices and plots; every other
condition gets the same scalar summaries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis import confusion_matrix, cosine_matrix, pca_2d
from robeval.analysis.geometry import sample_cosines, spearman_pairs
from robeval.analysis.metrics import definitions, measure
from robeval.core.environment import environment
from robeval.core.errors import RobevalError
from robeval.core.fileio import read_json, write_json
from robeval.runs.outputs import has_features, load_condition, load_head, read_eval_json

__all__ = ["analyze_run", "has_features", "is_stale", "measure", "summary_line"]

ANALYSIS_JSON = "analysis.json"
PLOTS_DIR = "plots"
ANALYSIS_VERSION = 1  # bump when a metric changes: reports then re-analyse older analysis.json


def is_stale(run_dir: str | Path) -> bool:
    """analysis.json missing, older than eval.json, or written by another metric version."""
    path = Path(run_dir)
    a, e = path / ANALYSIS_JSON, path / runs.EVAL_JSON
    if not a.exists() or (e.exists() and e.stat().st_mtime > a.stat().st_mtime):
        return True
    try:
        return read_json(a).get("analysis_version") != ANALYSIS_VERSION
    except ValueError:
        return True


def make_plots(path: Path, arrays: dict, head: dict, result: dict, cond: str, title: str,
               tsne: bool = False) -> dict[str, str]:
    from robeval.render import plots  # matplotlib only when plots are asked for

    out_dir = path / PLOTS_DIR
    w, classes = head["weight"], head["classes"]
    labels, preds = arrays["labels"].astype(np.int64), arrays["predictions"].astype(np.int64)
    files = {}
    files["class_cosines"] = plots.heatmap(cosine_matrix(w), classes, out_dir / "class_cosines.png",
                                           f"cos(w_i, w_j): {title}", -1, 1, label="cosine")
    conf = confusion_matrix(labels, preds, len(classes))
    files["confusion"] = plots.heatmap(conf, classes, out_dir / "confusion.png",
                                       f"confusion ({cond}): {title}", cmap="Blues",
                                       label="images (row: true, column: predicted)")
    x, y = spearman_pairs(w, conf)
    files["spearman"] = plots.spearman_scatter(x, y, out_dir / "spearman.png", title,
                                               result["spearman"]["rho"])
    feats = arrays.get("features")
    if feats is not None:
        feats = feats.astype(np.float64)
        cos = sample_cosines(feats, w)
        idx = np.arange(len(labels))
        comp = result["compactness"]
        files["compactness"] = plots.compactness_hist(
            cos[idx, preds], cos[idx, labels], out_dir / "compactness.png", f"compactness ({cond}): {title}",
            comp["ceiling_mean_predicted"] if comp["ceiling_applies"] else None)
        norms = np.linalg.norm(feats, axis=1)
        ok = labels == preds
        files["feature_norms"] = plots.norms_hist(norms[ok], norms[~ok], out_dir / "feature_norms.png",
                                                  f"feature norms ({cond}): {title}")
        xy, sub, comps, mean = pca_2d(feats, seed=0)
        # class vectors drawn in the same plane, scaled to the features' spread
        wn = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
        wxy = wn @ comps.T
        spread = np.abs(xy).max() if len(xy) else 1.0
        wxy = wxy / max(np.abs(wxy).max(), 1e-12) * spread
        files["pca"] = plots.scatter_2d(xy, labels[sub], classes, out_dir / "features_pca.png",
                                        f"features, PCA ({cond}): {title}", wxy)
        if tsne:
            from sklearn.manifold import TSNE

            sub2 = sub[:1000]
            emb = TSNE(n_components=2, random_state=0, init="pca").fit_transform(feats[sub2])
            files["tsne"] = plots.scatter_2d(emb, labels[sub2], classes, out_dir / "features_tsne.png",
                                             f"features, t-SNE ({cond}): {title}")
    return {k: str(Path(v).relative_to(path)) for k, v in files.items()}


def analyze_run(run_dir: str | Path, *, plots: bool = True, tsne: bool = False) -> dict:
    """Measure every evaluated condition of one run; write analysis.json (+ plots/); return it."""
    path, config = runs.open_run(run_dir)
    if not (path / runs.EVAL_JSON).exists():
        raise RobevalError(f"{path} has no eval results yet; run: robeval eval {path}")
    head = load_head(path)
    conds = read_eval_json(path).get("conditions", {})
    if not conds:
        raise RobevalError(f"{path}/{runs.EVAL_JSON} lists no conditions; run: robeval eval {path}")
    primary = "clean" if "clean" in conds else next(iter(conds))
    w = head["weight"]
    c, d = w.shape
    cos = cosine_matrix(w)
    results, plot_files = {}, {}
    variant = config.get("variant", "")
    for name in [primary, *(n for n in conds if n != primary)]:
        arrays = load_condition(path, name, conds[name]).arrays()
        bad = [k for k in ("features", "logits") if k in arrays and not np.isfinite(arrays[k]).all()]
        if bad or not np.isfinite(w).all():
            why = ("is the imported model or its --mean/--std sound? check config.json's imported "
                   "section" if runs.origin(config) else "did training diverge? see its metrics.jsonl")
            raise RobevalError(f"{path}: the {' and '.join(bad) or 'class vectors'} of {name} hold NaN "
                               f"or inf ({why}); the geometry cannot be measured")
        results[name] = measure(arrays, head, full=name == primary)
        if plots and name == primary:
            plot_files = make_plots(path, arrays, head, results[name], name, f"{variant} ({path.name})", tsne)
    out = {
        "analysis_version": ANALYSIS_VERSION, "run": str(path), "variant": variant, "seed": config["config"].get("seed"),
        "config": config["config"], "primary_condition": primary,
        "head": {"train": head["train"], "logits": head["logits"], "scale": head["scale"],
                 "classes": head["classes"], "num_classes": c, "dim": d,
                 "encoder_nonnegative": head["nonnegative"],
                 "bias_mean": float(head["bias"].mean()) if len(head["bias"]) else None},
        "class_vectors": {"cosine_matrix": cos.tolist()},
        "conditions": results,
        "plots": plot_files,
        "definitions": definitions(),
        "environment": environment(),
    }
    write_json(path / ANALYSIS_JSON, out)
    return out


def summary_line(result: dict) -> str:
    """A one-line terminal summary of the primary condition."""
    p = result["conditions"][result["primary_condition"]]
    acc = "–" if p["accuracy"] is None else f"{100 * p['accuracy']:.2f}%"
    parts = [f"{result['primary_condition']}: acc {acc}"]
    rho = p["spearman"]["rho"]
    parts.append(f"Spearman {rho:.2f}" if rho is not None else "Spearman undefined")
    if "compactness" in p:
        comp = p["compactness"]
        s = f"compactness {comp['predicted']['mean']:.3f}"
        if comp["ceiling_mean_predicted"] is not None:
            s += f" (ceiling {comp['ceiling_mean_predicted']:.3f})"
        parts.append(s)
        nc = p["neural_collapse"]
        for key in ("nc1", "nc3", "nc4"):
            if nc[key] is not None:
                parts.append(f"{key.upper()} {nc[key]:.3g}")
    return ", ".join(parts)
