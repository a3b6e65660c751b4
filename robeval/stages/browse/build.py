"""A run's eval outputs -> one persistent, grouped FiftyOne dataset.

One group per source image, one slice per condition: ``clean`` and every condition built from the
clean test set (corruptions, custom transforms) share the source image's group, so the App flips one
image through every corruption and severity; a generalisation set's images are their own groups.
Every number comes from ``eval/*.npz`` (logits, features) and ``eval/head.npz`` (class vectors):
no model is run and nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from robeval.analysis.condition_kinds import condition_kind
from robeval.analysis.geometry import sample_cosines
from robeval.conditions import split_names
from robeval.core.errors import RobevalError
from robeval.runs.outputs import EvalOutputs, load_condition, load_head, read_eval
from robeval.stages.browse.images import safe_name, write_pngs

FAILURE_TAG = "failure"
CONFIDENT = 0.9  # softmax confidence above which a mistake counts as "confident"
VIEW_NAMES = ("failures", "failures-severity-3-plus", "confident-mistakes", "most-mistaken")


def pick_conditions(conditions: str | None, evaluated: dict, path: Path) -> list[str]:
    """Names from ``--conditions`` ('all' or comma-separated), each one the run was evaluated on."""
    names = [] if not conditions or conditions == "all" else split_names(conditions)
    if not names:
        return list(evaluated)
    unknown = [n for n in names if n not in evaluated]
    if unknown:
        raise RobevalError(
            f"condition {', '.join(map(repr, unknown))} was not evaluated for {path} (evaluated: "
            f"{', '.join(evaluated) or 'none'}); run `robeval eval {path} --conditions "
            f"{','.join(unknown)}` first"
        )
    return names


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def group_id(dataset_name: str, source: str, index: int) -> str:
    """A stable ObjectId per source image, so conditions added later join the same groups."""
    return hashlib.md5(f"{dataset_name}|{source}|{index}".encode()).hexdigest()[:24]


def select_rows(outs: list[EvalOutputs], limit: int | None, only_failures: bool) -> list[np.ndarray]:
    """Row masks per condition. --only-failures keeps every slice of a source image that any
    chosen condition gets wrong, so the group still shows where the image was right."""
    masks = [np.ones(len(o.labels), bool) if limit is None else o.index < limit for o in outs]
    if only_failures:
        failing: set[tuple[str, int]] = set()
        for o, m in zip(outs, masks, strict=True):
            wrong = m & (o.predictions != o.labels)
            failing.update((o.source, int(i)) for i in o.index[wrong])
        masks = [m & np.array([(o.source, int(i)) in failing for i in o.index], bool)
                 for o, m in zip(outs, masks, strict=True)]
    return masks


def make_samples(fo: Any, out: EvalOutputs, mask: np.ndarray, paths: list[Path], classes: list[str],
                 weight: np.ndarray, dataset_name: str, run: str) -> list:
    """FiftyOne samples for one condition's selected rows."""
    slice_name = safe_name(out.name)
    probs = softmax(out.logits[mask].astype(np.float64))
    labels, preds, index = out.labels[mask], out.predictions[mask], out.index[mask]
    logits = out.logits[mask]
    feats = out.features[mask] if out.features is not None else None
    cos = sample_cosines(feats, weight) if feats is not None else None
    norms = np.linalg.norm(feats, axis=1) if feats is not None else None
    kind, family = out.info.get("kind"), out.info.get("family") or ""
    severity = out.info.get("severity")
    record = condition_kind(kind)  # analysis/condition_kinds.py
    if severity is None and record.baseline:
        severity = 0
    samples = []
    for k in range(len(labels)):
        correct = bool(preds[k] == labels[k])
        s = fo.Sample(
            filepath=str(paths[k]),
            group=fo.Group(id=group_id(dataset_name, out.source, int(index[k])), name=slice_name),
            tags=[] if correct else [FAILURE_TAG],
        )
        s["ground_truth"] = fo.Classification(label=classes[int(labels[k])])
        s["prediction"] = fo.Classification(label=classes[int(preds[k])],
                                            confidence=float(probs[k, preds[k]]),
                                            logits=logits[k].astype(float).tolist())
        s["correct"] = correct
        s["condition"] = out.name
        s["kind"] = kind
        s["corruption"] = family if record.graded else "none"
        s["severity"] = None if severity is None else int(severity)
        s["source"] = out.source
        s["source_index"] = int(index[k])
        s["run"] = run
        if cos is not None:
            s["cos_to_pred"] = float(cos[k, preds[k]])
            s["cos_to_true"] = float(cos[k, labels[k]])
            s["feature_norm"] = float(norms[k])
        samples.append(s)
    return samples


def saved_views(dataset: Any) -> dict[str, Any]:
    """Views over every slice at once (the App shows them as flat grids)."""
    from fiftyone import ViewField as F

    flat = dataset.select_group_slices()
    failures = flat.match_tags(FAILURE_TAG)
    views = {
        "failures": failures,
        "failures-severity-3-plus": failures.match(F("severity") >= 3),
        "confident-mistakes": failures.match(F("prediction.confidence") >= CONFIDENT)
        .sort_by("prediction.confidence", reverse=True),
    }
    if dataset.has_field("mistakenness"):
        views["most-mistaken"] = failures.sort_by("mistakenness", reverse=True)
    return views


