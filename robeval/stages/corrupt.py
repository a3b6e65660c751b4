"""The corrupt stage (``robeval corrupt``): cached corrupted copies of a split, or a preview grid.

Its ``--conditions`` are read by the one grammar (``robeval.conditions.parse_words``), so a word
names the same conditions here as in ``robeval eval``; this stage builds those that apply a
corruption (``Condition.corruption``) and refuses words that name none (``clean``, ``genset:NAME``).
The files are the ones eval reads: ``robeval.conditions.corrupt.corrupted_set`` writes both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robeval.conditions import Word, parse_words
from robeval.conditions.corrupt import corrupted_set
from robeval.core.errors import RobevalError
from robeval.core.fileio import array_sha256
from robeval.corruptions import (
    SEVERITIES,
    Corruption,
    CorruptionAtSeverity,
    parse_severities,
    pick_table,
)
from robeval.corruptions.catalog import help_lines
from robeval.data import load_split

DEFAULT_CONDITIONS = "corrupt:study"

__all__ = ["DEFAULT_CONDITIONS", "corrupt_dataset", "corruptions_to_build", "help_lines",
           "parse_severities", "preview", "unused_option"]


def _corruptions(words: list[Word]) -> list[Corruption]:
    """The corruptions the words name, in order, once each; a word naming none is refused."""
    for word in words:
        if not any(c.corruption is not None for c in word.conditions):
            raise RobevalError(f"{word.text}: robeval corrupt builds corrupted copies (corrupt:GROUP, "
                               "a family, FAMILY/S[@TABLE], albu:...); this condition reads its own "
                               "files: leave it out, robeval eval reads it as it is")
    corruptions: dict[str, Corruption] = {}
    for word in words:
        corruptions.update({c.corruption.name: c.corruption for c in word.conditions if c.corruption is not None})
    return list(corruptions.values())


def corruptions_to_build(conditions: str | None, dataset: str, severities=SEVERITIES,
                     table: str = "auto", data_dir: str | Path | None = None) -> list[Corruption]:
    """The corruptions a ``--conditions`` string names for ``dataset`` (``all`` and ``GROUP:all``
    keep their corruptions and skip the rest); family and group words at ``severities``."""
    return _corruptions(parse_words(conditions, dataset, data_dir, severities=severities, table=table,
                              default=DEFAULT_CONDITIONS))


def unused_option(conditions: str | None, dataset: str, given: set[str],
                  preview: int | None) -> str | None:
    """Why a given --severities or --table would be ignored (None when both are used): they apply
    to words naming several severities (family, corrupt:GROUP, all) and to corruptions without
    @TABLE; where no word uses them they are refused rather than dropped."""
    words = parse_words(conditions, dataset, default=DEFAULT_CONDITIONS)
    _corruptions(words)  # a word that names no corruption is the first thing to fix
    texts = ", ".join(w.text for w in words[:3])
    if "severities" in given and preview:
        return "--severities: --preview draws every severity (1-5); leave it out"
    if "severities" in given and all(w.exact for w in words):
        return (f"--severities applies to family and corrupt:GROUP names; {texts} name their own "
                "severity (or are albu:): leave --severities out")
    uses_table = any(isinstance(c.corruption, CorruptionAtSeverity) and c.corruption.table == "auto"
                     for w in words for c in w.conditions)
    if "table" in given and not uses_table:
        return (f"--table applies to corruptions without @TABLE; {texts} name their own table "
                "(or are albu:): leave --table out")
    return None


_SHARED: dict = {}  # the clean split and options: set once per worker process, not sent per task


def _share(shared: dict) -> None:
    """A worker's initializer: the clean split arrives once, pickled, not with every task."""
    _SHARED.update(shared)


