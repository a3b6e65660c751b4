"""Corruption conditions (``impulse_noise/3``, ``defocus_blur/3@imagenet``, a family name,
``corrupt:GROUP``, ``albu:...``) and the corrupted versions of a dataset split they read, through
the cache under the data root.

The glue between ``robeval.data`` (which loads the clean split) and ``robeval.corruptions``
(which knows nothing about datasets): the ``corrupt`` evaluation conditions build missing cache
files on demand with ``corrupted_set``, and the corrupt stage (``robeval corrupt``) builds them
ahead with the same function.
"""

from __future__ import annotations

from pathlib import Path

from robeval.conditions.base import Condition, ConditionContext, ConditionSource, register_source
from robeval.core.errors import RobevalError
from robeval.corruptions import FAMILIES, SEVERITIES, Corruption, CorruptionAtSeverity, parse_name
from robeval.corruptions.cache import build_cached, cache_path
from robeval.corruptions.families import GROUPS, group_families
from robeval.data import ImageSet, load_split
from robeval.data.loading import data_root, dataset_record


def corrupted_set(corruption: Corruption, dataset: str, split: str = "test", data_dir: str | Path | None = None,
                  *, clean: ImageSet | None = None, backend: str = "reference", seed: int = 0,
                  workers: int = 1, device: str = "cpu", progress: bool = False,
                  source: str | None = None) -> tuple[ImageSet, str]:
    """(the corrupted split as an ImageSet whose meta is the sidecar, cache status)."""
    clean = clean if clean is not None else load_split(dataset, split, data_dir)
    images, labels, meta, status = build_cached(
        corruption, clean.images, clean.labels, root=data_root(data_dir), dataset=dataset, split=split,
        backend=backend, seed=seed, workers=workers, device=device, progress=progress, source=source)
    path = cache_path(data_root(data_dir), dataset, split, corruption, min(images.shape[1:3]), backend)
    meta = {**meta, "path": str(path)}
    return ImageSet(images, labels, list(clean.classes), f"{dataset}/{split}/{corruption.name}", meta), status


def corruption_condition(corruption: Corruption, dataset: str) -> Condition:
    """A corruption (or albu:) condition; its build reads the cache, building missing files."""
    try:
        if isinstance(corruption, CorruptionAtSeverity):
            table, values = corruption.table_params(dataset_record(dataset).image_size)
            params = {"table": table, **values}
        else:
            params = corruption.params()
    except RobevalError:
        params = {}  # e.g. images too small for the table: build() raises the clear error

    def build(ctx: ConditionContext) -> ImageSet:
        data, _ = corrupted_set(corruption, ctx.dataset, "test", ctx.data_dir, clean=ctx.clean_test,
                                backend=ctx.options.get("corrupt_backend", "reference"), seed=ctx.seed,
                                source=ctx.clean_sha256)
        # the image size is unknown before loading (imagefolder:)
        if not params and isinstance(corruption, CorruptionAtSeverity):
            table, values = corruption.table_params(min(data.images.shape[1:3]))
            params.update({"table": table, **values})  # the condition's own dict: eval.json reads it
        return data

    return Condition(corruption.name, corruption.kind, build, family=corruption.family,
                     severity=corruption.severity, params=params, corruption=corruption)


def corrupt_conditions(dataset: str) -> list[Condition]:
    """The default corruption conditions (what ``all`` includes): the study's three families at
    severities 1-5 (table by image size). ``corrupt:all`` names every family (corrupt_group)."""
    return corrupt_group("study", dataset)


def corrupt_group(group: str, dataset: str) -> list[Condition]:
    """``corrupt:GROUP`` -> its families at severities 1-5; an unknown GROUP is a RobevalError."""
    if group not in GROUPS:
        raise RobevalError(f"unknown corruption group 'corrupt:{group}'; choose one of: "
                           f"{', '.join('corrupt:' + g for g in GROUPS)}")
    return [corruption_condition(CorruptionAtSeverity(f, s), dataset)
            for f in group_families(group) for s in SEVERITIES]


def corrupt_parser(name: str, dataset: str) -> Condition | list[Condition] | None:
    """FAMILY (that family at severities 1-5), FAMILY/SEVERITY@TABLE (e.g. defocus_blur/3@imagenet)
    and albu:Transform(args) | albu:FILE.yaml."""
    if name in FAMILIES:
        return [corruption_condition(CorruptionAtSeverity(name, s), dataset) for s in SEVERITIES]
    corruption = parse_name(name)
    return None if corruption is None else corruption_condition(corruption, dataset)


register_source(ConditionSource(
    "corrupt", corrupt_conditions, corrupt_parser,
    "corruption families x severities 1-5: corrupt:study (default), corrupt:standard (the 15), "
    "corrupt:extra, corrupt:noise|blur|weather|digital, corrupt:all (every family); FAMILY; "
    "FAMILY/S@TABLE; albu:...", subgroups=corrupt_group))
