"""Corruption conditions (``impulse_noise/3``, ``defocus_blur/3@imagenet``, ``albu:...``) and the
corrupted versions of a dataset split they read, through the cache under the data root.

The glue between ``robeval.data`` (which loads the clean split) and ``robeval.corruptions``
(which knows nothing about datasets): used by ``robeval corrupt`` and by the ``corrupt``
evaluation conditions, so eval builds missing cache files on demand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robeval.conditions.base import (
    Condition,
    ConditionContext,
    ConditionSource,
    register_source,
    split_names,
)
from robeval.core.errors import RobevalError
from robeval.core.fileio import array_sha256
from robeval.corruptions import FAMILIES, SEVERITIES, CorruptionSpec, Spec, parse_name, pick_table
from robeval.corruptions.cache import build_cached, cache_path
from robeval.corruptions.families import GROUPS, group_families
from robeval.data import ImageSet, load_split
from robeval.data.loading import data_root, dataset_spec


def named_families(name: str) -> list[str]:
    """The families a word names: ``corrupt:GROUP`` (or ``all``, every family) or a family name;
    [] for anything else. An unknown ``corrupt:`` group is a RobevalError listing the groups."""
    if name == "all":
        return group_families("all")
    if name.startswith("corrupt:"):
        group = name[len("corrupt:"):]
        if group not in GROUPS:
            raise RobevalError(f"unknown corruption group {name!r}; choose one of: "
                               f"{', '.join('corrupt:' + g for g in GROUPS)}")
        return group_families(group)
    return [name] if name in FAMILIES else []


def expand(conditions: str, severities: list[int] | tuple[int, ...] = SEVERITIES,
           table: str = "auto") -> list[Spec]:
    """'corrupt:GROUP', 'all', family names (x severities), FAMILY/S[@TABLE] and albu:... names
    -> specs, in order."""
    if conditions is not None and not split_names(conditions):
        raise RobevalError("--conditions is empty; give corrupt:GROUP, a family, FAMILY/SEVERITY or "
                           "albu:..., separated by commas")
    specs: dict[str, Spec] = {}
    for name in split_names(conditions or "corrupt:study"):
        families = named_families(name)
        for family in families:
            for s in severities:
                spec = CorruptionSpec(family, s, table)
                specs[spec.name] = spec
        if families:
            continue
        spec = parse_name(name, table)
        if spec is None:
            raise RobevalError(f"unknown corruption {name!r}; give a group "
                               f"({', '.join('corrupt:' + g for g in GROUPS)}), a family "
                               f"({', '.join(FAMILIES)}), FAMILY/SEVERITY such as defocus_blur/3, "
                               "or albu:Transform(args)")
        specs[spec.name] = spec
    return list(specs.values())


def corrupted_set(spec: Spec, dataset: str, split: str = "test", data_dir: str | Path | None = None,
                  *, clean: ImageSet | None = None, backend: str = "reference", seed: int = 0,
                  workers: int = 1, device: str = "cpu", progress: bool = False,
                  source: str | None = None) -> tuple[ImageSet, str]:
    """(the corrupted split as an ImageSet whose meta is the sidecar, cache status)."""
    clean = clean if clean is not None else load_split(dataset, split, data_dir)
    images, labels, meta, status = build_cached(
        spec, clean.images, clean.labels, root=data_root(data_dir), dataset=dataset, split=split,
        backend=backend, seed=seed, workers=workers, device=device, progress=progress, source=source)
    path = cache_path(data_root(data_dir), dataset, split, spec, min(images.shape[1:3]), backend)
    meta = {**meta, "path": str(path)}
    return ImageSet(images, labels, list(clean.classes), f"{dataset}/{split}/{spec.name}", meta), status


_SHARED: dict = {}  # the clean split, inherited by forked workers instead of pickled per task


def _build_one(args: tuple) -> dict:
    spec, dataset, split, data_dir, backend, seed, device, progress = args
    clean, source = _SHARED["clean"], _SHARED["source"]
    data, status = corrupted_set(spec, dataset, split, data_dir, clean=clean, backend=backend,
                                 seed=seed, workers=1 if _SHARED.get("parallel") else _SHARED["workers"],
                                 device=device, progress=progress, source=source)
    meta = data.meta
    return {"condition": spec.name, "table": meta.get("table"), "params": meta.get("params"),
            "backend": meta.get("backend"), "status": status, "seconds": meta.get("seconds"),
            "path": meta["path"]}


def corrupt_dataset(dataset: str, split: str, conditions: str, severities: list[int], *,
                    table: str = "auto", backend: str = "reference", workers: int = 1, seed: int = 0,
                    data_dir: str | Path | None = None, device: str = "cpu",
                    progress: bool = True) -> list[dict]:
    """Build (or verify) every requested cache file; one summary row per file.

    With ``workers`` > 1 on a CPU, whole conditions run in parallel processes (each one image
    stream per condition, so the pixels are the same as with one worker); one condition's
    per-image work is split across workers only when there is a single condition."""
    import multiprocessing

    from robeval.core.progress import progress_bar

    specs = expand(conditions, severities, table)
    clean = load_split(dataset, split, data_dir)
    parallel = workers > 1 and len(specs) > 1 and device == "cpu" and \
        "fork" in multiprocessing.get_all_start_methods()
    _SHARED.update(clean=clean, source=array_sha256(clean.images, clean.labels), workers=workers,
                   parallel=parallel)
    jobs = [(spec, dataset, split, data_dir, backend, seed, device, progress and not parallel)
            for spec in specs]
    try:
        if not parallel:
            return [_build_one(job) for job in jobs]
        from concurrent.futures import ProcessPoolExecutor

        rows = []
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool, \
                progress_bar(total=len(jobs), desc="conditions", disable=not progress) as bar:
            for row in pool.map(_build_one, jobs):
                rows.append(row)
                bar.update(1)
        return rows
    finally:
        _SHARED.clear()


def preview(dataset: str, split: str, conditions: str, n: int, out: str | Path, *,
            table: str = "auto", backend: str = "reference", seed: int = 0,
            data_dir: str | Path | None = None, device: str = "cpu") -> Path:
    """A grid of ``n`` sample images (evenly spaced, so every class tends to show up) under each
    condition at severities 1-5. Pixels equal those of the cached sets (same per-index seeds)."""
    from robeval.corruptions import corrupt
    from robeval.corruptions.preview import preview_grid

    if n < 1:
        raise RobevalError("--preview needs a number of sample images >= 1")
    clean = load_split(dataset, split, data_dir)
    idx = np.unique(np.linspace(0, len(clean) - 1, num=min(n, len(clean))).round().astype(int))
    images = clean.images[idx]
    rows: dict[str, dict] = {}
    notes: dict[str, list[str]] = {}
    for spec in expand(conditions, SEVERITIES, table):
        corrupted, info = corrupt(images, spec, backend=backend, seed=seed, indices=idx, device=device)
        # a row label says the category too, so a grid of every family reads by category
        label = f"{info['category']}: {spec.family}" if spec.kind == "corruption" else spec.family
        rows.setdefault(label, {})[spec.severity] = corrupted
        if spec.kind == "corruption":
            notes.setdefault(label, []).append("/".join(str(v) for v in info["params"].values()))
    size = min(images.shape[1:3])
    title = f"{dataset}/{split}, table {pick_table(table, size).name} ({size} px), backend {backend}, seed {seed}"
    return preview_grid(images, rows, out, title=title,
                        notes={k: "params " + " ".join(v) for k, v in notes.items()})


def _corrupt_condition(spec: Spec, dataset: str) -> Condition:
    """A corruption (or albu:) condition; its build reads the cache, building missing files."""
    try:
        if spec.kind == "custom":
            params = spec.params()
        else:
            table, values = spec.resolve(dataset_spec(dataset).image_size)
            params = {"table": table, **values}
    except RobevalError:
        params = {}  # e.g. images too small for the table: build() raises the clear error

    def build(ctx: ConditionContext) -> ImageSet:
        data, _ = corrupted_set(spec, ctx.dataset, "test", ctx.data_dir, clean=ctx.clean_test,
                                backend=ctx.options.get("corrupt_backend", "reference"), seed=ctx.seed,
                                source=ctx.clean_sha256)
        if not params and spec.kind != "custom":  # size unknown before loading (imagefolder:)
            table, values = spec.resolve(min(data.images.shape[1:3]))
            params.update({"table": table, **values})  # the condition's own dict: eval.json reads it
        return data

    return Condition(spec.name, spec.kind, build, family=spec.family, severity=spec.severity,
                     params=params)


def corrupt_conditions(dataset: str) -> list[Condition]:
    """The default corruption conditions (what ``all`` includes): the study's three families at
    severities 1-5 (table by image size). ``corrupt:all`` names every family (corrupt_group)."""
    return corrupt_group("study", dataset)


def corrupt_group(group: str, dataset: str) -> list[Condition]:
    """``corrupt:GROUP`` -> its families at severities 1-5; an unknown GROUP is a RobevalError."""
    return [_corrupt_condition(CorruptionSpec(f, s), dataset)
            for f in named_families(f"corrupt:{group}") for s in SEVERITIES]


def corrupt_parser(name: str, dataset: str) -> Condition | None:
    """FAMILY/SEVERITY@TABLE (e.g. defocus_blur/3@imagenet) and albu:Transform(args) | albu:FILE.yaml."""
    spec = parse_name(name)
    return None if spec is None else _corrupt_condition(spec, dataset)


register_source(ConditionSource(
    "corrupt", corrupt_conditions, corrupt_parser,
    "corruption families x severities 1-5: corrupt:study (default), corrupt:standard (the 15), "
    "corrupt:extra, corrupt:noise|blur|weather|digital, corrupt:all (every family); "
    "FAMILY/S@TABLE; albu:...", subgroups=corrupt_group))