def _build_one(args: tuple) -> dict:
    corruption, dataset, split, data_dir, backend, seed, device, progress = args
    clean, source = _SHARED["clean"], _SHARED["source"]
    data, status = corrupted_set(corruption, dataset, split, data_dir, clean=clean, backend=backend,
                                 seed=seed, workers=1 if _SHARED.get("parallel") else _SHARED["workers"],
                                 device=device, progress=progress, source=source)
    meta = data.meta
    return {"condition": corruption.name, "table": meta.get("table"), "params": meta.get("params"),
            "backend": meta.get("backend"), "status": status, "seconds": meta.get("seconds"),
            "path": meta["path"]}


def corrupt_dataset(dataset: str, split: str, conditions: str | None, severities: list[int], *,
                    table: str = "auto", backend: str = "reference", workers: int = 1, seed: int = 0,
                    data_dir: str | Path | None = None, device: str = "cpu",
                    progress: bool = True) -> list[dict]:
    """Build (or verify) every requested cache file; one summary row per file.

    With ``workers`` > 1 on a CPU, whole conditions run in parallel processes (each one image
    stream per condition, so the pixels are the same as with one worker); one condition's
    per-image work is split across workers only when there is a single condition."""
    from robeval.core.processes import worker_pool
    from robeval.core.progress import progress_bar

    corruptions = corruptions_to_build(conditions, dataset, severities, table, data_dir)
    clean = load_split(dataset, split, data_dir)
    parallel = workers > 1 and len(corruptions) > 1 and device == "cpu"
    _SHARED.update(clean=clean, source=array_sha256(clean.images, clean.labels), workers=workers,
                   parallel=parallel)
    jobs = [(corruption, dataset, split, data_dir, backend, seed, device, progress and not parallel)
            for corruption in corruptions]
    try:
        if not parallel:
            return [_build_one(job) for job in jobs]
        rows = []
        with worker_pool(workers, _share, (dict(_SHARED),)) as pool, \
                progress_bar(total=len(jobs), desc="conditions", disable=not progress) as bar:
            for row in pool.map(_build_one, jobs):
                rows.append(row)
                bar.update(1)
        return rows
    finally:
        _SHARED.clear()


def preview(dataset: str, split: str, conditions: str | None, n: int, out: str | Path, *,
            table: str = "auto", backend: str = "reference", seed: int = 0,
            data_dir: str | Path | None = None, device: str = "cpu",
            overwrite: bool = False) -> Path:
    """A grid of ``n`` sample images (evenly spaced, so every class tends to show up) under each
    condition at severities 1-5. Pixels equal those of the cached sets (same per-index seeds).
    ``out`` is checked (a .png, not an existing file unless ``overwrite``) before any work."""
    from robeval.corruptions import corrupt
    from robeval.corruptions.preview import preview_grid
    from robeval.runs.destinations import check_file

    if n < 1:
        raise RobevalError("--preview needs a number of sample images >= 1")
    check_file(out, overwrite=overwrite, suffixes=(".png",))
    corruptions = corruptions_to_build(conditions, dataset, SEVERITIES, table, data_dir)
    clean = load_split(dataset, split, data_dir)
    idx = np.unique(np.linspace(0, len(clean) - 1, num=min(n, len(clean))).round().astype(int))
    images = clean.images[idx]
    rows: dict[str, dict] = {}
    notes: dict[str, list[str]] = {}
    for corruption in corruptions:
        corrupted, info = corrupt(images, corruption, backend=backend, seed=seed, indices=idx, device=device)
        # a row label says the category too, so a grid of every family reads by category
        is_family = isinstance(corruption, CorruptionAtSeverity)  # albu: has no category or table
        label = f"{info['category']}: {corruption.family}" if is_family else corruption.family
        rows.setdefault(label, {})[corruption.severity] = corrupted
        if is_family:
            notes.setdefault(label, []).append("/".join(str(v) for v in info["params"].values()))
    size = min(images.shape[1:3])
    title = f"{dataset}/{split}, table {pick_table(table, size).name} ({size} px), backend {backend}, seed {seed}"
    return preview_grid(images, rows, out, title=title,
                        notes={k: "params " + " ".join(v) for k, v in notes.items()})