def fingerprint(path: Path, out: EvalOutputs, limit: int | None, only_failures: bool,
                names: list[str]) -> str:
    """What a slice was built from: a slice whose eval file and options match is not rebuilt."""
    st = (path / out.info["file"]).stat()
    scope = ",".join(sorted(names)) if only_failures else ""  # failures are chosen per group
    return f"{st.st_size}:{st.st_mtime_ns}:{limit}:{only_failures}:{scope}"


def default_name(path: Path) -> str:
    """robeval-<run folder>, with its parent for seedN folders (reproduce/runs/x/seed0)."""
    parts = [path.parent.name, path.name] if path.name.startswith("seed") else [path.name]
    return "robeval-" + "-".join(safe_name(p) for p in parts if p)


def open_dataset(fo: Any, name: str, run: str, overwrite: bool, default_slice: str) -> Any:
    """The dataset to fill: this run's existing one (updated in place), or a new one."""
    if fo.dataset_exists(name):
        ds = fo.load_dataset(name)
        owner = ds.info.get("robeval_run")
        if overwrite:
            ds.delete()
        elif owner != run:
            raise RobevalError(
                f"FiftyOne dataset {name!r} already exists and holds "
                f"{'run ' + owner if owner else 'data robeval did not make'}; pass --overwrite "
                "to replace it or --name to choose another name"
            )
        else:
            return ds
    ds = fo.Dataset(name)
    ds.persistent = True
    ds.add_group_field("group", default=default_slice)
    return ds


def build_dataset(
    run_dir: str | Path,
    *,
    conditions: str | None = None,
    name: str | None = None,
    only_failures: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    embeddings: str = "pca",
    brain: bool = True,
    data_dir: str | Path | None = None,
    progress: bool = True,
    echo=print,
) -> Any:
    """Create or update the run's persistent grouped dataset; returns the fiftyone Dataset."""
    from robeval.stages.browse.brain import check_method, drop_brain_runs, run_brain
    from robeval.stages.browse.fodb import import_fiftyone

    path, config, ev = read_eval(run_dir)
    evaluated = ev.get("conditions", {})
    names = pick_conditions(conditions, evaluated, path)
    if limit is not None and limit < 1:
        raise RobevalError("--limit must be at least 1")
    check_method(embeddings)
    head = load_head(path)  # every damaged input is refused before fiftyone (seconds) is imported
    weight, classes = head["weight"], head["classes"]
    outs = [load_condition(path, n, evaluated[n]) for n in names]
    masks = select_rows(outs, limit, only_failures)
    fo = import_fiftyone()
    fo.config.show_progress_bars = progress
    run = str(path.resolve())
    dataset_name = name or default_name(path)
    slices = [safe_name(n) for n in names]
    ds = open_dataset(fo, dataset_name, run, overwrite, "clean" if "clean" in slices else slices[0])
    source_dataset = config["config"]["dataset"]
    done: dict[str, str] = dict(ds.info.get("robeval_slices", {}))
    changed = False
    for out, mask, slice_name in zip(outs, masks, slices, strict=True):
        key = fingerprint(path, out, limit, only_failures, names)
        if (done.get(slice_name) == key and slice_name in ds.group_slices
                and len(ds.select_group_slices(slice_name)) == int(mask.sum())):
            echo(f"{out.name}: up to date")
            continue
        changed = True
        paths = write_pngs(source_dataset, out.name, out.index[mask], data_dir, progress)
        if slice_name in ds.group_slices:
            ds.delete_samples(ds.select_group_slices(slice_name))
        samples = make_samples(fo, out, mask, paths, classes, weight, dataset_name, run)
        if samples:
            ds.add_samples(samples, progress=progress)
        done[slice_name] = key
        echo(f"{out.name}: {len(samples)} samples, {sum(s.tags != [] for s in samples)} failures")
    present = [s for s in ds.group_slices if len(ds.select_group_slices(s))]
    ds.default_group_slice = "clean" if "clean" in present else (present or slices)[0]
    brain_key = f"{embeddings}|{sorted(done.items())}"
    ds.info.update(robeval_run=run, variant=config.get("variant"), dataset=source_dataset,
                   checkpoint=ev.get("checkpoint"), robeval_slices=done,
                   conditions=ds.select_group_slices().distinct("condition"))
    if brain and len(ds.select_group_slices()):
        if changed or ds.info.get("robeval_brain") != brain_key:
            run_brain(ds, path, evaluated, embeddings, progress=progress, echo=echo)
            ds.info["robeval_brain"] = brain_key
    elif changed:  # results of replaced samples would be stale
        drop_brain_runs(ds)
        ds.info.pop("robeval_brain", None)
    ds.save()
    for view_name in VIEW_NAMES:  # also those that no longer apply (most-mistaken, no Brain)
        if ds.has_saved_view(view_name):
            ds.delete_saved_view(view_name)
    for view_name, view in saved_views(ds).items():
        ds.save_view(view_name, view)
    return ds
